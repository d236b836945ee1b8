// plugins/evaluator/sliding_windows.h: the corrected reference's sliding windows (§5.1) over the host's chunks, for `sliding` and `ttt-sgd`.
#ifndef GOLF_PLUGINS_EVALUATOR_SLIDING_WINDOWS_H_
#define GOLF_PLUGINS_EVALUATOR_SLIDING_WINDOWS_H_

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "golf/golf.h"

namespace golf::eval {

// The keys both plugins read, checked once.
struct WindowKeys {
  int64_t window = 0;  // 0: the training seq_len, known at begin()
  int64_t stride = 1, batch_windows = 1;
};

inline WindowKeys read_window_keys(const Config& c) {
  WindowKeys k;
  k.window = get_int_in(c, "window", 0, int64_t(1) << 20);
  k.stride = get_int_in(c, "stride", 1, int64_t(1) << 20);
  k.batch_windows = get_int_in(c, "batch_windows", 1, int64_t(1) << 16);
  if (k.window > 0 && k.stride > k.window)
    c.fail("stride", "must be <= window (" + std::to_string(k.window) + "), got " + std::to_string(k.stride));
  return k;
}

// Target positions run 1..N. Window k starts at ws = k·stride and predicts positions ws+1..ws+window;
// window 0 scores all of its targets, window k >= 1 only its last `stride`, positions
// [ws + context + 1, ws + window] with context = window - stride, and the last window is the first
// whose end reaches N (ws + context < N). So every target is scored once, with at least context
// tokens before it, exactly as eval_val_sliding. A window whose scored run crosses a chunk end is cut
// there: the model is causal, so the targets before the cut get the same NLL, and the next chunk
// scores the rest with the same window start (history_tokens = window keeps it in reach).
class SlidingWindows {
 public:
  SlidingWindows(int64_t window, int64_t stride, int64_t batch_windows, at::Device device)
      : window_(window), stride_(stride), rows_(batch_windows), device_(device) {
    if (stride_ < 1 || stride_ > window_)
      throw std::runtime_error("sliding windows: stride " + std::to_string(stride_) + " must be in [1, window = " +
                               std::to_string(window_) + "]");
  }
  int64_t window() const { return window_; }

  // The NLL of chunk c's targets, in position order. Every forward is [batch_windows, window]: the
  // last window and the last batch are padded with id 0 (after a causal model's scored positions, so
  // harmless), which keeps the length, and with it any length-dependent RoPE scaling, the reference's.
  at::Tensor score(Architecture& model, const EvalChunk& c) const {
    struct Row {
      int64_t ws, lo, hi;  // window start; targets [lo, hi) of this chunk that it scores
    };
    auto window_of = [&](int64_t p) { return p <= window_ ? 0 : (p - window_ - 1) / stride_ + 1; };
    std::vector<Row> rows;
    for (int64_t k = window_of(c.begin); k <= window_of(c.end - 1); ++k) {
      const int64_t ws = k * stride_, first = k == 0 ? 1 : ws + window_ - stride_ + 1;
      if (ws < c.first) throw std::logic_error("sliding windows: a window starts before the chunk's history");
      rows.push_back({ws, std::max(c.begin, first), std::min(c.end, ws + window_ + 1)});
    }
    const at::Tensor tokens = c.tokens.contiguous();
    const int64_t* t = tokens.data_ptr<int64_t>();
    std::vector<at::Tensor> parts;
    for (size_t r0 = 0; r0 < rows.size(); r0 += rows_) {
      const size_t n = std::min(rows.size() - r0, size_t(rows_));
      at::Tensor x = at::zeros({rows_, window_}, at::kLong), y = at::zeros({rows_, window_}, at::kLong);
      for (size_t j = 0; j < n; ++j) {
        const Row& r = rows[r0 + j];
        const int64_t len = r.hi - 1 - r.ws;  // inputs ws .. hi-2 predict targets ws+1 .. hi-1
        std::memcpy(x.data_ptr<int64_t>() + j * window_, t + (r.ws - c.first), len * sizeof(int64_t));
        std::memcpy(y.data_ptr<int64_t>() + j * window_, t + (r.ws + 1 - c.first), len * sizeof(int64_t));
      }
      const at::Tensor nll = model.forward(x.to(device_), y.to(device_));
      if (nll.dim() != 2 || nll.size(0) != rows_ || nll.size(1) != window_)
        throw std::runtime_error("sliding windows: the model's forward returned shape " + std::to_string(nll.dim()) +
                                 "-D for [" + std::to_string(rows_) + ", " + std::to_string(window_) + "] targets");
      for (size_t j = 0; j < n; ++j) {
        const Row& r = rows[r0 + j];
        parts.push_back(nll[j].narrow(0, r.lo - 1 - r.ws, r.hi - r.lo));
      }
    }
    return at::cat(parts);
  }

 private:
  int64_t window_, stride_, rows_;
  at::Device device_;
};

}  // namespace golf::eval

#endif  // GOLF_PLUGINS_EVALUATOR_SLIDING_WINDOWS_H_
