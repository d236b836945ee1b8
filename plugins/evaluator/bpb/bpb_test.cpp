// Tests for the `bpb` evaluator, with small deterministic models written here against golf::Architecture.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "plugin_fixture.h"

namespace {

using golf::testing::make_plugin;

// A model that predicts every id with probability 1/V and records how it is called: the (input,
// target) pairs it scores, batch shapes, training mode and grad mode.
class UniformModel : public golf::Architecture {
 public:
  explicit UniformModel(int64_t vocab) : vocab_(vocab) {}
  void build() override {}
  int64_t vocab_size() const override { return vocab_; }
  at::Tensor logits(const at::Tensor& x) override { return at::zeros({x.size(0), x.size(1), vocab_}); }
  std::vector<golf::Param> parameters() override { return {}; }
  void set_training(bool training) override {
    mode_calls.push_back(training);
    training_ = training;
  }

  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override {
    EXPECT_EQ(x.sizes(), y.sizes());
    EXPECT_EQ(x.scalar_type(), at::kLong);
    shapes.emplace_back(x.size(0), x.size(1));
    trained_during_forward |= training_;
    grad_during_forward |= at::GradMode::is_enabled();
    const at::Tensor xc = x.contiguous(), yc = y.contiguous();
    for (int64_t i = 0; i < xc.numel(); ++i) {
      pairs.emplace_back(xc.data_ptr<int64_t>()[i], yc.data_ptr<int64_t>()[i]);
    }
    return nll(xc, yc);
  }

  std::vector<std::pair<int64_t, int64_t>> pairs;   // (input, target) per scored position
  std::vector<std::pair<int64_t, int64_t>> shapes;  // [B, T] of each forward
  std::vector<bool> mode_calls;
  bool trained_during_forward = false;
  bool grad_during_forward = false;

 protected:
  virtual at::Tensor nll(const at::Tensor& x, const at::Tensor& y) {
    (void)y;
    return at::full(x.sizes(), std::log(static_cast<double>(vocab_)), at::kFloat);
  }
  int64_t vocab_;
  bool training_ = true;
};

// Add-one-smoothed bigram counts of a stream: NLL of y given x is -log p(y | x), so a target scored
// with the wrong input changes the loss.
class BigramModel : public UniformModel {
 public:
  BigramModel(int64_t vocab, const std::vector<int64_t>& stream)
      : UniformModel(vocab), nll_(vocab, std::vector<float>(vocab)) {
    std::vector<std::vector<double>> counts(vocab, std::vector<double>(vocab, 1.0));
    for (size_t t = 1; t < stream.size(); ++t) counts[stream[t - 1]][stream[t]] += 1;
    for (int64_t x = 0; x < vocab; ++x) {
      double row = 0;
      for (double c : counts[x]) row += c;
      for (int64_t y = 0; y < vocab; ++y) nll_[x][y] = static_cast<float>(-std::log(counts[x][y] / row));
    }
  }
  float nll_of(int64_t x, int64_t y) const { return nll_[x][y]; }

 protected:
  at::Tensor nll(const at::Tensor& x, const at::Tensor& y) override {
    at::Tensor out = at::empty(x.sizes(), at::kFloat);
    for (int64_t i = 0; i < x.numel(); ++i) {
      out.data_ptr<float>()[i] = nll_[x.data_ptr<int64_t>()[i]][y.data_ptr<int64_t>()[i]];
    }
    return out;
  }

 private:
  std::vector<std::vector<float>> nll_;
};

// Tables by hand, V = 8, each kind of id the reference distinguishes:
//   0 <pad>, 1 <s> (boundary, 0 bytes); 2 "a"; 3 "▁a"; 4 "▁" alone; 5 a byte piece; 6 "xyz"; 7 "▁hello".
golf::ByteTables hand_tables() {
  golf::ByteTables t;
  t.base_bytes = {0, 0, 1, 1, 0, 1, 3, 5};
  t.has_leading_space = {0, 0, 0, 1, 1, 0, 0, 1};
  t.is_boundary = {1, 1, 0, 0, 0, 0, 0, 0};
  return t;
}
constexpr int64_t kHandVocab = 8;

// A reproducible stream over ids [0, vocab) with BOS (1) about every 10th token.
std::vector<int64_t> random_stream(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> s(n);
  for (int64_t i = 0; i < n; ++i) s[i] = (i == 0 || rng() % 10 == 0) ? 1 : static_cast<int64_t>(rng() % vocab);
  return s;
}

// The reference byte rule, position by position: target s[t], previous token s[t-1].
int64_t expected_bytes(const std::vector<int64_t>& s, const golf::ByteTables& t) {
  int64_t bytes = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    bytes += t.base_bytes[s[i]];
    if (t.has_leading_space[s[i]] && !t.is_boundary[s[i - 1]]) bytes += 1;
  }
  return bytes;
}

// Through the host's evaluation loop, as a run evaluates.
golf::testing::EvalOutcome run_bpb(golf::Architecture& model, const std::vector<int64_t>& stream, const golf::ByteTables& t,
                                   int64_t seq_len, int64_t batch_tokens) {
  auto eval = make_plugin<golf::Evaluator>("bpb", "batch_tokens = " + std::to_string(batch_tokens));
  return golf::testing::run_evaluation(*eval, model, stream, t, seq_len);
}

TEST(BpbTest, ScoresEveryTargetOnceWithItsOwnInput) {
  // Tokens 0..N-1 are all different, so each recorded (input, target) pair names its position.
  for (int64_t n : {65, 70}) {  // N-1 = 64 = 4 windows of 16; N-1 = 69 = 4 windows + 5
    std::vector<int64_t> stream(n);
    for (int64_t i = 0; i < n; ++i) stream[i] = i;
    golf::ByteTables t;
    t.base_bytes.assign(n, 2);
    t.has_leading_space.assign(n, 0);
    t.is_boundary.assign(n, 0);
    UniformModel model(n);
    const golf::testing::EvalOutcome sums = run_bpb(model, stream, t, /*seq_len=*/16, /*batch_tokens=*/32);

    EXPECT_EQ(sums.targets, n - 1);
    EXPECT_EQ(sums.bytes, 2 * (n - 1));
    EXPECT_NEAR(sums.loss_sum, (n - 1) * std::log(static_cast<double>(n)), 1e-5 * n);
    std::vector<std::pair<int64_t, int64_t>> expected;
    for (int64_t i = 1; i < n; ++i) expected.emplace_back(i - 1, i);
    EXPECT_EQ(model.pairs, expected) << "N = " << n;  // in order, each exactly once

    // Two windows of 16 per batch; the remainder, if any, as one shorter window.
    std::vector<std::pair<int64_t, int64_t>> shapes = {{2, 16}, {2, 16}};
    if (n == 70) shapes.emplace_back(1, 5);
    EXPECT_EQ(model.shapes, shapes) << "N = " << n;
  }
}

TEST(BpbTest, UniformLossIsTargetsTimesLogV) {
  const std::vector<int64_t> stream = random_stream(1001, kHandVocab, 7);
  const golf::ByteTables t = hand_tables();
  UniformModel model(kHandVocab);
  const golf::testing::EvalOutcome sums = run_bpb(model, stream, t, /*seq_len=*/64, /*batch_tokens=*/256);
  EXPECT_EQ(sums.targets, 1000);
  EXPECT_NEAR(sums.loss_sum, 1000 * std::log(8.0), 1e-3);
  EXPECT_EQ(sums.bytes, expected_bytes(stream, t));
}

TEST(BpbTest, BytesFollowTheLeadingSpaceRule) {
  // By hand: targets "▁a" after <s> 1+0, "▁a" after "▁a" 1+1, <s> after "▁a" 0, "▁" after <s> 0+0,
  // "▁hello" after "▁" 5+1, byte after "▁hello" 1, "xyz" after byte 3, "▁" after "xyz" 0+1.
  const std::vector<int64_t> stream = {1, 3, 3, 1, 4, 7, 5, 6, 4};
  const golf::ByteTables t = hand_tables();
  UniformModel model(kHandVocab);
  const golf::testing::EvalOutcome sums = run_bpb(model, stream, t, /*seq_len=*/3, /*batch_tokens=*/3);
  EXPECT_EQ(sums.targets, 8);
  EXPECT_EQ(sums.bytes, 1 + 2 + 0 + 0 + 6 + 1 + 3 + 1);
  EXPECT_EQ(sums.bytes, expected_bytes(stream, t));  // the loop used by the tests below agrees

  // A longer random stream, with the boundary falling at window edges as well as inside windows.
  const std::vector<int64_t> longer = random_stream(2000, kHandVocab, 11);
  UniformModel model2(kHandVocab);
  EXPECT_EQ(run_bpb(model2, longer, t, /*seq_len=*/7, /*batch_tokens=*/50).bytes, expected_bytes(longer, t));
}

TEST(BpbTest, BigramLossMatchesPerPositionSumForAnyBatchSize) {
  const std::vector<int64_t> stream = random_stream(3001, kHandVocab, 3);  // 3000 targets, seq 64: 46 windows + 56
  const golf::ByteTables t = hand_tables();
  BigramModel reference(kHandVocab, stream);
  double expected_loss = 0;
  for (size_t i = 1; i < stream.size(); ++i) expected_loss += reference.nll_of(stream[i - 1], stream[i]);

  for (int64_t batch_tokens : {1, 64, 200, 1024, 1 << 20}) {
    BigramModel model(kHandVocab, stream);
    const golf::testing::EvalOutcome sums = run_bpb(model, stream, t, /*seq_len=*/64, batch_tokens);
    EXPECT_EQ(sums.targets, 3000) << batch_tokens;
    EXPECT_EQ(sums.bytes, expected_bytes(stream, t)) << batch_tokens;
    EXPECT_NEAR(sums.loss_sum, expected_loss, 1e-9 * expected_loss) << batch_tokens;
  }
}

TEST(BpbTest, EvaluatesWithoutGradInEvalModeAndRestoresTraining) {
  const std::vector<int64_t> stream = random_stream(300, kHandVocab, 5);
  const golf::ByteTables t = hand_tables();
  UniformModel model(kHandVocab);
  ASSERT_TRUE(at::GradMode::is_enabled());
  run_bpb(model, stream, t, /*seq_len=*/32, /*batch_tokens=*/64);
  EXPECT_FALSE(model.trained_during_forward);
  EXPECT_FALSE(model.grad_during_forward);
  // Evaluation mode for every chunk (5 of 64 targets), training mode again afterwards.
  EXPECT_EQ(model.mode_calls, (std::vector<bool>{false, false, false, false, false, true}));
  EXPECT_TRUE(at::GradMode::is_enabled());
}

TEST(BpbTest, RejectsIdsOutsideTheTablesAndBadConfig) {
  const golf::ByteTables t = hand_tables();
  UniformModel model(16);
  EXPECT_THROW(run_bpb(model, {1, 2, 9, 3}, t, 2, 64), std::runtime_error);  // the host counts bytes
  EXPECT_THROW(run_bpb(model, {1}, t, 2, 64), std::runtime_error);
  // Refused as a config error; the host may pass it on as another std::runtime_error naming the key.
  try {
    make_plugin<golf::Evaluator>("bpb", "batch_tokens = 0");
    ADD_FAILURE() << "batch_tokens = 0 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
