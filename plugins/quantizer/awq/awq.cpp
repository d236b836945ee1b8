// plugins/quantizer/awq/awq.cpp: activation-aware scaling: per-input-channel scales from calibration, then RTN on the shared grid.
#include <ATen/ATen.h>

#include <cstdio>
#include <limits>

#include "../grid/grid.h"

namespace {

class Awq final : public grid::GridQuantizer {
 public:
  explicit Awq(golf::PluginContext& ctx) : GridQuantizer(ctx, /*calibrated=*/true) {
    alphas_ = golf::get_int_in(ctx.config(), "alpha_grid", 1, 1000);
  }

 protected:
  // W·diag(s) is quantized and divided by s again, s = act_rms^α from the real activations (a weight
  // magnitude proxy is a known failure); α on a grid in [0, 1] minimising tr(E H Eᵀ). α = 0 is RTN.
  grid::Encoded encode_calibrated(const at::Tensor& w, const grid::Spec& spec, const grid::HiGroups& hi,
                                  const golf::LinearStats& stats) override {
    const at::Tensor H = stats.xtx.to(w.device(), at::kFloat);
    const at::Tensor rms = grid::act_rms(stats).to(w.device());
    grid::Encoded best;
    double best_err = std::numeric_limits<double>::infinity(), best_alpha = 0;
    for (int64_t i = 0; i < alphas_; ++i) {
      const double alpha = alphas_ > 1 ? double(i) / double(alphas_ - 1) : 0.0;
      // AWQ's own normalisation (s over sqrt(max·min), at least 1e-4 first); used exactly as stored.
      const at::Tensor raw = rms.pow(alpha).clamp_min(1e-4);
      const at::Tensor s = grid::fp16_scale(raw / (raw.max() * raw.min()).sqrt());
      grid::Encoded e = grid::encode(w * s.to(at::kFloat), spec, hi, hi_bits_, hi_width_, grid::round_to_nearest);
      if (alpha > 0) e.layout.awq = true, e.col_scale = s;
      const at::Tensor E = w - grid::decode(e);
      const double err = (E.matmul(H) * E).sum().item<double>();
      if (!(err >= best_err)) best_err = err, best_alpha = alpha, best = std::move(e);  // the first even when NaN
    }
    char text[48];
    std::snprintf(text, sizeof text, ", awq alpha=%.3g", best_alpha);
    best.how += text;
    return best;
  }

 private:
  int64_t alphas_;
};

const golf_config_key kAwqConfig[] = {
    GRID_KEYS,
    GRID_CALIBRATION_KEYS,
    {"alpha_grid", GOLF_TYPE_INT, "20", "α candidates i/(n-1) in [0, 1] for s = act_rms^α; 1: α = 0 only (RTN)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Awq>("awq", "1.0.0", "activation-aware per-channel scaling with RTN, optional AWQ-lite and LQER (golf_grid_v1)",
                               kAwqConfig))
