// host/evaluate_test.cpp: the evaluation loop's guarantees (§1.5): no look-ahead, cheats stopped, weights restored, budget kept.
#include "evaluate.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "context.h"
#include "errors.h"

namespace golf::host {
namespace {

// One trainable vector of logits, the same distribution at every position.
class UnigramModel : public Architecture {
 public:
  explicit UnigramModel(int64_t vocab) : w_(at::zeros({vocab}).requires_grad_()) {}
  void build() override {}
  int64_t vocab_size() const override { return w_.size(0); }
  std::vector<Param> parameters() override { return {{"w", w_, ParamRole::kScalar}}; }
  at::Tensor logits(const at::Tensor& x) override { return w_.expand({x.size(0), x.size(1), w_.size(0)}); }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override {
    return at::cross_entropy_loss(logits(x).reshape({-1, w_.size(0)}), y.reshape({-1}), {}, at::Reduction::None)
        .view(x.sizes());
  }
  void set_training(bool training) override { training_ = training; }
  bool training_ = true;

 private:
  at::Tensor w_;
};

// Scores honestly with the model, as `plan` says, and records every call; a test bends one rule
// through `on_score` or `on_adapt`.
class TestEvaluator : public Evaluator {
 public:
  EvalPlan plan;
  std::function<std::vector<at::Tensor>(Architecture&, const std::vector<EvalChunk>&)> on_score;
  std::function<void(Architecture&, const std::vector<EvalChunk>&)> on_adapt;
  std::vector<std::vector<EvalChunk>> scored, adapted;
  at::Tensor state = at::zeros({1});  // evaluator state, saved and restored by the host

  EvalPlan begin(Architecture&, const EvalSetup&) override { return plan; }
  std::vector<at::Tensor> score(Architecture& model, const std::vector<EvalChunk>& batch) override {
    scored.push_back(batch);
    return on_score ? on_score(model, batch) : honest(model, batch);
  }
  void adapt(Architecture& model, const std::vector<EvalChunk>& batch) override {
    adapted.push_back(batch);
    state += 1;
    if (on_adapt) on_adapt(model, batch);
  }
  void save_state(StateDict& out) const override { out["state"] = state.clone(); }
  void load_state(const StateDict& in) override { state = in.at("state").clone(); }

  static std::vector<at::Tensor> honest(Architecture& model, const std::vector<EvalChunk>& batch) {
    std::vector<at::Tensor> out;
    for (const EvalChunk& c : batch) {
      const int64_t n = c.end - c.begin;
      out.push_back(model.forward(c.tokens.narrow(0, c.begin - 1 - c.first, n).view({1, n}),
                                  c.tokens.narrow(0, c.begin - c.first, n).view({1, n}))
                        .view({-1}));
    }
    return out;
  }
};

ByteTables one_byte_tables(int64_t vocab) {
  ByteTables t;
  t.base_bytes.assign(vocab, 1);
  t.has_leading_space.assign(vocab, 0);
  t.is_boundary.assign(vocab, 0);
  return t;
}

constexpr int64_t kVocab = 16;
constexpr int32_t kBos = 1;

EvalResult run(Evaluator& e, Architecture& model, const std::vector<int64_t>& s, const std::string& plugin = "under test",
               double budget_seconds = 0) {
  static const ByteTables tables = one_byte_tables(kVocab);
  const at::Tensor tokens = at::tensor(s, at::kLong);
  RunLog log;
  log.set_quiet(true);
  const EvalStream stream{tokens, &tables, kBos, 8, count_bytes(tokens, tables)};
  return evaluate(e, plugin, model, stream, budget_seconds, "test", log);
}

// Documents of varying length (BOS = 1), after a few tokens before the first BOS.
std::vector<int64_t> documents_stream(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> s = {5, 6, 7};
  for (int d = 0; d < 9; ++d) {
    s.push_back(kBos);
    for (uint32_t i = 0, n = 1 + rng() % 13; i < n; ++i) s.push_back(2 + rng() % (kVocab - 2));
  }
  return s;
}

// Expects `fn` to throw a std::runtime_error whose message holds every one of `parts`.
void expect_stopped(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "not stopped; expected: " << parts.front();
  } catch (const std::runtime_error& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(EvaluateTest, HonestEvaluatorGetsTheModelsLoss) {
  std::vector<int64_t> s(101);
  for (size_t i = 0; i < s.size(); ++i) s[i] = int64_t(i * 7 % kVocab);
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 7;
  const EvalResult r = run(e, model, s);
  EXPECT_EQ(r.tokens, 100);
  EXPECT_EQ(r.bytes, 100);
  EXPECT_EQ(r.chunks, 15);  // ceil(100 / 7)
  EXPECT_NEAR(r.val_loss, std::log(double(kVocab)), 1e-6);
  EXPECT_NEAR(r.val_bpb, std::log2(double(kVocab)), 1e-6);
  EXPECT_FALSE(r.adapted);
  EXPECT_TRUE(e.adapted.empty());  // plan.adapts is false
}

// Every chunk: its tokens are exactly the stream's [first, end), ending at its last target, starting
// at max(segment start, begin - history); the chunks of a segment follow each other and cover it.
void check_chunks(const TestEvaluator& e, const std::vector<int64_t>& s, const std::vector<Segment>& segs,
                  int64_t history) {
  std::vector<int64_t> next(segs.size());
  for (size_t k = 0; k < segs.size(); ++k) next[k] = segs[k].begin;
  int64_t chunks = 0;
  for (const std::vector<EvalChunk>& batch : e.scored) {
    for (const EvalChunk& c : batch) {
      ++chunks;
      ASSERT_GE(c.segment, 0);
      ASSERT_LT(c.segment, int64_t(segs.size()));
      const Segment& seg = segs[c.segment];
      EXPECT_EQ(c.begin, next[c.segment]) << "chunks of a segment in order, none skipped";
      EXPECT_GT(c.end, c.begin);
      EXPECT_LE(c.end - c.begin, e.plan.chunk_tokens);
      EXPECT_LE(c.end, seg.end);
      EXPECT_EQ(c.first, std::max(seg.first, c.begin - history)) << "history as planned, within the segment";
      EXPECT_EQ(c.segment_start, c.begin == seg.begin);
      EXPECT_EQ(c.segment_end, c.end == seg.end);
      ASSERT_EQ(c.tokens.numel(), c.end - c.first) << "no token after the last target";
      for (int64_t i = 0; i < c.tokens.numel(); ++i) EXPECT_EQ(c.tokens[i].item<int64_t>(), s[c.first + i]);
      next[c.segment] = c.end;
    }
  }
  for (size_t k = 0; k < segs.size(); ++k) EXPECT_EQ(next[k], segs[k].end) << "segment " << k << " covered";
  EXPECT_GT(chunks, 0);
}

TEST(EvaluateTest, PlainStreamChunksNeverLookAhead) {
  std::vector<int64_t> s(58);
  std::mt19937 rng(4);
  for (int64_t& v : s) v = rng() % kVocab;
  for (int64_t history : {1, 3, 100}) {
    UnigramModel model(kVocab);
    TestEvaluator e;
    e.plan.chunk_tokens = 5;
    e.plan.history_tokens = history;
    e.plan.adapts = true;
    const EvalResult r = run(e, model, s);
    EXPECT_EQ(r.tokens, 57);
    check_chunks(e, s, {{0, 1, 58}}, history);
    ASSERT_EQ(e.scored.size(), e.adapted.size());
    for (size_t i = 0; i < e.scored.size(); ++i) {  // adapt() sees exactly the batch just scored
      ASSERT_EQ(e.adapted[i].size(), 1u);
      EXPECT_EQ(e.adapted[i][0].begin, e.scored[i][0].begin);
      EXPECT_EQ(e.adapted[i][0].end, e.scored[i][0].end);
    }
  }
}

TEST(EvaluateTest, DocumentChunksStayInTheirDocumentAndLane) {
  const std::vector<int64_t> s = documents_stream(8);
  const std::vector<Segment> segs = segments(at::tensor(s, at::kLong), kBos);
  ASSERT_EQ(segs.size(), 10u);  // the tokens before the first BOS, then nine documents
  for (int64_t lanes : {1, 3, 4}) {
    UnigramModel model(kVocab);
    TestEvaluator e;
    e.plan.chunk_tokens = 4;
    e.plan.history_tokens = 5;
    e.plan.documents = true;
    e.plan.lanes = lanes;
    e.plan.adapts = true;
    const EvalResult r = run(e, model, s);
    EXPECT_EQ(r.tokens, int64_t(s.size()) - 1);
    check_chunks(e, s, segs, 5);
    // Documents take lanes in stream order, a group at a time, and keep their lane.
    std::vector<int64_t> lane_of(segs.size(), -1);
    for (const std::vector<EvalChunk>& batch : e.scored) {
      EXPECT_LE(int64_t(batch.size()), lanes);
      const int64_t group = batch.front().segment / lanes;
      for (const EvalChunk& c : batch) {
        EXPECT_EQ(c.segment / lanes, group) << "one group per batch";
        EXPECT_EQ(c.lane, c.segment % lanes);
        if (lane_of[c.segment] >= 0) EXPECT_EQ(c.lane, lane_of[c.segment]);
        lane_of[c.segment] = c.lane;
        if (c.first == segs[c.segment].first && c.segment > 0) EXPECT_EQ(c.tokens[0].item<int64_t>(), kBos);
      }
    }
  }
}

TEST(EvaluateTest, AdaptingWhileScoringIsStopped) {
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 4;
  e.on_score = [](Architecture& m, const std::vector<EvalChunk>& batch) {
    std::vector<at::Tensor> out = TestEvaluator::honest(m, batch);
    m.parameters()[0].tensor.add_(0.5);  // "adapt before scoring": learn from the targets just seen
    return out;
  };
  expect_stopped([&] { run(e, model, documents_stream(1), "cheater"); },
                 {"evaluator cheater", "changed parameter w", "adapt only on tokens already scored"});
  EXPECT_TRUE(at::equal(model.parameters()[0].tensor, at::zeros({kVocab}))) << "weights not restored after the stop";
}

TEST(EvaluateTest, ScoringATargetTwiceIsStopped) {
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 4;
  e.on_score = [](Architecture& m, const std::vector<EvalChunk>& batch) {
    std::vector<at::Tensor> out = TestEvaluator::honest(m, batch);
    out[0] = at::cat({out[0], out[0].narrow(0, 0, 1)});  // "score twice": one target again
    return out;
  };
  expect_stopped([&] { run(e, model, documents_stream(2), "cheater"); }, {"evaluator cheater", "scored exactly once"});

  e.on_score = [](Architecture&, const std::vector<EvalChunk>&) { return std::vector<at::Tensor>(); };
  expect_stopped([&] { run(e, model, documents_stream(2), "cheater"); }, {"evaluator cheater", "0 score tensors"});
}

TEST(EvaluateTest, NegativeOrNonFiniteNllIsStopped) {
  UnigramModel model(kVocab);
  for (double bad : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    TestEvaluator e;
    e.plan.chunk_tokens = 4;
    e.on_score = [bad](Architecture& m, const std::vector<EvalChunk>& batch) {
      std::vector<at::Tensor> out = TestEvaluator::honest(m, batch);
      out[0][0] = bad;
      return out;
    };
    expect_stopped([&] { run(e, model, documents_stream(3), "cheater"); },
                   {"evaluator cheater", bad < 0 ? "negative NLL" : "non-finite NLL"});
  }
}

TEST(EvaluateTest, ModesAndGradientsAsPromised) {
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 6;
  e.plan.adapts = true;
  bool scored_ok = true, adapted_ok = true;
  e.on_score = [&](Architecture& m, const std::vector<EvalChunk>& batch) {
    scored_ok = scored_ok && !at::GradMode::is_enabled() && !model.training_;
    return TestEvaluator::honest(m, batch);
  };
  e.on_adapt = [&](Architecture&, const std::vector<EvalChunk>&) {
    adapted_ok = adapted_ok && at::GradMode::is_enabled() && model.training_;
  };
  run(e, model, documents_stream(4));
  EXPECT_TRUE(scored_ok) << "score() under no-grad in evaluation mode";
  EXPECT_TRUE(adapted_ok) << "adapt() with gradients in training mode";
  EXPECT_TRUE(model.training_);
}

TEST(EvaluateTest, WeightsAndEvaluatorStateAreRestored) {
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 3;
  e.plan.adapts = true;
  // Real training in adapt(): a gradient step on the chunk's loss, leaving a .grad behind.
  e.on_adapt = [](Architecture& m, const std::vector<EvalChunk>& batch) {
    at::Tensor w = m.parameters()[0].tensor;
    TestEvaluator::honest(m, batch)[0].mean().backward();
    at::NoGradGuard no_grad;
    w.sub_(w.grad());
    w.mutable_grad().zero_();
  };
  std::vector<int64_t> s(60, 3);  // one token over and over: a unigram learns it
  for (size_t i = 0; i < s.size(); i += 10) s[i] = kBos;
  const EvalResult adapted = run(e, model, s);
  EXPECT_TRUE(adapted.adapted);
  EXPECT_LT(adapted.val_loss, std::log(double(kVocab))) << "the adaptation helped";
  EXPECT_TRUE(at::equal(model.parameters()[0].tensor, at::zeros({kVocab})));
  EXPECT_FALSE(model.parameters()[0].tensor.grad().defined());
  EXPECT_EQ(e.state.item<float>(), 0.0f) << "evaluator state restored";
  // The next evaluation starts from the same weights and gets the same result.
  EXPECT_DOUBLE_EQ(run(e, model, s).val_loss, adapted.val_loss);

  // Also when the evaluation stops with an error.
  e.on_score = [](Architecture& m, const std::vector<EvalChunk>& batch) -> std::vector<at::Tensor> {
    if (batch.front().begin > 10) throw std::runtime_error("evaluator failed");
    return TestEvaluator::honest(m, batch);
  };
  EXPECT_THROW(run(e, model, s), std::runtime_error);
  EXPECT_TRUE(at::equal(model.parameters()[0].tensor, at::zeros({kVocab})));
  EXPECT_EQ(e.state.item<float>(), 0.0f);
}

TEST(EvaluateTest, EvalSecondsBudgetStopsWithOverLimit) {
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 1;
  e.on_score = [](Architecture& m, const std::vector<EvalChunk>& batch) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return TestEvaluator::honest(m, batch);
  };
  std::vector<int64_t> s(41, 3);
  try {
    run(e, model, s, "slow", /*budget_seconds=*/0.05);
    ADD_FAILURE() << "a 0.8 s evaluation finished within a 0.05 s budget";
  } catch (const OverLimit& ex) {
    EXPECT_NE(std::string(ex.what()).find("eval_seconds"), std::string::npos) << ex.what();
  }
  EXPECT_LT(e.scored.size(), 40u) << "stopped early";
  // Without a budget it runs to the end.
  TestEvaluator unhurried;
  unhurried.plan.chunk_tokens = 8;
  EXPECT_EQ(run(unhurried, model, s, "slow", 0).tokens, 40);
}

TEST(EvaluateTest, RefusesABadPlan) {
  UnigramModel model(kVocab);
  TestEvaluator e;
  e.plan.chunk_tokens = 0;
  expect_stopped([&] { run(e, model, documents_stream(6), "planner"); }, {"evaluator planner", "chunk_tokens"});
  e.plan.chunk_tokens = 4;
  e.plan.history_tokens = 0;
  expect_stopped([&] { run(e, model, documents_stream(6), "planner"); }, {"history_tokens"});
  e.plan.history_tokens = 1;
  e.plan.lanes = 2;  // lanes need documents
  expect_stopped([&] { run(e, model, documents_stream(6), "planner"); }, {"lanes"});
}

}  // namespace
}  // namespace golf::host
