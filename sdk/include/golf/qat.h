// golf/qat.h: the quantization-aware-training stage: hooks around forward/backward during training.
//
// The straight-through pattern: before_forward() swaps quantize-dequantized values into the weights
// (keeping the full-precision ones), after_backward() puts the full-precision values back, so the
// gradient computed at the quantized point updates the full-precision weights.
#ifndef GOLF_QAT_H_
#define GOLF_QAT_H_

#include <vector>

#include "golf/quantizer.h"
#include "golf/stage.h"

namespace golf {

class Qat : public Stage {
 public:
  using Interface = Qat;
  static constexpr golf_kind kKind = GOLF_KIND_QAT;

  // Called once after the model is built. `quantizer` is the pipeline's quantizer (borrowed for the
  // run): fake-quantize with quantizer.fake_quantize() to train against the grid the artifact uses.
  virtual void attach(const std::vector<Param>& params, Quantizer& quantizer) = 0;
  virtual void before_forward(const StepInfo& info) = 0;  // before each micro-step's forward
  virtual void after_backward(const StepInfo& info) = 0;  // after its backward, before the step
};

}  // namespace golf

#endif  // GOLF_QAT_H_
