// plugins/quantizer/rtn/rtn_test.cpp: the rtn quantizer: grid bounds at every width, each scale rule recomputed independently.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "../grid/grid_testing.h"

namespace {

using namespace grid_testing;

double fp16(double x) { return at::scalar_tensor(x, at::kFloat).to(at::kHalf).item<double>(); }

TEST(RtnTest, SharedFormatAndNoCalibration) {
  auto rtn = make("rtn");
  EXPECT_EQ(rtn->format(), "golf_grid_v1");
  EXPECT_EQ(rtn->calibration().batches, 0);
}

// Every width 2..8, per row and per group (48 leaves a short last group), every scale rule: values
// within ±R, Ŵ = q·s exactly, |w − ŵ| <= s/2 inside the clip range (|w| <= R·s) and ±R·s beyond it.
TEST(RtnTest, RoundTripWithinHalfAStepAtEveryWidthAndGroup) {
  at::manual_seed(11);
  at::Tensor w = at::randn({48, 160}) * at::logspace(-2, 0.5, 48).unsqueeze(1);
  w[3][7].fill_(40.0);  // outliers, clipped by percentile and SDClip
  w[30][100].fill_(-25.0);
  for (int bits = 2; bits <= 8; ++bits) {
    for (int64_t group : {0, 32, 48}) {
      for (const std::string scales : {"rowmax", "percentile", "sdclip"}) {
        SCOPED_TRACE("bits " + std::to_string(bits) + " group " + std::to_string(group) + " " + scales);
        const std::string toml = "matrix_bits = " + std::to_string(bits) + "\ngroup_size = " + std::to_string(group) +
                                 "\nscales = \"" + scales + "\"\npassthrough_numel = 0";
        auto rtn = make("rtn", toml);
        const QuantizedTensor q = rtn->quantize({{"w", w, ParamRole::kMatrix}}, {}).at(0);
        EXPECT_EQ(q.scheme, "int" + std::to_string(bits) + (group ? "_g" + std::to_string(group) : ""));
        EXPECT_EQ(q.report.bits, bits);
        const at::Tensor values = part(q, "q").to(at::kFloat), S = steps(q, group);
        const double R = range(bits);
        EXPECT_LE(values.abs().max().item<double>(), R);
        const at::Tensor back = rtn->dequantize(q);
        ASSERT_TRUE(at::equal(back, values * S));
        const at::Tensor inside = w.abs() <= R * S;
        const at::Tensor err = (back - w).abs();
        EXPECT_TRUE((err.masked_select(inside) <= S.masked_select(inside) * (0.5 + 1e-4)).all().item<bool>());
        EXPECT_TRUE(at::equal(back.masked_select(~inside), (w.sign() * R * S).masked_select(~inside)));
        EXPECT_NEAR(q.report.rel_error, ((back - w).norm() / w.norm()).item<double>(), 1e-6);
      }
    }
  }
}

// §5.5: s = k·std(row)/R (unbiased std), fp16. Matrices k = 12.85 at int6, embeddings k = 20 at int8.
TEST(RtnTest, SdClipScaleIsKStdOverR) {
  at::manual_seed(12);
  const at::Tensor w = at::randn({64, 300}) * 0.05;
  const QuantizedTensor m = quantize_one("rtn", {"blocks.0.mlp.fc.weight", w, ParamRole::kMatrix}, "passthrough_numel = 0");
  EXPECT_TRUE(at::equal(part(m, "scale").squeeze(1), ((w.std({1}, true, false) * 12.85) / 31.0).to(at::kHalf)));
  EXPECT_EQ(m.report.scales, "sdclip k=12.85");
  const QuantizedTensor e = quantize_one("rtn", {"tok_emb.weight", w, ParamRole::kEmbedding}, "passthrough_numel = 0");
  EXPECT_EQ(e.scheme, "int8");
  EXPECT_TRUE(at::equal(part(e, "scale").squeeze(1), ((w.std({1}, true, false) * 20.0) / 127.0).to(at::kHalf)));
  EXPECT_EQ(e.report.scales, "sdclip k=20");
}

// §5.2: s = max(rowmax/R, 1e-12) in fp16; q = round(w/s) with the fp16 scale.
TEST(RtnTest, RowmaxScaleAndValues) {
  at::manual_seed(13);
  const at::Tensor w = at::randn({32, 256});
  const QuantizedTensor q = quantize_one("rtn", {"w", w, ParamRole::kMatrix}, "scales = \"rowmax\"\npassthrough_numel = 0");
  const at::Tensor s = (w.abs().amax(1) / 31.0).clamp_min(1e-12).to(at::kHalf);
  EXPECT_TRUE(at::equal(part(q, "scale").squeeze(1), s));
  EXPECT_TRUE(at::equal(part(q, "q"), at::round(w / s.to(at::kFloat).unsqueeze(1)).to(at::kChar)));
  EXPECT_EQ(part(q, "q").abs().amax(1).min().item<int>(), 31);  // every row reaches the range
  EXPECT_EQ(q.report.scales, "rowmax");
}

// §5.3 as its code does: one percentile per matrix, the candidate whose rounding has the lowest
// whole-matrix MSE; s = max(clip/R, 1/R) in fp16. Recomputed here for every candidate.
TEST(RtnTest, PercentileSearchPicksTheMseBestCandidate) {
  at::manual_seed(14);
  const at::Tensor w = at::randn({32, 4096}) * at::exp(at::randn({32, 4096})) * 10;  // heavy tails
  const QuantizedTensor q =
      quantize_one("rtn", {"w", w, ParamRole::kMatrix}, "matrix_bits = 4\nscales = \"percentile\"\npassthrough_numel = 0");
  double best = std::numeric_limits<double>::infinity(), best_p = 0;
  at::Tensor best_scale;
  for (double p : {0.999, 0.9995, 0.9999, 0.99999, 1.0}) {
    const at::Tensor clip = p < 1 ? at::quantile(w.abs(), p, 1) : w.abs().amax(1);
    const at::Tensor s = (clip / 7.0).clamp_min(1.0 / 7.0).to(at::kHalf).to(at::kFloat).unsqueeze(1);
    const double mse = (w - at::clamp(at::round(w / s), -7, 7) * s).pow(2).mean().item<double>();
    if (mse < best) best = mse, best_p = p, best_scale = s.squeeze(1).to(at::kHalf);
  }
  ASSERT_LT(best_p, 1.0);  // clipping pays on these rows, so the search matters
  EXPECT_TRUE(at::equal(part(q, "scale").squeeze(1), best_scale));
  std::ostringstream text;
  text << "percentile p=" << best_p;
  EXPECT_EQ(q.report.scales, text.str());
}

// group_size = 32 on 100 columns: 4 scales per row, the last over 4 columns, each from its own columns.
TEST(RtnTest, GroupScalesComeFromTheirColumns) {
  at::manual_seed(15);
  const at::Tensor w = at::randn({16, 100}) * at::linspace(0.1, 4, 100);
  const QuantizedTensor q = quantize_one("rtn", {"w", w, ParamRole::kMatrix}, "group_size = 32\npassthrough_numel = 0");
  ASSERT_EQ(part(q, "scale").sizes(), at::IntArrayRef({16, 4}));
  for (int64_t g = 0; g < 4; ++g) {
    const at::Tensor cols = w.narrow(1, 32 * g, std::min<int64_t>(32, 100 - 32 * g));
    EXPECT_TRUE(at::equal(part(q, "scale").select(1, g), ((cols.std({1}, true, false) * 12.85) / 31.0).to(at::kHalf))) << g;
  }
}

TEST(RtnTest, FakeQuantizeEqualsDequantizeOfQuantize) {
  at::manual_seed(16);
  const std::vector<Param> params = {
      {"blocks.0.attn.c_q.weight", at::randn({512, 256}) * 0.03, ParamRole::kMatrix},
      {"tok_emb.weight", at::randn({1024, 128}).to(at::kBFloat16), ParamRole::kTiedEmbedding},
      {"bank", at::randn({3, 128, 256}), ParamRole::kOther},
      {"blocks.0.attn_scale", at::randn({256}), ParamRole::kScalar},
      {"small", at::randn({64, 64}), ParamRole::kMatrix},
      {"blocks.0.attn_gate.weight", at::randn({8, 256}), ParamRole::kGate},
      {"ids", at::arange(100, at::kLong), ParamRole::kOther}};
  for (const std::string toml : {"", "scales = \"percentile\"\ngroup_size = 32", "scales = \"rowmax\"\nmatrix_bits = 3"}) {
    SCOPED_TRACE(toml);
    auto rtn = make("rtn", toml);
    const std::vector<QuantizedTensor> stored = rtn->quantize(params, {});
    for (size_t i = 0; i < params.size(); ++i) {
      const at::Tensor fake = rtn->fake_quantize(params[i], params[i].tensor);
      EXPECT_TRUE(at::equal(fake, rtn->dequantize(stored[i]))) << params[i].name;
    }
  }
}

// Where the clip of a quantized row is a fixed point (its max reaches ±R·s: rowmax, and the
// percentile search, whose p = 1 candidate then has zero error), a quantized weight is on its own
// grid: fake_quantize is exactly idempotent, at every width and group size.
TEST(RtnTest, FakeQuantizeIsIdempotentForRowmaxAndPercentile) {
  at::manual_seed(17);
  const Param p{"w", at::randn({40, 200}) * at::logspace(-2, 1, 40).unsqueeze(1), ParamRole::kMatrix};
  for (int bits = 2; bits <= 8; ++bits) {
    for (const std::string scales : {"rowmax", "percentile"}) {
      for (int64_t group : {0, 64}) {
        SCOPED_TRACE(scales + " int" + std::to_string(bits) + " group " + std::to_string(group));
        auto rtn = make("rtn", "passthrough_numel = 0\nscales = \"" + scales + "\"\nmatrix_bits = " + std::to_string(bits) +
                                   "\ngroup_size = " + std::to_string(group));
        const at::Tensor f = rtn->fake_quantize(p, p.tensor);
        EXPECT_TRUE(at::equal(rtn->fake_quantize(p, f), f));
      }
    }
  }
}

void expect_rejected(const std::string& toml, const std::string& key) {
  golf::testing::expect_rejected<golf::Quantizer>("rtn", toml, key);
}

TEST(RtnTest, RejectsBadKeys) {
  for (const std::string key : {"matrix_bits", "embedding_bits", "head_bits", "gate_bits"}) {
    expect_rejected(key + " = 1", key);
    expect_rejected(key + " = 9", key);
  }
  expect_rejected("matrix_k = 0.0", "matrix_k");
  expect_rejected("embedding_k = -1.0", "embedding_k");
  expect_rejected("scales = \"absmax\"", "scales");
  expect_rejected("group_size = -1", "group_size");
  expect_rejected("passthrough_numel = -1", "passthrough_numel");
  expect_rejected("lqer_rank = -1", "lqer_rank");
  expect_rejected("lqer_top = -2", "lqer_top");
  expect_rejected("overrides = \"w=9\"", "overrides");
}

}  // namespace
