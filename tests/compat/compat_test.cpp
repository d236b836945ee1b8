// tests/compat/compat_test.cpp: golf/compat.h gives the same results on LibTorch 1.13 and 2.x.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "golf/compat.h"

namespace {

at::Tensor normal(std::vector<int64_t> shape, double std, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::empty(shape, at::kFloat).normal_(0.0, std, gen);
}

// F.rms_norm(x, (x.size(-1),)) with eps=None: float32 arithmetic and float32's epsilon for 16-bit
// inputs, cast back. Activations of std 0.005 (the tied embedding's init) must come out with RMS 1;
// a bf16 epsilon (2^-7) would shrink them about 18-fold.
TEST(CompatTest, RmsNormOf16BitInputsUsesFloat32AndItsEpsilon) {
  for (at::ScalarType t : {at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(t));
    const at::Tensor x = normal({64, 512}, 0.005, 1).to(t);
    const at::Tensor got = golf::compat::rms_norm(x);
    EXPECT_EQ(got.scalar_type(), t);
    const at::Tensor xd = x.to(at::kDouble);
    const double eps = std::numeric_limits<float>::epsilon();
    const at::Tensor want = (xd / at::sqrt(xd.pow(2).mean(-1, true) + eps)).to(t).to(at::kDouble);
    EXPECT_LT((got.to(at::kDouble) - want).abs().max().item<double>(), 0.02);  // one 16-bit rounding step
    const double rms = got.to(at::kDouble).pow(2).mean().sqrt().item<double>();
    EXPECT_NEAR(rms, 1.0, 0.01);
  }
}

TEST(CompatTest, RmsNormOfFloat32MatchesFloat64Reference) {
  const at::Tensor x = normal({8, 64}, 0.3, 2);
  const at::Tensor xd = x.to(at::kDouble);
  const at::Tensor want = xd / at::sqrt(xd.pow(2).mean(-1, true) + std::numeric_limits<float>::epsilon());
  EXPECT_LT((golf::compat::rms_norm(x).to(at::kDouble) - want).abs().max().item<double>(), 1e-6);
}

// Causal attention with grouped kv heads against softmax(q k^T / sqrt(D) + causal mask) v, written
// out in float64 with query head h reading kv head h / (H / Hkv).
TEST(CompatTest, CausalGqaAttentionMatchesExplicitSoftmax) {
  const int64_t B = 2, H = 4, Hkv = 2, T = 7, D = 8;
  const at::Tensor q = normal({B, H, T, D}, 1.0, 3), k = normal({B, Hkv, T, D}, 1.0, 4), v = normal({B, Hkv, T, D}, 1.0, 5);
  const at::Tensor got = golf::compat::causal_gqa_attention(q, k, v).to(at::kDouble);
  const at::Tensor future = at::ones({T, T}, at::kBool).triu(1);
  for (int64_t h = 0; h < H; ++h) {
    const at::Tensor qh = q.select(1, h).to(at::kDouble), kh = k.select(1, h / (H / Hkv)).to(at::kDouble);
    const at::Tensor vh = v.select(1, h / (H / Hkv)).to(at::kDouble);
    const at::Tensor scores = at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(double(D));
    const at::Tensor want = at::matmul(at::softmax(scores.masked_fill(future, -INFINITY), -1), vh);
    EXPECT_LT((got.select(1, h) - want).abs().max().item<double>(), 1e-5) << "head " << h;
  }
}

}  // namespace
