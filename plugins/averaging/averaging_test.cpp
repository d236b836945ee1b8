// plugins/averaging/averaging_test.cpp: `ema` against its closed form, its resume, and `none` doing nothing.
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

Param param(const std::string& name, const at::Tensor& t, ParamRole role) {
  return {name, t.clone().set_requires_grad(true), role};
}

// Stands in for an optimizer step: moves the live params to `values`.
void assign(const std::vector<Param>& params, const std::vector<at::Tensor>& values) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) params[i].tensor.copy_(values[i]);
}

// From init p0, k updates with the params held at p1 give shadow = p1 + d^k (p0 - p1).
TEST(EmaTest, ShadowFollowsClosedFormFromInitWeights) {
  at::manual_seed(21);
  const double d = 0.9;
  const int k = 7;
  at::Tensor p0 = at::randn({16, 8}), p1 = at::randn({16, 8});
  std::vector<Param> params = {param("w", p0, ParamRole::kMatrix)};
  auto ema = golf::testing::make_plugin<golf::Averaging>("ema", "decay = 0.9");
  ema->attach(params);
  assign(params, {p1});
  for (int step = 0; step < k; ++step) ema->update({step, 1.0, 0.0});
  EXPECT_TRUE(at::equal(params[0].tensor, p1)) << "update() must not touch the params";
  ema->apply();
  at::Tensor expected = p1 + std::pow(d, k) * (p0 - p1);
  EXPECT_TRUE(at::allclose(params[0].tensor, expected, 1e-5, 1e-6));
}

TEST(EmaTest, DefaultDecayIs0997) {
  at::manual_seed(22);
  at::Tensor p0 = at::randn({64}), p1 = at::randn({64});
  std::vector<Param> params = {param("gain", p0, ParamRole::kScalar)};
  auto ema = golf::testing::make_plugin<golf::Averaging>("ema");
  ema->attach(params);
  assign(params, {p1});
  ema->update({0, 1.0, 0.0});
  ema->apply();
  EXPECT_TRUE(at::allclose(params[0].tensor, 0.997 * p0 + 0.003 * p1, 1e-6, 1e-7));
}

// The shadow is fp32 (a bf16 shadow could not move by (1-d)·Δ at all); apply() casts it back.
TEST(EmaTest, Bfloat16ParamsGetAnFp32Shadow) {
  at::manual_seed(25);
  at::Tensor p0 = at::randn({64}).to(at::kBFloat16);
  std::vector<Param> params = {param("emb", p0, ParamRole::kEmbedding)};
  auto ema = golf::testing::make_plugin<golf::Averaging>("ema", "decay = 0.999");
  ema->attach(params);
  at::Tensor p1 = (p0.to(at::kFloat) + 1.0).to(at::kBFloat16);
  assign(params, {p1});
  for (int step = 0; step < 100; ++step) ema->update({step, 1.0, 0.0});
  ema->apply();
  // After 100 steps the shadow moved 1 - 0.999^100 = 0.0952 of the way, which bf16 steps of 1e-3 would lose.
  at::Tensor expected = p1.to(at::kFloat) + std::pow(0.999, 100) * (p0.to(at::kFloat) - p1.to(at::kFloat));
  EXPECT_EQ(params[0].tensor.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::allclose(params[0].tensor.to(at::kFloat), expected, 1e-2, 1e-2));
  EXPECT_FALSE(at::equal(params[0].tensor, p0));
}

TEST(EmaTest, SaveLoadResumesExactly) {
  at::manual_seed(23);
  std::vector<at::Tensor> trajectory;
  for (int i = 0; i < 6; ++i) trajectory.push_back(at::randn({4, 4}));
  std::vector<Param> params = {param("w", at::randn({4, 4}), ParamRole::kMatrix)};
  auto ema = golf::testing::make_plugin<golf::Averaging>("ema", "decay = 0.8");
  ema->attach(params);
  for (int i = 0; i < 3; ++i) {
    assign(params, {trajectory[i]});
    ema->update({i, 1.0, 0.0});
  }
  golf::StateDict state;
  ema->save_state(state);
  for (int i = 3; i < 6; ++i) {
    assign(params, {trajectory[i]});
    ema->update({i, 1.0, 0.0});
  }
  std::vector<Param> other = {param("w", at::zeros({4, 4}), ParamRole::kMatrix)};
  auto fresh = golf::testing::make_plugin<golf::Averaging>("ema", "decay = 0.8");
  fresh->attach(other);
  fresh->load_state(state);
  for (int i = 3; i < 6; ++i) {
    assign(other, {trajectory[i]});
    fresh->update({i, 1.0, 0.0});
  }
  ema->apply();
  fresh->apply();
  EXPECT_TRUE(at::equal(params[0].tensor, other[0].tensor));
}

// every = 3: only steps 3 and 6 (indices 2 and 5) update, each with the full d; the params' values
// at the other steps never reach the shadow.
TEST(EmaTest, EveryKUpdatesOnlyAfterEachKthStep) {
  at::manual_seed(26);
  std::vector<at::Tensor> values;
  for (int i = 0; i < 7; ++i) values.push_back(at::randn({4, 4}));
  const at::Tensor p0 = at::randn({4, 4});
  std::vector<Param> params = {param("w", p0, ParamRole::kMatrix)};
  auto ema = golf::testing::make_plugin<golf::Averaging>("ema", "decay = 0.5\nevery = 3");
  ema->attach(params);
  for (int64_t i = 0; i < 7; ++i) {
    assign(params, {values[i]});
    ema->update({i, 1.0, 0.0});
  }
  ema->apply();
  const at::Tensor expected = 0.5 * (0.5 * p0 + 0.5 * values[2]) + 0.5 * values[5];
  EXPECT_TRUE(at::allclose(params[0].tensor, expected, 1e-6, 1e-7));
  golf::testing::expect_rejected<golf::Averaging>("ema", "every = 0", "every");
}

// A rejected value is an error naming its key (the host may wrap the plugin's ConfigError).
TEST(EmaTest, RejectsBadDecay) {
  for (const char* toml : {"decay = 1.5", "decay = -0.1"}) {
    try {
      golf::testing::make_plugin<golf::Averaging>("ema", toml);
      ADD_FAILURE() << "accepted: " << toml;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("decay"), std::string::npos) << e.what();
    }
  }
}

TEST(EmaTest, NoneAveragingLeavesTrainedWeights) {
  at::manual_seed(24);
  at::Tensor p1 = at::randn({8, 8});
  std::vector<Param> params = {param("w", at::randn({8, 8}), ParamRole::kMatrix)};
  auto none = golf::testing::make_plugin<golf::Averaging>("none");
  none->attach(params);
  assign(params, {p1});
  none->update({0, 1.0, 0.0});
  none->apply();
  golf::StateDict state;
  none->save_state(state);
  EXPECT_TRUE(state.empty());
  EXPECT_TRUE(at::equal(params[0].tensor, p1));
}

}  // namespace
