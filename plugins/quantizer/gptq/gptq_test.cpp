// plugins/quantizer/gptq/gptq_test.cpp: GPTQ (§5.4) against RTN and an independent solve; AWQ-lite; a calibrated gpt model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../grid/grid_testing.h"
#include "calibrate.h"
#include "shard.h"
#include "temp_dir.h"

namespace {

using namespace grid_testing;

TEST(GptqTest, CalibrationRequestFollowsTheKeys) {
  const golf::CalibrationRequest d = make("gptq")->calibration();
  EXPECT_EQ(d.batches, 64);
  EXPECT_EQ(d.batch_tokens, 0);
  EXPECT_EQ(d.source, golf::CalibrationSource::kTrain);
  EXPECT_EQ(d.reserve_seconds, 12.0);
  const golf::CalibrationRequest c =
      make("gptq", "calibration_batches = 16\ncalibration_batch_tokens = 4096\ncalibration_source = \"generated\"\nreserve_seconds = 4")
          ->calibration();
  EXPECT_EQ(c.batches, 16);
  EXPECT_EQ(c.batch_tokens, 4096);
  EXPECT_EQ(c.source, golf::CalibrationSource::kGenerated);
  EXPECT_EQ(c.reserve_seconds, 4.0);
  EXPECT_EQ(make("gptq")->format(), make("rtn")->format());
}

// On inputs with strongly correlated columns GPTQ's error feedback pays: at the same width and on the
// same scales its Hessian-weighted error is far below RTN's.
TEST(GptqTest, BeatsRtnInHessianErrorOnCorrelatedInputs) {
  at::manual_seed(31);
  const at::Tensor x = correlated_inputs(4096, 128);
  const golf::Calibration cal = {{"w", stats_of(x)}};
  const at::Tensor H = x.t().matmul(x) / 4096.0;
  const Param p{"w", at::randn({96, 128}) * 0.05, ParamRole::kMatrix};
  for (int bits : {3, 4, 6, 8}) {
    SCOPED_TRACE(bits);
    const std::string toml = "matrix_bits = " + std::to_string(bits) + "\npassthrough_numel = 0";
    auto gptq = make("gptq", toml);
    const QuantizedTensor g = gptq->quantize({p}, cal).at(0), r = quantize_one("rtn", p, toml);
    EXPECT_TRUE(at::equal(part(g, "scale"), part(r, "scale")));  // the same grid
    EXPECT_EQ(g.report.scales, "sdclip k=12.85, gptq");
    const double eg = hessian_error(p.tensor, gptq->dequantize(g), H), er = hessian_error(p.tensor, make("rtn")->dequantize(r), H);
    EXPECT_LT(eg, 0.5 * er);
    EXPECT_NEAR(g.report.hessian_error, eg, 1e-6 * eg);
    EXPECT_TRUE(std::isnan(r.report.hessian_error));
    // Still on the grid: values within ±R, Ŵ = q·s exactly.
    EXPECT_LE(part(g, "q").abs().max().item<int>(), range(bits));
    EXPECT_TRUE(at::equal(gptq->dequantize(g), part(g, "q").to(at::kFloat) * steps(g)));
  }
}

// §5.4 written out column by column in double precision, without blocks: dead columns, damping,
// act-order, the upper Cholesky factor of H⁻¹ (here from an explicit inverse), un-permute.
at::Tensor reference_gptq(const at::Tensor& w, const at::Tensor& xtx, const at::Tensor& S, double R) {
  at::Tensor H = xtx.to(at::kDouble).clone(), W = w.to(at::kDouble).clone();
  const at::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1);
  W.masked_fill_(dead.unsqueeze(0), 0);
  H.diagonal().add_(0.01 * H.diagonal().mean().item<double>());
  const at::Tensor perm = at::argsort(H.diagonal(), 0, true);
  W = W.index_select(1, perm);
  H = H.index_select(0, perm).index_select(1, perm);
  const at::Tensor s = S.to(at::kDouble).index_select(1, perm);
  const at::Tensor U = at::linalg_cholesky(at::inverse(H), /*upper=*/true);
  at::Tensor Q = at::zeros_like(W);
  const int64_t cols = W.size(1);
  for (int64_t j = 0; j < cols; ++j) {
    const at::Tensor q = at::clamp(at::round(W.select(1, j) / s.select(1, j)), -R, R);
    const at::Tensor e = (W.select(1, j) - q * s.select(1, j)) / U[j][j];
    W.narrow(1, j, cols - j).sub_(at::outer(e, U[j].narrow(0, j, cols - j)));
    Q.select(1, j).copy_(q);
  }
  return Q.index_select(1, at::argsort(perm));
}

// The plugin's blocked fp32 solve against the plain double one: rounding ties may flip a few values,
// nothing more; and the block size (lazy batch updates) does not change the result beyond that.
TEST(GptqTest, MatchesAnUnblockedReferenceSolve) {
  at::manual_seed(32);
  at::Tensor x = correlated_inputs(2048, 200);
  x.select(1, 17).zero_();  // a dead column
  const golf::Calibration cal = {{"w", stats_of(x)}};
  const Param p{"w", at::randn({64, 200}), ParamRole::kMatrix};
  std::vector<at::Tensor> values;
  for (int block : {1, 16, 128, 1000}) {
    const QuantizedTensor q = quantize_one("gptq", p, "passthrough_numel = 0\nblock_size = " + std::to_string(block), cal);
    values.push_back(part(q, "q").to(at::kDouble));
    if (block == 128) {
      const at::Tensor expected = reference_gptq(p.tensor, cal.at("w").xtx, steps(q), 31);
      EXPECT_GT((values.back() == expected).to(at::kDouble).mean().item<double>(), 0.99);
      EXPECT_EQ(values.back().select(1, 17).abs().max().item<double>(), 0);  // the dead column is zero
    }
  }
  for (const at::Tensor& v : values) EXPECT_GT((v == values[0]).to(at::kDouble).mean().item<double>(), 0.99);
}

// A matrix without stats (or with stats of another shape) is RTN on the same grid, and says so.
TEST(GptqTest, MatricesWithoutStatsFallBackToRtn) {
  at::manual_seed(33);
  const at::Tensor x = correlated_inputs(1024, 128);
  const std::vector<Param> params = {{"calibrated", at::randn({64, 128}), ParamRole::kMatrix},
                                     {"uncalibrated", at::randn({64, 128}), ParamRole::kMatrix},
                                     {"misfit", at::randn({64, 256}), ParamRole::kMatrix}};
  const golf::Calibration cal = {{"calibrated", stats_of(x)}, {"misfit", stats_of(x)}};
  const std::vector<QuantizedTensor> g = make("gptq", "passthrough_numel = 0")->quantize(params, cal);
  const std::vector<QuantizedTensor> r = make("rtn", "passthrough_numel = 0")->quantize(params, {});
  EXPECT_EQ(g[0].report.scales, "sdclip k=12.85, gptq");
  EXPECT_FALSE(std::isnan(g[0].report.hessian_error));
  for (size_t i : {1, 2}) {
    EXPECT_EQ(g[i].report.scales, "sdclip k=12.85, rtn (no calibration stats)");
    EXPECT_TRUE(at::equal(part(g[i], "q"), part(r[i], "q")));
    EXPECT_TRUE(std::isnan(g[i].report.hessian_error));
  }
}

// Percentile scales run the solve for every candidate and keep the lowest MSE (#1019's code).
TEST(GptqTest, PercentileScalesSearchThroughTheSolve) {
  at::manual_seed(34);
  const at::Tensor x = correlated_inputs(1024, 128);
  const Param p{"w", at::randn({64, 128}) * at::exp(at::randn({64, 128})) * 10, ParamRole::kMatrix};
  const QuantizedTensor q = quantize_one("gptq", p, "scales = \"percentile\"\nmatrix_bits = 4\npassthrough_numel = 0", {{"w", stats_of(x)}});
  EXPECT_EQ(q.report.scales.rfind("percentile p=", 0), 0u) << q.report.scales;
  EXPECT_NE(q.report.scales.find(", gptq"), std::string::npos);
  const double p_chosen = std::stod(q.report.scales.substr(13));
  const at::Tensor clip = p_chosen < 1 ? at::quantile(p.tensor.abs(), p_chosen, 1) : p.tensor.abs().amax(1);
  EXPECT_TRUE(at::equal(part(q, "scale").squeeze(1), (clip / 7.0).clamp_min(1.0 / 7.0).to(at::kHalf)));
}

// AWQ-lite (§5.6): the top-K 64-column groups over all matrices by Σ act_rms·mean|W| are solved in the
// same GPTQ pass on s_hi = k·std_row/127 (±127); the others keep ±R.
TEST(GptqTest, AwqLiteGroupsUseTheFinerRangeInTheSameSolve) {
  at::manual_seed(35);
  at::Tensor xa = correlated_inputs(2048, 256), xb = correlated_inputs(2048, 256);
  xb.narrow(1, 128, 64).mul_(30);  // b's third group carries by far the largest activations
  const std::vector<Param> params = {{"a", at::randn({64, 256}), ParamRole::kMatrix}, {"b", at::randn({64, 256}), ParamRole::kMatrix}};
  const golf::Calibration cal = {{"a", stats_of(xa)}, {"b", stats_of(xb)}};
  const std::string toml = "passthrough_numel = 0\nmatrix_bits = 4\nmatrix_k = 6.0\n";
  const std::vector<QuantizedTensor> plain = make("gptq", toml)->quantize(params, cal);
  const std::vector<QuantizedTensor> lite = make("gptq", toml + "awq_lite_groups = 1")->quantize(params, cal);
  EXPECT_EQ(lite[0].scheme, "int4");
  ASSERT_EQ(lite[1].scheme, "int4_hi8x64");
  EXPECT_EQ(part(lite[1], "hi_start").scalar_type(), at::kInt);
  ASSERT_EQ(part(lite[1], "hi_start").numel(), 1);
  EXPECT_EQ(part(lite[1], "hi_start")[0].item<int>(), 128);
  const at::Tensor std_row = params[1].tensor.std({1}, true, false) * 6.0;
  EXPECT_TRUE(at::equal(part(lite[1], "hi_scale").squeeze(1), (std_row / 127.0).to(at::kHalf)));
  EXPECT_TRUE(at::equal(part(lite[1], "scale").squeeze(1), (std_row / 7.0).to(at::kHalf)));
  const at::Tensor q = part(lite[1], "q");
  EXPECT_GT(q.narrow(1, 128, 64).abs().max().item<int>(), 7);
  EXPECT_LE(q.narrow(1, 128, 64).abs().max().item<int>(), 127);
  EXPECT_LE(at::cat({q.narrow(1, 0, 128), q.narrow(1, 192, 64)}, 1).abs().max().item<int>(), 7);
  EXPECT_LT(lite[1].report.hessian_error, plain[1].report.hessian_error);
  EXPECT_NE(lite[1].report.scales.find("awq-lite int8 groups=1"), std::string::npos) << lite[1].report.scales;
}

void expect_rejected(const std::string& toml, const std::string& key) {
  golf::testing::expect_rejected<golf::Quantizer>("gptq", toml, key);
}

TEST(GptqTest, RejectsBadKeys) {
  expect_rejected("damping = -0.1", "damping");
  expect_rejected("block_size = 0", "block_size");
  expect_rejected("calibration_batches = -1", "calibration_batches");
  expect_rejected("calibration_batch_tokens = -5", "calibration_batch_tokens");
  expect_rejected("calibration_source = \"validation\"", "calibration_source");
  expect_rejected("reserve_seconds = -1.0", "reserve_seconds");
  expect_rejected("awq_lite_groups = -1", "awq_lite_groups");
  expect_rejected("awq_lite_group_size = 0", "awq_lite_group_size");
  expect_rejected("awq_lite_bits = 9", "awq_lite_bits");
  expect_rejected("scales = \"max\"", "scales");
  expect_rejected("overrides = \"blocks.*=fp8\"", "overrides");
}

// The real gpt architecture calibrated by the host on random tokens: every matrix and the tied
// embedding (as the head, from the final norm's output: [D, D]) get stats, GPTQ uses them and reports
// its Hessian error, below RTN's, and the dequantized model still computes a finite loss.
TEST(GptqTest, CalibratedGptModelEndToEnd) {
  const int64_t V = 64, D = 32, T = 16;
  auto gpt = golf::testing::make_plugin<golf::Architecture>(
      "gpt", "vocab_size = 64\nnum_layers = 2\nmodel_dim = 32\nnum_heads = 4\nnum_kv_heads = 2\nmlp_mult = 2\n");
  gpt->build();
  std::vector<golf::Param> params = gpt->parameters();
  at::manual_seed(36);
  for (golf::Param& p : params) {  // the zero-initialised projections would have nothing to quantize
    at::NoGradGuard no_grad;
    if (p.role == ParamRole::kMatrix) p.tensor.copy_(at::randn_like(p.tensor) * 0.1);
  }
  golf::testing::TempDir dir;
  const at::Tensor ids = at::randint(V, {20000}, at::kLong);
  std::vector<uint16_t> tokens(size_t(ids.numel()));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = uint16_t(ids[int64_t(i)].item<int64_t>());
  golf::host::write_shard(dir / "train_000.bin", tokens);

  auto gptq = make("gptq", "calibration_batches = 4\npassthrough_numel = 0");
  const golf::CalibrationRequest req = gptq->calibration();
  ASSERT_EQ(req.batches, 4);
  const golf::host::CalibrationText text{{dir / "train_000.bin"}, V, T, 8 * T, 7, 0, 1};
  const golf::Calibration cal = golf::host::calibrate(*gpt, "gpt", req, text, at::kCPU);
  ASSERT_TRUE(cal.count("tok_emb.weight"));
  EXPECT_EQ(cal.at("tok_emb.weight").xtx.sizes(), at::IntArrayRef({D, D}));

  const std::vector<QuantizedTensor> g = gptq->quantize(params, cal);
  const std::vector<QuantizedTensor> r = make("rtn", "passthrough_numel = 0")->quantize(params, {});
  double sum_g = 0, sum_r = 0;
  int checked = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    if (p.role != ParamRole::kMatrix && p.role != ParamRole::kTiedEmbedding) continue;
    SCOPED_TRACE(p.name);
    ASSERT_TRUE(cal.count(p.name));
    EXPECT_EQ(g[i].scheme, p.role == ParamRole::kMatrix ? "int6" : "int8");
    EXPECT_EQ(g[i].report.scales, p.role == ParamRole::kMatrix ? "sdclip k=12.85, gptq" : "sdclip k=20, gptq");
    const double expected = hessian_error(p.tensor.detach(), gptq->dequantize(g[i]), cal.at(p.name).xtx);
    EXPECT_NEAR(g[i].report.hessian_error, expected, 1e-6 + 1e-6 * expected);
    sum_g += expected;
    sum_r += hessian_error(p.tensor.detach(), gptq->dequantize(r[i]), cal.at(p.name).xtx);
    ++checked;
  }
  EXPECT_EQ(checked, 2 * 6 + 1);
  EXPECT_LT(sum_g, sum_r);

  {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].tensor.copy_(gptq->dequantize(g[i]));
  }
  const at::Tensor x = at::randint(V, {2, T}, at::kLong);
  EXPECT_TRUE(std::isfinite(gpt->forward(x, at::randint(V, {2, T}, at::kLong)).mean().item<double>()));
}

}  // namespace
