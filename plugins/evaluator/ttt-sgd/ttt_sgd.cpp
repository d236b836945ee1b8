// The `ttt-sgd` evaluator: score-first test-time training, full-model SGD chunk by chunk (parameter-golf.md §5.28).
#include <ATen/ATen.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../sequence_sgd.h"
#include "../sliding_windows.h"
#include "golf/golf.h"

namespace {

// Each chunk of chunk_tokens targets is scored with sliding windows, then (all but the last) trained
// on: its tokens as floor(len / seq_len) sequences, `epochs` passes of SGD at lr_c, the cosine over
// chunks. The optimizer, with its momentum, lives for one evaluation.
class TttSgdEvaluator final : public golf::Evaluator {
 public:
  explicit TttSgdEvaluator(golf::PluginContext& ctx) : ctx_(ctx), keys_(golf::eval::read_window_keys(ctx.config())) {
    const golf::Config& c = ctx.config();
    chunk_tokens_ = golf::get_int_in(c, "chunk_tokens", 1, int64_t(1) << 30);
    lr_ = golf::get_nonnegative(c, "lr");
    momentum_ = golf::get_unit_interval(c, "momentum");
    train_.epochs = golf::get_int_in(c, "epochs", 0, 1000);
    train_.micro_batch_seqs = golf::get_int_in(c, "micro_batch_seqs", 1, int64_t(1) << 16);
    train_.grad_clip = golf::get_nonnegative(c, "grad_clip");
  }

  golf::EvalPlan begin(golf::Architecture& model, const golf::EvalSetup& setup) override {
    windows_.emplace(keys_.window > 0 ? keys_.window : setup.seq_len, keys_.stride, keys_.batch_windows, ctx_.run().device());
    train_.seq_len = setup.seq_len;
    chunks_ = (setup.stream_tokens - 1 + chunk_tokens_ - 1) / chunk_tokens_;
    params_ = golf::eval::tensors_of(model);
    sgd_ = golf::eval::make_sgd(params_, lr_, momentum_);
    golf::EvalPlan plan;
    plan.chunk_tokens = chunk_tokens_;
    plan.history_tokens = windows_->window();
    plan.adapts = true;
    return plan;
  }

  std::vector<at::Tensor> score(golf::Architecture& model, const std::vector<golf::EvalChunk>& batch) override {
    std::vector<at::Tensor> out;
    for (const golf::EvalChunk& c : batch) out.push_back(windows_->score(model, c));
    return out;
  }

  void adapt(golf::Architecture& model, const std::vector<golf::EvalChunk>& batch) override {
    for (const golf::EvalChunk& c : batch) {
      if (c.segment_end) continue;  // nothing is left to score after the last chunk
      const int64_t chunk = (c.begin - 1) / chunk_tokens_;
      sgd_->param_groups()[0].options().set_lr(golf::eval::cosine_lr(lr_, chunk, chunks_));
      // The chunk's own tokens: the input of its first target, then its targets.
      const at::Tensor tokens = c.tokens.narrow(0, c.begin - 1 - c.first, c.end - c.begin + 1);
      golf::eval::train_sequences(model, *sgd_, params_, tokens, train_, ctx_.run().device());
    }
  }

  void end(golf::Architecture&) override {
    sgd_.reset();  // momentum buffers go with the evaluation
    params_.clear();
  }

 private:
  golf::PluginContext& ctx_;
  const golf::eval::WindowKeys keys_;
  int64_t chunk_tokens_ = 1, chunks_ = 1;
  double lr_ = 0, momentum_ = 0;
  golf::eval::SequenceTraining train_;
  std::optional<golf::eval::SlidingWindows> windows_;
  std::vector<at::Tensor> params_;
  std::unique_ptr<torch::optim::SGD> sgd_;
};

const golf_config_key kConfig[] = {
    {"chunk_tokens", GOLF_TYPE_INT, "32768", "targets per chunk: scored, then trained on before the next chunk is scored"},
    {"window", GOLF_TYPE_INT, "0", "scoring window (forward length); 0 = [train] seq_len"},
    {"stride", GOLF_TYPE_INT, "64", "scoring stride: targets scored per window after the first"},
    {"batch_windows", GOLF_TYPE_INT, "32", "scoring windows per forward"},
    {"lr", GOLF_TYPE_FLOAT, "0.005", "SGD learning rate, cosine-decayed over the chunks to 0 at the last"},
    {"epochs", GOLF_TYPE_INT, "3", "passes over each chunk's sequences"},
    {"momentum", GOLF_TYPE_FLOAT, "0.9", "SGD momentum (one optimizer for the whole evaluation)"},
    {"micro_batch_seqs", GOLF_TYPE_INT, "32", "sequences of [train] seq_len per SGD step"},
    {"grad_clip", GOLF_TYPE_FLOAT, "1.0", "clip_grad_norm_ over all parameters before each step; 0 = none"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<TttSgdEvaluator>("ttt-sgd", "2.0.0",
                                           "score-first test-time training: chunked full-model SGD (reference eval_val_ttt)",
                                           kConfig))
