// golf/evaluator.h: the evaluator stage: scores the model on the validation stream (and may adapt it).
#ifndef GOLF_EVALUATOR_H_
#define GOLF_EVALUATOR_H_

#include <cstdint>

#include "golf/architecture.h"
#include "golf/stage.h"
#include "golf/tokenizer.h"

namespace golf {

// What an evaluation adds up. The host checks `targets` and `bytes` against its own count of the
// stream, so every target is scored exactly once, and computes
//   val_loss = loss_sum / targets,  val_bpb = val_loss / ln 2 * targets / bytes.
struct EvalSums {
  double loss_sum = 0;  // nats, summed in float64 over every scored target (BOS targets included)
  int64_t targets = 0;  // scored targets
  int64_t bytes = 0;    // bytes of the scored targets per ByteTables
};

struct EvalInput {
  at::Tensor tokens;         // int64 validation stream on the CPU: usable targets + 1 tokens
  const ByteTables* tables;  // the tokenizer's tables; never null
  int64_t seq_len;           // the training sequence length
};

class Evaluator : public Stage {
 public:
  using Interface = Evaluator;
  static constexpr golf_kind kKind = GOLF_KIND_EVALUATOR;

  // Scores every target tokens[1..N-1] exactly once, left to right. An evaluator that adapts the
  // model (test-time training) may train only on targets it has already scored.
  virtual EvalSums evaluate(Architecture& model, const EvalInput& input) = 0;
};

}  // namespace golf

#endif  // GOLF_EVALUATOR_H_
