// tests/conformance/evaluator_conformance_test.cpp: what every evaluator plugin must do through the host's loop (host/evaluate.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "evaluate.h"
#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Architecture;
using golf::Evaluator;
using golf::Param;
using golf::ParamRole;

// A training length of 128 lets every built-in evaluator run with its defaults (sliding's stride 64
// must fit in a window).
constexpr int64_t kVocab = 8, kSeqLen = 128;
constexpr int32_t kBos = 1;

std::vector<std::string> evaluators() {
  std::vector<std::string> names = golf::testing::conformance_plugins(GOLF_KIND_EVALUATOR);
  EXPECT_FALSE(names.empty()) << "no evaluator plugin found";
  return names;
}

// A model whose next-token distribution depends on the previous token only: logits[t] = table[x_t].
// Any context an evaluator hands it, a target's NLL is -log p(y | x) of its own input, so the total
// over the stream is fixed by which targets were scored, each with which input. It has real
// parameters, used in a matmul that reports to a LinearHook (adapter evaluators install one), but
// multiplied by zero: adaptation (test-time training) cannot move the scores, and the sums stay exact
// for every evaluator.
class TableModel final : public Architecture {
 public:
  explicit TableModel(at::Tensor table) : table_(std::move(table)) {
    at::manual_seed(3);
    weight_ = (at::randn({kVocab, kVocab}) * 0.1).set_requires_grad(true);
    gain_ = at::ones({kVocab}).set_requires_grad(true);
  }
  // Every id equally likely: NLL log(V) per target.
  static TableModel uniform() { return TableModel(at::zeros({kVocab, kVocab})); }
  // log p(y | x) from add-one-smoothed bigram counts of `stream`.
  static TableModel bigram(const std::vector<int64_t>& stream) {
    at::Tensor counts = at::ones({kVocab, kVocab}, at::kDouble);
    for (size_t t = 1; t < stream.size(); ++t) counts[stream[t - 1]][stream[t]] += 1;
    return TableModel(at::log_softmax(counts.log(), 1).to(at::kFloat));
  }

  void build() override {}
  int64_t vocab_size() const override { return kVocab; }
  std::vector<Param> parameters() override {
    return {{"weight", weight_, ParamRole::kMatrix}, {"gain", gain_, ParamRole::kScalar}};
  }
  at::Tensor logits(const at::Tensor& x) override {
    const at::Tensor onehot = at::one_hot(x, kVocab).to(at::kFloat);
    at::Tensor y = at::matmul(onehot, weight_.t());
    if (hook_) {
      const at::Tensor extra = hook_->on_linear(0, onehot);
      if (extra.defined()) y = y + extra;
    }
    return at::embedding(table_, x) + 0.0 * (y * gain_);
  }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override {
    return -at::log_softmax(logits(x), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1);
  }
  bool set_linear_hook(golf::LinearHook* hook) override {
    hook_ = hook;
    return true;
  }

  // -log p(y | x), for the expected sums.
  double nll(int64_t x, int64_t y) const { return -at::log_softmax(table_[x], 0)[y].item<double>(); }

 private:
  at::Tensor table_, weight_, gain_;
  golf::LinearHook* hook_ = nullptr;
};

// Tables by hand, V = 8, each kind of id the reference distinguishes:
//   0 <pad>, 1 <s> (boundary, 0 bytes); 2 "a"; 3 "▁a"; 4 "▁" alone; 5 a byte piece; 6 "xyz"; 7 "▁hello".
golf::ByteTables tables() {
  golf::ByteTables t;
  t.base_bytes = {0, 0, 1, 1, 0, 1, 3, 5};
  t.has_leading_space = {0, 0, 0, 1, 1, 0, 0, 1};
  t.is_boundary = {1, 1, 0, 0, 0, 0, 0, 0};
  return t;
}

// A reproducible stream that starts with BOS and has one about every 12th token (documents of
// varied length, some shorter than a chunk, some longer than seq_len).
std::vector<int64_t> stream(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> s(n);
  for (int64_t i = 0; i < n; ++i) s[i] = (i == 0 || rng() % 12 == 0) ? kBos : static_cast<int64_t>(rng() % kVocab);
  return s;
}

// The reference byte rule, position by position.
int64_t expected_bytes(const std::vector<int64_t>& s, const golf::ByteTables& t) {
  int64_t bytes = 0;
  for (size_t i = 1; i < s.size(); ++i) bytes += t.base_bytes[s[i]] + (t.has_leading_space[s[i]] && !t.is_boundary[s[i - 1]]);
  return bytes;
}

// 1 target, shorter than seq_len, a few windows, many windows with a remainder.
const std::vector<int64_t> kLengths = {2, 100, 129, 700, 3001};

std::vector<at::Tensor> snapshot(Architecture& model) {
  std::vector<at::Tensor> out;
  for (const Param& p : model.parameters()) out.push_back(p.tensor.detach().clone());
  return out;
}

TEST(EvaluatorConformance, PlanPassesTheHostsChecks) {
  const golf::ByteTables t = tables();
  for (const std::string& name : evaluators()) {
    SCOPED_TRACE(name);
    auto evaluator = golf::testing::make_plugin<Evaluator>(name);
    TableModel model = TableModel::uniform();
    for (int64_t n : kLengths) {
      const golf::EvalPlan plan = evaluator->begin(model, golf::EvalSetup{&t, kBos, kSeqLen, n});
      EXPECT_GE(plan.chunk_tokens, 1) << "stream of " << n;
      EXPECT_GE(plan.history_tokens, 1) << "stream of " << n;
      EXPECT_GE(plan.lanes, 1) << "stream of " << n;
      if (plan.lanes > 1) EXPECT_TRUE(plan.documents) << "lanes > 1 needs documents";
      evaluator->end(model);
    }
  }
}

// Each target once, with its own input: the NLL sum is the bigram sum over the stream, the bytes the
// reference rule's, for streams of several lengths.
TEST(EvaluatorConformance, ScoresEveryTargetExactlyOnce) {
  const golf::ByteTables t = tables();
  for (const std::string& name : evaluators()) {
    for (int64_t n : kLengths) {
      SCOPED_TRACE(name + ", stream of " + std::to_string(n) + " tokens");
      const std::vector<int64_t> s = stream(n, uint32_t(n));
      TableModel model = TableModel::bigram(s);
      double expected = 0;
      for (size_t i = 1; i < s.size(); ++i) expected += model.nll(s[i - 1], s[i]);
      auto evaluator = golf::testing::make_plugin<Evaluator>(name);
      const golf::testing::EvalOutcome r = golf::testing::run_evaluation(*evaluator, model, s, t, kSeqLen, kBos);
      EXPECT_EQ(r.targets, n - 1);
      EXPECT_EQ(r.bytes, expected_bytes(s, t));
      EXPECT_GE(r.chunks, 1);
      EXPECT_NEAR(r.loss_sum, expected, 1e-5 * std::max(1.0, expected));
    }
  }
}

TEST(EvaluatorConformance, UniformModelScoresLogVPerToken) {
  const golf::ByteTables t = tables();
  for (const std::string& name : evaluators()) {
    for (int64_t n : kLengths) {
      SCOPED_TRACE(name + ", stream of " + std::to_string(n) + " tokens");
      const std::vector<int64_t> s = stream(n, uint32_t(7 * n));
      TableModel model = TableModel::uniform();
      auto evaluator = golf::testing::make_plugin<Evaluator>(name);
      const golf::testing::EvalOutcome r = golf::testing::run_evaluation(*evaluator, model, s, t, kSeqLen, kBos);
      EXPECT_NEAR(r.loss_sum / double(r.targets), std::log(double(kVocab)), 1e-5);
      const int64_t bytes = expected_bytes(s, t);
      if (bytes > 0)
        EXPECT_NEAR(r.val_bpb, std::log2(double(kVocab)) * double(n - 1) / double(bytes), 1e-5);
    }
  }
}

TEST(EvaluatorConformance, LeavesTheModelsParametersUnchanged) {
  const golf::ByteTables t = tables();
  for (const std::string& name : evaluators()) {
    SCOPED_TRACE(name);
    const std::vector<int64_t> s = stream(1001, 5);
    TableModel model = TableModel::bigram(s);
    const std::vector<at::Tensor> before = snapshot(model);
    auto evaluator = golf::testing::make_plugin<Evaluator>(name);
    golf::testing::run_evaluation(*evaluator, model, s, t, kSeqLen, kBos);
    const std::vector<Param> after = model.parameters();
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_TRUE(at::equal(after[i].tensor, before[i])) << after[i].name;
      EXPECT_TRUE(after[i].tensor.requires_grad()) << after[i].name;
    }
  }
}

// The same evaluation twice (one instance, then a fresh one) gives the same sums, bit for bit.
TEST(EvaluatorConformance, IsDeterministic) {
  const golf::ByteTables t = tables();
  for (const std::string& name : evaluators()) {
    SCOPED_TRACE(name);
    const std::vector<int64_t> s = stream(1001, 9);
    TableModel model = TableModel::bigram(s);
    auto evaluator = golf::testing::make_plugin<Evaluator>(name);
    const golf::testing::EvalOutcome first = golf::testing::run_evaluation(*evaluator, model, s, t, kSeqLen, kBos);
    const golf::testing::EvalOutcome again = golf::testing::run_evaluation(*evaluator, model, s, t, kSeqLen, kBos);
    auto fresh_evaluator = golf::testing::make_plugin<Evaluator>(name);
    const golf::testing::EvalOutcome fresh = golf::testing::run_evaluation(*fresh_evaluator, model, s, t, kSeqLen, kBos);
    for (const golf::testing::EvalOutcome* r : {&again, &fresh}) {
      EXPECT_EQ(r->loss_sum, first.loss_sum);
      EXPECT_EQ(r->targets, first.targets);
      EXPECT_EQ(r->bytes, first.bytes);
      EXPECT_EQ(r->chunks, first.chunks);
    }
  }
}

}  // namespace
