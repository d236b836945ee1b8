// host/main.cpp: golf-host, the command line: run, validate, plugins, plugin, data export/stats, export/import/score.
#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <vector>

#include "cli_tools.h"
#include "device.h"
#include "interop.h"
#include "provenance.h"
#include "run.h"

namespace po = boost::program_options;
using golf::host::RunOptions;

namespace {

const char* kUsage =
    "golf-host: runs Parameter Golf pipelines made of plugins\n\n"
    "usage:\n"
    "  golf-host run PIPELINE [--run-dir DIR] [--set stage.key=value]... [--reuse-training RUN_DIR]\n"
    "  golf-host validate PIPELINE [--set stage.key=value]...\n"
    "  golf-host plugins                 list every plugin found, and why any is not loadable\n"
    "  golf-host plugin NAME             a plugin's description and config keys\n"
    "  golf-host data export --input PATH --tokenizer MODEL --output DIR (--val-docs N | --val-list FILE) [--name NAME]\n"
    "  golf-host data stats SHARD... --tokenizer MODEL\n"
    "  golf-host export RUN_DIR --format torch|safetensors OUT   trained weights as a PyTorch state_dict\n"
    "  golf-host import FILE --pipeline PIPELINE OUT_RUN_DIR [--set ...]   weights from PyTorch into a run directory\n"
    "  golf-host score PIPELINE --weights FILE|RUN_DIR [--val GLOB] [--set ...]   val_loss and val_bpb, no training\n"
    "  golf-host --version\n\n"
    "common option: --plugin-path DIR (repeatable; also $GOLF_PLUGIN_PATH, colon-separated)\n"
    "docs: README.md, docs/pipelines.md, docs/writing-a-plugin.md\n";

int usage_error(const std::string& why) {
  std::cerr << "golf-host: " << why << "\n\n" << kUsage;
  return 2;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) return usage_error("no command given");
  std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") return std::cout << kUsage, 0;
  if (command == "--version")
    return std::cout << "golf " << golf::host::golf_version() << " (" << golf::host::golf_commit() << ")\n"
                     << golf::host::torch_summary() << "\n", 0;
  if (command == "data") {
    if (argc < 3) return usage_error("data needs a subcommand: export or stats");
    command += " " + std::string(argv[2]);
    --argc, ++argv;
  }

  std::vector<std::string> positional, overrides, plugin_dirs;
  std::string run_dir, reuse, input, tokenizer, output, val_list, name, format, pipeline, weights, val;
  int64_t val_docs = 0;
  po::options_description opts;
  opts.add_options()
      ("set", po::value(&overrides)->composing(), "stage.key=value")
      ("plugin-path", po::value(&plugin_dirs)->composing(), "plugin folder")
      ("run-dir", po::value(&run_dir), "")
      ("reuse-training", po::value(&reuse), "")
      ("input", po::value(&input), "")
      ("tokenizer", po::value(&tokenizer), "")
      ("output", po::value(&output), "")
      ("val-docs", po::value(&val_docs), "")
      ("val-list", po::value(&val_list), "")
      ("name", po::value(&name), "")
      ("format", po::value(&format), "")
      ("pipeline", po::value(&pipeline), "")
      ("weights", po::value(&weights), "")
      ("val", po::value(&val), "")
      ("positional", po::value(&positional)->composing(), "");
  po::positional_options_description pos;
  pos.add("positional", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc - 1, argv + 1).options(opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  auto only = [&](std::initializer_list<const char*> allowed) -> std::string {
    for (const auto& [name, value] : vm) {
      if (name == "positional" || name == "plugin-path") continue;
      bool ok = false;
      for (const char* a : allowed) ok |= name == a;
      if (!ok) return "--" + name + " does not apply to `" + command + "`";
    }
    return "";
  };

  if (command == "run" || command == "validate") {
    if (positional.size() != 1) return usage_error(command + " takes exactly one PIPELINE file");
    if (command == "validate") {
      if (auto e = only({"set"}); !e.empty()) return usage_error(e);
      return golf::host::validate_command(positional[0], overrides, plugin_dirs);
    }
    if (auto e = only({"set", "run-dir", "reuse-training"}); !e.empty()) return usage_error(e);
    RunOptions o{positional[0], overrides, run_dir, reuse, plugin_dirs};
    return golf::host::run_pipeline(o);
  }
  if (command == "plugins") {
    if (!positional.empty()) return usage_error("plugins takes no arguments (use `plugin NAME` for one)");
    if (auto e = only({}); !e.empty()) return usage_error(e);
    return golf::host::plugins_command(plugin_dirs);
  }
  if (command == "plugin") {
    if (positional.size() != 1) return usage_error("plugin takes one NAME");
    if (auto e = only({}); !e.empty()) return usage_error(e);
    return golf::host::plugin_command(positional[0], plugin_dirs);
  }
  if (command == "data export") {
    if (auto e = only({"input", "tokenizer", "output", "val-docs", "val-list", "name"}); !e.empty()) return usage_error(e);
    if (input.empty() || tokenizer.empty() || output.empty()) return usage_error("data export needs --input, --tokenizer and --output");
    if ((val_docs > 0) == !val_list.empty()) return usage_error("data export needs one of --val-docs N or --val-list FILE");
    return golf::host::data_export_command(input, tokenizer, output, name, val_docs, val_list, plugin_dirs);
  }
  if (command == "data stats") {
    if (auto e = only({"tokenizer"}); !e.empty()) return usage_error(e);
    if (positional.empty() || tokenizer.empty()) return usage_error("data stats needs SHARD... and --tokenizer MODEL");
    return golf::host::data_stats_command(positional, tokenizer, plugin_dirs);
  }
  if (command == "export") {
    if (auto e = only({"format"}); !e.empty()) return usage_error(e);
    if (positional.size() != 2 || format.empty()) return usage_error("export takes RUN_DIR --format torch|safetensors OUT");
    return golf::host::export_command(positional[0], format, positional[1], plugin_dirs);
  }
  if (command == "import") {
    if (auto e = only({"pipeline", "set"}); !e.empty()) return usage_error(e);
    if (positional.size() != 2 || pipeline.empty()) return usage_error("import takes FILE --pipeline PIPELINE OUT_RUN_DIR");
    return golf::host::import_command(positional[0], pipeline, overrides, positional[1], plugin_dirs);
  }
  if (command == "score") {
    if (auto e = only({"weights", "val", "set"}); !e.empty()) return usage_error(e);
    if (positional.size() != 1 || weights.empty()) return usage_error("score takes PIPELINE --weights FILE|RUN_DIR [--val GLOB]");
    return golf::host::score_command(positional[0], overrides, weights, val, plugin_dirs);
  }
  return usage_error("unknown command '" + command + "'");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const std::exception& e) {  // last line of defence: a message, never an abort
    std::cerr << "golf-host: " << e.what() << "\n";
    return 1;
  }
}
