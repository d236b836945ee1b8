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
// Implemented by the host or an evaluator, which owns it; the architecture only borrows it.
class LinearHook {
 public:
  virtual ~LinearHook() = default;
  // Called once per use of parameter `param` (an index into Architecture::parameters()) as the W of
  // a matmul, in forward order; a looped layer calls it once per pass. `x` is the matmul's input
  // [..., in_features] as it enters the matmul (the compute dtype). For the tied embedding used as the
  // output head, `x` is the final norm's output. Returns an undefined tensor, or a tensor of y's shape
  // [..., out_features] that the architecture adds to y (before any softcap on logits); it may carry
  // autograd history (adapters train through it). `x` is borrowed for the call; keep a copy, not the
  // reference. Thread rule: called on the thread that called forward() or logits(), inside that call.
  // May throw: the exception propagates out of forward() or logits() unchanged.
  virtual at::Tensor on_linear(int64_t param, const at::Tensor& x) = 0;
};

class Architecture : public Stage {
 public:
  using Interface = Architecture;
  static constexpr golf_kind kKind = GOLF_KIND_ARCHITECTURE;

  // Creates the parameters on run().device(), initialised from run().seed() alone: the same seed
  // gives the same weights, bit for bit, on every call of a fresh instance. Called once, before every
  // other method except vocab_size() and set_linear_hook(). On the meta device (the host sizing a
  // model before it allocates) it must create shapes only, with the names, roles, shapes and dtypes
  // a real build has. Throws a std::exception on a device or dtype it cannot use.
  virtual void build() = 0;

  // Size of the output distribution, > 0; the host refuses a tokenizer with a larger vocabulary.
  // Callable before build() (from the config alone), and the same value afterwards. Never throws.
  virtual int64_t vocab_size() const = 0;

  // Every tensor that defines the model, in a fixed order, with its role. Names are stable and
  // unique: they key checkpoints and artifacts. Loading weights means copying into these tensors. The
  // same tensors (shared, not copies) on every call: leaf tensors that require grad, on
  // run().device(), none empty. REQUIRES: build() was called (else throws). Ownership: the returned
  // Params share the model's tensors; they stay valid as long as the caller keeps them.
  virtual std::vector<Param> parameters() = 0;

  // Per-token negative log-likelihood in nats, float32 [B, T], finite and >= 0, for inputs x and
  // targets y (int64 [B, T], on run().device()): exactly -log_softmax(logits(x))[y], so causal (the
  // NLL at t depends on x[0..t] and y[t] only); deterministic in evaluation mode. Differentiable in
  // training mode, with a gradient reaching every parameter; the host calls it under no-grad for
  // evaluation.
  // REQUIRES: build() was called; 0 <= ids < vocab_size(); T may exceed run().seq_len() at
  // evaluation (long-context evaluation, e.g. NTK-scaled RoPE), and an architecture that cannot do
  // that throws saying so. Throws a std::exception (c10::Error from TORCH_CHECK is one) on inputs of
  // the wrong shape or dtype.
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& y) = 0;

  // The logits of the distribution forward() scores (softcap applied), float32 [B, T, vocab_size()],
  // for inputs x (int64 [B, T]). The host samples self-generated calibration text from them; an
  // evaluator may score from them. REQUIRES and throws as forward().
  virtual at::Tensor logits(const at::Tensor& x) = 0;

  // Training mode switch (dropout-like behaviour, if any); the host sets it before training and
  // around evaluation. Never throws. Default: no difference.
  virtual void set_training(bool training) { (void)training; }

  // Installs `hook` (borrowed: the caller keeps it alive until it installs another or null; null
  // removes it) for the following forward() and logits() calls, before or after build(). While it is
  // installed, every use of a 2-D parameter as a matmul's W is reported (kMatrix, kHead, and the tied
  // embedding as the head), and a hook that returns undefined tensors leaves every output bit for bit
  // as without one. Returns false when the architecture does not report its matmuls (and installs
  // nothing): then quantizers that need calibration and adapter evaluators are refused with a
  // message naming the architecture. Never throws. Default: not supported.
  virtual bool set_linear_hook(LinearHook* hook) {
    (void)hook;
    return false;
  }
};

}  // namespace golf

#endif  // GOLF_ARCHITECTURE_H_
