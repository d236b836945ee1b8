// host/pipeline.h: a pipeline file resolved (extends, --set) and validated before any work starts.
#ifndef GOLF_HOST_PIPELINE_H_
#define GOLF_HOST_PIPELINE_H_

#include <toml++/toml.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "registry.h"

namespace golf::host {

// The stage tables a pipeline may have, in run order, with their kinds and whether they are required.
struct StageSlot {
  const char* table;
  golf_kind kind;
  bool required;
};
const std::vector<StageSlot>& stage_slots();

// Host-owned tables and their schemas ([run], [data], [train]); documented in docs/pipelines.md.
const Schema& run_schema();
const Schema& data_schema();
const Schema& train_schema();

struct StageSpec {
  std::string table;           // "optimizer"
  const PluginEntry* plugin;   // resolved in the registry
  TableConfig config;          // the table checked against the plugin's schema
};

struct Pipeline {
  std::string file;            // the top-level pipeline file
  toml::table resolved;        // every table and key with its value or default, paths absolute: what
                               // the run directory's pipeline.toml holds, and reruns as it ran
  std::unique_ptr<TableConfig> run, data, train;
  std::vector<StageSpec> stages;  // present stages in stage_slots() order
  const StageSpec* stage(const std::string& table) const;  // nullptr when absent
};

// Thrown with every problem found, one per line, each naming file, line, table and key.
class PipelineError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads `file` (following `extends`), applies `overrides` ("stage.key=value", value as a TOML literal or
// else a bare string), resolves each stage's plugin in `registry` (a value ending in .so is loaded as a
// library path, relative to the pipeline file), and checks every table. Throws PipelineError.
Pipeline load_pipeline(const std::string& file, const std::vector<std::string>& overrides, Registry& registry);

}  // namespace golf::host

#endif  // GOLF_HOST_PIPELINE_H_
