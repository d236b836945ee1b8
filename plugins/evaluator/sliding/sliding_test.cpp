// Tests for the `sliding` evaluator: every target once, with exactly the corrected reference's context (§5.1).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../evaluator_test_util.h"
#include "plugin_fixture.h"

namespace {

using golf::evaltest::Recorder;
using golf::testing::make_plugin;

// A causal model whose NLL at a position depends on how many inputs precede it in its row, on those
// inputs and on the target: a target scored with any other context gets another value. Records the
// shape of every forward.
class ContextModel : public golf::Architecture {
 public:
  void build() override {}
  int64_t vocab_size() const override { return 64; }
  std::vector<golf::Param> parameters() override { return {}; }
  at::Tensor logits(const at::Tensor& x) override { return at::zeros({x.size(0), x.size(1), 64}); }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override {
    shapes.emplace_back(x.size(0), x.size(1));
    const at::Tensor inputs = at::arange(1, x.size(1) + 1, at::kDouble).view({1, -1});
    const at::Tensor sums = at::cumsum(x.to(at::kDouble), 1);
    return (0.5 + 0.01 * inputs + 0.001 * at::fmod(sums, 97) + 0.0001 * y.to(at::kDouble)).to(at::kFloat);
  }
  std::vector<std::pair<int64_t, int64_t>> shapes;
};

// eval_val_sliding written out, one window per forward: window starts 0, s, 2s, ... while
// ws + context < N (the first always), each right-padded to `window`, scoring its first targets
// (ws = 0) or its last `stride`.
std::map<int64_t, double> reference_sliding(golf::Architecture& model, const std::vector<int64_t>& s, int64_t window,
                                            int64_t stride) {
  const int64_t n = s.size() - 1, context = window - stride;
  std::map<int64_t, double> out;
  for (int64_t ws = 0; ws == 0 || ws + context < n; ws += stride) {
    const int64_t wlen = std::min(ws + window, n) - ws;
    at::Tensor x = at::zeros({1, window}, at::kLong), y = at::zeros({1, window}, at::kLong);
    for (int64_t i = 0; i < wlen; ++i) x[0][i] = s[ws + i], y[0][i] = s[ws + i + 1];
    const at::Tensor nll = model.forward(x, y).to(at::kDouble);
    for (int64_t i = ws == 0 ? 0 : context; i < wlen; ++i) out[ws + i + 1] = nll[0][i].item<double>();
  }
  return out;
}

std::string keys(int64_t window, int64_t stride, int64_t batch_windows) {
  return "window = " + std::to_string(window) + "\nstride = " + std::to_string(stride) +
         "\nbatch_windows = " + std::to_string(batch_windows);
}

TEST(SlidingTest, ScoresEveryTargetOnceWithTheReferenceContext) {
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(64);
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{8, 1}, {8, 3}, {8, 8}, {16, 4}, {12, 5}};
  for (int64_t n : {1, 5, 16, 17, 63, 100, 257}) {
    for (auto [window, stride] : shapes) {
      const std::vector<int64_t> stream = golf::evaltest::random_tokens(n + 1, 0, 64, uint32_t(n * 31 + window + stride));
      ContextModel reference_model;
      const std::map<int64_t, double> expected = reference_sliding(reference_model, stream, window, stride);
      ASSERT_EQ(int64_t(expected.size()), n) << "the reference loop itself";
      for (int64_t batch_windows : {1, 3, 32}) {
        const std::string what = "N " + std::to_string(n) + ", " + keys(window, stride, batch_windows);
        auto sliding = make_plugin<golf::Evaluator>("sliding", keys(window, stride, batch_windows));
        Recorder recorder(*sliding);
        ContextModel model;
        const auto sums = golf::testing::run_evaluation(recorder, model, stream, tables, /*seq_len=*/4);
        EXPECT_EQ(sums.targets, n) << what;
        ASSERT_EQ(recorder.nll.size(), expected.size()) << what;
        for (const auto& [p, v] : expected) {
          EXPECT_EQ(recorder.times[p], 1) << what << ", position " << p;
          EXPECT_FLOAT_EQ(recorder.nll[p], v) << what << ", position " << p;
        }
        // Every forward has the reference's shape: batch_windows rows of `window`, padded.
        for (auto [rows, length] : model.shapes) {
          EXPECT_EQ(rows, batch_windows) << what;
          EXPECT_EQ(length, window) << what;
        }
      }
    }
  }
}

TEST(SlidingTest, WindowZeroIsTheTrainingSeqLen) {
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(64);
  const std::vector<int64_t> stream = golf::evaltest::random_tokens(200, 0, 64, 3);
  ContextModel reference_model;
  const std::map<int64_t, double> expected = reference_sliding(reference_model, stream, 16, 4);
  auto sliding = make_plugin<golf::Evaluator>("sliding", "stride = 4\nbatch_windows = 5");
  Recorder recorder(*sliding);
  ContextModel model;
  golf::testing::run_evaluation(recorder, model, stream, tables, /*seq_len=*/16);
  ASSERT_EQ(recorder.nll.size(), expected.size());
  for (const auto& [p, v] : expected) EXPECT_FLOAT_EQ(recorder.nll[p], v) << p;
  EXPECT_EQ(model.shapes.front().second, 16);

  // A stride longer than the training length it defaults to is refused when the evaluation starts.
  auto too_long = make_plugin<golf::Evaluator>("sliding", "stride = 64");
  EXPECT_THROW(golf::testing::run_evaluation(*too_long, model, stream, tables, /*seq_len=*/16), std::runtime_error);
}

TEST(SlidingTest, StrideEqualToWindowIsBpb) {
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(64);
  for (int64_t n : {256, 301}) {
    const std::vector<int64_t> stream = golf::evaltest::random_tokens(n + 1, 0, 64, uint32_t(n));
    auto gpt = golf::evaltest::tiny_gpt("vocab_size = 64\nnum_layers = 2\nmodel_dim = 32\nnum_heads = 2\nnum_kv_heads = 1", 32);
    golf::evaltest::randomize_matrices(*gpt, 7);
    auto bpb = make_plugin<golf::Evaluator>("bpb", "batch_tokens = 64");
    auto sliding = make_plugin<golf::Evaluator>("sliding", keys(32, 32, 2));
    const auto a = golf::testing::run_evaluation(*bpb, *gpt, stream, tables, 32);
    const auto b = golf::testing::run_evaluation(*sliding, *gpt, stream, tables, 32);
    EXPECT_EQ(a.targets, b.targets);
    EXPECT_EQ(a.bytes, b.bytes);
    EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-5 * a.loss_sum) << n;
    EXPECT_NEAR(a.val_bpb, b.val_bpb, 1e-5 * a.val_bpb) << n;

    // Position by position, with a model whose NLL shows the context.
    ContextModel m1, m2;
    Recorder r1(*bpb), r2(*sliding);
    golf::testing::run_evaluation(r1, m1, stream, tables, 32);
    golf::testing::run_evaluation(r2, m2, stream, tables, 32);
    EXPECT_EQ(r1.nll, r2.nll) << n;
  }
}

TEST(SlidingTest, WindowPastTheTrainingLengthScalesRopeAsNtk) {
  // head_dim 16, [train] seq_len 16, windows of 48: base' = base * 3^(16/14) (§5.1).
  const std::string shape = "vocab_size = 64\nnum_layers = 2\nmodel_dim = 32\nnum_heads = 2\nnum_kv_heads = 1\n";
  char scaled[64];
  std::snprintf(scaled, sizeof scaled, "rope_base = %.17g\n", 10000.0 * std::pow(3.0, 16.0 / 14.0));
  auto ntk = golf::evaltest::tiny_gpt(shape, 16);
  auto fixed = golf::evaltest::tiny_gpt(shape + "rope_ntk = false\n" + scaled, 16);
  auto plain = golf::evaltest::tiny_gpt(shape + "rope_ntk = false\n", 16);
  for (golf::Architecture* m : {ntk.get(), fixed.get(), plain.get()}) golf::evaltest::randomize_matrices(*m, 11);

  const golf::ByteTables tables = golf::evaltest::one_byte_tables(64);
  const std::vector<int64_t> stream = golf::evaltest::random_tokens(401, 0, 64, 5);
  auto run = [&](golf::Architecture& m) {
    auto sliding = make_plugin<golf::Evaluator>("sliding", keys(48, 16, 4));
    Recorder r(*sliding);
    golf::testing::run_evaluation(r, m, stream, tables, /*seq_len=*/16);
    return r.nll;
  };
  const std::map<int64_t, double> with_ntk = run(*ntk), with_scaled_base = run(*fixed), without = run(*plain);
  ASSERT_EQ(with_ntk.size(), 400u);
  double same = 0, different = 0;
  for (const auto& [p, v] : with_ntk) {
    same = std::max(same, std::abs(v - with_scaled_base.at(p)));
    different = std::max(different, std::abs(v - without.at(p)));
  }
  EXPECT_LT(same, 1e-5);
  EXPECT_GT(different, 1e-2) << "RoPE scaling makes no difference: the test shows nothing";
}

TEST(SlidingTest, RejectsBadKeysNamingThem) {
  golf::testing::expect_rejected<golf::Evaluator>("sliding", "window = 8\nstride = 9", "stride");
  golf::testing::expect_rejected<golf::Evaluator>("sliding", "stride = 0", "stride");
  golf::testing::expect_rejected<golf::Evaluator>("sliding", "window = -1", "window");
  golf::testing::expect_rejected<golf::Evaluator>("sliding", "batch_windows = 0", "batch_windows");
}

}  // namespace
