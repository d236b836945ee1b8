// host/weights.h: full-precision model weights on disk (LibTorch archives), checked by name and shape.
#ifndef GOLF_HOST_WEIGHTS_H_
#define GOLF_HOST_WEIGHTS_H_

#include <string>
#include <vector>

#include "golf/context.h"
#include "golf/stage.h"

namespace golf::host {

// Writes `params` to `path` atomically (host/files.h), and its sha256 to path + ".sha256".
void save_weights(const std::string& path, const std::vector<Param>& params);

// Checks `path` against the sha256 recorded in path + ".sha256"; throws InputError naming the file
// as damaged when they differ. Without a record (files from elsewhere), warns on `log` and returns.
void check_weights_checksum(const std::string& path, Logger& log);

// Copies the file's tensors into `params` (same names and shapes required, dtype converted).
// Throws InputError naming the file and the first tensor that is missing or mismatched.
void load_weights(const std::string& path, const std::vector<Param>& params);

// Copies `values` (by name) into `params`; same checks as load_weights. `what` names the source.
void assign_weights(const StateDict& values, const std::vector<Param>& params, const std::string& what);

}  // namespace golf::host

#endif  // GOLF_HOST_WEIGHTS_H_
