// host/artifact_test.cpp: artifacts round-trip exactly and any damage is an error, never a crash.
#include "artifact.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>

#include <fstream>

#include "errors.h"

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

TEST_F(ArtifactTest, RoundTripsEmptyTensors) {  // an empty part has no buffer to copy into (UBSan found it)
  QuantizedTensor e{"dead", "passthrough", {0, 4}, at::kFloat, {{"value", at::empty({0, 4})}}};
  write_artifact(path, {}, "fmt_v1", {e}, *zstd);
  auto back = read_artifact(path, *zstd, nullptr);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].parts[0].second.sizes(), at::IntArrayRef({0, 4}));
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

// An artifact written here from docs/artifact.md, independently of write_artifact, with valid
// checksums around whatever sizes a test declares: a forged file the checksums cannot catch.
struct Forged {
  uint64_t raw_bytes = 8;
  std::vector<int64_t> tensor_shape = {2};
  std::vector<int64_t> part_shape = {2};
  std::string bytes() const {
    std::string h;
    auto put = [&](const void* p, size_t n) { h.append(static_cast<const char*>(p), n); };
    auto u32 = [&](uint32_t v) { put(&v, 4); };
    auto str = [&](const std::string& v) { uint16_t n = v.size(); put(&n, 2); h += v; };
    auto shape = [&](const std::vector<int64_t>& dims) {
      uint8_t n = dims.size();
      put(&n, 1);
      for (int64_t d : dims) put(&d, 8);
    };
    const std::string packed = "payload!";
    boost::crc_32_type crc;
    crc.process_bytes(packed.data(), packed.size());
    u32(0);                                  // no stages
    str("fmt_v1");
    put(&raw_bytes, 8);
    uint64_t n_packed = packed.size();
    put(&n_packed, 8);
    u32(crc.checksum());
    u32(1);                                  // one tensor
    str("w"), str("passthrough");
    uint8_t float32 = 6;                     // the format's dtype code for float32
    put(&float32, 1);
    shape(tensor_shape);
    u32(1);                                  // one part
    str("value");
    put(&float32, 1);
    shape(part_shape);
    boost::crc_32_type header_crc;
    header_crc.process_bytes(h.data(), h.size());
    std::string file(kArtifactMagic, 8);
    uint32_t version = kArtifactVersion, len = h.size(), hc = header_crc.checksum();
    file.append(reinterpret_cast<const char*>(&version), 4).append(reinterpret_cast<const char*>(&len), 4);
    file += h;
    file.append(reinterpret_cast<const char*>(&hc), 4);
    return file + packed;
  }
};

TEST_F(ArtifactTest, DeclaredSizesAreBoundedBeforeAnyAllocation) {
  Forged ok;
  EXPECT_NE(error_after(ok.bytes()).find("payload does not decompress"), std::string::npos)
      << "the forged file passes every size check: " << error_after(ok.bytes());
  Forged huge_payload;
  huge_payload.raw_bytes = uint64_t(1) << 40;
  huge_payload.part_shape = {int64_t(1) << 38};
  EXPECT_NE(error_after(huge_payload.bytes()).find("payload declared as 1099511627776 bytes, over the"), std::string::npos)
      << error_after(huge_payload.bytes());
  Forged huge_tensor;  // a tiny part, but a dequantized shape of 2^62 elements
  huge_tensor.tensor_shape = {int64_t(1) << 31, int64_t(1) << 31};
  EXPECT_NE(error_after(huge_tensor.bytes()).find("tensor w declares more elements than its payload can hold"),
            std::string::npos) << error_after(huge_tensor.bytes());
  Forged huge_part;  // a part past the declared payload
  huge_part.part_shape = {int64_t(1) << 20, int64_t(1) << 20, int64_t(1) << 20};
  EXPECT_NE(error_after(huge_part.bytes()).find("tensor table points past the payload"), std::string::npos);
  try {
    read_artifact_info((dir.write("forged.golf", huge_payload.bytes())));
    ADD_FAILURE() << "accepted";
  } catch (const InputError&) {  // bad input: exit 2
  }
}

}  // namespace
}  // namespace golf::host
