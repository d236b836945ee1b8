// The `sliding` evaluator: the corrected reference's sliding-window evaluation (parameter-golf.md §5.1).
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "../sliding_windows.h"
#include "golf/golf.h"

namespace {

// Chunks of batch_windows·stride targets: after the first window each chunk is batch_windows whole
// windows when window is a multiple of stride, so each chunk is one full forward.
class SlidingEvaluator final : public golf::Evaluator {
 public:
  explicit SlidingEvaluator(golf::PluginContext& ctx) : ctx_(ctx), keys_(golf::eval::read_window_keys(ctx.config())) {}

  golf::EvalPlan begin(golf::Architecture&, const golf::EvalSetup& setup) override {
    windows_.emplace(keys_.window > 0 ? keys_.window : setup.seq_len, keys_.stride, keys_.batch_windows, ctx_.run().device());
    golf::EvalPlan plan;
    plan.chunk_tokens = keys_.batch_windows * keys_.stride;
    plan.history_tokens = windows_->window();
    return plan;
  }

  std::vector<at::Tensor> score(golf::Architecture& model, const std::vector<golf::EvalChunk>& batch) override {
    std::vector<at::Tensor> out;
    for (const golf::EvalChunk& c : batch) out.push_back(windows_->score(model, c));
    return out;
  }

 private:
  golf::PluginContext& ctx_;
  const golf::eval::WindowKeys keys_;
  std::optional<golf::eval::SlidingWindows> windows_;
};

const golf_config_key kConfig[] = {
    {"window", GOLF_TYPE_INT, "0", "tokens per window (forward length); 0 = [train] seq_len. Longer than seq_len: the architecture scales RoPE (NTK)"},
    {"stride", GOLF_TYPE_INT, "64", "targets scored per window after the first; each sees at least window - stride tokens of context"},
    {"batch_windows", GOLF_TYPE_INT, "32", "windows per forward (the last batch padded)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<SlidingEvaluator>("sliding", "2.0.0",
                                            "bits per byte over sliding windows, every target once (reference eval_val_sliding, corrected)",
                                            kConfig))
