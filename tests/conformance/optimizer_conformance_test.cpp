// tests/conformance/optimizer_conformance_test.cpp: what every optimizer plugin must do, with its defaults and (built-in ones) its options on.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Param;
using golf::ParamRole;

// Each plugin with its defaults, and the built-in ones also with their optional features on.
std::vector<std::string> configs(const std::string& plugin) {
  if (plugin == "muon")
    return {"",
            "weight_decay = 0.095\nadam_wd = 0.02\nembed_wd = 0.085\nwd_taper_start = 0.7\nwd_taper_final = 0.5\n"
            "row_normalize = true\nnewton_schulz_coeffs = \"polar_express\"\ngrad_clip_norm = 0.3"};
  if (plugin == "normuon") return {"", "weight_decay = 0.095\nadam_wd = 0.02\nembed_wd = 0.085\ngrad_clip_norm = 0.3"};
  return {""};
}

struct Case {
  std::string plugin, toml;
  std::string trace() const { return plugin + (toml.empty() ? " (defaults)" : " with " + toml); }
};
std::vector<Case> optimizers() {
  std::vector<std::string> names = golf::testing::conformance_plugins(GOLF_KIND_OPTIMIZER);
  EXPECT_FALSE(names.empty()) << "no optimizer plugin found";
  std::vector<Case> out;
  for (const std::string& name : names)
    for (const std::string& toml : configs(name)) out.push_back({name, toml});
  return out;
}

// One param of every role (SDK 2.0: an optimizer accepts every role, kOther of any rank), zero-
// initialised, each pulled towards a fixed random target.
struct Problem {
  std::vector<Param> params;
  std::vector<at::Tensor> targets;

  Problem() {
    at::manual_seed(51);
    add("blocks.0.attn.c_q.weight", {32, 16}, ParamRole::kMatrix);
    add("blocks.0.mlp.proj.weight", {16, 32}, ParamRole::kMatrix);
    add("tok_emb.weight", {64, 16}, ParamRole::kEmbedding);
    add("lm_head.weight", {64, 16}, ParamRole::kHead);
    add("blocks.0.attn_scale", {16}, ParamRole::kScalar);
    add("shared_emb.weight", {64, 16}, ParamRole::kTiedEmbedding);
    add("blocks.0.attn_gate.weight", {4, 16}, ParamRole::kGate);
    add("bank.weight", {2, 16, 8}, ParamRole::kOther);
  }
  void add(const std::string& name, std::vector<int64_t> shape, ParamRole role) {
    params.push_back({name, at::zeros(shape).set_requires_grad(true), role});
    targets.push_back(at::randn(shape) * 3);
  }
  // Least squares: sum over params of mean((p - target)^2); fills the gradients.
  double loss_and_grad() {
    at::Tensor loss = at::zeros({});
    for (size_t i = 0; i < params.size(); ++i) loss = loss + (params[i].tensor - targets[i]).pow(2).mean();
    for (Param& p : params) p.tensor.mutable_grad() = at::Tensor();
    loss.backward();
    return loss.item<double>();
  }
  std::vector<Param> copy() const {
    std::vector<Param> out;
    for (const Param& p : params) out.push_back({p.name, p.tensor.detach().clone().set_requires_grad(true), p.role});
    return out;
  }
};

TEST(OptimizerConformance, LowersALeastSquaresLoss) {
  for (const Case& c : optimizers()) {
    SCOPED_TRACE(c.trace());
    Problem problem;
    auto opt = golf::testing::make_plugin<golf::Optimizer>(c.plugin, c.toml);
    opt->attach(problem.params);
    const double first = problem.loss_and_grad();
    double last = first;
    for (int64_t step = 0; step < 10; ++step) {
      opt->step({step, 1.0, step / 10.0});
      last = problem.loss_and_grad();
      ASSERT_TRUE(std::isfinite(last)) << "step " << step;
    }
    EXPECT_LT(last, first * 0.999);
    for (const Param& p : problem.params) EXPECT_TRUE(p.tensor.requires_grad()) << p.name << " lost requires_grad";
  }
}

TEST(OptimizerConformance, ZeroLrScaleLeavesParamsUnchanged) {
  for (const Case& c : optimizers()) {
    SCOPED_TRACE(c.trace());
    Problem problem;
    auto opt = golf::testing::make_plugin<golf::Optimizer>(c.plugin, c.toml);
    opt->attach(problem.params);
    std::vector<Param> before = problem.copy();
    for (int64_t step = 0; step < 3; ++step) {
      problem.loss_and_grad();
      opt->step({step, 0.0, 1.0});
    }
    for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(at::equal(problem.params[i].tensor, before[i].tensor)) << before[i].name;
  }
}

// Stepping after save/load onto a copy of the weights equals stepping straight on.
TEST(OptimizerConformance, SaveLoadResumesExactly) {
  for (const Case& c : optimizers()) {
    SCOPED_TRACE(c.trace());
    Problem problem;
    auto opt = golf::testing::make_plugin<golf::Optimizer>(c.plugin, c.toml);
    opt->attach(problem.params);
    for (int64_t step = 0; step < 3; ++step) {
      problem.loss_and_grad();
      opt->step({step, 1.0, 0.0});
    }
    golf::StateDict state;
    opt->save_state(state);
    Problem resumed;
    resumed.params = problem.copy();
    auto fresh = golf::testing::make_plugin<golf::Optimizer>(c.plugin, c.toml);
    fresh->attach(resumed.params);
    fresh->load_state(state);
    for (int64_t step = 3; step < 6; ++step) {
      problem.loss_and_grad();
      resumed.loss_and_grad();
      opt->step({step, 0.7, 0.0});
      fresh->step({step, 0.7, 0.0});
    }
    for (size_t i = 0; i < problem.params.size(); ++i) {
      EXPECT_TRUE(at::equal(problem.params[i].tensor, resumed.params[i].tensor)) << problem.params[i].name;
    }
  }
}

}  // namespace
