// host/context.h: the host's side of golf/context.h: run log, metrics sink, run state, stage context.
#ifndef GOLF_HOST_CONTEXT_H_
#define GOLF_HOST_CONTEXT_H_

#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "config.h"
#include "distributed.h"
#include "errors.h"
#include "interrupt.h"
#include "golf/context.h"
#include "golf/stage.h"
#include "pipeline.h"
#include "registry.h"

namespace golf::host {

// Prints to stderr and appends to the run's log file. Lines logged before open() are kept and written
// first when it opens (the checks before a run directory exists). `quiet` keeps stderr for warnings.
class RunLog final : public Logger {
 public:
  void open(const std::string& path);  // throws when the file cannot be written
  void info(const std::string& message) override;
  void warn(const std::string& message) override;
  void set_quiet(bool quiet) { quiet_ = quiet; }
  // Nothing on the terminal, warnings included: a rank other than 0 keeps its lines in memory and
  // writes them only when it fails (rank-N.log in the run directory).
  void set_silent() { quiet_ = silent_ = true; }
  void file_only(const std::string& message);  // for the provenance header

 private:
  std::ofstream file_;
  std::vector<std::string> early_;  // lines logged before open()
  bool quiet_ = false, silent_ = false;
};

// Collects named scalars and writes one JSON object per line to metrics.jsonl.
class MetricsSink final : public Metrics {
 public:
  void open(const std::string& path);
  void record(const std::string& name, double value) override { pending_[name] = value; }
  // Writes {"step": step, <pending plugin values>, <values>} and clears the pending ones.
  void write(int64_t step, const std::map<std::string, double>& values);

 private:
  std::ofstream file_;
  std::map<std::string, double> pending_;
};

// golf::RunInfo with fields the host moves as the run goes.
class RunState final : public RunInfo {
 public:
  at::Device device_ = at::Device(at::kCPU);
  at::ScalarType dtype_ = at::kFloat;
  // Until a pipeline sets them (tests, the data tools): the [run] seed and [train] seq_len defaults.
  uint64_t seed_ = uint64_t(schema_defaults(run_schema()).get_int("seed"));
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;  // from the Group once it joins (host/distributed.h)
  double budget_seconds_ = 0;  // 0: no training-time budget
  double elapsed_ = 0;         // training seconds, validation excluded; set by the trainer
  double progress_ = 1;      // 0..1 while training; 1 before and after it (weights trained, reused or scored)
  std::string run_dir_;
  int64_t seq_len_ = schema_defaults(train_schema()).get_int("seq_len");  // [train] seq_len

  at::Device device() const override { return device_; }
  at::ScalarType compute_dtype() const override { return dtype_; }
  uint64_t seed() const override { return seed_; }
  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  double elapsed_seconds() const override { return elapsed_; }
  double remaining_seconds() const override {
    return budget_seconds_ > 0 ? std::max(0.0, budget_seconds_ - elapsed_) : std::numeric_limits<double>::infinity();
  }
  double progress() const override { return progress_; }
  std::string run_dir() const override { return run_dir_; }
  int64_t seq_len() const override { return seq_len_; }
};

// What one stage instance borrows. Owns its config; borrows the run-wide services.
class StageContext final : public PluginContext {
 public:
  StageContext(std::string stage, TableConfig config, RunLog& log, MetricsSink& metrics, RunState& run, Group& group)
      : stage_(std::move(stage)), config_(std::move(config)), log_(log), metrics_(metrics), run_(run), group_(group) {}
  const Config& config() const override { return config_; }
  Logger& log() override { return log_; }
  Metrics& metrics() override { return metrics_; }
  const RunInfo& run() const override { return run_; }
  std::string stage() const override { return stage_; }
  Collectives& collectives() override { return group_; }

 private:
  std::string stage_;
  TableConfig config_;
  RunLog& log_;
  MetricsSink& metrics_;
  RunState& run_;
  Group& group_;
};

// What a command lends the stages it makes: log, metrics, run state, the run's processes, and each
// stage's context. Stages made by make() borrow these; the Services must outlive them.
struct Services {
  RunLog log;
  MetricsSink metrics;
  RunState run;
  Group group;  // one process until `run` joins the others (host/distributed.h)
  std::vector<std::unique_ptr<StageContext>> contexts;

  // Makes the stage `spec` names: the one way golf-host makes a stage. Checks that the plugin's
  // descriptor is of Kind's kind; a factory's exception names stage and plugin (create_stage).
  template <class Kind>
  std::unique_ptr<Kind> make(const StageSpec& spec);
};

// Schema of a plugin as its descriptor declares it.
Schema plugin_schema(const std::string& table, const PluginEntry& plugin);

// Calls the plugin's factory. Any exception becomes std::runtime_error naming stage and plugin.
// Returns the kind interface pointer; the caller owns it. Only Services::make calls it.
void* create_stage(const PluginEntry& plugin, StageContext& context);

// Runs `fn`; an exception leaves it naming the stage and plugin, "[stage] (plugin NAME) what: ...",
// and keeps its kind: InputError stays itself (bad input, exit 2), ConfigError (which names its key
// already) and Interrupted pass unchanged, anything else becomes a StageError whose what() has no LibTorch stack frames.
template <class Fn>
auto at_stage(const std::string& stage, const std::string& plugin, const std::string& what, Fn&& fn) {
  const std::string at = "[" + stage + "] (plugin " + plugin + ") " + what + ": ";
  try {
    return fn();
  } catch (const Interrupted&) {
    throw;
  } catch (const OverLimit&) {  // a rule's budget, not a plugin's failure
    throw;
  } catch (const ConfigError&) {  // already names file, line, table, key and plugin (Config::fail)
    throw;
  } catch (const InputError& e) {
    throw InputError(at + e.what());
  } catch (const std::exception& e) {
    throw StageError(at + user_message(e), e.what());
  } catch (...) {
    throw StageError(at + "unknown exception", "");
  }
}

template <class Kind>
std::unique_ptr<Kind> Services::make(const StageSpec& spec) {
  if (spec.plugin->desc.kind != static_cast<uint32_t>(Kind::kKind))
    throw std::logic_error("[" + spec.table + "] plugin " + spec.plugin->desc.name + " is not of the kind this stage needs");
  contexts.push_back(std::make_unique<StageContext>(spec.table, spec.config, log, metrics, run, group));
  return std::unique_ptr<Kind>(static_cast<Kind*>(create_stage(*spec.plugin, *contexts.back())));
}

}  // namespace golf::host

#endif  // GOLF_HOST_CONTEXT_H_
