// plugins/quantizer/int8/int8_test.cpp: the int8 quantizer against an independent recomputation of §4.8.
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
using golf::QuantizedTensor;

constexpr double kClipQ = 0.9999984;

Param param(const std::string& name, const at::Tensor& t, ParamRole role) { return {name, t, role}; }

QuantizedTensor quantize_one(const Param& p, const std::string& toml = "") {
  auto int8 = golf::testing::make_plugin<golf::Quantizer>("int8", toml);
  std::vector<QuantizedTensor> q = int8->quantize({p}, {});
  EXPECT_EQ(q.size(), 1u);
  return q.at(0);
}

at::Tensor roundtrip(const Param& p) {
  auto int8 = golf::testing::make_plugin<golf::Quantizer>("int8");
  return int8->dequantize(int8->quantize({p}, {}).at(0));
}

const at::Tensor& part(const QuantizedTensor& q, const std::string& name) {
  for (const auto& [n, t] : q.parts) {
    if (n == name) return t;
  }
  throw std::runtime_error("no part " + name);
}

// torch.quantile's linear interpolation on |values|, recomputed the way ATen does it for fp32 input:
// q, the rank and the lerp weight are fp32 (the rank's rounding moves the clip visibly on long rows).
double quantile_abs(const at::Tensor& values, double q) {
  at::Tensor sorted = std::get<0>(values.abs().flatten().to(at::kFloat).sort());
  const float rank = static_cast<float>(q) * static_cast<float>(sorted.numel() - 1);
  const auto below = static_cast<int64_t>(rank);
  const int64_t above = static_cast<int64_t>(std::ceil(rank));
  const float weight = rank - static_cast<float>(below);
  const float lo = sorted[below].item<float>(), hi = sorted[above].item<float>();
  return weight < 0.5f ? lo + weight * (hi - lo) : hi - (hi - lo) * (1 - weight);
}

double fp16(double x) { return at::scalar_tensor(x, at::kFloat).to(at::kHalf).item<double>(); }

TEST(Int8Test, FormatIsTheBaselines) {
  EXPECT_EQ(golf::testing::make_plugin<golf::Quantizer>("int8")->format(), "int8_clean_per_row_v1");
}

// Per row: scale = fp16(max(clip/127, 1/127)); every unclipped entry comes back within half a step
// (plus the fp16 rounding of the scale times |q| <= 127). Row magnitudes span 0.01..2, so both
// sides of the 1/127 floor are covered.
TEST(Int8Test, RowRoundtripWithinHalfAStep) {
  at::manual_seed(31);
  at::Tensor w = at::randn({256, 512}) * at::logspace(-2, std::log10(2.0), 256).unsqueeze(1);
  QuantizedTensor q = quantize_one(param("blocks.0.mlp.fc.weight", w, ParamRole::kMatrix));
  ASSERT_EQ(q.scheme, "int8_row");
  const at::Tensor& values = part(q, "q");
  const at::Tensor& scale = part(q, "scale");
  EXPECT_EQ(values.scalar_type(), at::kChar);
  EXPECT_EQ(scale.scalar_type(), at::kHalf);
  ASSERT_EQ(scale.sizes(), at::IntArrayRef({256}));
  at::Tensor deq = golf::testing::make_plugin<golf::Quantizer>("int8")->dequantize(q);
  ASSERT_EQ(deq.sizes(), w.sizes());
  ASSERT_EQ(deq.scalar_type(), at::kFloat);
  for (int64_t r = 0; r < 256; r += 15) {
    const double clip = quantile_abs(w[r], kClipQ);
    const double s32 = std::max(clip / 127, 1.0 / 127);
    const double s16 = scale[r].item<double>();
    EXPECT_NEAR(s16, fp16(s32), 1e-6 * s32) << "row " << r;
    at::Tensor inside = w[r].abs() <= clip;
    const double bound = s32 / 2 + 127 * std::abs(s16 - s32) + 1e-7;
    at::Tensor err = (deq[r] - w[r]).abs().masked_select(inside);
    EXPECT_LE(err.max().item<double>(), bound) << "row " << r;
    // q = round-half-even(clamp(w)/s32) with the fp32 scale (dividing by the fp16 one moves many q
    // by one); entries within 1e-4 of a tie are left out, where fp32 and double arithmetic may differ.
    at::Tensor ratio = w[r].to(at::kDouble).clamp(-clip, clip) / s32;
    at::Tensor tie_distance = ((ratio - ratio.floor()) - 0.5).abs();
    at::Tensor clear = tie_distance > 1e-4;
    at::Tensor expected_q = ratio.round().clamp(-127, 127);
    EXPECT_TRUE(at::equal(values[r].to(at::kDouble).masked_select(clear), expected_q.masked_select(clear))) << "row " << r;
    // Exactly q * fp16 scale, as the reference's dequantization.
    EXPECT_TRUE(at::equal(deq[r], values[r].to(at::kFloat) * scale[r].to(at::kFloat)));
  }
  // Above the floor (std >= 1/127·(clip/std ~ 4.5)) the error is about 1% of the row's norm.
  EXPECT_LT(((deq[255] - w[255]).norm() / w[255].norm()).item<double>(), 0.01);
}

// A row whose two largest |w| are 127 has clip 127 and scale exactly 1, so w/scale = w: the halves
// show torch.round's half-to-even (half away from zero would give 1, 3, -3, 5).
TEST(Int8Test, RoundsHalfToEven) {
  at::Tensor w = at::zeros({2, 40000});
  const std::vector<float> halves = {0.5f, 2.5f, -2.5f, 4.5f, -0.5f, 1.5f};
  const std::vector<int> expected = {0, 2, -2, 4, 0, 2};
  for (size_t i = 0; i < halves.size(); ++i) w[0][i].fill_(halves[i]);
  w[0][100].fill_(127.0f);
  w[0][101].fill_(-127.0f);
  w[1][0].fill_(1.0f);
  at::Tensor q = part(quantize_one(param("w", w, ParamRole::kMatrix)), "q");
  for (size_t i = 0; i < halves.size(); ++i) EXPECT_EQ(q[0][i].item<int>(), expected[i]) << "w = " << halves[i];
}

// With 40,000 columns the 0.9999984 quantile sits between the two largest |w|, so a lone outlier is
// clipped: it saturates at ±127 and comes back as the clip value, not itself.
TEST(Int8Test, ClippedEntriesSaturate) {
  at::manual_seed(32);
  at::Tensor w = at::rand({2, 40000}) * 2 - 1;
  w[0][7].fill_(100.0f);
  w[1][9].fill_(-50.0f);
  QuantizedTensor q = quantize_one(param("w", w, ParamRole::kMatrix));
  const at::Tensor& values = part(q, "q");
  const at::Tensor& scale = part(q, "scale");
  EXPECT_EQ(values[0][7].item<int>(), 127);
  EXPECT_EQ(values[1][9].item<int>(), -127);
  const double clip0 = quantile_abs(w[0], kClipQ);
  ASSERT_LT(clip0, 99.0);  // the outlier really is clipped
  EXPECT_NEAR(scale[0].item<double>(), fp16(clip0 / 127), 1e-3);
  at::Tensor deq = golf::testing::make_plugin<golf::Quantizer>("int8")->dequantize(q);
  EXPECT_NEAR(deq[0][7].item<double>(), 127 * scale[0].item<double>(), 1e-4);
  EXPECT_NEAR(deq[1][9].item<double>(), -127 * scale[1].item<double>(), 1e-4);
}

// A row of tiny values keeps the 1/127 floor: scale fp16(1/127) and every q is 0.
TEST(Int8Test, TinyRowHitsTheScaleFloor) {
  at::manual_seed(33);
  at::Tensor w = at::randn({300, 300});
  w[5].copy_(at::randn({300}) * 1e-3);
  QuantizedTensor q = quantize_one(param("w", w, ParamRole::kMatrix));
  EXPECT_EQ(part(q, "scale")[5].item<double>(), fp16(1.0 / 127));
  EXPECT_EQ(part(q, "q")[5].abs().max().item<int>(), 0);
  EXPECT_GT(part(q, "q")[4].abs().max().item<int>(), 100);
}

TEST(Int8Test, PassthroughKeepsControlTensorsFp32AndOthersFp16) {
  at::manual_seed(34);
  at::Tensor gain = at::randn({512}) * 1.2345;
  QuantizedTensor q = quantize_one(param("blocks.0.attn_scale", gain, ParamRole::kScalar));
  EXPECT_EQ(q.scheme, "passthrough");
  EXPECT_EQ(part(q, "data").scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(roundtrip(param("blocks.0.attn_scale", gain, ParamRole::kScalar)), gain));

  at::Tensor small = at::randn({64, 64});  // 4,096 elements
  QuantizedTensor qs = quantize_one(param("small", small, ParamRole::kMatrix));
  EXPECT_EQ(qs.scheme, "passthrough");
  EXPECT_EQ(part(qs, "data").scalar_type(), at::kHalf);
  at::Tensor back = roundtrip(param("small", small, ParamRole::kMatrix));
  EXPECT_EQ(back.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(back, small.to(at::kHalf).to(at::kFloat)));
  EXPECT_FALSE(at::equal(back, small));  // fp16 rounding did happen

  at::Tensor emb = at::randn({256, 256}).to(at::kBFloat16);  // exactly 65,536: still passthrough
  at::Tensor emb_back = roundtrip(param("tok_emb.weight", emb, ParamRole::kEmbedding));
  EXPECT_EQ(emb_back.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(emb_back, emb.to(at::kHalf).to(at::kBFloat16)));
}

TEST(Int8Test, NonFloatTensorsStoredAsIs) {
  at::Tensor ids = at::arange(100000, at::kLong);
  QuantizedTensor q = quantize_one(param("ids", ids, ParamRole::kScalar));
  EXPECT_EQ(q.scheme, "passthrough");
  EXPECT_EQ(part(q, "data").scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(roundtrip(param("ids", ids, ParamRole::kScalar)), ids));
}

// Tensors of another rank get one fp32 scale, clip/127 with the clip over the whole tensor.
TEST(Int8Test, OtherRanksUseOneFp32Scale) {
  at::manual_seed(35);
  at::Tensor w = at::randn({4, 128, 256}).to(at::kBFloat16);
  QuantizedTensor q = quantize_one(param("w3", w, ParamRole::kMatrix));
  ASSERT_EQ(q.scheme, "int8_tensor");
  const at::Tensor& scale = part(q, "scale");
  EXPECT_EQ(scale.scalar_type(), at::kFloat);
  EXPECT_EQ(scale.dim(), 0);
  const double clip = quantile_abs(w.to(at::kFloat), kClipQ);
  EXPECT_NEAR(scale.item<double>(), clip / 127, 1e-6 * clip);
  at::Tensor deq = roundtrip(param("w3", w, ParamRole::kMatrix));
  EXPECT_EQ(deq.scalar_type(), at::kBFloat16);
  EXPECT_EQ(deq.sizes(), w.sizes());
  // Unclipped entries: half a step plus the bf16 rounding of the result (half an ulp <= 2^-8 relative).
  at::Tensor w32 = w.to(at::kFloat);
  at::Tensor err = (deq.to(at::kFloat) - w32).abs().masked_select(w32.abs() <= clip);
  EXPECT_LE(err.max().item<double>(), clip / 127 / 2 + clip / 256);
}

TEST(Int8Test, QuantizeDoesNotModifyParams) {
  at::manual_seed(36);
  at::Tensor w = at::randn({300, 300}).set_requires_grad(true);
  at::Tensor before = w.detach().clone();
  quantize_one(param("w", w, ParamRole::kMatrix));
  EXPECT_TRUE(at::equal(w, before));
}

TEST(Int8Test, CorruptedPartsThrow) {
  at::manual_seed(37);
  auto int8 = golf::testing::make_plugin<golf::Quantizer>("int8");
  std::vector<QuantizedTensor> good = int8->quantize({param("w", at::randn({300, 300}), ParamRole::kMatrix),
                                                      param("g", at::randn({16}), ParamRole::kScalar),
                                                      param("w3", at::randn({3, 200, 200}), ParamRole::kMatrix)},
                                                     {});
  ASSERT_NO_THROW(int8->dequantize(good[0]));
  std::vector<std::pair<std::string, QuantizedTensor>> bad;
  auto with = [&](size_t i, const std::string& what, auto change) {
    QuantizedTensor q = good[i];
    change(q);
    bad.emplace_back(what, q);
  };
  with(0, "missing scale", [](QuantizedTensor& q) { q.parts.pop_back(); });
  with(0, "no parts", [](QuantizedTensor& q) { q.parts.clear(); });
  with(0, "renamed part", [](QuantizedTensor& q) { q.parts[0].first = "values"; });
  with(0, "q as int16", [](QuantizedTensor& q) { q.parts[0].second = q.parts[0].second.to(at::kShort); });
  with(0, "scale as fp32", [](QuantizedTensor& q) { q.parts[1].second = q.parts[1].second.to(at::kFloat); });
  with(0, "short scale", [](QuantizedTensor& q) { q.parts[1].second = q.parts[1].second.narrow(0, 0, 299).contiguous(); });
  with(0, "truncated q", [](QuantizedTensor& q) { q.parts[0].second = q.parts[0].second.narrow(0, 0, 299).contiguous(); });
  with(0, "nan scale", [](QuantizedTensor& q) { q.parts[1].second = q.parts[1].second.clone().fill_(NAN); });
  with(0, "undefined part", [](QuantizedTensor& q) { q.parts[0].second = at::Tensor(); });
  with(0, "wrong shape", [](QuantizedTensor& q) { q.shape = {300, 301}; });
  with(0, "negative shape", [](QuantizedTensor& q) { q.shape = {-300, 300}; });
  with(0, "integer dtype", [](QuantizedTensor& q) { q.dtype = at::kInt; });
  with(0, "unknown scheme", [](QuantizedTensor& q) { q.scheme = "int4_row"; });
  with(1, "passthrough wrong shape", [](QuantizedTensor& q) { q.shape = {17}; });
  with(1, "passthrough extra part", [](QuantizedTensor& q) { q.parts.push_back(q.parts[0]); });
  with(2, "tensor scale not 0-D", [](QuantizedTensor& q) { q.parts[1].second = q.parts[1].second.reshape({1}); });
  with(2, "tensor scale zero", [](QuantizedTensor& q) { q.parts[1].second = at::zeros({}, at::kFloat); });
  for (const auto& [what, q] : bad) EXPECT_THROW(int8->dequantize(q), std::runtime_error) << what;
}

// A rejected value is an error naming its key.
void expect_rejected(const std::string& toml, const std::string& key) {
  golf::testing::expect_rejected<golf::Quantizer>("int8", toml, key);
}

TEST(Int8Test, RejectsBadConfig) {
  expect_rejected("clip_quantile = 0.0", "clip_quantile");
  expect_rejected("clip_quantile = 1.5", "clip_quantile");
  expect_rejected("passthrough_max_numel = -1", "passthrough_max_numel");
  QuantizedTensor q = quantize_one(param("small", at::randn({64, 64}), ParamRole::kMatrix), "passthrough_max_numel = 1000");
  EXPECT_EQ(q.scheme, "int8_row");
}

}  // namespace
