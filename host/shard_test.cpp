// host/shard_test.cpp: the shard format round-trips and every malformed shard names its file.
#include "shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "temp_dir.h"

namespace golf::host {
namespace {

std::string error_of(const std::string& path) {
  try {
    read_shard(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(ShardTest, RoundTripAndExactLayout) {
  testing::TempDir dir;
  std::vector<uint16_t> tokens = {1, 65535, 0, 1024, 7};
  write_shard(dir / "a.bin", tokens);
  EXPECT_EQ(read_shard(dir / "a.bin"), tokens);
  EXPECT_EQ(shard_tokens(dir / "a.bin"), 5);
  // Independently of the reader: 256 little-endian int32, then uint16 tokens.
  std::ifstream in(dir / "a.bin", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_EQ(bytes.size(), 1024u + 10u);
  int32_t magic, version, count;
  std::memcpy(&magic, bytes.data(), 4), std::memcpy(&version, bytes.data() + 4, 4), std::memcpy(&count, bytes.data() + 8, 4);
  EXPECT_EQ(magic, 20240520);
  EXPECT_EQ(version, 1);
  EXPECT_EQ(count, 5);
  EXPECT_EQ(uint8_t(bytes[1024 + 2]), 0xFF);  // 65535 little-endian
  for (int i = 12; i < 1024; ++i) ASSERT_EQ(bytes[i], 0) << i;
}

TEST(ShardTest, RejectsBadMagicVersionAndSizeNamingTheFile) {
  testing::TempDir dir;
  write_shard(dir / "good.bin", {1, 2, 3});
  std::string good;
  {
    std::ifstream in(dir / "good.bin", std::ios::binary);
    good.assign((std::istreambuf_iterator<char>(in)), {});
  }
  std::string magic = good, version = good, truncated = good.substr(0, good.size() - 1);
  magic[0] = 0x01;
  version[4] = 0x02;
  auto e = error_of(dir.write("magic.bin", magic));
  EXPECT_NE(e.find("magic.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("magic"), std::string::npos) << e;
  e = error_of(dir.write("version.bin", version));
  EXPECT_NE(e.find("version 2"), std::string::npos) << e;
  e = error_of(dir.write("short.bin", truncated));
  EXPECT_NE(e.find("short.bin"), std::string::npos) << e;
  EXPECT_NE(e.find("3 tokens"), std::string::npos) << e;
  e = error_of(dir.write("tiny.bin", "abc"));
  EXPECT_NE(e.find("shorter than the 1024-byte header"), std::string::npos) << e;
  EXPECT_NE(error_of(dir / "missing.bin").find("cannot open"), std::string::npos);
}

TEST(ShardTest, GlobSortsAndSkipsByteSidecars) {
  testing::TempDir dir;
  for (const char* n : {"fineweb_val_000001.bin", "fineweb_val_000000.bin", "fineweb_val_bytes_000000.bin"})
    write_shard(dir / n, {1});
  auto files = glob_shards(dir / "fineweb_val_*.bin");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], dir / "fineweb_val_000000.bin");
  EXPECT_EQ(files[1], dir / "fineweb_val_000001.bin");
  EXPECT_EQ(glob_shards(dir / "fineweb_val_bytes_*.bin").size(), 1u);  // asked for by name
  EXPECT_THROW(glob_shards(dir / "fineweb_train_*.bin"), std::runtime_error);
}

}  // namespace
}  // namespace golf::host
