// plugins/optimizer/muon/muon.cpp: the reference optimizer split: Muon for block matrices, Adam for the rest.
//
// Muon (reference §4.4): buf = μ·buf + g; Nesterov g + μ·buf; optional MuonEq-R row normalisation;
// Newton–Schulz quintic orthogonalisation (classic or Polar Express coefficients); scale
// sqrt(max(1, rows/cols)); p -= lr·update, after decoupled decay p *= 1 − lr·wd·taper(progress).
// Embeddings, the untied head and scalar/control tensors use LibTorch's AdamW, one group per role,
// with decoupled decay embed_wd (token embedding) or adam_wd (scalars, gates, other); the head has
// none (§5.26). Optional global gradient-norm clipping over every attached param comes first.
#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>

// After torch/types.h: clip_grad.h uses torch::Tensor without including it.
#include <torch/nn/utils/clip_grad.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../torch_adam_state.h"
#include "golf/optimizer.h"
#include "golf/plugin.h"

namespace {

using golf::Param;
using golf::ParamRole;

struct MuonOptions {
  double matrix_lr, scalar_lr, tied_embed_lr, embed_lr, head_lr;
  double momentum, momentum_warmup_start;
  int64_t momentum_warmup_steps, backend_steps;
  bool nesterov;
  double beta1, beta2, eps, weight_decay;
  double adam_wd, embed_wd, wd_taper_start, wd_taper_final, grad_clip_norm;
  bool row_normalize, polar_express;
  at::ScalarType ns_dtype;
};

MuonOptions read_options(const golf::Config& c) {
  MuonOptions o;
  o.matrix_lr = golf::get_nonnegative(c, "matrix_lr");
  o.scalar_lr = golf::get_nonnegative(c, "scalar_lr");
  o.tied_embed_lr = golf::get_nonnegative(c, "tied_embed_lr");
  o.embed_lr = golf::get_nonnegative(c, "embed_lr");
  o.head_lr = golf::get_nonnegative(c, "head_lr");
  o.momentum = golf::get_unit_interval(c, "momentum");
  o.momentum_warmup_start = golf::get_unit_interval(c, "momentum_warmup_start");
  o.momentum_warmup_steps = c.get_int("momentum_warmup_steps");
  if (o.momentum_warmup_steps < 0) c.fail("momentum_warmup_steps", "must be >= 0");
  o.backend_steps = c.get_int("backend_steps");
  if (o.backend_steps < 0 || o.backend_steps > 100) c.fail("backend_steps", "must be in [0, 100]");
  o.nesterov = c.get_bool("nesterov");
  o.beta1 = golf::get_unit_interval(c, "beta1");
  o.beta2 = golf::get_unit_interval(c, "beta2");
  o.eps = golf::get_nonnegative(c, "eps");
  o.weight_decay = golf::get_nonnegative(c, "weight_decay");
  const std::string dtype = c.get_string("newton_schulz_dtype");
  if (dtype == "bfloat16") {
    o.ns_dtype = at::kBFloat16;
  } else if (dtype == "float32") {
    o.ns_dtype = at::kFloat;
  } else {
    c.fail("newton_schulz_dtype", "must be \"bfloat16\" or \"float32\", not \"" + dtype + "\"");
  }
  o.adam_wd = golf::get_nonnegative(c, "adam_wd");
  o.embed_wd = golf::get_nonnegative(c, "embed_wd");
  o.wd_taper_start = c.get_float("wd_taper_start");
  if (!(o.wd_taper_start >= 0 && o.wd_taper_start <= 1)) c.fail("wd_taper_start", "must be in [0, 1] (1: no taper)");
  o.wd_taper_final = golf::get_nonnegative(c, "wd_taper_final");
  o.grad_clip_norm = golf::get_nonnegative(c, "grad_clip_norm");
  o.row_normalize = c.get_bool("row_normalize");
  const std::string coeffs = c.get_string("newton_schulz_coeffs");
  if (coeffs != "classic" && coeffs != "polar_express") {
    c.fail("newton_schulz_coeffs", "must be \"classic\" or \"polar_express\", not \"" + coeffs + "\"");
  }
  o.polar_express = coeffs == "polar_express";
  return o;
}

// One quintic iteration X <- a X + (b A + c A²) X, A = X Xᵀ.
struct Quintic {
  double a, b, c;
};

// Polar Express (PR #1344, `_PE_COEFFS` in R/2026-04-27_SP8192_LQER…/train_gpt.py): one tuple per
// iteration. As in that code, more than 5 steps still runs only these 5 (its slice keeps the whole
// tuple), and the normalisation is the classic X / (‖X‖_F + 1e-7), with no safety factor.
constexpr Quintic kPolarExpress[] = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
};

std::vector<Quintic> quintic_schedule(int64_t steps, bool polar_express) {
  if (!polar_express) return std::vector<Quintic>(static_cast<size_t>(steps), Quintic{3.4445, -4.7750, 2.0315});
  const int64_t n = std::min<int64_t>(steps, std::size(kPolarExpress));
  return std::vector<Quintic>(kPolarExpress, kPolarExpress + n);
}

// MuonEq-R (PR #1217/#1260): each row divided by its L2 norm (taken in float32, clamped at 1e-7), as
// the record does before Newton–Schulz. Out of place.
at::Tensor normalize_rows(const at::Tensor& G) {
  const at::Tensor norms =
      at::linalg_vector_norm(G.to(at::kFloat), 2, at::IntArrayRef{-1}, /*keepdim=*/true).clamp_min(1e-7);
  return G / norms.to(G.scalar_type());
}

// Orthogonalises each matrix of G [N, rows, cols] with the quintic Newton–Schulz iteration, in
// `dtype`. Out of place: G (the momentum buffer itself without Nesterov) is left alone.
at::Tensor newton_schulz(const at::Tensor& G, const std::vector<Quintic>& schedule, at::ScalarType dtype) {
  at::Tensor X = G.to(dtype);
  X = X / (at::linalg_vector_norm(X, 2, at::IntArrayRef{-2, -1}, /*keepdim=*/true) + 1e-7);
  // Iterate on the wide orientation so X·Xᵀ is the smaller Gram matrix.
  const bool tall = G.size(-2) > G.size(-1);
  if (tall) X = X.transpose(-2, -1);
  for (const auto& [a, b, c] : schedule) {
    at::Tensor A = at::matmul(X, X.transpose(-2, -1));
    at::Tensor B = b * A + at::matmul(c * A, A);
    X = a * X + at::matmul(B, X);
  }
  return tall ? X.transpose(-2, -1) : X;
}

class Muon final : public golf::Optimizer {
 public:
  explicit Muon(golf::PluginContext& ctx)
      : opt_(read_options(ctx.config())), schedule_(quintic_schedule(opt_.backend_steps, opt_.polar_express)) {}

  void attach(const std::vector<Param>& params) override {
    for (const Param& p : params) all_.push_back(p.tensor);
    std::vector<Param> tied, embeddings, heads, scalars;
    std::vector<torch::optim::OptimizerParamGroup> groups;
    for (const Param& p : params) {
      switch (p.role) {
        case ParamRole::kMatrix: add_matrix(p); break;
        case ParamRole::kTiedEmbedding: tied.push_back(p); break;
        case ParamRole::kEmbedding: embeddings.push_back(p); break;
        case ParamRole::kHead: heads.push_back(p); break;
        // Gates and tensors of other shapes go to Adam with the scalars: Newton-Schulz is for 2-D matrices.
        case ParamRole::kScalar:
        case ParamRole::kGate:
        case ParamRole::kOther: scalars.push_back(p); break;
      }
    }
    // The tied embedding doubles as the head and takes the tied rate (reference §4.3). embed_wd is
    // the token embedding's, tied or not; the untied head has no decay (plain Adam in the record).
    add_adam_group(tied, opt_.tied_embed_lr, opt_.embed_wd, groups);
    add_adam_group(embeddings, opt_.embed_lr, opt_.embed_wd, groups);
    add_adam_group(heads, opt_.head_lr, 0.0, groups);
    add_adam_group(scalars, opt_.scalar_lr, opt_.adam_wd, groups);
    if (!groups.empty()) {
      adam_ = std::make_unique<torch::optim::AdamW>(std::move(groups), adam_options(opt_.scalar_lr, 0.0));
    }
  }

  void step(const golf::StepInfo& info) override {
    // Over every param, before momentum or moments see the gradients (the record's clip_grad_norm_
    // over model.parameters()); params without a gradient are skipped.
    if (opt_.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(all_, opt_.grad_clip_norm);
    step_matrices(opt_.matrix_lr * info.lr_scale, momentum_at(info.step), taper_at(info.progress));
    if (adam_) {
      for (size_t i = 0; i < adam_base_lrs_.size(); ++i) {
        adam_->param_groups()[i].options().set_lr(adam_base_lrs_[i] * info.lr_scale);
      }
      adam_->step();
    }
  }

  void save_state(golf::StateDict& out) const override {
    for (const Matrix& m : matrices_) out["momentum/" + m.name] = m.buf.detach().clone();
    if (adam_) golf::optim_state::save<torch::optim::AdamWParamState>(*adam_, adam_params_, "adam/", out);
  }

  void load_state(const golf::StateDict& in) override {
    for (Matrix& m : matrices_) {
      const at::Tensor& t = golf::optim_state::require(in, "momentum/" + m.name);
      if (t.sizes() != m.buf.sizes()) throw std::runtime_error("muon state: 'momentum/" + m.name + "' has the wrong shape");
      at::NoGradGuard no_grad;
      m.buf.copy_(t);
    }
    if (adam_) golf::optim_state::load<torch::optim::AdamWParamState>(*adam_, adam_params_, "adam/", in);
  }

 private:
  struct Matrix {
    std::string name;
    at::Tensor param;
    at::Tensor buf;  // momentum, the param's dtype, like the reference's zeros_like(grad)
  };

  void add_matrix(const Param& p) {
    if (p.tensor.dim() != 2) {
      throw std::runtime_error("muon: matrix param '" + p.name + "' is " + std::to_string(p.tensor.dim()) +
                               "-D; Muon needs 2-D matrices");
    }
    const std::vector<int64_t> shape = p.tensor.sizes().vec();
    by_shape_[shape].push_back(matrices_.size());
    matrices_.push_back({p.name, p.tensor, at::zeros_like(p.tensor)});
  }

  // The reference's Adam, no amsgrad; AdamW's decay p *= 1 − lr·wd comes before the moment update, and
  // with wd = 0 AdamW computes exactly what Adam does.
  torch::optim::AdamWOptions adam_options(double lr, double wd) const {
    return torch::optim::AdamWOptions(lr).betas({opt_.beta1, opt_.beta2}).eps(opt_.eps).weight_decay(wd);
  }

  void add_adam_group(const std::vector<Param>& params, double base_lr, double wd,
                      std::vector<torch::optim::OptimizerParamGroup>& groups) {
    if (params.empty()) return;
    std::vector<at::Tensor> tensors;
    for (const Param& p : params) {
      tensors.push_back(p.tensor);
      adam_params_.push_back(p);
    }
    groups.emplace_back(std::move(tensors),
                        std::make_unique<torch::optim::AdamWOptions>(adam_options(base_lr, wd)));
    adam_base_lrs_.push_back(base_lr);
  }

  // Linear warm-up of the Muon momentum from momentum_warmup_start to momentum.
  double momentum_at(int64_t step) const {
    const double f = opt_.momentum_warmup_steps > 0
                         ? std::min(static_cast<double>(step) / static_cast<double>(opt_.momentum_warmup_steps), 1.0)
                         : 1.0;
    return (1 - f) * opt_.momentum_warmup_start + f * opt_.momentum;
  }

  // WD taper of the matrices' decay (PR #1729 tapers only the Muon group): 1 until wd_taper_start,
  // then linear in progress to wd_taper_final at the end.
  double taper_at(double progress) const {
    const double start = opt_.wd_taper_start;
    if (start >= 1.0 || progress <= start) return 1.0;
    const double f = std::clamp((progress - start) / (1.0 - start), 0.0, 1.0);
    return 1.0 + (opt_.wd_taper_final - 1.0) * f;
  }

  // Same-shape matrices go through Newton–Schulz together as one batched matmul chain.
  void step_matrices(double lr, double mu, double taper) {
    const double wd = opt_.weight_decay * taper;
    at::NoGradGuard no_grad;
    for (const auto& [shape, members] : by_shape_) {
      std::vector<size_t> stepped;
      std::vector<at::Tensor> directions;
      for (size_t i : members) {
        Matrix& m = matrices_[i];
        const at::Tensor& g = m.param.grad();
        if (!g.defined()) continue;
        m.buf.mul_(mu).add_(g);
        directions.push_back(opt_.nesterov ? g.add(m.buf, mu) : m.buf);
        stepped.push_back(i);
      }
      if (stepped.empty()) continue;
      at::Tensor stacked = at::stack(directions);
      if (opt_.row_normalize) stacked = normalize_rows(stacked);
      at::Tensor update = newton_schulz(stacked, schedule_, opt_.ns_dtype);
      update.mul_(std::sqrt(std::max(1.0, static_cast<double>(shape[0]) / static_cast<double>(shape[1]))));
      for (size_t k = 0; k < stepped.size(); ++k) {
        at::Tensor& p = matrices_[stepped[k]].param;
        if (wd > 0) p.mul_(1 - lr * wd);
        p.add_(update[k].to(p.scalar_type()), -lr);
      }
    }
  }

  MuonOptions opt_;
  std::vector<Quintic> schedule_;  // one (a, b, c) per Newton–Schulz iteration
  std::vector<at::Tensor> all_;     // every attached param, for gradient clipping
  std::vector<Matrix> matrices_;
  std::map<std::vector<int64_t>, std::vector<size_t>> by_shape_;  // indices into matrices_
  std::vector<double> adam_base_lrs_;                            // one per Adam group, in order
  std::vector<Param> adam_params_;
  std::unique_ptr<torch::optim::AdamW> adam_;
};

const golf_config_key kMuonConfig[] = {
    {"matrix_lr", GOLF_TYPE_FLOAT, "0.04", "Muon learning rate for block matrices"},
    {"scalar_lr", GOLF_TYPE_FLOAT, "0.04", "Adam learning rate for vectors and control tensors"},
    {"tied_embed_lr", GOLF_TYPE_FLOAT, "0.05", "Adam learning rate for the token embedding when tied to the head"},
    {"embed_lr", GOLF_TYPE_FLOAT, "0.6", "Adam learning rate for the token embedding when the head is untied"},
    {"head_lr", GOLF_TYPE_FLOAT, "0.008", "Adam learning rate for an untied output head"},
    {"momentum", GOLF_TYPE_FLOAT, "0.95", "Muon momentum after warm-up"},
    {"momentum_warmup_start", GOLF_TYPE_FLOAT, "0.85", "Muon momentum at step 0"},
    {"momentum_warmup_steps", GOLF_TYPE_INT, "500", "steps of linear momentum warm-up (0: none)"},
    {"backend_steps", GOLF_TYPE_INT, "5", "Newton-Schulz iterations"},
    {"nesterov", GOLF_TYPE_BOOL, "true", "Nesterov momentum for Muon"},
    {"beta1", GOLF_TYPE_FLOAT, "0.9", "Adam beta1"},
    {"beta2", GOLF_TYPE_FLOAT, "0.95", "Adam beta2"},
    {"eps", GOLF_TYPE_FLOAT, "1e-8", "Adam epsilon"},
    {"weight_decay", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay for Muon matrices: p *= 1 - lr*wd"},
    {"newton_schulz_dtype", GOLF_TYPE_STRING, "\"bfloat16\"", "Newton-Schulz precision: \"bfloat16\" or \"float32\""},
    {"newton_schulz_coeffs", GOLF_TYPE_STRING, "\"classic\"",
     "Newton-Schulz coefficients: \"classic\" (3.4445, -4.775, 2.0315 every step) or \"polar_express\" (5 per-step tuples; at most 5 steps)"},
    {"row_normalize", GOLF_TYPE_BOOL, "false", "MuonEq-R: divide each row of the Nesterov update by its L2 norm before Newton-Schulz"},
    {"adam_wd", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay for the Adam scalar, gate and other tensors: p *= 1 - lr*wd"},
    {"embed_wd", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay for the token embedding (tied or not): p *= 1 - lr*wd"},
    {"wd_taper_start", GOLF_TYPE_FLOAT, "1.0", "progress in [0, 1] from which the matrices' weight_decay tapers linearly (1: no taper)"},
    {"wd_taper_final", GOLF_TYPE_FLOAT, "0.5", "multiplier of the matrices' weight_decay at the end of training, reached linearly from wd_taper_start"},
    {"grad_clip_norm", GOLF_TYPE_FLOAT, "0.0", "clip the global gradient L2 norm over all params to this, before the update (0: off)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Muon>("muon", "1.1.0", "Muon for block matrices, Adam for embeddings, head and scalars",
                                kMuonConfig))
