// plugins/averaging/swa/swa_test.cpp: `swa` against hand-computed means, its float32 sum, its resume and its keys.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Param;
using golf::ParamRole;

Param param(const std::string& name, const at::Tensor& t, ParamRole role) {
  return {name, t.clone().set_requires_grad(true), role};
}

void assign(const Param& p, const at::Tensor& value) {
  at::NoGradGuard no_grad;
  p.tensor.copy_(value);
}

// Steps 1..10 (index i = 0..9) with lr_scale 1 - i/10 and the weights set to the constant i+1: with
// start 0.55 and every 2 the checkpoints are after steps 6, 8 and 10 (step 4 has lr_scale 0.7), so
// the average is (6 + 8 + 10) / 3 = 8; with start 0.5 step 6 (lr_scale exactly 0.5) is not below it.
TEST(SwaTest, AveragesTheCheckpointsTakenBelowTheStartScale) {
  for (auto [start, mean] : {std::pair<const char*, double>{"0.55", 8.0}, {"0.5", 9.0}}) {
    std::vector<Param> params = {param("w", at::zeros({3, 2}), ParamRole::kMatrix)};
    auto swa = golf::testing::make_plugin<golf::Averaging>("swa", std::string("every = 2\nstart_lr_scale = ") + start);
    swa->attach(params);
    for (int64_t i = 0; i < 10; ++i) {
      assign(params[0], at::full({3, 2}, static_cast<double>(i + 1)));
      swa->update({i, 1.0 - i / 10.0, i / 10.0});
    }
    EXPECT_TRUE(at::equal(params[0].tensor, at::full({3, 2}, 10.0))) << "update() must not touch the params";
    swa->apply();
    EXPECT_TRUE(at::allclose(params[0].tensor, at::full({3, 2}, mean))) << "start " << start;
  }
}

TEST(SwaTest, AverageOfRandomCheckpointsIsTheirMean) {
  at::manual_seed(61);
  std::vector<Param> params = {param("w", at::zeros({4, 4}), ParamRole::kMatrix), param("g", at::zeros({4}), ParamRole::kScalar)};
  auto swa = golf::testing::make_plugin<golf::Averaging>("swa", "every = 1");
  swa->attach(params);
  at::Tensor sum_w = at::zeros({4, 4}, at::kDouble), sum_g = at::zeros({4}, at::kDouble);
  for (int64_t i = 0; i < 5; ++i) {
    at::Tensor w = at::randn({4, 4}), g = at::randn({4});
    assign(params[0], w);
    assign(params[1], g);
    sum_w += w.to(at::kDouble);
    sum_g += g.to(at::kDouble);
    swa->update({i, 0.3, 0.9});
  }
  swa->apply();
  EXPECT_TRUE(at::allclose(params[0].tensor.to(at::kDouble), sum_w / 5, 1e-6, 1e-7));
  EXPECT_TRUE(at::allclose(params[1].tensor.to(at::kDouble), sum_g / 5, 1e-6, 1e-7));
}

// bf16 checkpoints 256 then 99 × 1: the true mean is 3.55. A bf16 running sum would stick at 256
// (256 + 1 rounds back to 256 in bf16: 8 significant bits), giving 2.56; the float32 sum is exact.
TEST(SwaTest, SumsInFloat32EvenForBfloat16Params) {
  std::vector<Param> params = {param("emb", at::zeros({8}, at::kBFloat16), ParamRole::kEmbedding)};
  auto swa = golf::testing::make_plugin<golf::Averaging>("swa", "every = 1");
  swa->attach(params);
  at::Tensor bf16_sum = at::zeros({8}, at::kBFloat16);
  for (int64_t i = 0; i < 100; ++i) {
    at::Tensor v = at::full({8}, i == 0 ? 256.0 : 1.0, at::kBFloat16);
    assign(params[0], v);
    bf16_sum += v;
    swa->update({i, 0.1, 0.95});
  }
  swa->apply();
  EXPECT_EQ(params[0].tensor.scalar_type(), at::kBFloat16);
  EXPECT_NEAR(params[0].tensor[0].item<double>(), 3.55, 0.02);                 // bf16 of 3.55 is 3.546875
  EXPECT_NEAR((bf16_sum / 100).to(at::kFloat)[0].item<double>(), 2.56, 0.02);  // what bf16 accumulation gives
}

TEST(SwaTest, NoCheckpointKeepsTheTrainedWeights) {
  at::manual_seed(62);
  at::Tensor trained = at::randn({4, 4});
  std::vector<Param> params = {param("w", at::zeros({4, 4}), ParamRole::kMatrix)};
  auto swa = golf::testing::make_plugin<golf::Averaging>("swa");
  swa->attach(params);
  assign(params[0], trained);
  for (int64_t i = 0; i < 60; ++i) swa->update({i, 0.9, 0.5});  // never below 0.5
  golf::StateDict state;
  swa->save_state(state);
  EXPECT_EQ(state.at("swa/count").item<int64_t>(), 0);
  swa->apply();
  EXPECT_TRUE(at::equal(params[0].tensor, trained));
}

TEST(SwaTest, SaveLoadResumesExactly) {
  at::manual_seed(63);
  std::vector<at::Tensor> trajectory;
  for (int i = 0; i < 8; ++i) trajectory.push_back(at::randn({4, 4}));
  std::vector<Param> params = {param("w", at::zeros({4, 4}), ParamRole::kMatrix)};
  auto swa = golf::testing::make_plugin<golf::Averaging>("swa", "every = 2");
  swa->attach(params);
  for (int64_t i = 0; i < 4; ++i) {
    assign(params[0], trajectory[i]);
    swa->update({i, 0.2, 0.0});
  }
  golf::StateDict state;
  swa->save_state(state);
  EXPECT_EQ(state.at("swa/count").item<int64_t>(), 2);
  for (int64_t i = 4; i < 8; ++i) {
    assign(params[0], trajectory[i]);
    swa->update({i, 0.2, 0.0});
  }
  std::vector<Param> other = {param("w", at::zeros({4, 4}), ParamRole::kMatrix)};
  auto fresh = golf::testing::make_plugin<golf::Averaging>("swa", "every = 2");
  fresh->attach(other);
  fresh->load_state(state);
  for (int64_t i = 4; i < 8; ++i) {
    assign(other[0], trajectory[i]);
    fresh->update({i, 0.2, 0.0});
  }
  swa->apply();
  fresh->apply();
  EXPECT_TRUE(at::equal(params[0].tensor, other[0].tensor));
}

TEST(SwaTest, RejectsBadConfig) {
  golf::testing::expect_rejected<golf::Averaging>("swa", "every = 0", "every");
  golf::testing::expect_rejected<golf::Averaging>("swa", "start_lr_scale = -0.5", "start_lr_scale");
}

}  // namespace
