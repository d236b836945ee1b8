// golf/averaging.h: the weight-averaging stage (EMA, SWA): a shadow copy swapped in after training.
#ifndef GOLF_AVERAGING_H_
#define GOLF_AVERAGING_H_

#include <vector>

#include "golf/stage.h"

namespace golf {

class Averaging : public Stage {
 public:
  using Interface = Averaging;
  static constexpr golf_kind kKind = GOLF_KIND_AVERAGING;

  // Called once with the freshly initialised parameters, before the first step (and before any
  // save_state or load_state). Keeps the Params (shared tensors, valid for the stage's life); copies
  // what it averages, and changes no parameter. Every role, dtype and rank is accepted.
  virtual void attach(const std::vector<Param>& params) = 0;
  // Called after every optimizer step (priming steps included; the host restores this stage's state
  // after them). Reads the parameters, never writes them. REQUIRES: attach() was called.
  virtual void update(const StepInfo& info) = 0;
  // Called once after training: writes the averaged weights into the parameters in place (same
  // tensors, shapes, dtypes and devices), which are then evaluated, saved and quantized. Weights that
  // never moved average to themselves. REQUIRES: attach() was called.
  virtual void apply() = 0;
  // save_state/load_state (golf/stage.h): the average so far, so that a resumed average equals an
  // uninterrupted one bit for bit.
};

}  // namespace golf

#endif  // GOLF_AVERAGING_H_
