// host/pipeline.cpp: pipeline resolution (extends, --set) and validation against plugin schemas.
#include "pipeline.h"

#include "context.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// A parsed pipeline and where each of its tables and keys was written.
struct TableOrigins {
  Origin header;
  Origins keys;
};
struct Document {
  toml::table root;
  std::map<std::string, TableOrigins> origins;  // by top-level table name
};

Document parsed(toml::table root, const std::string& file) {
  Document d;
  for (const auto& [key, node] : root) {
    TableOrigins& o = d.origins[std::string(key.str())];
    o.header = Origin{file, int64_t(node.source().begin.line)};
    if (const toml::table* t = node.as_table()) o.keys = origins_of(*t);
  }
  d.root = std::move(root);
  return d;
}

// A child table replaces the parent's wholesale when it names another plugin (the parent's keys
// belong to the parent's plugin); otherwise keys merge, the child's winning.
void merge_into(Document& base, Document child) {
  for (auto& [key, node] : child.root) {
    std::string name(key.str());
    toml::table* b = base.root.get_as<toml::table>(name);
    toml::table* c = node.as_table();
    TableOrigins& bo = base.origins[name];
    const TableOrigins& co = child.origins[name];
    bool replace = !b || !c;
    if (!replace) {
      auto cp = (*c)["plugin"].value<std::string>(), bp = (*b)["plugin"].value<std::string>();
      replace = cp && bp && *cp != *bp;
    }
    if (replace) {
      base.root.insert_or_assign(name, std::move(node));
      bo = co;
      continue;
    }
    for (auto& [k, v] : *c) b->insert_or_assign(k, std::move(v));
    for (const auto& [k, o] : co.keys) bo.keys[k] = o;
  }
}

Document read_with_extends(const fs::path& file, std::vector<fs::path>& chain, std::vector<std::string>& errors) {
  fs::path canonical = fs::weakly_canonical(file);
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
    errors.push_back(file.string() + ": `extends` cycle through this file");
    return {};
  }
  chain.push_back(canonical);
  if (!fs::is_regular_file(file)) {
    errors.push_back(file.string() + ": pipeline file not found");
    return {};
  }
  Document doc;
  try {
    doc = parsed(toml::parse_file(file.string()), file.string());
  } catch (const toml::parse_error& e) {
    const auto& s = e.source();
    errors.push_back(file.string() + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column) +
                     ": malformed TOML: " + std::string(e.description()));
    return {};
  }
  toml::node* ext = doc.root.get("extends");
  if (!ext) return doc;
  std::string at = doc.origins["extends"].header.str();
  if (!ext->is_string()) {
    errors.push_back(at + ": `extends` must be a string (a path relative to this file)");
    return {};
  }
  fs::path parent = file.parent_path() / ext->value<std::string>().value();
  Document base = read_with_extends(parent, chain, errors);
  doc.root.erase("extends");
  doc.origins.erase("extends");
  merge_into(base, std::move(doc));
  return base;
}

void apply_override(Document& doc, const std::string& text, std::vector<std::string>& errors) {
  auto eq = text.find('=');
  auto dot = text.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
    errors.push_back("--set " + text + ": expected stage.key=value");
    return;
  }
  std::string table = text.substr(0, dot), key = text.substr(dot + 1, eq - dot - 1), value = text.substr(eq + 1);
  toml::table one;
  try {
    one = toml::parse(key + " = " + value);
  } catch (const toml::parse_error& e) {
    // Not a TOML literal: a bare string (e.g. --set run.device=cuda). The type check still applies.
    // Digits that are not a TOML integer do not fit 64 bits: say so rather than call them a string.
    if (!value.empty() && value.find_first_not_of("+-0123456789_") == std::string::npos) {
      errors.push_back("--set " + text + ": " + std::string(e.description()));
      return;
    }
    if (value.find('\'') != std::string::npos || value.find('\n') != std::string::npos) {
      errors.push_back("--set " + text + ": not a TOML value; quote strings as key='text'");
      return;
    }
    one = toml::parse(key + " = '" + value + "'");
  }
  if (!doc.root.contains(table)) {
    doc.root.insert(table, toml::table{});
    doc.origins[table].header = Origin{"--set " + text, 0};
  }
  toml::table* t = doc.root.get_as<toml::table>(table);
  if (!t || !one.get(key)) {
    errors.push_back("--set " + text + ": '" + table + "' is not a table, or '" + key + "' is not a plain key");
    return;
  }
  // Another plugin for a stage drops the keys the files set for the old one, as `extends` does:
  // they belong to the old plugin. Keys set by --set stay.
  const auto* old_plugin = t->get_as<std::string>("plugin");
  const auto* new_plugin = one.get_as<std::string>(key);
  if (key == "plugin" && old_plugin && new_plugin && old_plugin->get() != new_plugin->get()) {
    auto& origins = doc.origins[table].keys;
    std::vector<std::string> dropped;
    for (const auto& [k, v] : *t)
      if (origins[std::string(k.str())].file.rfind("--set ", 0) != 0) dropped.emplace_back(k.str());
    for (const auto& k : dropped) t->erase(k), origins.erase(k);
  }
  t->insert_or_assign(key, std::move(*one.get(key)));
  doc.origins[table].keys[key] = Origin{"--set " + text, 0};
}

std::string with_article(const std::string& noun) {
  return (std::string("aeiou").find(noun[0]) != std::string::npos ? "an " : "a ") + noun;
}

std::vector<golf_config_key> keys(std::initializer_list<golf_config_key> k) { return k; }

// `config`'s every key, the user's value or the default, with paths made absolute.
toml::table resolved_table(const TableConfig& config) {
  toml::table out;
  for (const auto& k : config.schema().keys) {
    const std::string key = k.key;
    if (k.type == GOLF_TYPE_PATH) {
      std::string v = config.get_string(key);
      out.insert(key, v.empty() ? v : fs::absolute(v).lexically_normal().string());
    } else if (const toml::node* n = config.table().get(key)) {
      out.insert(key, *n);
    } else {
      toml::table d = toml::parse(std::string("v = ") + k.default_value);
      out.insert(key, *d.get("v"));
    }
  }
  return out;
}

// The pipeline as it runs: every table, every key with its value or default, paths absolute, so the
// file reruns the same pipeline from any folder.
toml::table resolve(const Pipeline& p) {
  toml::table root;
  toml::table run = resolved_table(*p.run);
  std::string globs;  // code_files globs are relative to the pipeline file
  std::stringstream list(p.run->get_string("code_files"));
  for (std::string g; std::getline(list, g, ',');) {
    g.erase(0, g.find_first_not_of(' '));
    g.erase(g.find_last_not_of(' ') + 1);
    if (g.empty()) continue;
    fs::path full = fs::path(g).is_absolute() ? fs::path(g) : fs::absolute(fs::path(p.file).parent_path() / g);
    globs += (globs.empty() ? "" : ",") + full.lexically_normal().string();
  }
  run.insert_or_assign("code_files", globs);
  root.insert("run", std::move(run));
  root.insert("data", resolved_table(*p.data));
  root.insert("train", resolved_table(*p.train));
  for (const auto& st : p.stages) {
    toml::table t = resolved_table(st.config);
    const std::string named = st.config.table().get("plugin")->value<std::string>().value();
    const bool by_path = named.size() > 3 && named.compare(named.size() - 3, 3, ".so") == 0;
    t.insert("plugin", by_path ? st.plugin->library : std::string(st.plugin->desc.name));
    root.insert(st.table, std::move(t));
  }
  return root;
}

}  // namespace

const std::vector<StageSlot>& stage_slots() {
  static const std::vector<StageSlot> slots = {
      {"tokenizer", GOLF_KIND_TOKENIZER, true},   {"architecture", GOLF_KIND_ARCHITECTURE, true},
      {"optimizer", GOLF_KIND_OPTIMIZER, true},   {"averaging", GOLF_KIND_AVERAGING, false},
      {"qat", GOLF_KIND_QAT, false},              {"quantizer", GOLF_KIND_QUANTIZER, true},
      {"compressor", GOLF_KIND_COMPRESSOR, true}, {"evaluator", GOLF_KIND_EVALUATOR, true}};
  return slots;
}

// Each default is written here and nowhere else: host code that needs one outside a pipeline reads
// it through schema_defaults() (host/config.h), and the key tables in docs/*.md are generated from
// these schemas (`golf-host plugin --host TABLE --markdown`, scripts/gen-docs.sh).
const Schema& run_schema() {
  static const Schema s{
      "run", "golf-host",
      keys({{"name", GOLF_TYPE_STRING, "\"run\"",
             "run name: the run directory is runs/<name>-<YYYYmmdd-HHMMSS> unless --run-dir is given; "
             "letters, digits, '.', '_', '-'"},
            {"seed", GOLF_TYPE_INT, "1337", "seed for initialisation and data order; >= 0"},
            {"device", GOLF_TYPE_STRING, "\"cpu\"", "\"cpu\", \"cuda\" or \"cuda:N\" (needs a CUDA LibTorch build)"},
            {"dtype", GOLF_TYPE_STRING, "\"auto\"",
             "compute dtype: \"auto\" (bfloat16 on cuda, float32 on cpu), \"float32\" or \"bfloat16\"; bfloat16 keeps "
             "float32 master weights (only the embedding is stored in bf16, as in the reference) and runs on a CPU "
             "too, slowly"},
            {"threads", GOLF_TYPE_INT, "0", "LibTorch intra-op threads, 0 to 4096; 0 = LibTorch's default"},
            {"train_seconds", GOLF_TYPE_FLOAT, "600.0", "training wallclock budget, validation excluded; 0 = no cap; never negative"},
            {"eval_seconds", GOLF_TYPE_FLOAT, "600.0",
             "final evaluation wallclock budget: past it the evaluation stops and the run ends over_limit; "
             "0 = no limit; never negative"},
            {"artifact_limit_bytes", GOLF_TYPE_INT, "16000000", "bytes_total = bytes_model + bytes_code must not exceed this; >= 1"},
            {"byte_shuffle", GOLF_TYPE_INT, "0",
             "byte-shuffle stride applied to the artifact payload before the compressor, 2..16; 0 = off (§5.9)"},
            {"compress_groups", GOLF_TYPE_STRING, "\"off\"",
             "\"off\" (one stream), \"on\" (one stream per tensor group) or \"auto\" (whichever is smaller)"},
            {"backend", GOLF_TYPE_STRING, "\"auto\"",
             "c10d backend of a run launched by torchrun (docs/distributed.md): \"auto\" (nccl on cuda, gloo on cpu), "
             "\"gloo\" or \"nccl\"; unused by a run of one process"},
            {"collective_timeout", GOLF_TYPE_FLOAT, "300.0",
             "seconds a rank waits for the others (in a collective, or to meet at start-up) before the run ends with an "
             "error; > 0"},
            {"code_files", GOLF_TYPE_STRING, "\"\"",
             "comma-separated globs (relative to the pipeline file) of files counted in bytes_code "
             "besides the stage plugins' own sources"}})};
  return s;
}

const Schema& data_schema() {
  static const Schema s{
      "data", "golf-host",
      keys({{"train_shards", GOLF_TYPE_PATH, "\"\"", "glob of training shards, e.g. data/fineweb_train_*.bin"},
            {"val_shards", GOLF_TYPE_PATH, "\"\"", "glob of validation shards (fineweb_val_bytes_* sidecars are skipped)"},
            {"corpus", GOLF_TYPE_PATH, "\"\"",
             "a folder of .txt files (one document each, in name order) or a .jsonl file (its \"text\" field); "
             "exported to shards in the run directory with the run's tokenizer"},
            {"val_docs", GOLF_TYPE_INT, "0", "with corpus, and only then: the first N >= 1 documents are the validation set"},
            {"max_val_tokens", GOLF_TYPE_INT, "0",
             "0 = the whole validation stream (the rule); > 0 truncates it, for smoke tests only; never negative"}})};
  return s;
}

const Schema& train_schema() {
  static const Schema s{
      "train", "golf-host",
      keys({{"iterations", GOLF_TYPE_INT, "20000", "maximum optimizer steps"},
            {"batch_tokens", GOLF_TYPE_INT, "524288",
             "tokens per optimizer step, all ranks together; a multiple of seq_len times the processes"},
            {"micro_batch_tokens", GOLF_TYPE_INT, "0",
             "tokens per forward/backward (gradient accumulation), dividing batch_tokens per rank; 0 = batch_tokens"},
            {"seq_len", GOLF_TYPE_INT, "1024", "training (and evaluation) sequence length"},
            {"warmdown_iters", GOLF_TYPE_INT, "1200", "length of the linear LR warmdown, in steps"},
            {"warmdown_frac", GOLF_TYPE_FLOAT, "0.0",
             "> 0: the warmdown is this last fraction of training (of train_seconds, or of iterations without "
             "a time budget) instead of warmdown_iters; the frontier's rule (0.72 in PR #1493)"},
            {"min_lr_scale", GOLF_TYPE_FLOAT, "0.0", "the warmdown's floor: the LR scale never falls below it (0.10 from PR #1787)"},
            {"warmdown", GOLF_TYPE_STRING, "\"auto\"",
             "\"time\": from the wallclock (the reference's rule; needs train_seconds), \"steps\": the last "
             "warmdown_iters of iterations, or \"auto\": time when train_seconds > 0"},
            {"warmup_steps", GOLF_TYPE_INT, "0",
             "priming steps before the clock starts; weights, optimizer state and data position are restored afterwards"},
            {"val_every", GOLF_TYPE_INT, "0",
             "validate every N steps, at step 0 and at the end of training; 0 = only the evaluation after training"},
            {"log_every", GOLF_TYPE_INT, "10", "write metrics.jsonl every N steps"}})};
  return s;
}

const StageSpec* Pipeline::stage(const std::string& table) const {
  for (const auto& s : stages)
    if (s.table == table) return &s;
  return nullptr;
}

Pipeline load_pipeline(const std::string& file, const std::vector<std::string>& overrides, Registry& registry) {
  std::vector<std::string> errors;
  std::vector<fs::path> chain;
  Pipeline p;
  p.file = file;
  Document doc = read_with_extends(file, chain, errors);
  for (const auto& o : overrides) apply_override(doc, o, errors);
  auto sourced = [&](const std::string& name) {
    SourcedTable st;
    if (const toml::table* t = doc.root.get_as<toml::table>(name)) st.table = *t;
    st.origins = doc.origins[name].keys;
    st.origin = doc.origins.count(name) && !doc.origins[name].header.file.empty() ? doc.origins[name].header : Origin{file, 0};
    return st;
  };
  if (errors.empty()) {
    std::vector<std::string> known = {"run", "data", "train"};
    for (const auto& s : stage_slots()) known.push_back(s.table);
    for (const auto& [key, node] : doc.root) {
      std::string name(key.str());
      std::string at = doc.origins[name].header.str();
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string near = did_you_mean(name, known);
        errors.push_back(at + ": unknown table [" + name + "]" + (near.empty() ? "" : "; did you mean [" + near + "]?"));
      } else if (!node.is_table()) {
        errors.push_back(at + ": '" + name + "' must be a table");
      }
    }
    auto host_table = [&](const Schema& schema) {
      SourcedTable t = sourced(schema.table);
      auto e = check_table(t, schema, {});
      errors.insert(errors.end(), e.begin(), e.end());
      return std::make_unique<TableConfig>(schema, std::move(t));
    };
    p.run = host_table(run_schema());
    p.data = host_table(data_schema());
    p.train = host_table(train_schema());

    for (const auto& slot : stage_slots()) {
      const toml::table* t = doc.root.get_as<toml::table>(slot.table);
      if (!t) {
        if (slot.required) errors.push_back(file + ": missing table [" + slot.table + "] (" + with_article(kind_name(slot.kind)) + " stage)");
        continue;
      }
      SourcedTable st = sourced(slot.table);
      const std::string at = st.where("plugin");
      const toml::node* pn = t->get("plugin");
      if (!pn || !pn->is_string()) {
        errors.push_back(at + ": [" + slot.table +
                         "] needs plugin = \"NAME\" (" + with_article(kind_name(slot.kind)) + " plugin)");
        continue;
      }
      std::string name = pn->value<std::string>().value();
      const PluginEntry* plugin = nullptr;
      if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) {
        fs::path path = name;
        const std::string& from = st.origins["plugin"].file;
        if (path.is_relative() && fs::is_regular_file(from)) path = fs::path(from).parent_path() / path;
        const LibraryEntry& lib = registry.load(path.string());
        if (!lib.ok()) {
          errors.push_back(at + ": [" + slot.table + "] " + lib.error);
          continue;
        }
        std::vector<const PluginEntry*> of_kind;
        for (const auto& e : lib.plugins)
          if (e.desc.kind == static_cast<uint32_t>(slot.kind)) of_kind.push_back(&e);
        if (of_kind.size() != 1) {
          errors.push_back(at + ": [" + slot.table + "] " + lib.path + " holds " + std::to_string(of_kind.size()) +
                           " " + kind_name(slot.kind) + " plugins; it must hold exactly one to be named by path");
          continue;
        }
        plugin = of_kind[0];
      } else {
        plugin = registry.find(name);
        if (!plugin) {
          std::string near = did_you_mean(name, registry.names(slot.kind));
          errors.push_back(at + ": [" + slot.table + "] unknown plugin '" + name + "'" +
                           (near.empty() ? "" : "; did you mean '" + near + "'?") + " (`golf-host plugins` lists them)");
          continue;
        }
      }
      if (plugin->desc.kind != static_cast<uint32_t>(slot.kind)) {
        errors.push_back(at + ": [" + slot.table + "] plugin '" + name + "' is " + with_article(kind_name(plugin->desc.kind)) +
                         ", but this stage needs " + with_article(kind_name(slot.kind)));
        continue;
      }
      Schema schema = plugin_schema(slot.table, *plugin);
      auto e = check_table(st, schema);
      errors.insert(errors.end(), e.begin(), e.end());
      p.stages.push_back(StageSpec{slot.table, plugin, TableConfig(schema, std::move(st))});
    }
  }
  if (errors.empty()) {
    p.resolved = resolve(p);
    return p;
  }
  std::string all;
  for (const auto& e : errors) all += (all.empty() ? "" : "\n") + e;
  throw PipelineError(all);
}

}  // namespace golf::host
