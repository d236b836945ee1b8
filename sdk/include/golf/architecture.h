// golf/architecture.h: the architecture stage: builds the model, names its parameters, computes losses.
#ifndef GOLF_ARCHITECTURE_H_
#define GOLF_ARCHITECTURE_H_

#include <cstdint>
#include <vector>

#include "golf/stage.h"

namespace golf {

class Architecture : public Stage {
 public:
  using Interface = Architecture;
  static constexpr golf_kind kKind = GOLF_KIND_ARCHITECTURE;

  // Creates the parameters on run().device(), initialised from run().seed(). Called once, before
  // every other method except vocab_size().
  virtual void build() = 0;

  // Size of the output distribution; the host refuses a tokenizer with a larger vocabulary.
  virtual int64_t vocab_size() const = 0;

  // Every tensor that defines the model, in a fixed order, with its role. Names are stable: they key
  // checkpoints and artifacts. Loading weights means copying into these tensors.
  virtual std::vector<Param> parameters() = 0;

  // Per-token negative log-likelihood in nats, float32 [B, T], for inputs x and targets y (int64
  // [B, T]). Differentiable in training mode; the host calls it under no-grad for evaluation.
  // REQUIRES: T <= the model's maximum sequence length, ids < vocab_size().
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& y) = 0;

  // Training mode switch (dropout-like behaviour, if any). Default: no difference.
  virtual void set_training(bool training) { (void)training; }
};

}  // namespace golf

#endif  // GOLF_ARCHITECTURE_H_
