// plugins/compressor/xz/xz_test.cpp: xz-specific behaviour (presets, stream end, memory bound); the rest is in the conformance suite.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string compressible(size_t n) {
  std::string s;
  uint32_t x = 4242;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += "row " + std::to_string((x >> 16) % 83) + " scale " + std::to_string((x >> 8) % 17) + "\n";
  }
  s.resize(n);
  return s;
}

// Real bytes: tokenized text as the shards store it (uint16 ids), the kind of stream golf compresses.
TEST(XzTest, RoundtripsRealDataByteExact) {
  GOLF_REQUIRE_SHARED_DATA(val, "gutenberg_sp1024/fineweb_val_000000.bin");
  const std::string raw = slurp(val);
  ASSERT_GT(raw.size(), 1000000u);
  auto xz = golf::testing::make_plugin<golf::Compressor>("xz");  // default preset 9
  const std::string packed = xz->compress(raw);
  EXPECT_LT(packed.size(), raw.size() * 3 / 4);
  EXPECT_EQ(xz->decompress(packed, raw.size()), raw);
}

TEST(XzTest, Preset9BeatsPreset0AndAnyPresetDecodes) {
  const std::string raw = compressible(512 << 10);
  auto fast = golf::testing::make_plugin<golf::Compressor>("xz", "preset = 0");
  auto best = golf::testing::make_plugin<golf::Compressor>("xz", "extreme = true");
  const std::string a = fast->compress(raw), b = best->compress(raw);
  EXPECT_LT(b.size(), a.size());
  EXPECT_EQ(fast->decompress(b, raw.size()), raw);
  EXPECT_EQ(best->decompress(a, raw.size()), raw);
}

TEST(XzTest, RefusesTruncationWrongSizeAndTrailingBytes) {
  auto xz = golf::testing::make_plugin<golf::Compressor>("xz");
  const std::string raw = compressible(100000);
  const std::string packed = xz->compress(raw);
  for (size_t keep : {size_t{0}, size_t{12}, packed.size() / 2, packed.size() - 1})
    EXPECT_THROW(xz->decompress(packed.substr(0, keep), raw.size()), std::runtime_error) << "kept " << keep;
  EXPECT_THROW(xz->decompress(packed, raw.size() - 1), std::runtime_error);
  EXPECT_THROW(xz->decompress(packed, raw.size() + 1), std::runtime_error);
  EXPECT_THROW(xz->decompress(packed + "x", raw.size()), std::runtime_error);
  EXPECT_THROW(xz->decompress(packed + packed, 2 * raw.size()), std::runtime_error);  // one stream only
}

TEST(XzTest, ErrorNamesTheSizeMismatch) {
  auto xz = golf::testing::make_plugin<golf::Compressor>("xz");
  const std::string packed = xz->compress(std::string(1000, 'a'));
  try {
    xz->decompress(packed, 2000);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("1000"), std::string::npos) << what;
    EXPECT_NE(what.find("2000"), std::string::npos) << what;
  }
}

// A stream declaring a dictionary far larger than its output (4 MiB written with a 4 MiB dictionary,
// read back as 1 KiB) is refused before liblzma allocates that dictionary.
TEST(XzTest, RefusesADictionaryLargerThanTheOutputWarrants) {
  auto xz = golf::testing::make_plugin<golf::Compressor>("xz", "preset = 3");  // a 4 MiB dictionary
  const std::string packed = xz->compress(compressible(4 << 20));
  try {
    xz->decompress(packed, 1024);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bytes of memory to decode"), std::string::npos) << e.what();
  }
}

// A rejected value is an error naming its key.
TEST(XzTest, RejectsBadPreset) {
  golf::testing::expect_rejected<golf::Compressor>("xz", "preset = -1", "preset");
  golf::testing::expect_rejected<golf::Compressor>("xz", "preset = 10", "preset");
  golf::testing::expect_rejected<golf::Compressor>("xz", "extreme = 1", "extreme");  // a bool, not an int
}

}  // namespace
