// host/cli_tools.h: the non-run subcommands of golf-host (validate, plugins, plugin, data export/stats).
#ifndef GOLF_HOST_CLI_TOOLS_H_
#define GOLF_HOST_CLI_TOOLS_H_

#include <string>
#include <vector>

namespace golf::host {

// Each returns a process exit code (0 ok, 1 error, 2 invalid input) and prints to stdout/stderr.
int validate_command(const std::string& pipeline, const std::vector<std::string>& overrides,
                     const std::vector<std::string>& plugin_dirs);
int plugins_command(const std::vector<std::string>& plugin_dirs);
int plugin_command(const std::string& name, const std::vector<std::string>& plugin_dirs);
// Shards are named NAME_val_*.bin / NAME_train_*.bin; an empty `name` takes the input's dataset_name().
int data_export_command(const std::string& input, const std::string& tokenizer_model, const std::string& output,
                        const std::string& name, int64_t val_docs, const std::string& val_list,
                        const std::vector<std::string>& plugin_dirs);
int data_stats_command(const std::vector<std::string>& shards, const std::string& tokenizer_model,
                       const std::vector<std::string>& plugin_dirs);

}  // namespace golf::host

#endif  // GOLF_HOST_CLI_TOOLS_H_
