// host/run.h: `golf-host run`: one pipeline from tokenizer to the scored artifact.
#ifndef GOLF_HOST_RUN_H_
#define GOLF_HOST_RUN_H_

#include <string>
#include <vector>

namespace golf::host {

struct RunOptions {
  std::string pipeline;
  std::vector<std::string> overrides;    // --set stage.key=value
  std::string run_dir;                   // "" = runs/<name>-<timestamp>
  std::string reuse_training;            // a finished run's directory: skip training, reuse its weights
  std::vector<std::string> plugin_dirs;  // --plugin-path
};

// Exit codes of a run.
enum RunExit { kRunOk = 0, kRunFailed = 1, kRunInvalid = 2, kRunInterrupted = 130 };

// Runs the pipeline; prints errors to stderr; returns a RunExit. summary.json is written whenever
// the run directory exists, with "status" saying how the run ended.
int run_pipeline(const RunOptions& options);

}  // namespace golf::host

#endif  // GOLF_HOST_RUN_H_
