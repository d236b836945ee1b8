// golf/evaluator.h: the evaluator stage: scores chunks of the validation stream the host hands it, and may adapt.
//
// The host owns the loop (ABI 2.0). It splits the validation stream into segments (the whole stream,
// or documents starting at BOS), each segment into chunks of scored targets, and for every batch of
// chunks calls score(), records the per-token NLL it returns (summing in float64 and counting bytes
// itself), and only then calls adapt() with the same chunks. An evaluator never sees a token after the
// last target of the chunk it is scoring, cannot score a target twice, and cannot adapt on a token
// before it is scored: the rules of score-first test-time training (parameter-golf.md §1.5) hold by
// construction. The host snapshots the model's parameters and the evaluator's state before an
// evaluation and restores them after, so adaptation never reaches the weights that are trained,
// saved or quantized.
#ifndef GOLF_EVALUATOR_H_
#define GOLF_EVALUATOR_H_

#include <cstdint>
#include <vector>

#include "golf/architecture.h"
#include "golf/stage.h"
#include "golf/tokenizer.h"

namespace golf {

// What the host tells the evaluator before an evaluation; borrowed for the evaluation (until end()).
struct EvalSetup {
  const ByteTables* tables = nullptr;  // the tokenizer's byte tables; never null
  int32_t bos_id = -1;                 // the tokenizer's BOS id (document boundaries)
  int64_t seq_len = 0;                 // the training sequence length
  int64_t stream_tokens = 0;           // tokens in the validation stream (targets + 1)
};

// How the evaluator wants the stream cut. Checked by the host: every count >= 1.
struct EvalPlan {
  int64_t chunk_tokens = 0;    // scored targets per chunk (the last chunk of a segment may be shorter)
  int64_t history_tokens = 1;  // tokens before a chunk's first target handed with it (within its segment);
                               // at least 1, the first target's own input
  bool documents = false;      // segments are documents: each starts at a BOS token and runs to the
                               // next BOS inclusive (it predicts it); false: the stream is one segment
  int64_t lanes = 1;           // documents scored side by side: groups of up to `lanes` documents in
                               // stream order; a batch holds the next chunk of each unfinished document
                               // of the group, and the next group starts when all are scored. 1
                               // without documents
  bool adapts = false;         // true: the host calls adapt() after each batch is scored
};

// A run of targets to score, with the tokens before them. Stream positions index the validation
// stream; the target at position p is predicted from the tokens before p (within the segment).
// `tokens` is a copy the evaluator may keep; the stream itself is never lent.
struct EvalChunk {
  at::Tensor tokens;         // int64 CPU, stream positions [first, end): history, then the targets
  int64_t first = 0;         // position of tokens[0]: max(segment start, begin - history_tokens)
  int64_t begin = 0, end = 0;  // the targets scored: positions [begin, end); begin > first
  int64_t segment = 0;       // 0-based segment (document) index
  int64_t lane = 0;          // with documents: the lane this document holds for its whole length
  bool segment_start = false;  // the segment's first chunk (reset per-document state)
  bool segment_end = false;    // the segment's last chunk
};

class Evaluator : public Stage {
 public:
  using Interface = Evaluator;
  static constexpr golf_kind kKind = GOLF_KIND_EVALUATOR;

  // Called once at the start of every evaluation (several per run: validation during training, the
  // evaluation before quantization, the artifact's), with the model holding the weights to evaluate.
  // Returns how to cut the stream; the host checks the plan (every count >= 1, lanes > 1 only with
  // documents) and stops an evaluator whose plan fails. May set up per-evaluation state (an
  // optimizer for TTT); may install a LinearHook on `model`, and then removes it in end(). `model`
  // is borrowed until end(). Throws std::runtime_error when it cannot evaluate this model (an
  // adapter evaluator on an architecture whose set_linear_hook() returns false), naming both.
  virtual EvalPlan begin(Architecture& model, const EvalSetup& setup) = 0;

  // Returns, for each chunk of `batch`, the NLL in nats of its targets: a float tensor of
  // end - begin values (any device), in position order. Each target's probability must come from a
  // full normalised distribution that depends only on the tokens before it.
  // Called under at::NoGradGuard with model.set_training(false). REQUIRES of the evaluator: the
  // model's parameters are unchanged on return (the host checks their version counters and stops
  // an evaluator that updates them here: adapt only in adapt()).
  // `batch` holds 1 to plan.lanes chunks, at most one per lane (borrowed for the call). Deterministic:
  // the same model, stream and plan give the same values. The host stops, naming the plugin, an
  // evaluator that returns the wrong count or a non-finite or negative NLL.
  virtual std::vector<at::Tensor> score(Architecture& model, const std::vector<EvalChunk>& batch) = 0;

  // Called only when plan.adapts, after every chunk of `batch` has been scored and recorded: the
  // evaluator may now train on these tokens (model parameters or state of its own). Called with
  // gradients enabled and model.set_training(true). Default: nothing.
  virtual void adapt(Architecture& model, const std::vector<EvalChunk>& batch) {
    (void)model;
    (void)batch;
  }

  // Called once at the end of an evaluation, also when it stopped early. Should not throw: an
  // exception from it is ignored. Releases per-evaluation state and removes any hook begin()
  // installed. The host then restores the model's parameters and this stage's state
  // (save_state/load_state) to what they were before begin(). Default: nothing.
  virtual void end(Architecture& model) { (void)model; }
};

}  // namespace golf

#endif  // GOLF_EVALUATOR_H_
