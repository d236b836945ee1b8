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

  // Called once after the model is built, before any step, save_state or load_state. The optimizer
  // keeps the Params (shared tensors, valid for the stage's life) and splits them by role as it
  // likes. Every role is accepted, kOther of any rank. Changes no parameter.
  virtual void attach(const std::vector<Param>& params) = 0;

  // One update from the gradients in each param's .grad(), in place (the tensors stay the same leaf
  // tensors, requiring grad). A param whose .grad() is undefined is left as it is. The host zeroes
  // gradients afterwards. info.lr_scale is the host's schedule (warmdown); base learning rates are
  // the plugin's own keys; with lr_scale 0 no parameter changes. REQUIRES: attach() was called.
  virtual void step(const StepInfo& info) = 0;
  // save_state/load_state (golf/stage.h): moments and counters, so that stepping on after a
  // load_state equals stepping straight on, bit for bit (warm-up priming relies on it).
};

}  // namespace golf

#endif  // GOLF_OPTIMIZER_H_
