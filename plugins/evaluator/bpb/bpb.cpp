// The `bpb` evaluator: scores the validation stream in non-overlapping windows of the training length (reference eval_val).
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "golf/golf.h"

namespace {

// Windows start at stream positions 0, seq, 2·seq, ...; each predicts its next seq tokens from the
// tokens inside it, as eval_val does. A chunk is a whole number of windows, so windows never straddle
// chunks (the last chunk may end in one shorter window).
class BpbEvaluator final : public golf::Evaluator {
 public:
  explicit BpbEvaluator(golf::PluginContext& ctx) : ctx_(ctx) {
    batch_tokens_ = golf::get_int_in(ctx.config(), "batch_tokens", 1, int64_t(1) << 26);
  }

  golf::EvalPlan begin(golf::Architecture&, const golf::EvalSetup& setup) override {
    seq_ = setup.seq_len;
    golf::EvalPlan plan;
    plan.chunk_tokens = std::max<int64_t>(1, batch_tokens_ / seq_) * seq_;
    plan.history_tokens = 1;  // a window's first input is the token before its first target
    return plan;
  }

  std::vector<at::Tensor> score(golf::Architecture& model, const std::vector<golf::EvalChunk>& batch) override {
    std::vector<at::Tensor> out;
    const at::Device device = ctx_.run().device();
    for (const golf::EvalChunk& c : batch) {
      const int64_t targets = c.end - c.begin, rows = targets / seq_, tail = targets % seq_;
      std::vector<at::Tensor> parts;
      if (rows > 0) parts.push_back(window_nll(model, c.tokens, 0, rows, seq_, device));
      if (tail > 0) parts.push_back(window_nll(model, c.tokens, rows * seq_, 1, tail, device));
      out.push_back(at::cat(parts));
    }
    return out;
  }

 private:
  // NLL of rows x cols targets, the windows starting at tokens[offset].
  static at::Tensor window_nll(golf::Architecture& model, const at::Tensor& tokens, int64_t offset, int64_t rows,
                               int64_t cols, const at::Device& device) {
    const at::Tensor x = tokens.narrow(0, offset, rows * cols).view({rows, cols}).to(device);
    const at::Tensor y = tokens.narrow(0, offset + 1, rows * cols).view({rows, cols}).to(device);
    at::Tensor nll = model.forward(x, y);
    if (nll.dim() != 2 || nll.size(0) != rows || nll.size(1) != cols)
      throw std::runtime_error("bpb: the model's forward returned " + std::to_string(nll.numel()) +
                               " values for [" + std::to_string(rows) + ", " + std::to_string(cols) + "] targets");
    return nll.reshape({-1});
  }

  golf::PluginContext& ctx_;
  int64_t batch_tokens_ = 0;
  int64_t seq_ = 1;
};

const golf_config_key kConfig[] = {
    {"batch_tokens", GOLF_TYPE_INT, "65536", "tokens per forward batch (batch_tokens / seq_len windows, at least 1)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<BpbEvaluator>("bpb", "2.0.0",
                                        "bits per byte over non-overlapping windows (reference eval_val)", kConfig))
