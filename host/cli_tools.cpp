// host/cli_tools.cpp: validate, plugin listings, and the data tools.
#include "cli_tools.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "context.h"
#include "corpus.h"
#include "device.h"
#include "evaluate.h"
#include "golf/golf.h"
#include "pipeline.h"
#include "shard.h"

namespace golf::host {
namespace {

std::unique_ptr<Tokenizer> load_tokenizer(Registry& registry, Standalone& s, const std::string& model) {
  const PluginEntry* plugin = registry.find("sentencepiece");
  if (!plugin) throw std::runtime_error("the sentencepiece tokenizer plugin was not found on the plugin path");
  SourcedTable t;
  t.table.insert("model", std::filesystem::absolute(model).string());
  t.origin = Origin{"--tokenizer " + model, 0};
  auto tok = s.make<Tokenizer>("tokenizer", *plugin, TableConfig(plugin_schema("tokenizer", *plugin), std::move(t)));
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

}  // namespace

int validate_command(const std::string& file, const std::vector<std::string>& overrides,
                     const std::vector<std::string>& plugin_dirs) {
  Registry registry = scan_plugins(plugin_dirs);
  Pipeline p;
  try {
    p = load_pipeline(file, overrides, registry);
  } catch (const PipelineError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  try {
    Standalone s;
    s.log.set_quiet(true);
    s.run.seed_ = p.run->get_int("seed");
    const StageSpec* arch = p.stage("architecture");
    const StageSpec* tok = p.stage("tokenizer");
    std::unique_ptr<Tokenizer> tokenizer;
    for (const auto& st : p.stages) {  // construction checks each plugin's values (ranges, combinations)
      void* made = create_stage(*st.plugin, *s.contexts.emplace_back(std::make_unique<StageContext>(
                                                 st.table, st.config, s.log, s.metrics, s.run)));
      if (&st == tok) {
        tokenizer.reset(static_cast<Tokenizer*>(made));
        continue;
      }
      if (&st != arch) {
        adopt_stage(st.plugin->desc.kind, made);  // made only to check its values; destroyed here
        continue;
      }
      std::unique_ptr<Architecture> model(static_cast<Architecture*>(made));
      at_stage("architecture", st.plugin->desc.name, "build", [&] { model->build(); });
      std::map<std::string, std::pair<int64_t, int64_t>> groups;  // role -> tensors, params
      int64_t total = 0;
      for (const auto& prm : model->parameters()) {
        auto& g = groups[role_name(prm.role)];
        g.first += 1, g.second += prm.tensor.numel(), total += prm.tensor.numel();
      }
      std::printf("model (%s): %lld parameters\n", st.plugin->desc.name, (long long)total);
      for (const auto& [role, g] : groups)
        std::printf("  %-10s %4lld tensors %12lld parameters\n", role.c_str(), (long long)g.first, (long long)g.second);
    }
    std::fflush(stdout);  // the counts stand even when a check below fails
    compute_device(*p.run);  // this build and machine can run it
    // The shards run would read, made with this tokenizer (a corpus pipeline makes its own).
    if (p.data->get_string("corpus").empty()) {
      at_stage("tokenizer", tok->plugin->desc.name, "prepare",
               [&] { tokenizer->prepare({}, std::filesystem::temp_directory_path().string()); });
      pipeline_shards(*p.data, *tokenizer);
    }
    std::printf("%s: valid\n", file.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
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
  return 0;
}

int plugin_command(const std::string& name, const std::vector<std::string>& plugin_dirs) {
  Registry registry = scan_plugins(plugin_dirs);
  const PluginEntry* p = registry.find(name);
  if (!p) {
    std::string near = did_you_mean(name, registry.names());
    std::cerr << "no plugin named '" << name << "'" << (near.empty() ? "" : "; did you mean '" + near + "'?")
              << " (`golf-host plugins` lists them)\n";
    return 2;
  }
  std::printf("%s %s (%s)\n  %s\n  library: %s\n  built with: %s\n\nconfig keys ([%s] table):\n", p->desc.name,
              p->desc.version, kind_name(p->desc.kind), p->desc.description, p->library.c_str(),
              describe(host_fingerprint()).c_str(), kind_name(p->desc.kind));
  print_schema(plugin_schema(kind_name(p->desc.kind), *p));
  return 0;
}

int data_export_command(const std::string& input, const std::string& tokenizer_model, const std::string& output,
                        const std::string& name, int64_t val_docs, const std::string& val_list,
                        const std::vector<std::string>& plugin_dirs) {
  try {
    Registry registry = scan_plugins(plugin_dirs);
    Standalone s;
    auto tok = load_tokenizer(registry, s, tokenizer_model);
    std::vector<std::string> names;
    if (!val_list.empty()) {
      std::ifstream in(val_list);
      if (!in) throw std::runtime_error(val_list + ": cannot read the validation list");
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) names.push_back(line);
    }
    std::vector<Document> docs = read_corpus(input), train, val;
    split_corpus(docs, val_docs, names, train, val);
    ExportStats st = export_shards(*tok, train, val, output, name.empty() ? dataset_name(input) : name);
    std::printf("%s: %lld validation documents (%lld tokens, %zu shards), %lld training documents (%lld tokens, %zu shards)\n",
                output.c_str(), (long long)st.val_docs, (long long)st.val_tokens, st.val_files.size(),
                (long long)st.train_docs, (long long)st.train_tokens, st.train_files.size());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

int data_stats_command(const std::vector<std::string>& shards, const std::string& tokenizer_model,
                       const std::vector<std::string>& plugin_dirs) {
  try {
    Registry registry = scan_plugins(plugin_dirs);
    Standalone s;
    auto tok = load_tokenizer(registry, s, tokenizer_model);
    ByteTables tables = tok->byte_tables();
    std::vector<int64_t> all = read_stream(shards);
    at::Tensor stream = at::from_blob(all.data(), {int64_t(all.size())}, at::kLong);
    int64_t docs = 0;
    for (int64_t t : all) docs += t == tok->bos_id();
    int64_t bytes = count_bytes(stream, tables);
    std::printf("shards           %zu\ndocuments        %lld (BOS tokens)\ntokens           %zu\nscored targets   %lld\n"
                "bytes (BPB)      %lld\ntokens per byte  %.6f\n",
                shards.size(), (long long)docs, all.size(), (long long)(all.size() - 1), (long long)bytes,
                bytes ? double(all.size() - 1) / bytes : 0.0);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace golf::host
