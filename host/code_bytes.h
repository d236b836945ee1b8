// host/code_bytes.h: bytes_code, the code that produces a run's artifact, counted as the rules count it.
#ifndef GOLF_HOST_CODE_BYTES_H_
#define GOLF_HOST_CODE_BYTES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline.h"

namespace golf::host {

struct CodeBytes {
  int64_t bytes = 0;
  std::vector<std::string> files;  // "libgolf-gpt.so: gpt.cpp (4012 bytes)", then each code_files match
};

// The sources of every stage plugin the pipeline uses, read from each library's code manifest
// (<library>.code, written by golf_add_plugin), each file counted once, plus the files matched by
// [run] code_files. Throws ConfigError naming [run] code_files for a glob that matches nothing, and
// InputError naming the library when a plugin's manifest is missing or unreadable.
CodeBytes code_bytes(const Pipeline& p);

}  // namespace golf::host

#endif  // GOLF_HOST_CODE_BYTES_H_
