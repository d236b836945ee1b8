// host/compression_test.cpp: the byte shuffle reverses exactly, tensor groups, and the compress_groups values.
#include "compression.h"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>

namespace golf::host {
namespace {

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

TEST(ByteShuffleTest, RoundTripsEveryStrideAndOddLengths) {
  for (uint32_t stride = 2; stride <= 8; ++stride)
    for (size_t n : {size_t{0}, size_t{1}, size_t{stride - 1}, size_t{stride}, size_t{stride + 1}, size_t{97}, size_t{1001},
                     size_t{4096}}) {
      const std::string raw = random_bytes(n, uint32_t(stride * 1000 + n));
      const std::string shuffled = byte_shuffle(raw, stride);
      ASSERT_EQ(shuffled.size(), raw.size());
      EXPECT_EQ(byte_unshuffle(shuffled, stride), raw) << "stride " << stride << ", " << n << " bytes";
    }
}

TEST(ByteShuffleTest, GroupsBytesByPositionModuloStride) {  // parameter-golf.md §5.9
  EXPECT_EQ(byte_shuffle("a1b2c3", 2), "abc123");
  EXPECT_EQ(byte_shuffle("abcdefg", 3), "adgbecf");  // 7 bytes: classes of 3, 2 and 2
  EXPECT_EQ(byte_unshuffle("adgbecf", 3), "abcdefg");
  EXPECT_EQ(byte_shuffle("abc", 0), "abc");  // 0 (off) and 1 change nothing
  EXPECT_EQ(byte_shuffle("abc", 1), "abc");
  EXPECT_EQ(byte_shuffle("ab", 16), "ab");  // shorter than the stride
}

TEST(TensorGroupTest, NumericComponentsBecomeStars) {
  EXPECT_EQ(tensor_group("blocks.3.attn.c_q.weight"), "blocks.*.attn.c_q.weight");
  EXPECT_EQ(tensor_group("blocks.10.mlp.fc.weight"), "blocks.*.mlp.fc.weight");
  EXPECT_EQ(tensor_group("layers.0.1.w"), "layers.*.*.w");
  EXPECT_EQ(tensor_group("tok_emb.weight"), "tok_emb.weight");
  EXPECT_EQ(tensor_group("h2.w3"), "h2.w3");  // digits inside a component stay
  EXPECT_EQ(tensor_group("7"), "*");
  EXPECT_EQ(tensor_group("a..b."), "a..b.");  // empty components are not numeric
  EXPECT_EQ(tensor_group(""), "");
}

TEST(GroupModeTest, ParsesTheThreeValuesAndNamesThemOnError) {
  EXPECT_EQ(parse_group_mode("off"), GroupMode::kOff);
  EXPECT_EQ(parse_group_mode("on"), GroupMode::kOn);
  EXPECT_EQ(parse_group_mode("auto"), GroupMode::kAuto);
  for (GroupMode m : {GroupMode::kOff, GroupMode::kOn, GroupMode::kAuto}) EXPECT_EQ(parse_group_mode(group_mode_name(m)), m);
  try {
    parse_group_mode("yes");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"auto\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace golf::host
