// plugins/qat/late-qat/late_qat_test.cpp: late-qat's runtime switch, its latch and restore, noisy QAT, and its keys.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"
#include "temp_dir.h"

namespace {

using golf::Param;
using golf::ParamRole;
using golf::Qat;
using golf::Quantizer;

// int8 per row with the clip at the row's max: the grid step of a row is fp16(max|w| / 127).
golf::testing::Instance<Quantizer> quantizer() {
  return golf::testing::make_plugin<Quantizer>("int8", "passthrough_max_numel = 0\nclip_quantile = 1.0");
}

Param param(const std::string& name, const at::Tensor& t, ParamRole role) {
  return {name, t.clone().set_requires_grad(true), role};
}

// A real module on a Param (y = x Wᵀ): its output is what the switch must change, and only once on.
TEST(LateQatTest, ForwardChangesOnlyAfterTheSwitchAndStaysLatched) {
  at::manual_seed(71);
  const std::vector<Param> params = {param("blocks.0.mlp.fc.weight", at::randn({16, 32}) * 2, ParamRole::kMatrix),
                                     param("blocks.0.attn_scale", at::randn({16}), ParamRole::kScalar)};
  const at::Tensor x = at::randn({4, 32});
  const at::Tensor master = params[0].tensor.detach().clone(), scale = params[1].tensor.detach().clone();
  auto q = quantizer();
  auto qat = golf::testing::make_plugin<Qat>("late-qat");  // threshold 0.15
  qat->attach(params, *q);
  const at::Tensor plain = at::linear(x, master);
  const at::Tensor quantized = at::linear(x, q->fake_quantize(params[0], master));
  ASSERT_FALSE(at::allclose(plain, quantized, 1e-4, 1e-4)) << "the grid is too fine to observe";

  auto forward = [&](const golf::StepInfo& info) {
    qat->before_forward(info);
    at::Tensor y = at::linear(x, params[0].tensor);
    y.sum().backward();
    const at::Tensor out = y.detach().clone();
    qat->after_backward(info);
    EXPECT_TRUE(at::equal(params[0].tensor, master)) << "masters not restored bit for bit";
    EXPECT_TRUE(at::equal(params[1].tensor, scale));
    params[0].tensor.mutable_grad() = at::Tensor();
    return out;
  };
  EXPECT_TRUE(at::equal(forward({0, 1.0, 0.0}), plain));
  EXPECT_TRUE(at::equal(forward({1, 0.15, 0.8}), plain));  // not below the threshold
  EXPECT_TRUE(at::allclose(forward({2, 0.149, 0.9}), quantized, 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(forward({3, 0.5, 0.9}), quantized, 1e-6, 1e-6)) << "the switch must latch";

  // The latch is state: a fresh instance loaded from it is on at once.
  golf::StateDict state;
  qat->save_state(state);
  EXPECT_EQ(state.at("late_qat/enabled").item<int64_t>(), 1);
  auto fresh = golf::testing::make_plugin<Qat>("late-qat");
  fresh->attach(params, *q);
  fresh->load_state(state);
  fresh->before_forward({4, 1.0, 0.9});
  EXPECT_TRUE(at::allclose(at::linear(x, params[0].tensor), quantized, 1e-6, 1e-6));
  fresh->after_backward({4, 1.0, 0.9});
  EXPECT_TRUE(at::equal(params[0].tensor, master));
}

// A gradient taken at the quantized point reaches the master (straight-through).
TEST(LateQatTest, GradientIsTakenAtTheQuantizedPoint) {
  at::manual_seed(72);
  const std::vector<Param> params = {param("w", at::randn({8, 8}) * 2, ParamRole::kMatrix)};
  auto q = quantizer();
  auto qat = golf::testing::make_plugin<Qat>("late-qat", "threshold = 2.0");
  qat->attach(params, *q);
  const at::Tensor fq = q->fake_quantize(params[0], params[0].tensor.detach());
  qat->before_forward({0, 1.0, 0.0});
  (params[0].tensor * params[0].tensor).sum().backward();  // d/dw = 2w, at w = fq
  qat->after_backward({0, 1.0, 0.0});
  EXPECT_TRUE(at::allclose(params[0].tensor.grad(), 2 * fq, 1e-6, 1e-6));
}

// Noisy QAT: the matched param moves by at most half its row's step (fp16(max|row|/127) on this grid),
// nearly that much somewhere in each row, is not on the grid, and is restored; the other matrix gets STE.
TEST(LateQatTest, NoiseParamsGetHalfStepUniformNoise) {
  at::manual_seed(73);
  const std::vector<Param> params = {param("blocks.1.mlp.fc.weight", at::randn({8, 512}) * 2, ParamRole::kMatrix),
                                     param("blocks.0.mlp.fc.weight", at::randn({8, 512}) * 2, ParamRole::kMatrix)};
  const at::Tensor w = params[0].tensor.detach().clone(), v = params[1].tensor.detach().clone();
  auto q = quantizer();
  auto qat = golf::testing::make_plugin<Qat>("late-qat", "threshold = 2.0\nnoise_params = \"blocks.1.*\"");
  qat->attach(params, *q);
  qat->before_forward({0, 1.0, 0.0});
  const at::Tensor noise = params[0].tensor.detach() - w;
  const at::Tensor step = (w.abs().amax(1, true) / 127).to(at::kHalf).to(at::kFloat);
  EXPECT_TRUE((noise.abs() <= step / 2 * (1 + 1e-5)).all().item<bool>());
  EXPECT_TRUE((noise.abs().amax(1, true) > step / 2 * 0.9).all().item<bool>());
  EXPECT_LT(noise.mean().abs().item<double>(), 0.05 * step.mean().item<double>());
  EXPECT_FALSE(at::allclose(params[0].tensor, q->fake_quantize(params[0], w)));
  EXPECT_TRUE(at::equal(params[1].tensor, q->fake_quantize(params[1], v)));
  qat->after_backward({0, 1.0, 0.0});
  EXPECT_TRUE(at::equal(params[0].tensor, w));
  EXPECT_TRUE(at::equal(params[1].tensor, v));
}

TEST(LateQatTest, RolesKeyChoosesWhatIsQuantized) {
  at::manual_seed(74);
  const std::vector<Param> params = {param("w", at::randn({8, 8}) * 2, ParamRole::kMatrix),
                                     param("gate", at::randn({4, 8}) * 2, ParamRole::kGate)};
  const at::Tensor w = params[0].tensor.detach().clone(), gate = params[1].tensor.detach().clone();
  auto q = quantizer();
  auto qat = golf::testing::make_plugin<Qat>("late-qat", "threshold = 2.0\nroles = \"gate\"");
  qat->attach(params, *q);
  qat->before_forward({0, 1.0, 0.0});
  EXPECT_TRUE(at::equal(params[0].tensor, w));
  EXPECT_TRUE(at::equal(params[1].tensor, q->fake_quantize(params[1], gate)));
  qat->after_backward({0, 1.0, 0.0});
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The switch is logged with its step and lr_scale, and the hooks' time lands in metrics.jsonl as
// late_qat/ms once on (through the host's own log and metrics sink).
TEST(LateQatTest, LogsTheSwitchAndRecordsItsCost) {
  golf::testing::TempDir dir;
  const std::vector<Param> params = {param("w", at::randn({8, 8}), ParamRole::kMatrix)};
  auto q = quantizer();
  auto qat = golf::testing::make_plugin<Qat>("late-qat");
  auto& log = dynamic_cast<golf::host::RunLog&>(qat.context().log());
  auto& metrics = dynamic_cast<golf::host::MetricsSink&>(qat.context().metrics());
  log.set_quiet(true);
  log.open(dir / "log.txt");
  metrics.open(dir / "metrics.jsonl");
  qat->attach(params, *q);
  for (int64_t step = 6; step < 8; ++step) {
    const golf::StepInfo info{step, step == 6 ? 0.2 : 0.125, 0.9};
    qat->before_forward(info);
    qat->after_backward(info);
    metrics.write(step, {});
  }
  EXPECT_NE(read_file(dir / "log.txt").find("late-qat: enabled at step 7 (lr_scale 0.125"), std::string::npos)
      << read_file(dir / "log.txt");
  const std::string jsonl = read_file(dir / "metrics.jsonl");
  const size_t second = jsonl.find("\"step\": 7");
  ASSERT_NE(second, std::string::npos) << jsonl;
  EXPECT_EQ(jsonl.find("late_qat/ms"), jsonl.find("late_qat/ms", second)) << "recorded before the switch: " << jsonl;
  EXPECT_NE(jsonl.find("late_qat/ms", second), std::string::npos) << jsonl;
}

TEST(LateQatTest, RejectsBadConfig) {
  golf::testing::expect_rejected<Qat>("late-qat", "threshold = -0.1", "threshold");
  golf::testing::expect_rejected<Qat>("late-qat", "roles = \"matrix, weights\"", "roles");
}

}  // namespace
