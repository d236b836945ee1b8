// golf/architecture.h: the architecture stage: builds the model, names its parameters, computes losses.
#ifndef GOLF_ARCHITECTURE_H_
#define GOLF_ARCHITECTURE_H_

#include <cstdint>
#include <vector>

#include "golf/stage.h"

namespace golf {

// Sees, and may extend, every matrix multiply y = x · Wᵀ whose W is a model parameter. Plain-ATen
// models have no module hooks, so the architecture calls this itself. The host uses it to collect
// calibration statistics for a quantizer; an evaluator uses it for adapters (LoRA test-time training).
class LinearHook {
 public:
  virtual ~LinearHook() = default;
  // Called once per use of parameter `param` (an index into Architecture::parameters()) as the W of
  // a matmul, in forward order; a looped layer calls it once per pass. `x` is the matmul's input
  // [..., in_features] as it enters the matmul (the compute dtype). For the tied embedding used as the
  // output head, `x` is the final norm's output. Returns an undefined tensor, or a tensor of y's shape
  // [..., out_features] that the architecture adds to y (before any softcap on logits).
  // Thread rule: called on the thread that called forward().
  virtual at::Tensor on_linear(int64_t param, const at::Tensor& x) = 0;
};

class Architecture : public Stage {
 public:
  using Interface = Architecture;
  static constexpr golf_kind kKind = GOLF_KIND_ARCHITECTURE;

  // Creates the parameters on run().device(), initialised from run().seed(). Called once, before
  // every other method except vocab_size(). On the meta device (the host sizing a model before it
  // allocates) it must create shapes only.
  virtual void build() = 0;

  // Size of the output distribution; the host refuses a tokenizer with a larger vocabulary.
  // Callable before build().
  virtual int64_t vocab_size() const = 0;

  // Every tensor that defines the model, in a fixed order, with its role. Names are stable: they key
  // checkpoints and artifacts. Loading weights means copying into these tensors. The same tensors
  // (shared, not copies) on every call.
  virtual std::vector<Param> parameters() = 0;

  // Per-token negative log-likelihood in nats, float32 [B, T], for inputs x and targets y (int64
  // [B, T]). Differentiable in training mode; the host calls it under no-grad for evaluation.
  // REQUIRES: ids < vocab_size(); T may exceed run().seq_len() at evaluation (long-context
  // evaluation, e.g. NTK-scaled RoPE), and an architecture that cannot do that throws saying so.
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& y) = 0;

  // The logits of the distribution forward() scores (softcap applied), float32 [B, T, vocab_size()],
  // for inputs x (int64 [B, T]). The host samples self-generated calibration text from them.
  virtual at::Tensor logits(const at::Tensor& x) = 0;

  // Training mode switch (dropout-like behaviour, if any). Default: no difference.
  virtual void set_training(bool training) { (void)training; }

  // Installs `hook` (not owned; null removes it) for the following forward() and logits() calls.
  // Returns false when the architecture does not report its matmuls: then quantizers that need
  // calibration and adapter evaluators are refused with a message naming the architecture.
  // Default: not supported.
  virtual bool set_linear_hook(LinearHook* hook) {
    (void)hook;
    return false;
  }
};

}  // namespace golf

#endif  // GOLF_ARCHITECTURE_H_
