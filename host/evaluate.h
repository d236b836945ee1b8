// host/evaluate.h: the validation stream and a checked evaluation (every target once, bytes recounted).
#ifndef GOLF_HOST_EVALUATE_H_
#define GOLF_HOST_EVALUATE_H_

#include <string>
#include <vector>

#include "golf/evaluator.h"

namespace golf::host {

// All val shards concatenated, truncated as the reference does to ((N-1)/seq_len)*seq_len + 1
// tokens (then to max_tokens + 1 when max_tokens > 0). int64 on the CPU. Every id is checked against
// `vocab` (the tokenizer's), and the stream must hold seq_len + 1 tokens: an InputError otherwise.
at::Tensor load_val_stream(const std::vector<std::string>& files, int64_t seq_len, int64_t max_tokens, int64_t vocab);

// Bytes the BPB of `tokens` divides by, counted by the host from the tables (independently of the
// evaluator): sum over t of base_bytes[y_t] + (has_leading_space[y_t] && !is_boundary[x_t]).
int64_t count_bytes(const at::Tensor& tokens, const ByteTables& tables);

struct EvalResult {
  double val_loss = 0, val_bpb = 0;
  int64_t tokens = 0, bytes = 0;
  double seconds = 0;
};

// Runs the evaluator and checks its sums against the stream: targets == N-1, bytes == expected_bytes.
// Throws std::runtime_error naming the plugin when the evaluator skipped or double-counted targets.
EvalResult evaluate(Evaluator& evaluator, const std::string& plugin, Architecture& model, const EvalInput& input,
                    int64_t expected_bytes);

}  // namespace golf::host

#endif  // GOLF_HOST_EVALUATE_H_
