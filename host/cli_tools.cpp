// host/cli_tools.cpp: validate, plugin listings, and the data tools.
#include "cli_tools.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "context.h"
#include "corpus.h"
#include "device.h"
#include "errors.h"
#include "evaluate.h"
#include "golf/golf.h"
#include "interrupt.h"
#include "pipeline.h"
#include "preflight.h"
#include "shard.h"

namespace golf::host {
namespace {

std::unique_ptr<Tokenizer> load_tokenizer(Registry& registry, Services& s, const std::string& model) {
  const PluginEntry* plugin = registry.find("sentencepiece");
  if (!plugin) throw std::runtime_error("the sentencepiece tokenizer plugin was not found on the plugin path");
  if (!std::filesystem::is_regular_file(model)) throw InputError("--tokenizer " + model + ": no such file");
  SourcedTable t;
  t.table.insert("model", std::filesystem::absolute(model).string());
  t.origin = Origin{"--tokenizer " + model, 0};
  StageSpec spec{"tokenizer", plugin, TableConfig(plugin_schema("tokenizer", *plugin), std::move(t))};
  auto tok = s.make<Tokenizer>(spec);
  at_stage("tokenizer", "sentencepiece", "prepare", [&] { tok->prepare({}, std::filesystem::temp_directory_path().string()); });
  return tok;
}

const char* type_label(uint32_t t) {
  switch (t) {
    case GOLF_TYPE_INT: return "int";
    case GOLF_TYPE_FLOAT: return "float";
    case GOLF_TYPE_BOOL: return "bool";
    case GOLF_TYPE_STRING: return "string";
    case GOLF_TYPE_PATH: return "path";
  }
  return "?";
}

void print_schema(const Schema& s) {
  for (const auto& k : s.keys)
    std::printf("  %-22s %-7s %-14s %s\n", k.key, type_label(k.type), k.default_value ? k.default_value : "(required)",
                k.doc ? k.doc : "");
}

// Text for a markdown table cell, escaped where markdown would read it otherwise: '|' ends a cell,
// '<' opens an HTML tag, '*' and a '_' not inside a word mark emphasis.
std::string cell(const std::string& text) {
  std::string out;
  auto word = [&](size_t i) { return i < text.size() && std::isalnum(static_cast<unsigned char>(text[i])); };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '|' || c == '<' || c == '>' || c == '*' || c == '\\' || (c == '_' && !(i > 0 && word(i - 1) && word(i + 1))))
      out += '\\';
    out += c;
  }
  return out;
}

// A backtick code span holding `text` (defaults are TOML literals: "\"run\"", "0.04").
std::string code(const std::string& text) { return "`" + text + "`"; }

void print_markdown(const Schema& s) {
  if (s.keys.empty()) {
    std::printf("(no config keys)\n");
    return;
  }
  std::printf("| key | type | default | doc |\n| --- | --- | --- | --- |\n");
  for (const auto& k : s.keys)
    std::printf("| %s | %s | %s | %s |\n", code(k.key).c_str(), type_label(k.type),
                k.default_value ? code(k.default_value).c_str() : "(required)", cell(k.doc ? k.doc : "").c_str());
}

}  // namespace

int validate_command(const std::string& file, const std::vector<std::string>& overrides, const std::string& reuse,
                     const std::vector<std::string>& plugin_dirs) {
  Registry registry = scan_plugins(plugin_dirs);
  Pipeline p = load_pipeline(file, overrides, registry);
  Services s;
  s.log.set_quiet(true);
  std::vector<std::string> unavailable;  // a missing GPU or data set: reported after the model's size
  Prepared prepared = preflight(p, reuse, registry, s, &unavailable);
  const ModelSize& m = prepared.size;
  if (m.known) {
    std::printf("model (%s): %lld parameters\n", p.stage("architecture")->plugin->desc.name, (long long)m.params);
    for (const auto& [role, g] : m.roles)
      std::printf("  %-14s %4lld tensors %12lld parameters\n", role.c_str(), (long long)g.first, (long long)g.second);
    std::printf("memory: at least %s (weights and gradients %s, activations of one micro-batch %s) of %s on %s\n",
                gib(m.state_bytes + m.activation_bytes).c_str(), gib(m.state_bytes).c_str(), gib(m.activation_bytes).c_str(),
                m.device_bytes ? gib(m.device_bytes).c_str() : "unknown", prepared.device.description.c_str());
  } else {
    std::printf("model: size not known before building: %s\n", m.why_unknown.c_str());
  }
  std::printf("bytes_code: %lld in %zu files\n", (long long)prepared.code.bytes, prepared.code.files.size());
  for (const auto& change : prepared.reuse_ignored) std::printf("--reuse-training ignores %s\n", change.c_str());
  if (!unavailable.empty()) {
    std::fflush(stdout);
    for (const auto& why : unavailable) std::fprintf(stderr, "error: %s\n", why.c_str());
    std::printf("%s: cannot run here as it is (%zu problem%s above)\n", file.c_str(),
                unavailable.size(), unavailable.size() == 1 ? "" : "s");
    return kExitInvalid;
  }
  std::printf("%s: valid\n", file.c_str());
  return kExitOk;
}

int plugins_command(const std::vector<std::string>& plugin_dirs) {
  auto dirs = plugin_search_path(plugin_dirs);
  Registry registry;
  registry.scan(dirs);
  std::printf("search path:\n");
  for (const auto& d : dirs) std::printf("  %s\n", d.c_str());
  std::printf("%-16s %-13s %-8s %s\n", "NAME", "KIND", "VERSION", "PATH");
  int refused = 0;
  for (const auto& lib : registry.libraries()) {
    if (!lib->ok()) {
      std::printf("%-16s %-13s %-8s %s\n    not loadable: %s\n", "-", "-", "-", lib->path.c_str(), lib->error.c_str());
      ++refused;
      continue;
    }
    for (const auto& p : lib->plugins) {
      bool shadowed = registry.find(p.desc.name) != &p;
      std::printf("%-16s %-13s %-8s %s%s\n", p.desc.name, kind_name(p.desc.kind), p.desc.version, lib->path.c_str(),
                  shadowed ? "  (shadowed by an earlier plugin of this name)" : "");
    }
  }
  if (refused) std::printf("%d librar%s could not be loaded (see above)\n", refused, refused == 1 ? "y" : "ies");
  return kExitOk;
}

int plugin_command(const std::string& name, bool markdown, const std::vector<std::string>& plugin_dirs) {
  Registry registry = scan_plugins(plugin_dirs);
  const PluginEntry* p = registry.find(name);
  if (!p) {
    std::string near = did_you_mean(name, registry.names());
    throw InputError("no plugin named '" + name + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                     " (`golf-host plugins` lists them)");
  }
  const Schema schema = plugin_schema(kind_name(p->desc.kind), *p);
  if (markdown) {
    print_markdown(schema);
    return kExitOk;
  }
  std::printf("%s %s (%s)\n  %s\n  library: %s\n  built with: %s\n\nconfig keys ([%s] table):\n", p->desc.name,
              p->desc.version, kind_name(p->desc.kind), p->desc.description, p->library.c_str(),
              describe(host_fingerprint()).c_str(), kind_name(p->desc.kind));
  print_schema(schema);
  return kExitOk;
}

int host_tables_command(const std::string& table, bool markdown) {
  const std::vector<const Schema*> all = {&run_schema(), &data_schema(), &train_schema()};
  std::vector<const Schema*> chosen;
  for (const Schema* s : all)
    if (table.empty() || s->table == table) chosen.push_back(s);
  if (chosen.empty()) throw InputError("golf-host has no table [" + table + "]; its tables are run, data and train");
  for (size_t i = 0; i < chosen.size(); ++i) {
    if (markdown) {
      if (chosen.size() > 1) std::printf("%s`[%s]`\n\n", i ? "\n" : "", chosen[i]->table.c_str());
      print_markdown(*chosen[i]);
    } else {
      std::printf("%s[%s] (golf-host):\n", i ? "\n" : "", chosen[i]->table.c_str());
      print_schema(*chosen[i]);
    }
  }
  return kExitOk;
}

int data_export_command(const DataExportOptions& o, const std::vector<std::string>& plugin_dirs) {
  Registry registry = scan_plugins(plugin_dirs);
  Services s;
  auto tok = load_tokenizer(registry, s, o.tokenizer);
  std::vector<std::string> names;
  if (!o.val_list.empty()) {
    std::ifstream in(o.val_list);
    if (!in) throw InputError("--val-list " + o.val_list + ": cannot read the validation list");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) names.push_back(line);
  }
  std::vector<Document> docs = read_corpus(o.input), train, val;
  split_corpus(docs, o.val_docs, names, train, val, o.val_only);
  const std::string name = o.name.empty() ? dataset_name(o.input) : o.name;
  ExportStats st;
  try {
    st = export_shards(*tok, train, val, o.output, name);
  } catch (const Interrupted&) {  // no half-made dataset: shards.json is written last, so none exists
    std::vector<std::filesystem::path> partial;
    for (const auto& f : std::filesystem::directory_iterator(o.output))
      for (const char* split : {"_val_", "_train_"})
        if (f.path().filename().string().rfind(name + split, 0) == 0) partial.push_back(f.path());
    for (const auto& f : partial) std::filesystem::remove(f);
    std::cerr << "data export: interrupted; removed the " << partial.size() << " shards it had written to " << o.output << "\n";
    throw;
  }
  std::printf("%s: %lld validation documents (%lld tokens, %zu shards), %lld training documents (%lld tokens, %zu shards)\n",
              o.output.c_str(), (long long)st.val_docs, (long long)st.val_tokens, st.val_files.size(),
              (long long)st.train_docs, (long long)st.train_tokens, st.train_files.size());
  return kExitOk;
}

int data_stats_command(const std::vector<std::string>& shards, const std::string& tokenizer_model,
                       const std::vector<std::string>& plugin_dirs) {
  Registry registry = scan_plugins(plugin_dirs);
  Services s;
  auto tok = load_tokenizer(registry, s, tokenizer_model);
  ByteTables tables = tok->byte_tables();
  for (const auto& f : shards)
    if (shard_tokens(f) == 0) throw InputError(f + ": empty shard (a valid header and no tokens): nothing to count");
  std::vector<int64_t> all = read_stream(shards, tok->vocab_size());
  at::Tensor stream = at::from_blob(all.data(), {int64_t(all.size())}, at::kLong);
  int64_t docs = 0;
  for (int64_t t : all) docs += t == tok->bos_id();
  int64_t bytes = count_bytes(stream, tables);
  std::printf("shards           %zu\ndocuments        %lld (BOS tokens)\ntokens           %zu\nscored targets   %lld\n"
              "bytes (BPB)      %lld\ntokens per byte  %.6f\n",
              shards.size(), (long long)docs, all.size(), (long long)(all.size() - 1), (long long)bytes,
              bytes ? double(all.size() - 1) / bytes : 0.0);
  return kExitOk;
}

}  // namespace golf::host
