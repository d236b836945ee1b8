// golf/optimizer.h: the optimizer stage: updates parameters from their gradients.
#ifndef GOLF_OPTIMIZER_H_
#define GOLF_OPTIMIZER_H_

#include <vector>

#include "golf/stage.h"

namespace golf {

class Optimizer : public Stage {
 public:
  using Interface = Optimizer;
  static constexpr golf_kind kKind = GOLF_KIND_OPTIMIZER;

  // Called once after the model is built. The optimizer keeps the Params (shared tensors) and
  // splits them by role as it likes.
  virtual void attach(const std::vector<Param>& params) = 0;

  // One update from the gradients in each param's .grad(). The host zeroes gradients afterwards.
  // info.lr_scale is the host's schedule (warmdown); base learning rates are the plugin's own keys.
  virtual void step(const StepInfo& info) = 0;
};

}  // namespace golf

#endif  // GOLF_OPTIMIZER_H_
