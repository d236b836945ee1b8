// plugins/quantizer/awq/awq_test.cpp: AWQ against RTN on outlier channels, scales from activations, AWQ-lite in its RTN path.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "../grid/grid_testing.h"

namespace {

using namespace grid_testing;

// Inputs whose channels `outliers` are 25 times the others.
at::Tensor outlier_inputs(int64_t n, int64_t in, const std::vector<int64_t>& outliers) {
  at::Tensor x = at::randn({n, in});
  for (int64_t c : outliers) x.select(1, c).mul_(25);
  return x;
}

std::vector<int64_t> top_channels(const at::Tensor& col_scale, int64_t k) {
  const at::Tensor idx = std::get<0>(std::get<1>(col_scale.to(at::kFloat).topk(k)).sort()).contiguous();
  return std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + k);
}

// A few outlier input channels dominate the output error; scaling them up before rounding (and back
// after) lowers it well below RTN's on the same widths. The stored scales peak at those channels.
TEST(AwqTest, BeatsRtnOnOutlierChannels) {
  at::manual_seed(41);
  const std::vector<int64_t> outliers = {3, 40, 77, 100};
  const at::Tensor x = outlier_inputs(4096, 128, outliers);
  const golf::Calibration cal = {{"w", stats_of(x)}};
  const at::Tensor H = x.t().matmul(x) / 4096.0;
  const Param p{"w", at::randn({96, 128}) * 0.05, ParamRole::kMatrix};
  for (int bits : {4, 6}) {
    SCOPED_TRACE(bits);
    const std::string toml = "matrix_bits = " + std::to_string(bits) + "\npassthrough_numel = 0";
    auto awq = make("awq", toml);
    const QuantizedTensor a = awq->quantize({p}, cal).at(0), r = quantize_one("rtn", p, toml);
    ASSERT_EQ(a.scheme, "int" + std::to_string(bits) + "_awq");
    EXPECT_EQ(part(a, "col_scale").scalar_type(), at::kHalf);
    EXPECT_EQ(top_channels(part(a, "col_scale"), 4), outliers);
    const double ea = hessian_error(p.tensor, awq->dequantize(a), H), er = hessian_error(p.tensor, awq->dequantize(r), H);
    EXPECT_LT(ea, 0.7 * er);
    EXPECT_NEAR(a.report.hessian_error, ea, 1e-6 * ea);
    EXPECT_NE(a.report.scales.find(", awq alpha="), std::string::npos) << a.report.scales;
  }
}

// The scales come from the activations, not the weights: large weight columns elsewhere do not move them.
TEST(AwqTest, ScalesFollowActivationsNotWeights) {
  at::manual_seed(42);
  const at::Tensor x = outlier_inputs(4096, 128, {50, 60});
  at::Tensor w = at::randn({64, 128});
  w.narrow(1, 10, 1).mul_(10);
  w.narrow(1, 20, 1).mul_(10);
  const QuantizedTensor a = quantize_one("awq", {"w", w, ParamRole::kMatrix}, "passthrough_numel = 0", {{"w", stats_of(x)}});
  ASSERT_TRUE(has_part(a, "col_scale"));
  EXPECT_EQ(top_channels(part(a, "col_scale"), 2), (std::vector<int64_t>{50, 60}));
}

// Values and steps describe W·diag(s): within half a step of it inside the clip range; Ŵ = q·S / s.
TEST(AwqTest, RoundTripBoundOnTheScaledMatrix) {
  at::manual_seed(43);
  const at::Tensor x = outlier_inputs(2048, 128, {5, 6});
  const Param p{"w", at::randn({64, 128}), ParamRole::kMatrix};
  auto awq = make("awq", "passthrough_numel = 0\ngroup_size = 32");
  const QuantizedTensor a = awq->quantize({p}, {{"w", stats_of(x)}}).at(0);
  ASSERT_EQ(a.scheme, "int6_g32_awq");
  const at::Tensor s = part(a, "col_scale").to(at::kFloat), S = steps(a, 32), q = part(a, "q").to(at::kFloat);
  const at::Tensor scaled = p.tensor * s;
  const at::Tensor inside = scaled.abs() <= 31 * S;
  EXPECT_TRUE(((scaled - q * S).abs().masked_select(inside) <= S.masked_select(inside) * (0.5 + 1e-4)).all().item<bool>());
  EXPECT_TRUE(at::allclose(awq->dequantize(a), q * S / s, 1e-6, 1e-7));
}

// alpha_grid = 1 tries α = 0 only: plain RTN, no per-channel scales stored.
TEST(AwqTest, AlphaZeroIsRtn) {
  at::manual_seed(44);
  const Param p{"w", at::randn({64, 128}), ParamRole::kMatrix};
  const QuantizedTensor a = quantize_one("awq", p, "passthrough_numel = 0\nalpha_grid = 1", {{"w", stats_of(outlier_inputs(1024, 128, {1}))}});
  const QuantizedTensor r = quantize_one("rtn", p, "passthrough_numel = 0");
  EXPECT_EQ(a.scheme, "int6");
  EXPECT_TRUE(at::equal(part(a, "q"), part(r, "q")));
  EXPECT_EQ(a.report.scales, "sdclip k=12.85, awq alpha=0");
}

// AWQ-lite in the RTN path: the hottest 64-column group is rounded on s_hi = k·std_row/127 within half
// of that step; the rest keeps ±7 at int4.
TEST(AwqTest, AwqLiteGroupsInTheRtnPath) {
  at::manual_seed(45);
  at::Tensor x = at::randn({2048, 256});
  x.narrow(1, 64, 64).mul_(20);
  const Param p{"w", at::randn({64, 256}), ParamRole::kMatrix};
  const QuantizedTensor a = quantize_one("awq", p, "passthrough_numel = 0\nmatrix_bits = 4\nmatrix_k = 6.0\nalpha_grid = 1\nawq_lite_groups = 1",
                                         {{"w", stats_of(x)}});
  ASSERT_EQ(a.scheme, "int4_hi8x64");
  EXPECT_EQ(part(a, "hi_start")[0].item<int>(), 64);
  const at::Tensor hi = part(a, "hi_scale").to(at::kFloat);
  EXPECT_TRUE(at::equal(part(a, "hi_scale").squeeze(1), ((p.tensor.std({1}, true, false) * 6.0) / 127.0).to(at::kHalf)));
  const at::Tensor q = part(a, "q"), group = p.tensor.narrow(1, 64, 64);
  EXPECT_GT(q.narrow(1, 64, 64).abs().max().item<int>(), 7);
  EXPECT_LE(q.narrow(1, 0, 64).abs().max().item<int>(), 7);
  const at::Tensor back = make("awq")->dequantize(a).narrow(1, 64, 64);
  const at::Tensor inside = group.abs() <= 127 * hi;
  EXPECT_TRUE(((back - group).abs().masked_select(inside) <= (hi * (0.5 + 1e-4)).expand_as(group).masked_select(inside)).all().item<bool>());
}

TEST(AwqTest, RejectsBadKeys) {
  golf::testing::expect_rejected<golf::Quantizer>("awq", "alpha_grid = 0", "alpha_grid");
  golf::testing::expect_rejected<golf::Quantizer>("awq", "calibration_source = \"val\"", "calibration_source");
  golf::testing::expect_rejected<golf::Quantizer>("awq", "awq_lite_bits = 1", "awq_lite_bits");
  golf::testing::expect_rejected<golf::Quantizer>("awq", "matrix_bits = 0", "matrix_bits");
  EXPECT_EQ(make("awq")->calibration().batches, 64);
}

}  // namespace
