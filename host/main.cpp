// host/main.cpp: golf-host, the command line: run, validate, plugins, plugin, data export/stats, export/import/score.
#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "cli_tools.h"
#include "device.h"
#include "errors.h"
#include "interop.h"
#include "interrupt.h"
#include "provenance.h"
#include "run.h"

namespace po = boost::program_options;

namespace {

// Every subcommand: its usage, what it does, and the options it takes (besides --plugin-path).
struct Command {
  const char* name;
  const char* usage;
  const char* about;
  std::vector<const char*> options;
};

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"run", "run PIPELINE [--run-dir DIR] [--set stage.key=value]... [--reuse-training RUN_DIR]",
       "checks the pipeline, then trains, quantizes, compresses and scores it into a run directory",
       {"set", "run-dir", "reuse-training"}},
      {"validate", "validate PIPELINE [--set stage.key=value]... [--reuse-training RUN_DIR]",
       "every check `run` makes before it starts; prints the model's size and memory", {"set", "reuse-training"}},
      {"plugins", "plugins", "lists every plugin found, and why any is not loadable", {}},
      {"plugin", "plugin NAME [--markdown] | plugin --host [run|data|train] [--markdown]",
       "a plugin's description and config keys with their defaults; --host: golf-host's own [run], [data] "
       "and [train] keys; --markdown: only the keys, as the markdown table docs/*.md embed",
       {"markdown", "host"}},
      {"data export",
       "data export --input PATH --tokenizer MODEL --output DIR (--val-docs N | --val-list FILE | --val-only) [--name NAME]",
       "tokenizes a corpus (a folder of .txt files or a .jsonl file) into shards",
       {"input", "tokenizer", "output", "val-docs", "val-list", "val-only", "name"}},
      {"data stats", "data stats SHARD... --tokenizer MODEL", "documents, tokens and bytes of shards", {"tokenizer"}},
      {"export", "export RUN_DIR --format torch|safetensors OUT", "trained weights as a PyTorch state_dict", {"format"}},
      {"import", "import FILE --pipeline PIPELINE OUT_RUN_DIR [--set stage.key=value]...",
       "weights from PyTorch into a run directory", {"pipeline", "set"}},
      {"score", "score PIPELINE --weights FILE|RUN_DIR [--val GLOB] [--set stage.key=value]...",
       "val_loss and val_bpb of weights, no training", {"weights", "val", "set"}},
  };
  return all;
}

std::string usage() {
  std::string u = "golf-host: runs Parameter Golf pipelines made of plugins\n\nusage:\n";
  for (const auto& c : commands()) u += "  golf-host " + std::string(c.usage) + "\n";
  return u + "  golf-host --version\n  golf-host COMMAND --help\n\n"
             "common option: --plugin-path DIR (repeatable; also $GOLF_PLUGIN_PATH, colon-separated)\n"
             "exit codes: 0 done, 1 failed, 2 bad input, 130/143 stopped by SIGINT/SIGTERM\n"
             "docs: README.md, docs/pipelines.md, docs/writing-a-plugin.md\n";
}

int usage_error(const std::string& why, const Command* c = nullptr) {
  std::cerr << "golf-host: " << why << "\n\n";
  if (c) std::cerr << "usage: golf-host " << c->usage << "\n(golf-host " << c->name << " --help for more)\n";
  else std::cerr << usage();
  return golf::host::kExitInvalid;
}

int dispatch(int argc, char** argv) {
  using namespace golf::host;
  if (argc < 2) return usage_error("no command given");
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") return std::cout << usage(), kExitOk;
  if (name == "--version")
    return std::cout << "golf " << golf_version() << " (" << golf_commit() << ")\n" << torch_summary() << "\n", kExitOk;
  if (name == "data") {
    if (argc < 3 || std::string(argv[2]).rfind("-", 0) == 0) {
      if (argc >= 3 && (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h"))
        return std::cout << "usage:\n  golf-host data export ...\n  golf-host data stats ...\n"
                            "(golf-host data export --help, golf-host data stats --help)\n",
               kExitOk;
      return usage_error("data needs a subcommand: export or stats");
    }
    name += " " + std::string(argv[2]);
    --argc, ++argv;
  }
  const Command* c = nullptr;
  for (const auto& k : commands())
    if (name == k.name) c = &k;
  if (!c) return usage_error("unknown command '" + name + "'");

  std::vector<std::string> positional, overrides, plugin_dirs;
  std::string run_dir, reuse, val_list, format, pipeline, weights, val;
  DataExportOptions ex;
  bool help = false, markdown = false, host_tables = false;
  po::options_description opts;
  opts.add_options()
      ("help,h", po::bool_switch(&help), "")
      ("set", po::value(&overrides)->composing(), "")
      ("plugin-path", po::value(&plugin_dirs)->composing(), "")
      ("run-dir", po::value(&run_dir), "")
      ("reuse-training", po::value(&reuse), "")
      ("input", po::value(&ex.input), "")
      ("tokenizer", po::value(&ex.tokenizer), "")
      ("output", po::value(&ex.output), "")
      ("val-docs", po::value(&ex.val_docs), "")
      ("val-list", po::value(&ex.val_list), "")
      ("val-only", po::bool_switch(&ex.val_only), "")
      ("name", po::value(&ex.name), "")
      ("format", po::value(&format), "")
      ("pipeline", po::value(&pipeline), "")
      ("weights", po::value(&weights), "")
      ("val", po::value(&val), "")
      ("markdown", po::bool_switch(&markdown), "")
      ("host", po::bool_switch(&host_tables), "")
      ("positional", po::value(&positional)->composing(), "");
  po::positional_options_description pos;
  pos.add("positional", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what(), c);
  }
  if (help) {
    std::cout << "usage: golf-host " << c->usage << "\n  " << c->about
              << "\n\noptions for every command: --plugin-path DIR, --help\n";
    return kExitOk;
  }
  for (const auto& [opt, value] : vm) {
    if (opt == "positional" || opt == "plugin-path" || value.defaulted()) continue;
    bool ok = false;
    for (const char* a : c->options) ok |= opt == a;
    if (!ok) return usage_error("--" + opt + " does not apply to `" + name + "`", c);
  }

  if (name == "run" || name == "validate") {
    if (positional.size() != 1) return usage_error(name + " takes exactly one PIPELINE file", c);
    if (name == "validate") return validate_command(positional[0], overrides, reuse, plugin_dirs);
    return run_pipeline(RunOptions{positional[0], overrides, run_dir, reuse, plugin_dirs});
  }
  if (name == "plugins") {
    if (!positional.empty()) return usage_error("plugins takes no arguments (use `plugin NAME` for one)", c);
    return plugins_command(plugin_dirs);
  }
  if (name == "plugin") {
    if (host_tables) {
      if (positional.size() > 1) return usage_error("plugin --host takes at most one table: run, data or train", c);
      return host_tables_command(positional.empty() ? "" : positional[0], markdown);
    }
    if (positional.size() != 1) return usage_error("plugin takes one NAME (or --host for golf-host's own tables)", c);
    return plugin_command(positional[0], markdown, plugin_dirs);
  }
  if (name == "data export") {
    if (!positional.empty()) return usage_error("data export takes no positional arguments", c);
    if (ex.input.empty() || ex.tokenizer.empty() || ex.output.empty())
      return usage_error("data export needs --input, --tokenizer and --output", c);
    if ((ex.val_docs != 0) + !ex.val_list.empty() + ex.val_only != 1 || ex.val_docs < 0)
      return usage_error("data export needs exactly one of --val-docs N (N >= 1), --val-list FILE or --val-only", c);
    return data_export_command(ex, plugin_dirs);
  }
  if (name == "data stats") {
    if (positional.empty() || ex.tokenizer.empty()) return usage_error("data stats needs SHARD... and --tokenizer MODEL", c);
    return data_stats_command(positional, ex.tokenizer, plugin_dirs);
  }
  if (name == "export") {
    if (positional.size() != 2 || format.empty()) return usage_error("export takes RUN_DIR --format torch|safetensors OUT", c);
    return export_command(positional[0], format, positional[1], plugin_dirs);
  }
  if (name == "import") {
    if (positional.size() != 2 || pipeline.empty()) return usage_error("import takes FILE --pipeline PIPELINE OUT_RUN_DIR", c);
    return import_command(positional[0], pipeline, overrides, positional[1], plugin_dirs);
  }
  if (positional.size() != 1 || weights.empty())
    return usage_error("score takes PIPELINE --weights FILE|RUN_DIR [--val GLOB]", c);
  return score_command(positional[0], overrides, weights, val, plugin_dirs);
}

}  // namespace

int main(int argc, char** argv) {
  golf::host::install_interrupt_handlers();
  try {
    return dispatch(argc, argv);
  } catch (const std::exception& e) {  // every command's errors end here: a message and an exit code
    const golf::host::Interrupted* stop = dynamic_cast<const golf::host::Interrupted*>(&e);
    std::cerr << (stop ? "golf-host: " : "error: ") << golf::host::user_message(e) << "\n";
    return golf::host::exit_code_for(e);
  }
}
