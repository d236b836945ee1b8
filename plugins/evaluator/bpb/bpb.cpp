// The `bpb` evaluator: scores the validation stream in non-overlapping windows and sums loss and bytes for BPB.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "golf/golf.h"

namespace {

// Puts the model in evaluation mode for its lifetime. The SDK has no getter for the mode; the host
// evaluates between training steps, so leaving restores training mode (also when forward throws).
class EvalModeScope {
 public:
  explicit EvalModeScope(golf::Architecture& model) : model_(model) { model_.set_training(false); }
  ~EvalModeScope() { model_.set_training(true); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  golf::Architecture& model_;
};

// Throws unless the stream and tables fit together: 1-D int64 CPU tokens, every id inside the tables.
void check_input(const golf::EvalInput& input) {
  const at::Tensor& tokens = input.tokens;
  if (!input.tables) throw std::invalid_argument("bpb: no byte tables");
  const golf::ByteTables& t = *input.tables;
  const size_t vocab = t.base_bytes.size();
  if (t.has_leading_space.size() != vocab || t.is_boundary.size() != vocab) {
    throw std::invalid_argument("bpb: byte tables of different sizes");
  }
  if (input.seq_len < 1) throw std::invalid_argument("bpb: seq_len must be >= 1");
  if (tokens.dim() != 1 || tokens.scalar_type() != at::kLong || !tokens.device().is_cpu()) {
    throw std::invalid_argument("bpb: tokens must be a 1-D int64 CPU tensor");
  }
  if (tokens.numel() < 2) throw std::invalid_argument("bpb: the stream needs at least 2 tokens (1 target)");
  const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
  if (lo < 0 || hi >= static_cast<int64_t>(vocab)) {
    throw std::invalid_argument("bpb: token id " + std::to_string(lo < 0 ? lo : hi) + " outside the byte tables (" +
                                std::to_string(vocab) + " ids)");
  }
}

// Bytes of the `count` targets stream[begin+1 .. begin+count], each given its previous token
// (reference §3): base_bytes[y] + (has_leading_space[y] && !is_boundary[x]).
int64_t count_bytes(const int64_t* stream, int64_t begin, int64_t count, const golf::ByteTables& t) {
  int64_t bytes = 0;
  for (int64_t i = begin; i < begin + count; ++i) {
    const int64_t x = stream[i], y = stream[i + 1];
    bytes += t.base_bytes[y] + (t.has_leading_space[y] && !t.is_boundary[x] ? 1 : 0);
  }
  return bytes;
}

class BpbEvaluator final : public golf::Evaluator {
 public:
  explicit BpbEvaluator(golf::PluginContext& ctx) : ctx_(ctx) {
    batch_tokens_ = golf::get_int_in(ctx.config(), "batch_tokens", 1, int64_t(1) << 26);
  }

  golf::EvalSums evaluate(golf::Architecture& model, const golf::EvalInput& input) override {
    check_input(input);
    const at::Tensor tokens = input.tokens.contiguous();
    const int64_t seq = input.seq_len;
    const int64_t targets = tokens.numel() - 1;
    const int64_t full_windows = targets / seq, tail = targets % seq;
    const int64_t rows_per_batch = std::max<int64_t>(1, batch_tokens_ / seq);
    ctx_.log().info("bpb: scoring " + std::to_string(targets) + " targets in " + std::to_string(full_windows) +
                    " windows of " + std::to_string(seq) + (tail ? " + 1 of " + std::to_string(tail) : "") + ", " +
                    std::to_string(rows_per_batch) + " per batch");

    EvalModeScope eval_mode(model);
    at::NoGradGuard no_grad;
    const at::Device device = ctx_.run().device();
    // Summed on the device and read once at the end, so batches do not wait on each other.
    at::Tensor loss_sum = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
    golf::EvalSums sums;
    auto score = [&](int64_t begin, int64_t rows, int64_t cols) {
      loss_sum += batch_loss(model, tokens, begin, rows, cols, device);
      sums.bytes += count_bytes(tokens.data_ptr<int64_t>(), begin, rows * cols, *input.tables);
      sums.targets += rows * cols;
    };

    int64_t next_report = 1;  // progress is logged at each quarter, with an ETA
    const auto start = std::chrono::steady_clock::now();
    for (int64_t window = 0; window < full_windows; window += rows_per_batch) {
      const int64_t rows = std::min(rows_per_batch, full_windows - window);
      score(window * seq, rows, seq);
      while (next_report < 4 && 4 * (window + rows) >= next_report * full_windows) {
        const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        char line[96];
        std::snprintf(line, sizeof line, "bpb: %lld%% scored in %.1fs, ETA %.1fs", (long long)(25 * next_report),
                      spent, spent * double(4 - next_report) / double(next_report));
        ctx_.log().info(line);
        ++next_report;
      }
    }
    if (tail > 0) score(full_windows * seq, 1, tail);  // the last targets, in one shorter window
    sums.loss_sum = loss_sum.item<double>();
    return sums;
  }

 private:
  // Summed NLL (float64 scalar on `device`) of the rows x cols targets after stream position `begin`.
  static at::Tensor batch_loss(golf::Architecture& model, const at::Tensor& tokens, int64_t begin, int64_t rows,
                               int64_t cols, const at::Device& device) {
    at::Tensor x = tokens.narrow(0, begin, rows * cols).view({rows, cols}).to(device);
    at::Tensor y = tokens.narrow(0, begin + 1, rows * cols).view({rows, cols}).to(device);
    at::Tensor nll = model.forward(x, y);
    if (nll.dim() != 2 || nll.size(0) != rows || nll.size(1) != cols) {
      throw std::runtime_error("bpb: the model's forward returned shape " + shape_text(nll) + ", expected [" +
                               std::to_string(rows) + ", " + std::to_string(cols) + "]");
    }
    return nll.to(at::kDouble).sum();
  }

  static std::string shape_text(const at::Tensor& t) {
    std::string text = "[";
    for (int64_t d = 0; d < t.dim(); ++d) text += (d ? ", " : "") + std::to_string(t.size(d));
    return text + "]";
  }

  golf::PluginContext& ctx_;
  int64_t batch_tokens_ = 0;
};

const golf_config_key kConfig[] = {
    {"batch_tokens", GOLF_TYPE_INT, "65536", "tokens per forward batch (batch_tokens / seq_len windows, at least 1)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<BpbEvaluator>("bpb", "1.0.0",
                                        "bits per byte over non-overlapping windows (reference eval_val)", kConfig))
