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

  // Called once with the freshly initialised parameters, before the first step.
  virtual void attach(const std::vector<Param>& params) = 0;
  // Called after every optimizer step.
  virtual void update(const StepInfo& info) = 0;
  // Called once after training: writes the averaged weights into the parameters, which are then
  // evaluated, saved and quantized.
  virtual void apply() = 0;
};

}  // namespace golf

#endif  // GOLF_AVERAGING_H_
