// host/weights.h: full-precision model weights on disk (LibTorch archives), checked by name and shape.
#ifndef GOLF_HOST_WEIGHTS_H_
#define GOLF_HOST_WEIGHTS_H_

#include <string>
#include <vector>

#include "golf/stage.h"

namespace golf::host {

void save_weights(const std::string& path, const std::vector<Param>& params);

// Copies the file's tensors into `params` (same names and shapes required, dtype converted).
// Throws std::runtime_error naming the file and the first tensor that is missing or mismatched.
void load_weights(const std::string& path, const std::vector<Param>& params);

// Copies `values` (by name) into `params`; same checks as load_weights. `what` names the source.
void assign_weights(const StateDict& values, const std::vector<Param>& params, const std::string& what);

}  // namespace golf::host

#endif  // GOLF_HOST_WEIGHTS_H_
