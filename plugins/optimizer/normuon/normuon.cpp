// plugins/optimizer/normuon/normuon.cpp: NorMuon (arXiv 2510.05491) for block matrices, AdamW for the rest.
//
// NorMuon is Muon plus per-neuron adaptive scaling after orthogonalisation, following the authors'
// normuon.py (github.com/zichongli5/NorMuon, `normuon_update`):
//   O = NS5(Nesterov momentum)                      (float32 from here on)
//   v = β₂·v + (1 − β₂)·mean_j O_ij²                 (one second moment per output row, no bias correction)
//   O ← O / (sqrt(v) + ε);  O ← O · ‖O_before‖_F / (‖O‖_F + ε)   (same Frobenius norm as Muon's update)
//   p ← p·(1 − lr·wd) − lr·sqrt(max(1, rows/cols))·O
// The paper's momentum is an EMA (lerp); this uses Muon's buf = μ·buf + g, which differs from it by the
// positive factor (1 − μ) only, and Newton–Schulz normalises that away.
// Written against the SDK and LibTorch only; ../torch_adam_state.h is the in-tree helper every built-in
// optimizer uses to save LibTorch Adam moments by parameter name (itself SDK + LibTorch only).
#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>

// After torch/types.h: clip_grad.h uses torch::Tensor without including it.
#include <torch/nn/utils/clip_grad.h>

#include <algorithm>
#include <cmath>
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

struct NorMuonOptions {
  double matrix_lr, scalar_lr, tied_embed_lr, embed_lr, head_lr;
  double momentum, momentum_warmup_start;
  int64_t momentum_warmup_steps, backend_steps;
  bool nesterov;
  double norm_beta2, norm_eps;
  double beta1, beta2, eps, weight_decay, adam_wd, embed_wd, grad_clip_norm;
  at::ScalarType ns_dtype;
};

NorMuonOptions read_options(const golf::Config& c) {
  NorMuonOptions o;
  o.matrix_lr = golf::get_nonnegative(c, "matrix_lr");
  o.scalar_lr = golf::get_nonnegative(c, "scalar_lr");
  o.tied_embed_lr = golf::get_nonnegative(c, "tied_embed_lr");
  o.embed_lr = golf::get_nonnegative(c, "embed_lr");
  o.head_lr = golf::get_nonnegative(c, "head_lr");
  o.momentum = golf::get_unit_interval(c, "momentum");
  o.momentum_warmup_start = golf::get_unit_interval(c, "momentum_warmup_start");
  o.momentum_warmup_steps = golf::get_int_in(c, "momentum_warmup_steps", 0, int64_t{1} << 40);
  o.backend_steps = golf::get_int_in(c, "backend_steps", 0, 100);
  o.nesterov = c.get_bool("nesterov");
  o.norm_beta2 = golf::get_unit_interval(c, "norm_beta2");
  o.norm_eps = c.get_float("norm_eps");
  if (!(o.norm_eps > 0)) c.fail("norm_eps", "must be > 0");
  o.beta1 = golf::get_unit_interval(c, "beta1");
  o.beta2 = golf::get_unit_interval(c, "beta2");
  o.eps = golf::get_nonnegative(c, "eps");
  o.weight_decay = golf::get_nonnegative(c, "weight_decay");
  o.adam_wd = golf::get_nonnegative(c, "adam_wd");
  o.embed_wd = golf::get_nonnegative(c, "embed_wd");
  o.grad_clip_norm = golf::get_nonnegative(c, "grad_clip_norm");
  const std::string dtype = c.get_string("newton_schulz_dtype");
  if (dtype == "bfloat16") {
    o.ns_dtype = at::kBFloat16;
  } else if (dtype == "float32") {
    o.ns_dtype = at::kFloat;
  } else {
    c.fail("newton_schulz_dtype", "must be \"bfloat16\" or \"float32\", not \"" + dtype + "\"");
  }
  return o;
}

// Classic quintic Newton–Schulz on each matrix of G [N, rows, cols], in `dtype`; out of place.
at::Tensor newton_schulz(const at::Tensor& G, int64_t steps, at::ScalarType dtype) {
  constexpr double a = 3.4445, b = -4.7750, c = 2.0315;
  at::Tensor X = G.to(dtype);
  X = X / (at::linalg_vector_norm(X, 2, at::IntArrayRef{-2, -1}, /*keepdim=*/true) + 1e-7);
  const bool tall = G.size(-2) > G.size(-1);
  if (tall) X = X.transpose(-2, -1);
  for (int64_t i = 0; i < steps; ++i) {
    at::Tensor A = at::matmul(X, X.transpose(-2, -1));
    at::Tensor B = b * A + at::matmul(c * A, A);
    X = a * X + at::matmul(B, X);
  }
  return tall ? X.transpose(-2, -1) : X;
}

class NorMuon final : public golf::Optimizer {
 public:
  explicit NorMuon(golf::PluginContext& ctx) : opt_(read_options(ctx.config())) {}

  void attach(const std::vector<Param>& params) override {
    std::vector<Param> tied, embeddings, heads, scalars;
    for (const Param& p : params) {
      all_.push_back(p.tensor);
      switch (p.role) {
        case ParamRole::kMatrix: add_matrix(p); break;
        case ParamRole::kTiedEmbedding: tied.push_back(p); break;
        case ParamRole::kEmbedding: embeddings.push_back(p); break;
        case ParamRole::kHead: heads.push_back(p); break;
        case ParamRole::kScalar:  // Newton–Schulz is for 2-D block matrices; the rest goes to AdamW
        case ParamRole::kGate:
        case ParamRole::kOther: scalars.push_back(p); break;
      }
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    add_adam_group(tied, opt_.tied_embed_lr, opt_.embed_wd, groups);
    add_adam_group(embeddings, opt_.embed_lr, opt_.embed_wd, groups);
    add_adam_group(heads, opt_.head_lr, 0.0, groups);
    add_adam_group(scalars, opt_.scalar_lr, opt_.adam_wd, groups);
    if (!groups.empty()) {
      adam_ = std::make_unique<torch::optim::AdamW>(std::move(groups), adam_options(opt_.scalar_lr, 0.0));
    }
  }

  void step(const golf::StepInfo& info) override {
    if (opt_.grad_clip_norm > 0) torch::nn::utils::clip_grad_norm_(all_, opt_.grad_clip_norm);
    step_matrices(opt_.matrix_lr * info.lr_scale, momentum_at(info.step));
    if (adam_) {
      for (size_t i = 0; i < adam_base_lrs_.size(); ++i) {
        adam_->param_groups()[i].options().set_lr(adam_base_lrs_[i] * info.lr_scale);
      }
      adam_->step();
    }
  }

  void save_state(golf::StateDict& out) const override {
    for (const Matrix& m : matrices_) {
      out["momentum/" + m.name] = m.buf.detach().clone();
      out["second_moment/" + m.name] = m.second.detach().clone();
    }
    if (adam_) golf::optim_state::save<torch::optim::AdamWParamState>(*adam_, adam_params_, "adam/", out);
  }

  void load_state(const golf::StateDict& in) override {
    at::NoGradGuard no_grad;
    for (Matrix& m : matrices_) {
      restore(in, "momentum/" + m.name, m.buf);
      restore(in, "second_moment/" + m.name, m.second);
    }
    if (adam_) golf::optim_state::load<torch::optim::AdamWParamState>(*adam_, adam_params_, "adam/", in);
  }

 private:
  struct Matrix {
    std::string name;
    at::Tensor param;
    at::Tensor buf;     // momentum, the param's dtype
    at::Tensor second;  // [rows, 1] float32: EMA of each row's mean square of the orthogonalised update
  };

  static void restore(const golf::StateDict& in, const std::string& key, at::Tensor& into) {
    const at::Tensor& t = golf::optim_state::require(in, key);
    if (t.sizes() != into.sizes()) throw std::runtime_error("normuon state: '" + key + "' has the wrong shape");
    into.copy_(t);
  }

  void add_matrix(const Param& p) {
    if (p.tensor.dim() != 2) {
      throw std::runtime_error("normuon: matrix param '" + p.name + "' is " + std::to_string(p.tensor.dim()) +
                               "-D; NorMuon needs 2-D matrices");
    }
    by_shape_[p.tensor.sizes().vec()].push_back(matrices_.size());
    matrices_.push_back({p.name, p.tensor, at::zeros_like(p.tensor),
                         at::zeros({p.tensor.size(0), 1}, p.tensor.options().dtype(at::kFloat))});
  }

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

  double momentum_at(int64_t step) const {
    const double f = opt_.momentum_warmup_steps > 0
                         ? std::min(static_cast<double>(step) / static_cast<double>(opt_.momentum_warmup_steps), 1.0)
                         : 1.0;
    return (1 - f) * opt_.momentum_warmup_start + f * opt_.momentum;
  }

  // Same-shape matrices are orthogonalised and normalised together, batched.
  void step_matrices(double lr, double mu) {
    at::NoGradGuard no_grad;
    for (const auto& [shape, members] : by_shape_) {
      std::vector<size_t> stepped;
      std::vector<at::Tensor> directions, seconds;
      for (size_t i : members) {
        Matrix& m = matrices_[i];
        const at::Tensor& g = m.param.grad();
        if (!g.defined()) continue;
        m.buf.mul_(mu).add_(g);
        directions.push_back(opt_.nesterov ? g.add(m.buf, mu) : m.buf);
        seconds.push_back(m.second);
        stepped.push_back(i);
      }
      if (stepped.empty()) continue;
      at::Tensor O = newton_schulz(at::stack(directions), opt_.backend_steps, opt_.ns_dtype).to(at::kFloat);
      const std::vector<int64_t> both = {-2, -1};
      const at::Tensor norm_before = at::linalg_vector_norm(O, 2, both, /*keepdim=*/true);
      at::Tensor second = at::stack(seconds);
      second.lerp_(O.square().mean(-1, /*keepdim=*/true), 1 - opt_.norm_beta2);
      O.div_(second.sqrt().add_(opt_.norm_eps));
      O.mul_(norm_before / at::linalg_vector_norm(O, 2, both, /*keepdim=*/true).add_(opt_.norm_eps));
      O.mul_(std::sqrt(std::max(1.0, static_cast<double>(shape[0]) / static_cast<double>(shape[1]))));
      for (size_t k = 0; k < stepped.size(); ++k) {
        Matrix& m = matrices_[stepped[k]];
        m.second.copy_(second[k]);
        if (opt_.weight_decay > 0) m.param.mul_(1 - lr * opt_.weight_decay);
        m.param.add_(O[k].to(m.param.scalar_type()), -lr);
      }
    }
  }

  NorMuonOptions opt_;
  std::vector<at::Tensor> all_;  // every attached param, for gradient clipping
  std::vector<Matrix> matrices_;
  std::map<std::vector<int64_t>, std::vector<size_t>> by_shape_;  // indices into matrices_
  std::vector<double> adam_base_lrs_;                            // one per AdamW group, in order
  std::vector<Param> adam_params_;
  std::unique_ptr<torch::optim::AdamW> adam_;
};

const golf_config_key kNorMuonConfig[] = {
    {"matrix_lr", GOLF_TYPE_FLOAT, "0.04", "NorMuon learning rate for block matrices"},
    {"scalar_lr", GOLF_TYPE_FLOAT, "0.04", "Adam learning rate for vectors, gates and other tensors"},
    {"tied_embed_lr", GOLF_TYPE_FLOAT, "0.05", "Adam learning rate for the token embedding when tied to the head"},
    {"embed_lr", GOLF_TYPE_FLOAT, "0.6", "Adam learning rate for the token embedding when the head is untied"},
    {"head_lr", GOLF_TYPE_FLOAT, "0.008", "Adam learning rate for an untied output head"},
    {"momentum", GOLF_TYPE_FLOAT, "0.95", "momentum after warm-up"},
    {"momentum_warmup_start", GOLF_TYPE_FLOAT, "0.85", "momentum at step 0"},
    {"momentum_warmup_steps", GOLF_TYPE_INT, "500", "steps of linear momentum warm-up (0: none)"},
    {"backend_steps", GOLF_TYPE_INT, "5", "Newton-Schulz iterations"},
    {"nesterov", GOLF_TYPE_BOOL, "true", "Nesterov momentum"},
    {"norm_beta2", GOLF_TYPE_FLOAT, "0.95", "decay of the per-row second moment of the orthogonalised update"},
    {"norm_eps", GOLF_TYPE_FLOAT, "1e-10", "epsilon of the per-row normalisation and of the norm-preserving rescale"},
    {"newton_schulz_dtype", GOLF_TYPE_STRING, "\"bfloat16\"", "Newton-Schulz precision: \"bfloat16\" or \"float32\""},
    {"weight_decay", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay for block matrices: p *= 1 - lr*wd"},
    {"beta1", GOLF_TYPE_FLOAT, "0.9", "Adam beta1"},
    {"beta2", GOLF_TYPE_FLOAT, "0.95", "Adam beta2"},
    {"eps", GOLF_TYPE_FLOAT, "1e-8", "Adam epsilon"},
    {"adam_wd", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay for the Adam scalar, gate and other tensors"},
    {"embed_wd", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay for the token embedding (tied or not)"},
    {"grad_clip_norm", GOLF_TYPE_FLOAT, "0.0", "clip the global gradient L2 norm over all params to this, before the update (0: off)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<NorMuon>("normuon", "1.0.0",
                                   "NorMuon (Muon with per-neuron normalisation) for block matrices, AdamW for the rest",
                                   kNorMuonConfig))
