// host/loader_test.cpp: the loader streams shards in order, wraps around and slices ranks as the reference.
#include "loader.h"

#include <gtest/gtest.h>

#include <numeric>

#include "errors.h"
#include "shard.h"
#include "temp_dir.h"

namespace golf::host {
namespace {

TEST(LoaderTest, ConsecutiveBatchesAcrossShardsAndWrapAround) {
  testing::TempDir dir;
  std::vector<uint16_t> a(10), b(7);
  std::iota(a.begin(), a.end(), 0);
  std::iota(b.begin(), b.end(), 100);
  write_shard(dir / "s0.bin", a);
  write_shard(dir / "s1.bin", b);
  TokenLoader loader({dir / "s0.bin", dir / "s1.bin"}, 0, 1, 1024);
  // Stream: 0..9, 100..106, 0..9, ... Each call takes local+1 = 5 tokens.
  auto [x, y] = loader.next(4, 2);
  EXPECT_TRUE(x.equal(at::tensor({0, 1, 2, 3}, at::kLong).view({2, 2})));
  EXPECT_TRUE(y.equal(at::tensor({1, 2, 3, 4}, at::kLong).view({2, 2})));
  loader.next(4, 2);                      // 5..9
  auto [x3, y3] = loader.next(4, 2);      // 100..104
  EXPECT_EQ(x3[0][0].item<int64_t>(), 100);
  auto [x4, y4] = loader.next(4, 2);      // 105, 106, then wraps to 0, 1, 2
  EXPECT_TRUE(x4.flatten().equal(at::tensor({105, 106, 0, 1}, at::kLong)));
  EXPECT_TRUE(y4.flatten().equal(at::tensor({106, 0, 1, 2}, at::kLong)));
}

TEST(LoaderTest, RankSlicesAndSeek) {
  testing::TempDir dir;
  std::vector<uint16_t> a(50);
  std::iota(a.begin(), a.end(), 0);
  write_shard(dir / "s0.bin", a);
  // world 2, local 4: each call takes 2*(4+1)=10 tokens; rank 1 keeps [5, 10).
  TokenLoader r1({dir / "s0.bin"}, 1, 2, 1024);
  auto [x, y] = r1.next(4, 4);
  EXPECT_TRUE(x.flatten().equal(at::tensor({5, 6, 7, 8}, at::kLong)));
  EXPECT_TRUE(y.flatten().equal(at::tensor({6, 7, 8, 9}, at::kLong)));
  auto pos = r1.position();
  auto [x2, y2] = r1.next(4, 4);
  r1.seek(pos);
  auto [x3, y3] = r1.next(4, 4);
  EXPECT_TRUE(x2.equal(x3));
  EXPECT_EQ(x2[0][0].item<int64_t>(), 15);
}

TEST(LoaderTest, AnIdOutsideTheVocabularyNamesShardAndPosition) {
  testing::TempDir dir;
  write_shard(dir / "ok.bin", std::vector<uint16_t>(20, 7));
  write_shard(dir / "bad.bin", {1, 2, 3, 600, 4});
  TokenLoader loader({dir / "ok.bin", dir / "bad.bin"}, 0, 1, 512);
  loader.next(16, 4);  // the first shard is fine
  try {
    loader.next(16, 4);
    FAIL() << "id 600 of a 512-id tokenizer was accepted";
  } catch (const InputError& e) {
    const std::string want = "bad.bin: token 3 (of 5) has id 600, outside the tokenizer's 512 ids";
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace golf::host
