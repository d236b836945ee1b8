// host/errors.h: how every golf-host command ends: exit codes, the error kinds that pick them, and
// messages fit for a terminal (first lines only; LibTorch's stack frames go to the log).
#ifndef GOLF_HOST_ERRORS_H_
#define GOLF_HOST_ERRORS_H_

#include <stdexcept>
#include <string>

namespace golf::host {

// Exit codes of every command (docs/pipelines.md, "Exit codes").
enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,   // the work failed: a diverged loss, an artifact over the limit, a plugin error
  kExitInvalid = 2,  // bad input: command line, pipeline, or a file the user named; nothing was run
  // 128 + signal (130 SIGINT, 143 SIGTERM): stopped by a signal at a safe point (host/interrupt.h)
};

// A file or value the user gave that golf cannot use (a corrupted shard, artifact or weights file,
// a missing corpus). what() names the file and, where known, the position. Exits kExitInvalid.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A plugin's exception, rethrown by at_stage() naming stage and plugin. what() is the terminal's
// text; detail() the plugin's full text (with LibTorch's stack frames, for the log).
class StageError : public std::runtime_error {
 public:
  StageError(const std::string& what, std::string detail) : std::runtime_error(what), detail_(std::move(detail)) {}
  const std::string& detail() const { return detail_; }

 private:
  std::string detail_;
};

// A budget or limit of the rules was exceeded: an artifact over the byte limit, an evaluation over
// [run] eval_seconds. The run ends with status "over_limit" and exits kExitFailed.
class OverLimit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Another rank's failure, seen by this one (host/distributed.h): what() names that rank and says what
// it said; the exit code is that rank's, so every rank of a run exits alike.
class PeerFailed : public std::runtime_error {
 public:
  PeerFailed(const std::string& what, int exit_code) : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// The message for the terminal: c10::Error without its backtrace, and never a line of stack frames
// ("Exception raised from ...", "frame #N: ...").
std::string user_message(const std::exception& e);

// The exit code for an exception that ended a command: kExitInvalid for ConfigError, InputError and
// PipelineError, 128 + signal for Interrupted, the other rank's for PeerFailed, kExitFailed otherwise.
int exit_code_for(const std::exception& e);

}  // namespace golf::host

#endif  // GOLF_HOST_ERRORS_H_
