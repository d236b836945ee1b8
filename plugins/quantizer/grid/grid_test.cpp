// plugins/quantizer/grid/grid_test.cpp: the shared golf_grid_v1 format through rtn, gptq and awq: widths, overrides, LQER, checks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "grid_testing.h"

namespace {

using namespace grid_testing;

const std::vector<std::string> kGridQuantizers = {"rtn", "gptq", "awq"};

// One tensor of every kind the format has, quantized by gptq (calibrated, AWQ-lite, LQER, groups), awq
// (per-channel scales) and rtn.
struct Artifacts {
  std::vector<Param> params;
  golf::Calibration calibration;
  std::map<std::string, std::vector<QuantizedTensor>> by_plugin;
};

Artifacts artifacts() {
  at::manual_seed(21);
  Artifacts a;
  at::Tensor x = correlated_inputs(2048, 256);
  x.narrow(1, 0, 4).mul_(20);  // outlier channels, for AWQ
  // c_q is twice the others, so every AWQ-lite group and the largest LQER error land on it.
  a.params = {{"blocks.0.attn.c_q.weight", at::randn({128, 256}) * 2, ParamRole::kMatrix},
              {"blocks.0.mlp.fc.weight", at::randn({192, 256}).to(at::kBFloat16), ParamRole::kMatrix},
              {"bank", at::randn({2, 32, 256}), ParamRole::kOther},
              {"blocks.0.attn_scale", at::randn({256}), ParamRole::kScalar},
              {"tok_emb.weight", at::randn({300, 256}), ParamRole::kTiedEmbedding}};
  for (const char* name : {"blocks.0.attn.c_q.weight", "blocks.0.mlp.fc.weight", "bank", "tok_emb.weight"})
    a.calibration[name] = stats_of(x);
  const std::string common = "passthrough_numel = 0\nlqer_rank = 4\nlqer_top = 2\n";
  a.by_plugin["rtn"] = make("rtn", common + "group_size = 32")->quantize(a.params, {});
  a.by_plugin["gptq"] = make("gptq", common + "group_size = 32\nawq_lite_groups = 3")->quantize(a.params, a.calibration);
  a.by_plugin["awq"] = make("awq", common + "alpha_grid = 5")->quantize(a.params, a.calibration);
  return a;
}

// Each grid quantizer dequantizes what any of them stored, to the same tensor.
TEST(GridTest, EveryGridQuantizerReadsTheOthersArtifacts) {
  const Artifacts a = artifacts();
  EXPECT_EQ(a.by_plugin.at("gptq")[0].scheme, "int6_g32_hi8x64_lqer4");
  for (const auto& [producer, stored] : a.by_plugin) {
    for (size_t i = 0; i < stored.size(); ++i) {
      SCOPED_TRACE(producer + " " + stored[i].name + " " + stored[i].scheme);
      const at::Tensor expected = make(producer)->dequantize(stored[i]);
      for (const std::string& reader : kGridQuantizers) EXPECT_TRUE(at::equal(make(reader)->dequantize(stored[i]), expected)) << reader;
    }
  }
  bool hi = false, awq = false;
  for (const QuantizedTensor& q : a.by_plugin.at("gptq")) hi = hi || has_part(q, "hi_start");
  for (const QuantizedTensor& q : a.by_plugin.at("awq")) awq = awq || has_part(q, "col_scale");
  EXPECT_TRUE(hi && awq) << "the artifacts cover AWQ-lite groups and per-channel scales";
}

// Uncalibrated, every grid quantizer is RTN: within half a step inside the clip range, and
// fake_quantize is exactly dequantize(quantize()).
TEST(GridTest, UncalibratedQuantizersShareTheRtnGrid) {
  at::manual_seed(22);
  const Param p{"blocks.3.mlp.proj.weight", at::randn({200, 256}) * 0.02, ParamRole::kMatrix};
  for (int bits : {2, 4, 6, 8}) {
    const std::string toml = "matrix_bits = " + std::to_string(bits) + "\npassthrough_numel = 0\ngroup_size = 64";
    const QuantizedTensor reference = quantize_one("rtn", p, toml);
    for (const std::string& name : kGridQuantizers) {
      SCOPED_TRACE(name + " int" + std::to_string(bits));
      auto quantizer = make(name, toml);
      const QuantizedTensor q = quantizer->quantize({p}, {}).at(0);
      EXPECT_EQ(q.scheme, reference.scheme);
      EXPECT_TRUE(at::equal(part(q, "q"), part(reference, "q")));
      const at::Tensor S = steps(q, 64), back = quantizer->dequantize(q);
      const at::Tensor inside = p.tensor.abs() <= range(bits) * S;
      EXPECT_TRUE(((back - p.tensor).abs().masked_select(inside) <= S.masked_select(inside) * (0.5 + 1e-4)).all().item<bool>());
      EXPECT_TRUE(at::equal(quantizer->fake_quantize(p, p.tensor), back));
      if (name != "rtn") EXPECT_EQ(q.report.scales, "sdclip k=12.85, rtn (no calibration stats)");
    }
  }
}

int max_value(const QuantizedTensor& q) { return part(q, "q").abs().max().item<int>(); }

// Widths follow the role, gates are quantized however small (§5.8), and the last matching override wins.
TEST(GridTest, RoleWidthsAndOverridesTakeEffect) {
  at::manual_seed(23);
  const std::vector<Param> params = {
      {"blocks.0.attn.c_q.weight", at::randn({256, 512}), ParamRole::kMatrix},
      {"blocks.1.mlp.fc.weight", at::randn({256, 512}), ParamRole::kMatrix},
      {"blocks.1.attn.c_k.weight", at::randn({256, 512}), ParamRole::kMatrix},
      {"tok_emb.weight", at::randn({512, 256}), ParamRole::kTiedEmbedding},
      {"lm_head.weight", at::randn({512, 256}), ParamRole::kHead},
      {"blocks.0.attn_gate.weight", at::randn({8, 256}), ParamRole::kGate},
      {"blocks.0.attn_scale", at::randn({256}), ParamRole::kScalar},
      {"big_control", at::randn({300, 300}), ParamRole::kScalar},
      {"small", at::randn({64, 64}), ParamRole::kMatrix},
      {"ids", at::arange(100000, at::kLong), ParamRole::kOther}};
  const std::vector<QuantizedTensor> q =
      make("rtn", "scales = \"rowmax\"\noverrides = \"blocks.1.*=4, *.c_k.weight=fp16 ,lm_head.weight=5:3.0, small=3\"")
          ->quantize(params, {});
  EXPECT_EQ(q[0].scheme, "int6");
  EXPECT_EQ(max_value(q[0]), 31);
  EXPECT_EQ(q[1].scheme, "int4");
  EXPECT_EQ(max_value(q[1]), 7);
  EXPECT_EQ(q[2].scheme, "passthrough");  // both patterns match; the later one wins
  EXPECT_EQ(part(q[2], "data").scalar_type(), at::kHalf);
  EXPECT_EQ(q[3].scheme, "int8");
  EXPECT_EQ(max_value(q[3]), 127);
  EXPECT_EQ(q[4].scheme, "int5");  // k given: SDClip with that k
  EXPECT_EQ(q[4].report.scales, "sdclip k=3");
  EXPECT_TRUE(at::equal(part(q[4], "scale").squeeze(1), ((params[4].tensor.std({1}, true, false) * 3.0) / 15.0).to(at::kHalf)));
  EXPECT_LE(max_value(q[4]), 15);
  EXPECT_EQ(q[5].scheme, "int8");
  EXPECT_EQ(max_value(q[5]), 127);
  EXPECT_EQ(q[5].report.scales, "rowmax");
  for (size_t i : {6, 7}) {
    EXPECT_EQ(q[i].scheme, "passthrough");
    EXPECT_EQ(part(q[i], "data").scalar_type(), at::kFloat);
    EXPECT_EQ(q[i].report.bits, 32);
  }
  EXPECT_EQ(q[8].scheme, "int3");  // an override beats the passthrough size
  EXPECT_EQ(max_value(q[8]), 3);
  EXPECT_EQ(q[9].scheme, "passthrough");
  EXPECT_EQ(part(q[9], "data").scalar_type(), at::kLong);

  const std::vector<QuantizedTensor> widths =
      make("rtn", "scales = \"rowmax\"\nmatrix_bits = 5\nembedding_bits = 7\nhead_bits = 6\ngate_bits = 4")->quantize(params, {});
  EXPECT_EQ(max_value(widths[0]), 15);
  EXPECT_EQ(max_value(widths[3]), 63);
  EXPECT_EQ(max_value(widths[4]), 31);
  EXPECT_EQ(max_value(widths[5]), 7);
  EXPECT_EQ(widths[8].scheme, "passthrough");
  EXPECT_EQ(part(widths[8], "data").scalar_type(), at::kHalf);
}

TEST(GridTest, RejectsBadOverridesNamingTheEntry) {
  for (const std::string entry : {"w=9", "=8", "w", "w=8:abc", "w=8:-1", "w=fp8", "w=6x", "w=8:0"}) {
    try {
      make("gptq", "overrides = \"a.*=6, " + entry + "\"");
      ADD_FAILURE() << "accepted " << entry;
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("overrides"), std::string::npos) << what;
      EXPECT_NE(what.find("'" + entry + "'"), std::string::npos) << what;
    }
  }
}

// LQER (§5.7) corrects the lqer_top tensors with the largest ‖E‖_F, lowering their error; A and B
// are packed as the reference does, from the SVD of E.
TEST(GridTest, LqerLowersTheErrorOfTheTensorsItCorrects) {
  at::manual_seed(24);
  const std::vector<Param> params = {{"a", at::randn({128, 256}), ParamRole::kMatrix},
                                     {"b", at::randn({128, 256}) * 3, ParamRole::kMatrix},
                                     {"c", at::randn({128, 256}) * 0.5, ParamRole::kMatrix}};
  const std::string toml = "passthrough_numel = 0\nmatrix_bits = 4\n";
  auto plain = make("rtn", toml);
  auto lqer = make("rtn", toml + "lqer_rank = 4\nlqer_top = 2");
  const std::vector<QuantizedTensor> before = plain->quantize(params, {}), after = lqer->quantize(params, {});
  for (size_t i : {0, 1}) {
    SCOPED_TRACE(params[i].name);
    ASSERT_EQ(after[i].scheme, "int4_lqer4");
    EXPECT_LT(after[i].report.rel_error, before[i].report.rel_error);
    EXPECT_TRUE(at::equal(part(after[i], "q"), part(before[i], "q")));
    // A = U_r·S_r with sA = max|A|/1.5; B = V_rᵀ flattened in groups of 64 with sB = max|group|/7.5.
    const at::Tensor base = plain->dequantize(before[i]);
    auto [U, S, Vh] = at::linalg_svd(params[i].tensor - base, false);
    const at::Tensor A = U.narrow(1, 0, 4) * S.narrow(0, 0, 4), B = Vh.narrow(0, 0, 4).reshape({-1, 64});
    EXPECT_NEAR(part(after[i], "lqer_a_scale").item<double>(), (A.abs().max() / 1.5).item<double>(), 1e-3 * A.abs().max().item<double>());
    EXPECT_TRUE(at::allclose(part(after[i], "lqer_b_scale").to(at::kFloat), B.abs().amax(1) / 7.5, 2e-3, 1e-6));
    const at::Tensor a = part(after[i], "lqer_a"), b = part(after[i], "lqer_b");
    EXPECT_GE(a.min().item<int>(), -2);
    EXPECT_LE(a.max().item<int>(), 1);
    EXPECT_GE(b.min().item<int>(), -8);
    EXPECT_LE(b.max().item<int>(), 7);
    const at::Tensor correction = (a.to(at::kFloat) * part(after[i], "lqer_a_scale").to(at::kFloat))
                                      .matmul((b.to(at::kFloat).reshape({-1, 64}) *
                                               part(after[i], "lqer_b_scale").to(at::kFloat).unsqueeze(1)).reshape({4, 256}));
    EXPECT_TRUE(at::allclose(lqer->dequantize(after[i]), base + correction, 1e-5, 1e-6));
    EXPECT_NE(after[i].report.scales.find("lqer r=4"), std::string::npos);
  }
  EXPECT_EQ(after[2].scheme, "int4");  // the smallest error is left alone
  EXPECT_TRUE(at::equal(lqer->dequantize(after[2]), plain->dequantize(before[2])));
}

// Any rank: a 3-D bank is stored as [L·out, in] rows, 1-D and 0-D tensors as one row; empty ones pass.
TEST(GridTest, TensorsOfAnyRank) {
  at::manual_seed(25);
  const std::vector<std::pair<Param, std::vector<int64_t>>> cases = {
      {{"bank", at::randn({3, 40, 64}), ParamRole::kOther}, {120, 64}},
      {{"vec", at::randn({5000}), ParamRole::kOther}, {1, 5000}},
      {{"one", at::randn({}), ParamRole::kOther}, {1, 1}},
      {{"four", at::randn({2, 3, 4, 5}).to(at::kBFloat16), ParamRole::kMatrix}, {24, 5}}};
  for (const std::string& name : kGridQuantizers) {
    auto quantizer = make(name, "passthrough_numel = 0");
    for (const auto& [p, matrix] : cases) {
      SCOPED_TRACE(name + " " + p.name);
      const QuantizedTensor q = quantizer->quantize({p}, {}).at(0);
      EXPECT_EQ(q.scheme, "int6");
      EXPECT_EQ(part(q, "q").sizes(), at::IntArrayRef(matrix));
      const at::Tensor back = quantizer->dequantize(q);
      EXPECT_EQ(back.sizes(), p.tensor.sizes());
      EXPECT_EQ(back.scalar_type(), p.tensor.scalar_type());
      EXPECT_TRUE(at::equal(quantizer->fake_quantize(p, p.tensor), back));
    }
    const Param empty{"empty", at::zeros({0, 5}), ParamRole::kMatrix};
    const QuantizedTensor q = quantizer->quantize({empty}, {}).at(0);
    EXPECT_EQ(q.scheme, "passthrough");
    EXPECT_EQ(quantizer->dequantize(q).sizes(), empty.tensor.sizes());
  }
}

// A damaged part is refused with an error naming the tensor, never a crash or a wild allocation.
TEST(GridTest, DequantizeRefusesTamperedParts) {
  const Artifacts a = artifacts();
  const QuantizedTensor* gptq = nullptr;  // int6_g32_hi8x64[_lqer4]: every optional part but col_scale
  for (const QuantizedTensor& q : a.by_plugin.at("gptq")) {
    if (has_part(q, "hi_start") && has_part(q, "lqer_a")) gptq = &q;
  }
  ASSERT_NE(gptq, nullptr) << "no gptq tensor with AWQ-lite groups and LQER";
  const QuantizedTensor* awq = nullptr;
  for (const QuantizedTensor& q : a.by_plugin.at("awq")) {
    if (has_part(q, "col_scale")) awq = &q;
  }
  ASSERT_NE(awq, nullptr);
  const QuantizedTensor& pass = a.by_plugin.at("rtn")[3];
  ASSERT_EQ(pass.scheme, "passthrough");
  auto rtn = make("rtn");
  ASSERT_NO_THROW(rtn->dequantize(*gptq));
  ASSERT_NO_THROW(rtn->dequantize(*awq));

  auto index = [](const QuantizedTensor& q, const std::string& name) {
    for (size_t i = 0; i < q.parts.size(); ++i) {
      if (q.parts[i].first == name) return i;
    }
    throw std::runtime_error("no part " + name);
  };
  // Edits part `name` of a copy of `q` (a clone, so the original stays intact).
  std::vector<std::pair<std::string, QuantizedTensor>> bad;
  auto edit = [&](const QuantizedTensor& q, const std::string& what, const std::string& name,
                  const std::function<at::Tensor(at::Tensor)>& change) {
    QuantizedTensor c = q;
    at::Tensor& t = c.parts[index(c, name)].second;
    t = change(t.clone());
    bad.emplace_back(what, c);
  };
  auto whole = [&](const QuantizedTensor& q, const std::string& what, const std::function<void(QuantizedTensor&)>& change) {
    QuantizedTensor c = q;
    change(c);
    bad.emplace_back(what, c);
  };
  const at::Tensor starts = part(*gptq, "hi_start").to(at::kLong);
  const int64_t hi0 = starts[0].item<int64_t>();
  int64_t lo_col = 0;  // a column outside every AWQ-lite group
  while ((starts == lo_col).any().item<bool>()) lo_col += 64;
  ASSERT_LT(lo_col, part(*gptq, "q").size(1));
  whole(*gptq, "no parts", [](QuantizedTensor& q) { q.parts.clear(); });
  whole(*gptq, "missing last part", [](QuantizedTensor& q) { q.parts.pop_back(); });
  whole(*gptq, "extra part", [](QuantizedTensor& q) { q.parts.push_back(q.parts[0]); });
  whole(*gptq, "renamed part", [](QuantizedTensor& q) { q.parts[1].first = "scales"; });
  whole(*gptq, "swapped parts", [](QuantizedTensor& q) { std::swap(q.parts[2], q.parts[3]); });
  whole(*gptq, "undefined part", [](QuantizedTensor& q) { q.parts[0].second = at::Tensor(); });
  whole(*gptq, "scheme without groups", [](QuantizedTensor& q) { q.scheme = "int6_hi8x64_lqer4"; });
  whole(*gptq, "scheme without lqer", [](QuantizedTensor& q) { q.scheme = "int6_g32_hi8x64"; });
  for (const char* s : {"int9_g32_hi8x64_lqer4", "int6_g0_hi8x64_lqer4", "int06_g32_hi8x64_lqer4", "int6_g32_hi8x64_lqer4 ",
                        "int6_g32_hi9x64_lqer4", "int6_g32_hi8x0_lqer4", "int6_g32_hi8x64_lqer5", "", "int", "grid"})
    whole(*gptq, std::string("scheme '") + s + "'", [s](QuantizedTensor& q) { q.scheme = s; });
  whole(*gptq, "shape with another column count", [](QuantizedTensor& q) { q.shape.back() += 1; });
  whole(*gptq, "negative shape", [](QuantizedTensor& q) { q.shape[0] = -q.shape[0]; });
  whole(*gptq, "overflowing shape", [](QuantizedTensor& q) { q.shape = {int64_t(1) << 40, int64_t(1) << 40, 256}; });
  whole(*gptq, "integer dtype", [](QuantizedTensor& q) { q.dtype = at::kInt; });
  edit(*gptq, "q as int16", "q", [](at::Tensor t) { return t.to(at::kShort); });
  edit(*gptq, "q short a row", "q", [](at::Tensor t) { return t.narrow(0, 0, t.size(0) - 1).contiguous(); });
  edit(*gptq, "q beyond ±31", "q", [&](at::Tensor t) { t[0][lo_col].fill_(32); return t; });
  edit(*gptq, "q at -128 in a fine group", "q", [&](at::Tensor t) { t[0][hi0].fill_(-128); return t; });
  edit(*gptq, "scale as fp32", "scale", [](at::Tensor t) { return t.to(at::kFloat); });
  edit(*gptq, "scale per row", "scale", [](at::Tensor t) { return t.narrow(1, 0, 1).contiguous(); });
  for (double v : std::vector<double>{0.0, -1.0, NAN, INFINITY})
    edit(*gptq, "scale " + std::to_string(v), "scale", [v](at::Tensor t) { t[1][1].fill_(v); return t; });
  edit(*gptq, "hi_start int64", "hi_start", [](at::Tensor t) { return t.to(at::kLong); });
  edit(*gptq, "hi_start 2-D", "hi_start", [](at::Tensor t) { return t.unsqueeze(0); });
  edit(*gptq, "hi_start negative", "hi_start", [](at::Tensor t) { t[0].fill_(-64); return t; });
  edit(*gptq, "hi_start off the group grid", "hi_start", [](at::Tensor t) { t[0].add_(1); return t; });
  edit(*gptq, "hi_start past the columns", "hi_start", [](at::Tensor t) { t[0].fill_(1 << 20); return t; });
  edit(*gptq, "hi_start repeated", "hi_start", [](at::Tensor t) { return at::cat({t, t}); });
  edit(*gptq, "hi_scale zero", "hi_scale", [](at::Tensor t) { t[0][0].fill_(0); return t; });
  edit(*gptq, "hi_scale short", "hi_scale", [](at::Tensor t) { return t.narrow(0, 1, t.size(0) - 1).contiguous(); });
  edit(*gptq, "lqer_a beyond [-2, 1]", "lqer_a", [](at::Tensor t) { t[0][0].fill_(2); return t; });
  edit(*gptq, "lqer_a wider rank", "lqer_a", [](at::Tensor t) { return at::cat({t, t}, 1); });
  edit(*gptq, "lqer_a_scale 1-D", "lqer_a_scale", [](at::Tensor t) { return t.reshape({1}); });
  edit(*gptq, "lqer_a_scale NaN", "lqer_a_scale", [](at::Tensor t) { return t.fill_(NAN); });
  edit(*gptq, "lqer_b beyond [-8, 7]", "lqer_b", [](at::Tensor t) { t[0][0].fill_(8); return t; });
  edit(*gptq, "lqer_b_scale short", "lqer_b_scale", [](at::Tensor t) { return t.narrow(0, 1, t.size(0) - 1).contiguous(); });
  edit(*gptq, "lqer_b_scale negative", "lqer_b_scale", [](at::Tensor t) { t[0].fill_(-1); return t; });
  edit(*awq, "col_scale zero", "col_scale", [](at::Tensor t) { t[3].fill_(0); return t; });
  edit(*awq, "col_scale inf", "col_scale", [](at::Tensor t) { t[3].fill_(INFINITY); return t; });
  edit(*awq, "col_scale short", "col_scale", [](at::Tensor t) { return t.narrow(0, 1, t.size(0) - 1).contiguous(); });
  whole(*awq, "awq scheme lost", [](QuantizedTensor& q) { q.scheme = q.scheme.substr(0, q.scheme.find("_awq")); });
  whole(pass, "passthrough two parts", [](QuantizedTensor& q) { q.parts.push_back(q.parts[0]); });
  whole(pass, "passthrough wrong shape", [](QuantizedTensor& q) { q.shape = {255}; });
  whole(pass, "passthrough int dtype", [](QuantizedTensor& q) { q.dtype = at::kInt; });
  whole(*gptq, "group as wide as the row", [](QuantizedTensor& q) {
    q.scheme = "int6_g256";
    q.parts.resize(2);
    q.parts[1].second = q.parts[1].second.narrow(1, 0, 1).contiguous();
  });
  for (const auto& [what, q] : bad) {
    try {
      rtn->dequantize(q);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + q.name + "'"), std::string::npos) << what << ": " << e.what();
    }
  }
  // The widest value an AWQ-lite group allows is fine there.
  QuantizedTensor fine = *gptq;
  fine.parts[0].second = fine.parts[0].second.clone();
  fine.parts[0].second[0][hi0].fill_(127);
  EXPECT_NO_THROW(rtn->dequantize(fine));
}

}  // namespace
