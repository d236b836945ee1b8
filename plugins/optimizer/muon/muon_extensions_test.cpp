// plugins/optimizer/muon/muon_extensions_test.cpp: muon's frontier options (§5.26) against hand-computed steps.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Param;
using golf::ParamRole;
using golf::StepInfo;

Param param(const std::string& name, const at::Tensor& t, ParamRole role) {
  return {name, t.clone().set_requires_grad(true), role};
}

void set_grads(const std::vector<Param>& params, const std::vector<at::Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].tensor.mutable_grad() = grads[i].clone();
}

// Adam's first step from zero moments moves by lr·g/(|g| + eps) (bias correction makes m̂ = g,
// v̂ = g²); decoupled decay multiplies by 1 − lr·wd first. Computed in float64.
at::Tensor first_adamw_step(const at::Tensor& p0, const at::Tensor& g, double lr, double wd) {
  const at::Tensor p = p0.to(at::kDouble), gd = g.to(at::kDouble);
  return p * (1 - lr * wd) - lr * gd / (gd.abs() + 1e-8);
}

// Each Adam role gets its own decay: embed_wd for the token embedding (tied or not), adam_wd for
// scalars, gates and other tensors, none for the untied head; all with the scheduled lr.
TEST(MuonExtensionsTest, DecoupledWeightDecayPerGroup) {
  at::manual_seed(31);
  std::vector<Param> params = {param("tok_emb.weight", at::randn({16, 8}), ParamRole::kEmbedding),
                               param("shared.weight", at::randn({16, 8}), ParamRole::kTiedEmbedding),
                               param("lm_head.weight", at::randn({16, 8}), ParamRole::kHead),
                               param("attn_scale", at::randn({8}), ParamRole::kScalar),
                               param("attn_gate.weight", at::randn({2, 8}), ParamRole::kGate),
                               param("bank", at::randn({2, 4, 4}), ParamRole::kOther)};
  std::vector<at::Tensor> before, grads;
  for (const Param& p : params) {
    before.push_back(p.tensor.detach().clone());
    grads.push_back(at::randn(p.tensor.sizes()));
  }
  auto muon = golf::testing::make_plugin<golf::Optimizer>(
      "muon", "embed_lr = 0.4\ntied_embed_lr = 0.2\nhead_lr = 0.1\nscalar_lr = 0.3\nembed_wd = 0.5\nadam_wd = 0.25");
  muon->attach(params);
  set_grads(params, grads);
  const double s = 0.5;  // lr_scale: the decay uses the scheduled lr
  muon->step({0, s, 0.9});
  const double lr[] = {0.4 * s, 0.2 * s, 0.1 * s, 0.3 * s, 0.3 * s, 0.3 * s};
  const double wd[] = {0.5, 0.5, 0.0, 0.25, 0.25, 0.25};
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor expected = first_adamw_step(before[i], grads[i], lr[i], wd[i]);
    EXPECT_TRUE(at::allclose(params[i].tensor.detach().to(at::kDouble), expected, 1e-6, 1e-6)) << params[i].name;
  }
}

// With a zero gradient Newton–Schulz returns 0 and Adam moves by 0/(0+eps), so one step only decays:
// the factor is 1 − lr·wd·taper(progress) for matrices and 1 − lr·adam_wd (never tapered) for scalars.
TEST(MuonExtensionsTest, WeightDecayTaperIsLinearInProgressForMatricesOnly) {
  const std::string toml =
      "matrix_lr = 0.1\nscalar_lr = 0.1\nweight_decay = 2.0\nadam_wd = 2.0\nwd_taper_start = 0.7\nwd_taper_final = 0.5";
  // (progress, taper): 1 until 0.7, then linear to 0.5 at 1.
  const std::vector<std::pair<double, double>> cases = {{0.0, 1.0}, {0.7, 1.0}, {0.85, 0.75}, {0.94, 0.6}, {1.0, 0.5}};
  for (auto [progress, taper] : cases) {
    std::vector<Param> params = {param("w", at::ones({4, 4}), ParamRole::kMatrix),
                                 param("g", at::ones({4}), ParamRole::kScalar)};
    auto muon = golf::testing::make_plugin<golf::Optimizer>("muon", toml);
    muon->attach(params);
    set_grads(params, {at::zeros({4, 4}), at::zeros({4})});
    muon->step({0, 1.0, progress});
    EXPECT_NEAR(params[0].tensor[0][0].item<double>(), 1 - 0.1 * 2.0 * taper, 1e-6) << "progress " << progress;
    EXPECT_NEAR(params[1].tensor[0].item<double>(), 1 - 0.1 * 2.0, 1e-6) << "progress " << progress;
  }
}

// NS in float64 with an explicit coefficient list, the straightforward way.
at::Tensor newton_schulz_f64(const at::Tensor& G, const std::vector<std::array<double, 3>>& coeffs) {
  at::Tensor X = G.to(at::kDouble);
  X = X / (X.norm() + 1e-7);
  const bool tall = X.size(0) > X.size(1);
  if (tall) X = X.t();
  for (const auto& [a, b, c] : coeffs) {
    at::Tensor A = at::matmul(X, X.t());
    X = a * X + at::matmul(b * A + c * at::matmul(A, A), X);
  }
  return tall ? X.t() : X;
}

const std::vector<std::array<double, 3>> kPolarExpress = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323}};

at::Tensor first_update(const at::Tensor& G, const std::string& toml) {
  auto muon = golf::testing::make_plugin<golf::Optimizer>("muon", toml);
  std::vector<Param> params = {param("w", at::zeros(G.sizes()), ParamRole::kMatrix)};
  muon->attach(params);
  set_grads(params, {G});
  muon->step({0, 1.0, 0.0});
  return -params[0].tensor.detach().to(at::kDouble);
}

double scale_of(const at::Tensor& G) {
  return std::sqrt(std::max(1.0, static_cast<double>(G.size(0)) / static_cast<double>(G.size(1))));
}

// The five Polar Express tuples in order; more than 5 steps still runs 5 (as the record's code does).
TEST(MuonExtensionsTest, PolarExpressMatchesFloat64Iteration) {
  at::manual_seed(32);
  for (auto shape : {std::vector<int64_t>{48, 24}, std::vector<int64_t>{24, 48}}) {
    at::Tensor G = at::randn(shape);
    const std::string base = "matrix_lr = 1.0\nnewton_schulz_dtype = \"float32\"\nnewton_schulz_coeffs = \"polar_express\"";
    at::Tensor expected = newton_schulz_f64(G, kPolarExpress) * scale_of(G);
    at::Tensor got = first_update(G, base);
    EXPECT_LT((got - expected).abs().max().item<double>(), 2e-4);
    // Any other order of the tuples lands visibly elsewhere.
    std::vector<std::array<double, 3>> reversed(kPolarExpress.rbegin(), kPolarExpress.rend());
    EXPECT_GT((got - newton_schulz_f64(G, reversed) * scale_of(G)).abs().max().item<double>(), 1e-2);
    EXPECT_TRUE(at::equal(first_update(G, base + "\nbackend_steps = 9"), got));
    std::vector<std::array<double, 3>> three(kPolarExpress.begin(), kPolarExpress.begin() + 3);
    at::Tensor got3 = first_update(G, base + "\nbackend_steps = 3");
    EXPECT_LT((got3 - newton_schulz_f64(G, three) * scale_of(G)).abs().max().item<double>(), 2e-4);
  }
}

// MuonEq-R: the step equals the plain step on G with each row divided by its L2 norm.
TEST(MuonExtensionsTest, RowNormalizeDividesRowsBeforeNewtonSchulz) {
  at::manual_seed(33);
  at::Tensor G = at::randn({16, 8}) * at::linspace(0.1, 10.0, 16).unsqueeze(1);  // rows of very different size
  const std::string toml = "matrix_lr = 1.0\nnewton_schulz_dtype = \"float32\"";
  at::Tensor rows = G / G.norm(2, {1}, /*keepdim=*/true);
  const std::vector<std::array<double, 3>> classic(5, {3.4445, -4.7750, 2.0315});
  at::Tensor expected = newton_schulz_f64(rows, classic) * scale_of(G);
  at::Tensor got = first_update(G, toml + "\nrow_normalize = true");
  EXPECT_LT((got - expected).abs().max().item<double>(), 1e-4);
  EXPECT_GT((first_update(G, toml) - expected).abs().max().item<double>(), 1e-2);  // off: a different step
}

// Clipping is LibTorch's clip_grad_norm_ over every attached param: all gradients scaled by
// max/(total + 1e-6) when the total L2 norm exceeds max, before anything reads them.
TEST(MuonExtensionsTest, GradClipScalesAllGradientsByTheGlobalNorm) {
  at::manual_seed(34);
  std::vector<Param> params = {param("w", at::randn({8, 4}), ParamRole::kMatrix),
                               param("emb", at::randn({16, 4}), ParamRole::kEmbedding),
                               param("g", at::randn({4}), ParamRole::kScalar)};
  std::vector<at::Tensor> grads = {at::randn({8, 4}), at::randn({16, 4}) * 3, at::randn({4})};
  double sq = 0;
  for (const at::Tensor& g : grads) sq += g.to(at::kDouble).pow(2).sum().item<double>();
  const double total = std::sqrt(sq), max_norm = 0.3, coef = max_norm / (total + 1e-6);
  auto muon = golf::testing::make_plugin<golf::Optimizer>("muon", "grad_clip_norm = 0.3");
  muon->attach(params);
  set_grads(params, grads);
  muon->step({0, 1.0, 0.0});
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(at::allclose(params[i].tensor.grad().to(at::kDouble), grads[i].to(at::kDouble) * coef, 1e-5, 1e-7))
        << params[i].name;
  }
  // Below the limit nothing changes.
  auto loose = golf::testing::make_plugin<golf::Optimizer>("muon", "grad_clip_norm = 1000.0");
  std::vector<Param> others = {param("w", at::randn({8, 4}), ParamRole::kMatrix)};
  loose->attach(others);
  set_grads(others, {grads[0]});
  loose->step({0, 1.0, 0.0});
  EXPECT_TRUE(at::equal(others[0].tensor.grad(), grads[0]));
}

}  // namespace
