// host/artifact_test.cpp: artifacts round-trip exactly and any damage is an error, never a crash.
#include "artifact.h"

#include <gtest/gtest.h>

#include <fstream>

#include "plugin_fixture.h"
#include "temp_dir.h"

namespace golf::host {
namespace {

std::vector<QuantizedTensor> sample() {
  QuantizedTensor a{"w", "int8_row", {3, 4}, at::kFloat, {}};
  a.parts.emplace_back("q", at::arange(12, at::kChar).view({3, 4}));
  a.parts.emplace_back("scale", at::tensor({0.5, 0.25, 2.0}).to(at::kHalf));
  QuantizedTensor b{"g", "passthrough", {2}, at::kFloat, {{"value", at::tensor({1.5f, -3.0f})}}};
  return {a, b};
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class ArtifactTest : public ::testing::Test {
 protected:
  testing::Instance<Compressor> zstd = testing::make_plugin<Compressor>("zstd", "level = 3");
  testing::TempDir dir;
  std::string path = dir / "model.golf";
  ArtifactInfo written = write_artifact(path, {{"quantizer", "int8", "1.0.0"}}, "fmt_v1", sample(), *zstd);

  std::string error_after(const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      read_artifact(path, *zstd, nullptr);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(ArtifactTest, RoundTripsTensorsAndHeader) {
  EXPECT_EQ(written.file_bytes, slurp(path).size());
  EXPECT_EQ(written.raw_bytes, 12u + 3 * 2 + 2 * 4);
  ArtifactInfo info;
  auto back = read_artifact(path, *zstd, &info);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(info.quant_format, "fmt_v1");
  ASSERT_EQ(info.stages.size(), 1u);
  EXPECT_EQ(info.stages[0].plugin, "int8");
  auto want = sample();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back[i].name, want[i].name);
    EXPECT_EQ(back[i].scheme, want[i].scheme);
    EXPECT_EQ(back[i].shape, want[i].shape);
    for (size_t j = 0; j < want[i].parts.size(); ++j) {
      EXPECT_EQ(back[i].parts[j].first, want[i].parts[j].first);
      EXPECT_TRUE(back[i].parts[j].second.equal(want[i].parts[j].second));
    }
  }
}

TEST_F(ArtifactTest, EveryTruncationIsAnError) {
  std::string good = slurp(path);
  for (size_t n = 0; n < good.size(); n += std::max<size_t>(1, good.size() / 40)) {
    std::string e = error_after(good.substr(0, n));
    EXPECT_FALSE(e.empty()) << "truncated at " << n;
    EXPECT_NE(e.find(path), std::string::npos) << e;
  }
}

TEST_F(ArtifactTest, FlippedBytesAreCaughtByChecksums) {
  std::string good = slurp(path);
  for (size_t at : {size_t(20), size_t(40), good.size() - 3}) {
    std::string bad = good;
    bad[at] ^= 0x5A;
    EXPECT_NE(error_after(bad).find("corrupted artifact"), std::string::npos) << "byte " << at;
  }
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(error_after(magic).find("not a golf artifact"), std::string::npos);
}

}  // namespace
}  // namespace golf::host
