// plugins/compressor/brotli/brotli_test.cpp: brotli-specific behaviour (quality, window, stream end); the rest is in the conformance suite.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

std::string compressible(size_t n) {
  std::string s;
  uint32_t x = 777;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += "layer " + std::to_string((x >> 16) % 89) + " gain " + std::to_string((x >> 8) % 11) + "\n";
  }
  s.resize(n);
  return s;
}

TEST(BrotliTest, Quality11BeatsQuality1) {
  const std::string raw = compressible(256 << 10);
  auto fast = golf::testing::make_plugin<golf::Compressor>("brotli", "quality = 1");
  auto best = golf::testing::make_plugin<golf::Compressor>("brotli");  // default 11
  const std::string a = fast->compress(raw), b = best->compress(raw);
  EXPECT_LT(b.size(), a.size());
  EXPECT_EQ(best->decompress(a, raw.size()), raw);
  EXPECT_EQ(fast->decompress(b, raw.size()), raw);
}

TEST(BrotliTest, SmallWindowRoundtrips) {
  const std::string raw = compressible(100000);
  auto small = golf::testing::make_plugin<golf::Compressor>("brotli", "quality = 5\nwindow = 10");
  EXPECT_EQ(small->decompress(small->compress(raw), raw.size()), raw);
}

TEST(BrotliTest, RejectsTrailingBytesAndTwoStreams) {
  auto brotli = golf::testing::make_plugin<golf::Compressor>("brotli");
  const std::string stream = brotli->compress("hello hello hello");
  EXPECT_THROW(brotli->decompress(stream + "x", 17), std::runtime_error);
  EXPECT_THROW(brotli->decompress(stream + stream, 34), std::runtime_error);
}

// A rejected value is an error naming its key.
void expect_rejected(const std::string& toml, const std::string& key) {
  golf::testing::expect_rejected<golf::Compressor>("brotli", toml, key);
}

TEST(BrotliTest, RejectsBadQualityAndWindow) {
  expect_rejected("quality = 12", "quality");
  expect_rejected("quality = -1", "quality");
  expect_rejected("window = 9", "window");
  expect_rejected("window = 25", "window");
}

}  // namespace
