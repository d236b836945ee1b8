// tests/e2e/legality_test.cpp: validation tokens never reach training, warm-up priming or calibration (parameter-golf.md §1.5).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "e2e.h"
#include "shard.h"

namespace fs = std::filesystem;

namespace golf::testing {
namespace {

constexpr size_t kGram = 12;  // token n-grams this long do not repeat between unrelated texts

std::vector<int64_t> tokens_of(const std::string& raw) {
  std::vector<int64_t> out(raw.size() / sizeof(int64_t));
  std::memcpy(out.data(), raw.data(), out.size() * sizeof(int64_t));
  return out;
}

std::set<std::vector<int64_t>> grams(const std::vector<int64_t>& t) {
  std::set<std::vector<int64_t>> out;
  for (size_t i = 0; i + kGram <= t.size(); ++i) out.emplace(t.begin() + i, t.begin() + i + kGram);
  return out;
}

// Rows of `seq_len` tokens as the spy recorded them: n-grams only within a row.
std::set<std::vector<int64_t>> row_grams(const std::vector<int64_t>& t, size_t seq_len) {
  std::set<std::vector<int64_t>> out;
  for (size_t r = 0; r + seq_len <= t.size(); r += seq_len) {
    auto g = grams(std::vector<int64_t>(t.begin() + r, t.begin() + r + seq_len));
    out.insert(g.begin(), g.end());
  }
  return out;
}

std::vector<int64_t> shard_stream(const std::string& glob_dir, const std::string& prefix) {
  std::vector<int64_t> all;
  for (const auto& e : fs::directory_iterator(glob_dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0)
      for (uint16_t t : host::read_shard(e.path().string(), 1 << 16)) all.push_back(t);
  return all;
}

size_t shared(const std::set<std::vector<int64_t>>& a, const std::set<std::vector<int64_t>>& b) {
  size_t n = 0;
  for (const auto& g : a) n += b.count(g);
  return n;
}

// A corpus whose validation documents (named to sort first) are random letters, and whose training
// documents are golf's sources: no long n-gram of one can occur in the other by chance.
void write_validation_docs(const TempDir& dir) {
  std::mt19937 rng(7);
  for (int d = 0; d < 4; ++d) {
    std::string text;
    for (int w = 0; w < 400; ++w) {
      for (int c = 2 + int(rng() % 6); c > 0; --c) text += char('a' + rng() % 26);
      text += ' ';
    }
    dir.write("corpus/000" + std::to_string(d) + ".txt", text);
  }
}

void expect_no_validation_tokens(const std::string& source) {
  TempDir dir;
  std::string pipeline = tiny_pipeline(dir, "");
  write_validation_docs(dir);
  const std::string run = dir / "run";
  Result r = host("run " + pipeline + " --run-dir " + run + " --plugin-path " + GOLF_TEST_SPY_PLUGIN_DIR +
                  " --set architecture.plugin=spy-gpt --set quantizer.plugin=spy-calibrating" +
                  " --set quantizer.source=\\\"" + source + "\\\" --set train.warmup_steps=3 --set train.val_every=20");
  ASSERT_EQ(r.code, 0) << r.output;

  const auto val = grams(shard_stream(run + "/data", "corpus_val_"));
  const auto train = grams(shard_stream(run + "/data", "corpus_train_"));
  const auto trained = row_grams(tokens_of(slurp(run + "/spy-train.bin")), 64);
  const auto calibrated = row_grams(tokens_of(slurp(run + "/spy-logits.bin")), 64);
  ASSERT_GT(val.size(), 1000u);
  // The controls: the spy saw training text in both (so an empty record cannot pass).
  EXPECT_GT(shared(trained, train), 1000u);
  EXPECT_FALSE(calibrated.empty());
  if (source == "train") EXPECT_GT(shared(calibrated, train), 100u);
  // The rule.
  EXPECT_EQ(shared(trained, val), 0u) << "training or warm-up read validation text";
  EXPECT_EQ(shared(calibrated, val), 0u) << "calibration read validation text";
}

TEST(LegalityTest, ValidationTokensNeverReachTrainingWarmupOrCalibrationOnTrainingText) {
  expect_no_validation_tokens("train");
}

TEST(LegalityTest, ValidationTokensNeverReachTrainingWarmupOrCalibrationOnGeneratedText) {
  expect_no_validation_tokens("generated");
}

}  // namespace
}  // namespace golf::testing
