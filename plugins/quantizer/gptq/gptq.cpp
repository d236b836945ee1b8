// plugins/quantizer/gptq/gptq.cpp: full-Hessian GPTQ (§5.4) on the shared grid, with optional AWQ-lite and LQER.
#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "../grid/grid.h"

namespace {

// H after §5.4 steps 1-4: dead columns, damping, act-order, and U, the upper Cholesky factor of H⁻¹.
struct Factored {
  at::Tensor U, perm, dead;
  bool ok = false;
};

class Gptq final : public grid::GridQuantizer {
 public:
  explicit Gptq(golf::PluginContext& ctx) : GridQuantizer(ctx, /*calibrated=*/true) {
    const golf::Config& c = ctx.config();
    damping_ = golf::get_nonnegative(c, "damping");
    act_order_ = c.get_bool("act_order");
    block_ = golf::get_int_in(c, "block_size", 1, 1 << 20);
  }

 protected:
  grid::Encoded encode_calibrated(const at::Tensor& w, const grid::Spec& spec, const grid::HiGroups& hi,
                                  const golf::LinearStats& stats) override {
    const Factored h = factor(stats.xtx.to(w.device(), at::kFloat, /*non_blocking=*/false, /*copy=*/true));
    if (!h.ok) {  // only with damping 0 or a non-finite H
      grid::Encoded e = grid::encode(w, spec, hi, hi_bits_, hi_width_, grid::round_to_nearest);
      e.how += ", rtn (H not positive definite)";
      return e;
    }
    // Percentile scales run the whole solve per candidate and keep the lowest MSE, as #1019's code does.
    grid::Encoded e = grid::encode(w, spec, hi, hi_bits_, hi_width_,
                                   [&](const at::Tensor& m, const grid::Steps& st) { return solve(m, st, h); });
    e.how += ", gptq";
    return e;
  }

 private:
  Factored factor(at::Tensor H) const {
    Factored f;
    f.dead = H.diagonal() == 0;
    H.diagonal().masked_fill_(f.dead, 1);
    H.diagonal().add_(damping_ * H.diagonal().mean().item<double>());
    f.perm = act_order_ ? at::argsort(H.diagonal(), 0, /*descending=*/true) : at::arange(H.size(0), H.options().dtype(at::kLong));
    H = H.index_select(0, f.perm).index_select(1, f.perm);
    const auto [L, info] = at::linalg_cholesky_ex(H);
    if (info.item<int>() != 0) return f;
    const auto [U, info_u] = at::linalg_cholesky_ex(at::cholesky_inverse(L), /*upper=*/true);
    f.U = U;
    f.ok = info_u.item<int>() == 0 && at::isfinite(U).all().item<bool>();
    return f;
  }

  // §5.4 steps 6-7: columns in act-order, each rounded on its step and its error spread over the
  // columns after it through U; blocks of block_size columns with lazy batch updates. Q un-permuted.
  at::Tensor solve(const at::Tensor& w, const grid::Steps& st, const Factored& h) const {
    const int64_t rows = w.size(0), cols = w.size(1);
    at::Tensor W = w.masked_fill(h.dead.unsqueeze(0), 0).index_select(1, h.perm);
    const at::Tensor S = st.S.index_select(1, h.perm);
    const at::Tensor perm = h.perm.to(at::kCPU);
    const auto order = perm.accessor<int64_t, 1>();
    at::Tensor Q = at::zeros({rows, cols}, W.options());
    for (int64_t i1 = 0; i1 < cols; i1 += block_) {
      const int64_t n = std::min(block_, cols - i1);
      at::Tensor W1 = W.narrow(1, i1, n).clone();
      at::Tensor err = at::zeros({rows, n}, W.options());
      const at::Tensor U1 = h.U.narrow(0, i1, n).narrow(1, i1, n);
      for (int64_t j = 0; j < n; ++j) {
        const at::Tensor col = W1.select(1, j), s = S.select(1, i1 + j);
        const double r = st.r[size_t(order[i1 + j])];
        const at::Tensor q = at::clamp(at::round(col / s), -r, r);
        const at::Tensor e = (col - q * s) / U1[j][j];
        Q.select(1, i1 + j).copy_(q);
        W1.narrow(1, j, n - j).addr_(e, U1[j].narrow(0, j, n - j), 1, -1);
        err.select(1, j).copy_(e);
      }
      const int64_t rest = cols - i1 - n;
      if (rest > 0) W.narrow(1, i1 + n, rest).addmm_(err, h.U.narrow(0, i1, n).narrow(1, i1 + n, rest), 1, -1);
    }
    return Q.index_select(1, at::argsort(h.perm)).to(at::kChar);
  }

  double damping_;
  bool act_order_;
  int64_t block_;
};

const golf_config_key kGptqConfig[] = {
    GRID_KEYS,
    GRID_CALIBRATION_KEYS,
    {"damping", GOLF_TYPE_FLOAT, "0.01", "H += damping · mean(diag H) · I before the Cholesky factorisation"},
    {"act_order", GOLF_TYPE_BOOL, "true", "quantize columns in descending diag(H) order"},
    {"block_size", GOLF_TYPE_INT, "128", "columns per block of lazy batch updates"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Gptq>("gptq", "1.0.0", "full-Hessian GPTQ with SDClip scales, optional AWQ-lite and LQER (golf_grid_v1)",
                                kGptqConfig))
