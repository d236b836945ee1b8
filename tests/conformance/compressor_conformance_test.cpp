// tests/conformance/compressor_conformance_test.cpp: what every compressor plugin must do (exact roundtrip, loud failure).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

std::vector<std::string> compressors() {
  std::vector<std::string> names = golf::testing::conformance_plugins(GOLF_KIND_COMPRESSOR);
  EXPECT_FALSE(names.empty()) << "no compressor plugin found";
  return names;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Words drawn with a skewed distribution, like the serialized text or repetitive weights.
std::string text_like(size_t n) {
  static const char* words[] = {"the", "model", "weight", "of", "a", "golf", "parameter", "and", "quantized",
                                "row", "scale", "to", "in", "byte", "stream", "compression", "is", "small"};
  std::mt19937 rng(7);
  std::geometric_distribution<int> pick(0.25);
  std::string s;
  while (s.size() < n) {
    s += words[pick(rng) % (sizeof(words) / sizeof(words[0]))];
    s += rng() % 9 == 0 ? ".\n" : " ";
  }
  s.resize(n);
  return s;
}

TEST(CompressorConformance, RoundtripsExactly) {
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"empty", ""},
      {"one byte", "x"},
      {"small", "hello, parameter golf"},
      {"1 MB random", random_bytes(1 << 20, 1)},
      {"1 MB text-like", text_like(1 << 20)}};
  for (const std::string& name : compressors()) {
    auto c = golf::testing::make_plugin<golf::Compressor>(name);
    for (const auto& [what, raw] : inputs) {
      SCOPED_TRACE(name + ": " + what);
      const std::string packed = c->compress(raw);
      EXPECT_EQ(c->decompress(packed, raw.size()), raw);
      if (what == "1 MB text-like") EXPECT_LT(packed.size(), raw.size() / 3);
      if (what == "1 MB random") EXPECT_LT(packed.size(), raw.size() + raw.size() / 100);
    }
  }
}

TEST(CompressorConformance, RejectsGarbage) {
  for (const std::string& name : compressors()) {
    SCOPED_TRACE(name);
    auto c = golf::testing::make_plugin<golf::Compressor>(name);
    for (uint32_t seed = 0; seed < 20; ++seed) {
      const std::string garbage = random_bytes(1 + seed * 97, 1000 + seed);
      EXPECT_THROW(c->decompress(garbage, 1000), std::runtime_error) << "seed " << seed;
    }
    EXPECT_THROW(c->decompress("", 10), std::runtime_error);
    EXPECT_THROW(c->decompress(std::string(64, '\0'), 64), std::runtime_error);
  }
}

TEST(CompressorConformance, RejectsTruncatedStreams) {
  const std::string raw = text_like(200000);
  for (const std::string& name : compressors()) {
    SCOPED_TRACE(name);
    auto c = golf::testing::make_plugin<golf::Compressor>(name);
    const std::string packed = c->compress(raw);
    for (size_t keep : {size_t{0}, size_t{1}, packed.size() / 4, packed.size() / 2, packed.size() - 1}) {
      EXPECT_THROW(c->decompress(packed.substr(0, keep), raw.size()), std::runtime_error) << "kept " << keep;
    }
  }
}

TEST(CompressorConformance, RejectsWrongRawSize) {
  const std::string raw = text_like(50000);
  for (const std::string& name : compressors()) {
    SCOPED_TRACE(name);
    auto c = golf::testing::make_plugin<golf::Compressor>(name);
    const std::string packed = c->compress(raw);
    for (size_t size : {size_t{0}, raw.size() - 1, raw.size() + 1, raw.size() * 2}) {
      EXPECT_THROW(c->decompress(packed, size), std::runtime_error) << "raw_size " << size;
    }
    const std::string empty = c->compress("");
    EXPECT_THROW(c->decompress(empty, 1), std::runtime_error);
  }
}

// Flipped bytes inside a valid stream: an error or (rarely, where the format has no checksum) other
// bytes, but never a crash or a result of the wrong size.
TEST(CompressorConformance, SurvivesCorruptedStreams) {
  const std::string raw = text_like(100000);
  for (const std::string& name : compressors()) {
    SCOPED_TRACE(name);
    auto c = golf::testing::make_plugin<golf::Compressor>(name);
    const std::string packed = c->compress(raw);
    std::mt19937 rng(3);
    for (int trial = 0; trial < 50; ++trial) {
      std::string bad = packed;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      try {
        EXPECT_EQ(c->decompress(bad, raw.size()).size(), raw.size());
      } catch (const std::runtime_error&) {
      }
    }
  }
}

}  // namespace
