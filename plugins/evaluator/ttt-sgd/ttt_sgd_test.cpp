// Tests for the `ttt-sgd` evaluator: score first, train only on scored tokens, learn text that repeats (§5.28).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../evaluator_test_util.h"
#include "plugin_fixture.h"

namespace {

using golf::evaltest::Recorder;
using golf::testing::make_plugin;

const char* kTinyGpt = "vocab_size = 32\nnum_layers = 2\nmodel_dim = 32\nnum_heads = 2\nnum_kv_heads = 1\n";

// A permutation of the vocabulary, repeated: after the first pass a model can learn every next token.
std::vector<int64_t> repeated_text(int64_t n, int64_t vocab, uint32_t seed) {
  std::vector<int64_t> unit(vocab);
  std::iota(unit.begin(), unit.end(), 0);
  std::shuffle(unit.begin(), unit.end(), std::mt19937(seed));
  std::vector<int64_t> s(n);
  for (int64_t i = 0; i < n; ++i) s[i] = unit[i % vocab];
  return s;
}

const std::string kWindows = "window = 32\nstride = 16\nbatch_windows = 4\n";

TEST(TttSgdTest, ScoresEveryTargetOnceAndLearnsRepeatedText) {
  const std::vector<int64_t> stream = repeated_text(1025, 32, 3);
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(32);
  auto gpt = golf::evaltest::tiny_gpt(kTinyGpt, 32);
  const std::vector<at::Tensor> before = golf::evaltest::copies_of(*gpt);

  auto sliding = make_plugin<golf::Evaluator>("sliding", kWindows);
  const auto fixed = golf::testing::run_evaluation(*sliding, *gpt, stream, tables, 32);
  auto ttt = make_plugin<golf::Evaluator>("ttt-sgd", kWindows + "chunk_tokens = 128\nlr = 0.5\nepochs = 2\nmicro_batch_seqs = 2");
  Recorder recorder(*ttt);
  const auto adapted = golf::testing::run_evaluation(recorder, *gpt, stream, tables, 32);

  EXPECT_EQ(adapted.targets, 1024);
  ASSERT_EQ(recorder.times.size(), 1024u);
  for (const auto& [p, times] : recorder.times) EXPECT_EQ(times, 1) << p;
  EXPECT_LT(adapted.loss_sum, 0.8 * fixed.loss_sum) << "sliding " << fixed.loss_sum / 1024 << " nats/token, ttt-sgd "
                                                    << adapted.loss_sum / 1024;
  // The last chunk, after seven chunks of training, is predicted far better than the first.
  EXPECT_LT(golf::evaltest::sum_over(recorder.nll, 897, 1025), 0.5 * golf::evaltest::sum_over(recorder.nll, 1, 129));
  golf::evaltest::expect_parameters_equal(*gpt, before);  // the host put the weights back

  // And a second evaluation starts from the same weights, with a fresh optimizer: the same result.
  const auto again = golf::testing::run_evaluation(*ttt, *gpt, stream, tables, 32);
  EXPECT_NEAR(again.loss_sum, adapted.loss_sum, 1e-6 * adapted.loss_sum);
}

TEST(TttSgdTest, TrainsOnlyOnScoredTokensAndNeverOnTheLastChunk) {
  // Token ids are positions, so a training target names the position it came from.
  std::vector<int64_t> stream(301);
  std::iota(stream.begin(), stream.end(), 0);
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(512);
  auto gpt = golf::evaltest::tiny_gpt("vocab_size = 512\nnum_layers = 1\nmodel_dim = 16\nnum_heads = 2\nnum_kv_heads = 1\n", 16);
  golf::evaltest::Spy spy(*gpt);
  auto ttt = make_plugin<golf::Evaluator>("ttt-sgd", "chunk_tokens = 64\nwindow = 16\nstride = 8\nepochs = 2\nmicro_batch_seqs = 3");
  Recorder recorder(*ttt);
  int64_t trained_max = 0, forwards = 0;
  spy.on_train = [&](const at::Tensor& x, const at::Tensor& y) {
    ++forwards;
    EXPECT_EQ(x.size(1), 16);  // sequences of [train] seq_len
    for (int64_t v : std::vector<int64_t>(y.data_ptr<int64_t>(), y.data_ptr<int64_t>() + y.numel())) {
      EXPECT_EQ(recorder.times[v], 1) << "trained on target " << v << " before scoring it";
      trained_max = std::max(trained_max, v);
    }
  };
  const auto r = golf::testing::run_evaluation(recorder, spy, stream, tables, 16);
  EXPECT_EQ(r.targets, 300);
  // Chunks [1, 65), ..., [193, 257) are trained on, four sequences each, in micro-batches of 3 and 1,
  // twice; the last chunk [257, 301) is not.
  EXPECT_EQ(forwards, 4 * 2 * 2);
  EXPECT_EQ(trained_max, 256);
}

TEST(TttSgdTest, WithoutALearningRateItScoresAsSliding) {
  const std::vector<int64_t> stream = repeated_text(700, 32, 5);
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(32);
  auto gpt = golf::evaltest::tiny_gpt(kTinyGpt, 32);
  golf::evaltest::randomize_matrices(*gpt, 2);
  auto sliding = make_plugin<golf::Evaluator>("sliding", kWindows);
  auto ttt = make_plugin<golf::Evaluator>("ttt-sgd", kWindows + "chunk_tokens = 96\nlr = 0.0");
  const auto a = golf::testing::run_evaluation(*sliding, *gpt, stream, tables, 32);
  const auto b = golf::testing::run_evaluation(*ttt, *gpt, stream, tables, 32);
  EXPECT_EQ(a.targets, b.targets);
  EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-5 * a.loss_sum);
}

TEST(TttSgdTest, RejectsBadKeysNamingThem) {
  golf::testing::expect_rejected<golf::Evaluator>("ttt-sgd", "chunk_tokens = 0", "chunk_tokens");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-sgd", "lr = -1.0", "lr");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-sgd", "momentum = 1.0", "momentum");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-sgd", "micro_batch_seqs = 0", "micro_batch_seqs");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-sgd", "grad_clip = -1.0", "grad_clip");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-sgd", "window = 8\nstride = 16", "stride");
}

}  // namespace
