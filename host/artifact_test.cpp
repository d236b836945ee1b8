// host/artifact_test.cpp: artifacts round-trip exactly and any damage is an error, never a crash.
#include "artifact.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>

#include <cstring>
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

  // The reader's message for `bytes`, "" when it accepts them. Damage is bad input: an InputError.
  std::string error_after(const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      read_artifact(path, *zstd, nullptr);
    } catch (const InputError& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("not an InputError: ") + e.what();
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
// Version 2 unless told; version 1 has no stride, stream table or stream indices.
struct Forged {
  uint32_t version = kArtifactVersion;
  uint64_t raw_bytes = 8;
  std::vector<int64_t> tensor_shape = {2};
  std::vector<int64_t> part_shape = {2};
  std::string packed = "payload!";
  uint8_t stride = 0;
  std::vector<GroupBytes> streams = {{"", 8, 8}};
  uint32_t n_streams = 1;     // as declared: more than `streams` holds cuts the header short
  uint32_t stream_index = 0;  // the tensor's, written when there are several streams
  std::string bytes() const {
    std::string h;
    auto put = [&](const void* p, size_t n) { h.append(static_cast<const char*>(p), n); };
    auto u32 = [&](uint32_t v) { put(&v, 4); };
    auto u64 = [&](uint64_t v) { put(&v, 8); };
    auto str = [&](const std::string& v) { uint16_t n = v.size(); put(&n, 2); h += v; };
    auto shape = [&](const std::vector<int64_t>& dims) {
      uint8_t n = dims.size();
      put(&n, 1);
      for (int64_t d : dims) put(&d, 8);
    };
    boost::crc_32_type crc;
    crc.process_bytes(packed.data(), packed.size());
    u32(0);                                  // no stages
    str("fmt_v1");
    u64(raw_bytes);
    u64(packed.size());
    u32(crc.checksum());
    if (version >= 2) {
      put(&stride, 1);
      u32(n_streams);
      for (const auto& g : streams) str(g.group), u64(g.raw_bytes), u64(g.compressed_bytes);
    }
    u32(1);                                  // one tensor
    str("w"), str("passthrough");
    uint8_t float32 = 6;                     // the format's dtype code for float32
    put(&float32, 1);
    shape(tensor_shape);
    if (version >= 2 && n_streams > 1) u32(stream_index);
    u32(1);                                  // one part
    str("value");
    put(&float32, 1);
    shape(part_shape);
    boost::crc_32_type header_crc;
    header_crc.process_bytes(h.data(), h.size());
    std::string file(kArtifactMagic, 8);
    uint32_t len = h.size(), hc = header_crc.checksum();
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

TEST_F(ArtifactTest, ReadsVersion1Files) {
  Forged v1;
  v1.version = 1;
  v1.packed = zstd->compress(std::string("\0\0\xc0?\0\0\0@", 8));  // float32 1.5, 2.0
  std::ofstream(path, std::ios::binary | std::ios::trunc) << v1.bytes();
  ArtifactInfo info;
  auto back = read_artifact(path, *zstd, &info);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(back[0].parts[0].second.equal(at::tensor({1.5f, 2.0f})));
  EXPECT_EQ(info.shuffle_stride, 0u);
  ASSERT_EQ(info.streams.size(), 1u);
  EXPECT_FALSE(info.grouped);
  Forged v3;
  v3.version = 3;
  EXPECT_NE(error_after(v3.bytes()).find("artifact format version 3, this golf reads versions 1 to 2"), std::string::npos)
      << error_after(v3.bytes());
}

TEST_F(ArtifactTest, BadStreamTablesAndStridesAreRefused) {
  auto refused = [&](const Forged& f, const std::string& why) {
    const std::string e = error_after(f.bytes());
    EXPECT_NE(e.find(why), std::string::npos) << "expected \"" << why << "\", got \"" << e << "\"";
    EXPECT_EQ(e.find("not an InputError"), std::string::npos) << e;
  };
  Forged f;
  f.stride = 1;
  refused(f, "byte-shuffle stride 1 (0 or 2..16)");
  f.stride = 17;
  refused(f, "byte-shuffle stride 17");
  f = Forged();
  f.streams = {{"", 9, 8}};
  refused(f, "stream table points past the payload");
  f.streams = {{"", 8, 9}};
  refused(f, "stream table points past the payload");
  f.streams = {{"", uint64_t(1) << 63, 8}};
  refused(f, "stream table points past the payload");
  f.streams = {{"", 4, 8}};
  refused(f, "stream table does not cover the payload");
  f.n_streams = 2;  // declared, not written: the tensor table read as a stream entry
  f.streams = {{"", 8, 8}};
  refused(f, "corrupted artifact: ");
  f.n_streams = 0xFFFFFFFF;
  refused(f, "corrupted artifact: ");
  f.n_streams = 0, f.streams = {};
  refused(f, "stream table does not cover the payload");
  f.raw_bytes = 0, f.packed = "", f.part_shape = {0}, f.tensor_shape = {0};
  refused(f, "tensors but no stream to hold them");
  f = Forged();
  f.n_streams = 2;
  f.streams = {{"a", 8, 4}, {"b", 0, 4}};
  f.stream_index = 5;
  refused(f, "tensor w is in stream 5 of 2");
  f.streams = {{"a", 4, 4}, {"b", 4, 4}};
  f.stream_index = 0;
  refused(f, "tensor table points past the payload");  // 8 bytes in a stream of 4
  f.part_shape = {1};
  refused(f, "tensor table does not cover the payload");  // stream b holds 4 bytes no tensor claims
  f = Forged();
  f.n_streams = 2;
  f.streams = {{"a", 8, 4}, {"b", 0, 4}};
  refused(f, "payload does not decompress (group a)");  // every size fits: on to the compressor
}

// A model-shaped payload: int8 rows and fp16 scales for several layers, so groups exist and matter.
std::vector<QuantizedTensor> layers(int n) {
  at::manual_seed(5);
  auto int8 = [](int64_t r, int64_t c) { return (at::randn({r, c}) * 20).round().clamp(-127, 127).to(at::kChar); };
  std::vector<QuantizedTensor> out;
  QuantizedTensor emb{"tok_emb.weight", "int8_row", {128, 32}, at::kFloat, {}};
  emb.parts.emplace_back("q", int8(128, 32));
  emb.parts.emplace_back("scale", (at::rand({128}) * 0.01).to(at::kHalf));
  out.push_back(emb);
  for (int i = 0; i < n; ++i)
    for (const char* role : {"attn.c_q.weight", "mlp.fc.weight"}) {
      QuantizedTensor w{"blocks." + std::to_string(i) + "." + role, "int8_row", {64, 32}, at::kFloat, {}};
      w.parts.emplace_back("q", int8(64, 32));
      w.parts.emplace_back("scale", (at::rand({64}) * 0.01).to(at::kHalf));
      out.push_back(w);
      QuantizedTensor g{"blocks." + std::to_string(i) + ".norm" + std::string(role).substr(0, 1), "passthrough", {31},
                        at::kFloat, {{"value", at::rand({31}).to(at::kHalf)}}};  // odd byte counts
      out.push_back(g);
    }
  return out;
}

void expect_same(const std::vector<QuantizedTensor>& back, const std::vector<QuantizedTensor>& want) {
  ASSERT_EQ(back.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(back[i].name, want[i].name);
    ASSERT_EQ(back[i].parts.size(), want[i].parts.size());
    for (size_t j = 0; j < want[i].parts.size(); ++j) {
      const at::Tensor& a = back[i].parts[j].second;
      const at::Tensor& b = want[i].parts[j].second;
      ASSERT_EQ(a.scalar_type(), b.scalar_type());
      ASSERT_EQ(a.nbytes(), b.nbytes());
      EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()), 0) << want[i].name << " byte-exact";
    }
  }
}

TEST_F(ArtifactTest, EveryShuffleAndGroupModeRoundTripsWithEveryCompressor) {
  const auto tensors = layers(4);
  for (const std::string& name : testing::builtin_plugins(GOLF_KIND_COMPRESSOR)) {
    auto c = testing::make_plugin<Compressor>(name);
    for (uint32_t stride : {0u, 2u, 3u})
      for (GroupMode mode : {GroupMode::kOff, GroupMode::kOn, GroupMode::kAuto}) {
        SCOPED_TRACE(name + ", stride " + std::to_string(stride) + ", groups " + group_mode_name(mode));
        ArtifactInfo w = write_artifact(path, {}, "fmt_v1", tensors, *c, {stride, mode});
        EXPECT_EQ(w.file_bytes, slurp(path).size());
        ArtifactInfo r;
        expect_same(read_artifact(path, *c, &r), tensors);
        EXPECT_EQ(r.shuffle_stride, stride);
        EXPECT_EQ(r.grouped, w.grouped);
        EXPECT_EQ(r.compressed_bytes, w.compressed_bytes);
        ASSERT_EQ(r.streams.size(), w.streams.size());
        EXPECT_EQ(w.grouped, mode == GroupMode::kOn || (mode == GroupMode::kAuto && w.streams.size() > 1));
        if (mode == GroupMode::kOn) EXPECT_EQ(r.streams.size(), 5u);  // tok_emb, c_q, norma, fc, normm
        // The report: every group, whatever was stored, unless "off" never compressed them.
        if (mode == GroupMode::kOff) {
          EXPECT_TRUE(w.groups.empty());
          continue;
        }
        ASSERT_EQ(w.groups.size(), 5u);
        EXPECT_EQ(w.groups[1].group, "blocks.*.attn.c_q.weight");
        uint64_t raw = 0;
        for (const auto& g : w.groups) raw += g.raw_bytes;
        EXPECT_EQ(raw, w.raw_bytes);
      }
  }
}

TEST_F(ArtifactTest, AutoIsNeverBiggerThanOffOrOn) {
  const auto tensors = layers(3);
  for (const std::string& name : testing::builtin_plugins(GOLF_KIND_COMPRESSOR)) {
    auto c = testing::make_plugin<Compressor>(name);
    for (uint32_t stride : {0u, 2u}) {
      SCOPED_TRACE(name + ", stride " + std::to_string(stride));
      const uint64_t off = write_artifact(path, {}, "f", tensors, *c, {stride, GroupMode::kOff}).file_bytes;
      const uint64_t on = write_artifact(path, {}, "f", tensors, *c, {stride, GroupMode::kOn}).file_bytes;
      const uint64_t best = write_artifact(path, {}, "f", tensors, *c, {stride, GroupMode::kAuto}).file_bytes;
      EXPECT_EQ(best, std::min(off, on));
    }
  }
  // One tensor: one group, so "on" pays only its slightly longer stream table; auto keeps "off".
  QuantizedTensor one{"w", "passthrough", {4}, at::kFloat, {{"value", at::ones({4})}}};
  const uint64_t off = write_artifact(path, {}, "f", {one}, *zstd, {0, GroupMode::kOff}).file_bytes;
  EXPECT_EQ(write_artifact(path, {}, "f", {one}, *zstd, {0, GroupMode::kAuto}).file_bytes, off);
}

TEST_F(ArtifactTest, GroupedArtifactsRefuseEveryTruncationAndFlippedBytes) {
  write_artifact(path, {}, "fmt_v1", layers(2), *zstd, {2, GroupMode::kOn});
  const std::string good = slurp(path);
  for (size_t n = 0; n < good.size(); n += std::max<size_t>(1, good.size() / 60)) {
    const std::string e = error_after(good.substr(0, n));
    EXPECT_FALSE(e.empty()) << "truncated at " << n;
    EXPECT_EQ(e.find("not an InputError"), std::string::npos) << e;
  }
  for (size_t at = 16; at < good.size(); at += std::max<size_t>(1, good.size() / 60)) {
    std::string bad = good;
    bad[at] ^= 0x21;
    EXPECT_NE(error_after(bad).find("corrupted artifact"), std::string::npos) << "byte " << at;
  }
}

TEST_F(ArtifactTest, WriterRefusesAStrideOutOfRange) {
  EXPECT_THROW(write_artifact(path, {}, "f", sample(), *zstd, {1, GroupMode::kOff}), std::runtime_error);
  EXPECT_THROW(write_artifact(path, {}, "f", sample(), *zstd, {17, GroupMode::kOff}), std::runtime_error);
}

TEST_F(ArtifactTest, ReportsGroupsAsJsonAndLogLines) {
  CompressionOptions o{2, GroupMode::kAuto};
  ArtifactInfo w = write_artifact(path, {}, "fmt_v1", layers(2), *zstd, o);
  const std::string json = compression_json(w, o);
  EXPECT_NE(json.find("\"byte_shuffle\": 2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"compress_groups\": \"auto\""), std::string::npos) << json;
  EXPECT_NE(json.find("{\"group\": \"blocks.*.mlp.fc.weight\", \"raw_bytes\": "), std::string::npos) << json;
  const auto lines = compression_lines(w);
  ASSERT_EQ(lines.size(), 1 + w.groups.size());
  EXPECT_NE(lines[1].find("compression: group tok_emb.weight: "), std::string::npos) << lines[1];
  // "off" compresses the payload once, as one stream, and reports no groups.
  ArtifactInfo off = write_artifact(path, {}, "fmt_v1", layers(2), *zstd, {2, GroupMode::kOff});
  EXPECT_TRUE(off.groups.empty());
  EXPECT_EQ(compression_lines(off).size(), 1u);
}

}  // namespace
}  // namespace golf::host
