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

  // Called once after the model is built, before any other method. Keeps the Params (shared
  // tensors) and `quantizer`, the pipeline's quantizer (borrowed: it outlives this stage):
  // fake-quantize with quantizer.fake_quantize() to train against the grid the artifact uses.
  // Every role is accepted. Changes no parameter.
  virtual void attach(const std::vector<Param>& params, Quantizer& quantizer) = 0;
  // Before each micro-step's forward: may write fake-quantized values into the parameters in place
  // (same tensors), keeping the full-precision ones. REQUIRES: attach() was called, and every
  // before_forward is followed by after_backward before the next.
  virtual void before_forward(const StepInfo& info) = 0;
  // After that micro-step's backward, before the optimizer step: puts the full-precision values back
  // exactly (bit for bit), leaving the gradients computed at the quantized point in .grad().
  virtual void after_backward(const StepInfo& info) = 0;
  // save_state/load_state (golf/stage.h): any schedule state, so that a resumed run fake-quantizes
  // exactly as an uninterrupted one.
};

}  // namespace golf

#endif  // GOLF_QAT_H_
