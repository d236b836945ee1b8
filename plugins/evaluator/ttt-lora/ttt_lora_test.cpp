// Tests for the `ttt-lora` evaluator: per-document adapters, scores independent of the group, phases on scored text (§5.29).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
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
constexpr int64_t kBos = 1;

// A document: BOS, then a random arrangement of `unit` ids from [2, 32), repeated `reps` times.
std::vector<int64_t> document(int64_t unit, int64_t reps, uint32_t seed) {
  std::vector<int64_t> ids(30);
  std::iota(ids.begin(), ids.end(), 2);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  std::vector<int64_t> d{kBos};
  for (int64_t r = 0; r < reps; ++r) d.insert(d.end(), ids.begin(), ids.begin() + unit);
  return d;
}

// Documents one after another, closed by a BOS (each document predicts the next one's BOS).
std::vector<int64_t> stream_of(const std::vector<std::vector<int64_t>>& docs) {
  std::vector<int64_t> s;
  for (const auto& d : docs) s.insert(s.end(), d.begin(), d.end());
  s.push_back(kBos);
  return s;
}

std::vector<std::vector<int64_t>> four_documents() {
  return {document(12, 10, 1), document(9, 8, 2), document(11, 12, 3), document(10, 6, 4)};
}

// Small adapters that learn within a few chunks (the defaults are for 2048-token contexts).
const std::string kLora = "chunk_tokens = 8\ncontext = 32\nrank = 8\nalpha = 16.0\nweight_decay = 0.0\n";
const std::string kLearn = "lr = 0.01\n";

TEST(TttLoraTest, ScoresEveryTargetOnceAndLearnsWithinDocuments) {
  const std::vector<int64_t> stream = stream_of(four_documents());
  const int64_t n = stream.size() - 1;
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(32);
  auto gpt = golf::evaltest::tiny_gpt(kTinyGpt, 32);
  const std::vector<at::Tensor> before = golf::evaltest::copies_of(*gpt);

  auto sliding = make_plugin<golf::Evaluator>("sliding", "window = 32\nstride = 16");
  const auto fixed = golf::testing::run_evaluation(*sliding, *gpt, stream, tables, 32);
  auto frozen = make_plugin<golf::Evaluator>("ttt-lora", kLora + "batch_docs = 4\nlr = 0.0");
  const auto unadapted = golf::testing::run_evaluation(*frozen, *gpt, stream, tables, 32);

  auto lora = make_plugin<golf::Evaluator>("ttt-lora", kLora + kLearn + "batch_docs = 3");
  Recorder recorder(*lora);
  bool base_untouched = true;
  recorder.after_adapt = [&](golf::Architecture& m) {  // adapters only: no .grad, no change to the base
    const std::vector<golf::Param> params = m.parameters();
    for (size_t i = 0; i < params.size(); ++i)
      base_untouched = base_untouched && !params[i].tensor.grad().defined() && at::equal(params[i].tensor, before[i]);
  };
  const auto adapted = golf::testing::run_evaluation(recorder, *gpt, stream, tables, 32);

  EXPECT_EQ(adapted.targets, n);
  ASSERT_EQ(int64_t(recorder.times.size()), n);
  for (const auto& [p, times] : recorder.times) EXPECT_EQ(times, 1) << p;
  EXPECT_TRUE(base_untouched);
  EXPECT_LT(adapted.loss_sum, 0.9 * fixed.loss_sum) << "sliding " << fixed.loss_sum / n << ", ttt-lora " << adapted.loss_sum / n;
  EXPECT_LT(adapted.loss_sum, 0.9 * unadapted.loss_sum) << "lr 0 " << unadapted.loss_sum / n << ", ttt-lora " << adapted.loss_sum / n;
  golf::evaltest::expect_parameters_equal(*gpt, before);
}

// Document 2's NLL, target by target, from an evaluation of `stream` where it starts at `start`.
std::vector<double> document_nll(const Recorder& r, int64_t start, int64_t length) {
  std::vector<double> out;
  for (int64_t p = start + 1; p <= start + length; ++p) out.push_back(r.nll.at(p));
  return out;
}

TEST(TttLoraTest, ADocumentScoresTheSameAloneAsInItsGroup) {
  const auto docs = four_documents();
  const std::vector<int64_t> grouped = stream_of(docs), alone = stream_of({docs[2]});
  const int64_t start = docs[0].size() + docs[1].size(), length = docs[2].size();
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(32);
  // context 32 within [train] seq_len 32, and past seq_len 8 (every forward padded to context).
  for (int64_t seq_len : {32, 8}) {
    auto gpt = golf::evaltest::tiny_gpt(kTinyGpt, seq_len);
    golf::evaltest::randomize_matrices(*gpt, 9);
    auto score = [&](const std::vector<int64_t>& stream, int64_t lanes, int64_t at) {
      auto lora = make_plugin<golf::Evaluator>("ttt-lora", kLora + kLearn + "batch_docs = " + std::to_string(lanes));
      Recorder r(*lora);
      golf::testing::run_evaluation(r, *gpt, stream, tables, seq_len);
      return document_nll(r, at, length);
    };
    const std::vector<double> by_itself = score(alone, 1, 0);
    // In lane 2 of one group of four; in lane 0 of a second group of two.
    for (const std::vector<double>& other : {score(grouped, 4, start), score(grouped, 2, start)}) {
      ASSERT_EQ(other.size(), by_itself.size());
      for (size_t i = 0; i < other.size(); ++i) EXPECT_NEAR(other[i], by_itself[i], 1e-4) << "seq_len " << seq_len << ", target " << i;
    }
  }
}

TEST(TttLoraTest, PhasesTrainTheBaseModelOnScoredDocumentsOnly) {
  // Eight documents; ids are positions + 2 (BOS 1 at document starts), so a training target names
  // where it came from.
  std::vector<int64_t> stream;
  std::vector<int64_t> starts;
  for (int64_t d = 0; d < 8; ++d) {
    starts.push_back(stream.size());
    const int64_t length = 20 + 7 * d;
    for (int64_t i = 0; i < length; ++i) stream.push_back(i == 0 ? kBos : int64_t(stream.size()) + 2);
  }
  stream.push_back(kBos);
  const golf::ByteTables tables = golf::evaltest::one_byte_tables(512);
  auto gpt = golf::evaltest::tiny_gpt("vocab_size = 512\nnum_layers = 1\nmodel_dim = 16\nnum_heads = 2\nnum_kv_heads = 1\n", 16);
  const std::vector<at::Tensor> before = golf::evaltest::copies_of(*gpt);
  golf::evaltest::Spy spy(*gpt);
  // Groups of two documents; phases after 2 and 4 documents, each over 32-target chunks.
  const std::string keys = "batch_docs = 2\nchunk_tokens = 8\ncontext = 12\nrank = 2\n";
  auto lora = make_plugin<golf::Evaluator>(
      "ttt-lora", keys + "phases = 2\nphase_docs = 4\nphase_lr = 0.1\nphase_chunk_tokens = 32\nphase_micro_batch_seqs = 1\n");
  Recorder recorder(*lora);
  int64_t phase_forwards = 0, phase_max = 0;
  spy.on_train = [&](const at::Tensor& x, const at::Tensor& y) {
    if (x.size(1) != 16) return;  // an adapter step (windows of at most context = 12)
    ++phase_forwards;
    for (int64_t v : std::vector<int64_t>(y.data_ptr<int64_t>(), y.data_ptr<int64_t>() + y.numel())) {
      if (v == kBos) continue;
      EXPECT_EQ(recorder.times[v - 2], 1) << "a phase trained on target " << v - 2 << " before it was scored";
      phase_max = std::max(phase_max, v - 2);
    }
  };
  const auto phased = golf::testing::run_evaluation(recorder, spy, stream, tables, 16);
  EXPECT_EQ(phased.targets, int64_t(stream.size()) - 1);
  for (const auto& [p, times] : recorder.times) EXPECT_EQ(times, 1) << p;
  // Phase 1 after documents 0-1, phase 2 after documents 0-3: nothing later is trained on.
  EXPECT_GT(phase_forwards, 0);
  EXPECT_LT(phase_max, starts[4]);
  EXPECT_GE(phase_max, starts[3]);
  golf::evaltest::expect_parameters_equal(*gpt, before);

  // Without phases, documents 0-1 (scored before the first phase) score the same; the later ones,
  // scored by the base model the phases trained, do not.
  auto plain = make_plugin<golf::Evaluator>("ttt-lora", keys);
  Recorder plain_recorder(*plain);
  golf::testing::run_evaluation(plain_recorder, *gpt, stream, tables, 16);
  const int64_t end = int64_t(stream.size());
  EXPECT_NEAR(golf::evaltest::sum_over(plain_recorder.nll, 1, starts[2] + 1), golf::evaltest::sum_over(recorder.nll, 1, starts[2] + 1),
              1e-6);
  EXPECT_GT(std::abs(golf::evaltest::sum_over(plain_recorder.nll, starts[2] + 1, end) -
                     golf::evaltest::sum_over(recorder.nll, starts[2] + 1, end)),
            1e-3);
}

TEST(TttLoraTest, RefusesAnArchitectureWithoutALinearHookAndBadKeys) {
  class NoHook : public golf::Architecture {
   public:
    void build() override {}
    int64_t vocab_size() const override { return 8; }
    std::vector<golf::Param> parameters() override { return {}; }
    at::Tensor logits(const at::Tensor& x) override { return at::zeros({x.size(0), x.size(1), 8}); }
    at::Tensor forward(const at::Tensor& x, const at::Tensor&) override { return at::full(x.sizes(), std::log(8.0)); }
  } model;
  auto lora = make_plugin<golf::Evaluator>("ttt-lora");
  try {
    golf::testing::run_evaluation(*lora, model, {1, 2, 3, 1, 4, 5}, golf::evaltest::one_byte_tables(8), 4);
    ADD_FAILURE() << "ttt-lora accepted an architecture without a linear hook";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("set_linear_hook"), std::string::npos) << e.what();
  }
  golf::testing::expect_rejected<golf::Evaluator>("ttt-lora", "context = 16\nchunk_tokens = 17", "chunk_tokens");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-lora", "phases = 3\nphase_docs = 2", "phases");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-lora", "beta2 = 1.0", "beta2");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-lora", "rank = 0", "rank");
  golf::testing::expect_rejected<golf::Evaluator>("ttt-lora", "batch_docs = 0", "batch_docs");
}

}  // namespace
