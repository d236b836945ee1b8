// host/cli_tools.h: the non-run subcommands of golf-host (validate, plugins, plugin, data export/stats).
#ifndef GOLF_HOST_CLI_TOOLS_H_
#define GOLF_HOST_CLI_TOOLS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace golf::host {

// Each prints its result to stdout and returns kExitOk; errors are thrown (main() prints them and
// picks the exit code: host/errors.h).

// Every check `run` makes before it starts (host/preflight.h), then the model's size and memory.
// `reuse`: "" or the run directory a `run --reuse-training` would reuse.
int validate_command(const std::string& pipeline, const std::vector<std::string>& overrides, const std::string& reuse,
                     const std::vector<std::string>& plugin_dirs);

int plugins_command(const std::vector<std::string>& plugin_dirs);

// A plugin's description and config keys. `markdown`: only the keys, as a markdown table (key, type,
// default, doc), the form docs/*.md embed (scripts/gen-docs.sh).
int plugin_command(const std::string& name, bool markdown, const std::vector<std::string>& plugin_dirs);

// The host's own tables ([run], [data], [train]) as plugin_command prints a plugin's: `table` is one
// of them, or "" for all three. Throws InputError naming the tables for another name.
int host_tables_command(const std::string& table, bool markdown);

struct DataExportOptions {
  std::string input, tokenizer, output;
  std::string name;      // shards are NAME_val_*.bin / NAME_train_*.bin; "" = the input's dataset_name()
  int64_t val_docs = 0;  // the first N documents are validation, or
  std::string val_list;  // a file naming the validation documents, one per line, or
  bool val_only = false; // every document is validation (no training shard)
};
int data_export_command(const DataExportOptions& options, const std::vector<std::string>& plugin_dirs);

// Counts of shards made with the tokenizer `tokenizer_model`; an empty shard is an error.
int data_stats_command(const std::vector<std::string>& shards, const std::string& tokenizer_model,
                       const std::vector<std::string>& plugin_dirs);

}  // namespace golf::host

#endif  // GOLF_HOST_CLI_TOOLS_H_
