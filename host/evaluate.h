// host/evaluate.h: the validation stream and the host-driven evaluation loop (score first, then adapt).
#ifndef GOLF_HOST_EVALUATE_H_
#define GOLF_HOST_EVALUATE_H_

#include <string>
#include <vector>

#include "golf/context.h"
#include "golf/evaluator.h"

namespace golf::host {

// All val shards concatenated, truncated as the reference does to ((N-1)/seq_len)*seq_len + 1
// tokens (then to max_tokens + 1 when max_tokens > 0). int64 on the CPU. Every id is checked against
// `vocab` (the tokenizer's), and the stream must hold seq_len + 1 tokens: an InputError otherwise.
at::Tensor load_val_stream(const std::vector<std::string>& files, int64_t seq_len, int64_t max_tokens, int64_t vocab);

// Bytes the BPB of stream positions [begin, end) divides by, counted by the host from the tables
// (independently of the evaluator): the sum over targets t of
// base_bytes[y_t] + (has_leading_space[y_t] && !is_boundary[x_t]). Default: every target.
// Throws when an id is outside the tables.
int64_t count_bytes(const at::Tensor& tokens, const ByteTables& tables, int64_t begin = 1, int64_t end = -1);

// One segment of the stream: targets [begin, end), inputs from `first`.
struct Segment {
  int64_t first = 0, begin = 1, end = 1;
};

// The stream's segments: the whole stream, or documents (`bos` >= 0): each from a BOS token to the next
// BOS inclusive; tokens before the first BOS form a segment of their own. Empty segments are left out.
std::vector<Segment> segments(const at::Tensor& tokens, int32_t bos);

// What an evaluation is given.
struct EvalStream {
  at::Tensor tokens;                   // the validation stream (load_val_stream)
  const ByteTables* tables = nullptr;  // the tokenizer's
  int32_t bos_id = -1;
  int64_t seq_len = 0;                 // [train] seq_len
  int64_t bytes = 0;                   // count_bytes(tokens, *tables), counted once per run
};

struct EvalResult {
  double val_loss = 0, val_bpb = 0;
  int64_t tokens = 0, bytes = 0;
  double seconds = 0;
  int64_t chunks = 0;     // chunks scored
  bool adapted = false;   // the evaluator adapted (test-time training)
};

// Runs one evaluation of `model` by `evaluator` (parameter-golf.md §1.5 held by construction):
// cuts the stream as the evaluator's plan says, hands each batch of chunks to score() under no-grad,
// records the NLL (float64 sums) and the bytes it counts itself, then hands the same batch to adapt().
// The model's parameters and the evaluator's state are snapshotted first and restored afterwards,
// whatever happens. Stops, naming `plugin`, an evaluator that returns the wrong number of values, a
// non-finite or negative NLL, or that changes the model's parameters in score(). With
// `budget_seconds` > 0, stops with OverLimit once an evaluation runs past it. Checks for signals
// between batches (host/interrupt.h). `label` names the evaluation in progress lines.
// With `group` of several ranks, every rank calls it alike: the batches are shared out round-robin
// (all of them on every rank when the evaluator adapts) and the sums added across ranks, so every
// rank returns the same result; signals and the budget stop every rank at the same batch.
class Group;
EvalResult evaluate(Evaluator& evaluator, const std::string& plugin, Architecture& model, const EvalStream& stream,
                    double budget_seconds, const std::string& label, Logger& log, Group* group = nullptr);

}  // namespace golf::host

#endif  // GOLF_HOST_EVALUATE_H_
