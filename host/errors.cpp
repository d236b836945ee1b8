// host/errors.cpp: terminal messages and exit codes for errors that end a command.
#include "errors.h"

#include <c10/util/Exception.h>

#include <sstream>

#include "golf/context.h"
#include "interrupt.h"
#include "pipeline.h"

namespace golf::host {

std::string user_message(const std::exception& e) {
  std::string text = e.what();
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) text = c10->what_without_backtrace();
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Exception raised from ", 0) == 0 || line.rfind("frame #", 0) == 0) break;
    out += (out.empty() ? "" : "\n") + line;
  }
  return out;
}

int exit_code_for(const std::exception& e) {
  if (const auto* i = dynamic_cast<const Interrupted*>(&e)) return i->exit_code();
  if (const auto* p = dynamic_cast<const PeerFailed*>(&e)) return p->exit_code();
  if (dynamic_cast<const ConfigError*>(&e) || dynamic_cast<const InputError*>(&e) ||
      dynamic_cast<const PipelineError*>(&e))
    return kExitInvalid;
  return kExitFailed;
}

}  // namespace golf::host
