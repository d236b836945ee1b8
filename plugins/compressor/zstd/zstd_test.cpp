// plugins/compressor/zstd/zstd_test.cpp: zstd-specific behaviour (levels, frame checks); the rest is in the conformance suite.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

// Repetitive but not trivially so: what separates a strong level from a fast one.
std::string compressible(size_t n) {
  std::string s;
  uint32_t x = 12345;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += "weight block " + std::to_string((x >> 16) % 97) + " scale " + std::to_string((x >> 8) % 13) + "; ";
  }
  s.resize(n);
  return s;
}

TEST(ZstdTest, Level22BeatsLevel1) {
  const std::string raw = compressible(1 << 20);
  auto fast = golf::testing::make_plugin<golf::Compressor>("zstd", "level = 1");
  auto best = golf::testing::make_plugin<golf::Compressor>("zstd");  // default 22
  const std::string a = fast->compress(raw), b = best->compress(raw);
  EXPECT_LT(b.size(), a.size());
  EXPECT_EQ(best->decompress(b, raw.size()), raw);
  EXPECT_EQ(best->decompress(a, raw.size()), raw);  // any level decodes with any instance
}

TEST(ZstdTest, RejectsTwoFramesAndTrailingBytes) {
  auto zstd = golf::testing::make_plugin<golf::Compressor>("zstd");
  const std::string frame = zstd->compress("hello hello hello");
  EXPECT_THROW(zstd->decompress(frame + frame, 17), std::runtime_error);
  EXPECT_THROW(zstd->decompress(frame + "x", 17), std::runtime_error);
}

TEST(ZstdTest, ErrorNamesTheSizeMismatch) {
  auto zstd = golf::testing::make_plugin<golf::Compressor>("zstd");
  const std::string frame = zstd->compress(std::string(1000, 'a'));
  try {
    zstd->decompress(frame, 999);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("1000"), std::string::npos) << e.what();
  }
}

// A rejected value is an error naming its key.
void expect_rejected(const std::string& toml, const std::string& key) {
  golf::testing::expect_rejected<golf::Compressor>("zstd", toml, key);
}

TEST(ZstdTest, RejectsBadLevel) {
  expect_rejected("level = 0", "level");
  expect_rejected("level = 23", "level");
}

}  // namespace
