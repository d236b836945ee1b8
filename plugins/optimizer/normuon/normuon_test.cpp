// plugins/optimizer/normuon/normuon_test.cpp: NorMuon's matrix step against a float64 recomputation, its resume and its keys.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Param;
using golf::ParamRole;

Param param(const std::string& name, const at::Tensor& t, ParamRole role) {
  return {name, t.clone().set_requires_grad(true), role};
}

void set_grads(const std::vector<Param>& params, const std::vector<at::Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].tensor.mutable_grad() = grads[i].clone();
}

at::Tensor newton_schulz_f64(const at::Tensor& G) {
  at::Tensor X = G.to(at::kDouble);
  X = X / (X.norm() + 1e-7);
  const bool tall = X.size(0) > X.size(1);
  if (tall) X = X.t();
  for (int i = 0; i < 5; ++i) {
    at::Tensor A = at::matmul(X, X.t());
    X = 3.4445 * X + at::matmul(-4.7750 * A + 2.0315 * at::matmul(A, A), X);
  }
  return tall ? X.t() : X;
}

// The paper's update, written out in float64 for a sequence of gradients (momentum μ, Nesterov,
// per-row second moment with decay β₂, norm-preserving rescale, shape scale, lr, decoupled wd).
at::Tensor expected_after(at::Tensor p, const std::vector<at::Tensor>& grads, double mu, double beta2, double lr,
                          double wd) {
  p = p.to(at::kDouble);
  at::Tensor buf = at::zeros_like(p), v = at::zeros({p.size(0), 1}, at::kDouble);
  const double scale = std::sqrt(std::max(1.0, static_cast<double>(p.size(0)) / static_cast<double>(p.size(1))));
  for (const at::Tensor& g0 : grads) {
    const at::Tensor g = g0.to(at::kDouble);
    buf = mu * buf + g;
    at::Tensor O = newton_schulz_f64(g + mu * buf);
    const double before = O.norm().item<double>();
    v = beta2 * v + (1 - beta2) * (O * O).mean(1, /*keepdim=*/true);
    O = O / (v.sqrt() + 1e-10);
    O = O * (before / (O.norm().item<double>() + 1e-10));
    p = p * (1 - lr * wd) - lr * scale * O;
  }
  return p;
}

TEST(NorMuonTest, ThreeStepsMatchFloat64Recomputation) {
  at::manual_seed(41);
  for (auto shape : {std::vector<int64_t>{6, 4}, std::vector<int64_t>{4, 6}}) {
    at::Tensor p0 = at::randn(shape);
    std::vector<at::Tensor> grads;
    for (int i = 0; i < 3; ++i) grads.push_back(at::randn(shape) * at::linspace(0.2, 5.0, shape[0]).unsqueeze(1));
    auto opt = golf::testing::make_plugin<golf::Optimizer>(
        "normuon", "matrix_lr = 0.1\nmomentum_warmup_steps = 0\nnewton_schulz_dtype = \"float32\"\nweight_decay = 0.5");
    std::vector<Param> params = {param("w", p0, ParamRole::kMatrix)};
    opt->attach(params);
    for (int i = 0; i < 3; ++i) {
      set_grads(params, {grads[i]});
      opt->step({i, 1.0, 0.0});
    }
    at::Tensor expected = expected_after(p0, grads, 0.95, 0.95, 0.1, 0.5);
    EXPECT_LT((params[0].tensor.detach().to(at::kDouble) - expected).abs().max().item<double>(), 1e-4)
        << shape[0] << "x" << shape[1];
  }
}

// On the first step v = (1 − β₂)·rowmeansq(O), so every row of the update ends up with the same norm,
// and the whole update keeps Muon's Frobenius norm.
TEST(NorMuonTest, FirstStepEqualisesRowNormsAndKeepsMuonsNorm) {
  at::manual_seed(42);
  at::Tensor G = at::randn({8, 8}) * at::linspace(0.1, 10.0, 8).unsqueeze(1);
  auto step_once = [&](const std::string& plugin) {
    auto opt = golf::testing::make_plugin<golf::Optimizer>(plugin, "matrix_lr = 1.0\nnewton_schulz_dtype = \"float32\"");
    std::vector<Param> params = {param("w", at::zeros({8, 8}), ParamRole::kMatrix)};
    opt->attach(params);
    set_grads(params, {G});
    opt->step({0, 1.0, 0.0});
    return (-params[0].tensor.detach()).to(at::kDouble);
  };
  const at::Tensor u = step_once("normuon"), muon = step_once("muon");
  const at::Tensor rows = u.norm(2, {1});
  EXPECT_LT(((rows - rows.mean()).abs().max() / rows.mean()).item<double>(), 1e-4);
  EXPECT_NEAR(u.norm().item<double>(), muon.norm().item<double>(), 1e-4);
  const at::Tensor muon_rows = muon.norm(2, {1});
  EXPECT_GT(((muon_rows - muon_rows.mean()).abs().max() / muon_rows.mean()).item<double>(), 1e-2);  // Muon's differ
}

TEST(NorMuonTest, SaveLoadResumesExactlyIncludingSecondMoment) {
  at::manual_seed(43);
  auto roles = [] {
    return std::vector<Param>{param("w", at::randn({8, 4}), ParamRole::kMatrix),
                              param("emb", at::randn({16, 4}), ParamRole::kTiedEmbedding),
                              param("g", at::randn({4}), ParamRole::kScalar)};
  };
  std::vector<Param> params = roles();
  std::vector<std::vector<at::Tensor>> grads;
  for (int i = 0; i < 6; ++i) grads.push_back({at::randn({8, 4}), at::randn({16, 4}), at::randn({4})});
  const std::string toml = "weight_decay = 0.05\nembed_wd = 0.1\nadam_wd = 0.02";
  auto opt = golf::testing::make_plugin<golf::Optimizer>("normuon", toml);
  opt->attach(params);
  for (int i = 0; i < 3; ++i) {
    set_grads(params, grads[i]);
    opt->step({i, 0.9, 0.0});
  }
  golf::StateDict state;
  opt->save_state(state);
  ASSERT_TRUE(state.count("second_moment/w"));
  EXPECT_EQ(state.at("second_moment/w").sizes(), (std::vector<int64_t>{8, 1}));
  std::vector<Param> resumed;
  for (const Param& p : params) resumed.push_back(param(p.name, p.tensor.detach(), p.role));
  for (int i = 3; i < 6; ++i) {
    set_grads(params, grads[i]);
    opt->step({i, 0.9, 0.0});
  }
  auto fresh = golf::testing::make_plugin<golf::Optimizer>("normuon", toml);
  fresh->attach(resumed);
  fresh->load_state(state);
  for (int i = 3; i < 6; ++i) {
    set_grads(resumed, grads[i]);
    fresh->step({i, 0.9, 0.0});
  }
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i].tensor, resumed[i].tensor)) << params[i].name;
}

TEST(NorMuonTest, RejectsBadConfig) {
  golf::testing::expect_rejected<golf::Optimizer>("normuon", "norm_beta2 = 1.0", "norm_beta2");
  golf::testing::expect_rejected<golf::Optimizer>("normuon", "norm_eps = 0", "norm_eps");
  golf::testing::expect_rejected<golf::Optimizer>("normuon", "newton_schulz_dtype = \"fp16\"", "newton_schulz_dtype");
  golf::testing::expect_rejected<golf::Optimizer>("normuon", "backend_steps = 101", "backend_steps");
  golf::testing::expect_rejected<golf::Optimizer>("normuon", "embed_wd = -0.1", "embed_wd");
}

}  // namespace
