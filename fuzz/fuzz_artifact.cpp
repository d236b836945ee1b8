// fuzz/fuzz_artifact.cpp: libFuzzer target for the artifact reader (host/artifact.h) with the real zstd plugin.
//
// Each input is read twice: as it is, and with its checksums and payload length made right (when
// the bytes get that far), so mutations reach the tensor table and the decompressor instead of all
// stopping at a CRC mismatch. An exception is the reader refusing the file; only a crash, a
// sanitizer report, a timeout or running out of memory is a finding.
#include <boost/crc.hpp>

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "artifact.h"
#include "context.h"
#include "fuzz_support.h"
#include "golf/compressor.h"

namespace {

using golf::host::ArtifactInfo;

uint32_t crc32(const char* data, size_t n) {
  boost::crc_32_type crc;
  crc.process_bytes(data, n);
  return crc.checksum();
}

// A zstd compressor made the way golf-host makes stages (Services::make), with its default config.
golf::Compressor& zstd() {
  static golf::host::Services* services = new golf::host::Services();
  static golf::Compressor* compressor = [] {
    services->log.set_quiet(true);
    const golf::host::PluginEntry* plugin = golf::fuzz::registry().find("zstd");
    if (!plugin) {
      std::fprintf(stderr, "fuzz_artifact: no zstd plugin in %s\n", GOLF_FUZZ_PLUGIN_DIR);
      std::abort();
    }
    golf::host::Schema schema = golf::host::plugin_schema("compressor", *plugin);
    golf::host::SourcedTable table;
    table.origin = golf::host::Origin{"<fuzz compressor>", 0};
    golf::host::StageSpec spec{"compressor", plugin, golf::host::TableConfig(schema, table)};
    return services->make<golf::Compressor>(spec).release();
  }();
  return *compressor;
}

// Layout (docs/artifact.md): magic[8] | u32 version | u32 header_len | header | u32 header_crc | payload.
// Sets the header's payload length and payload CRC where the header gets that far, then the header
// CRC; they sit at the same place in versions 1 and 2 (version 2's stream table follows them).
// Returns false when the bytes are too short to hold the fixed fields.
bool fix_checksums(std::string& f) {
  const size_t fixed = 16;
  if (f.size() < fixed + 4) return false;
  uint32_t header_len;
  std::memcpy(&header_len, f.data() + 12, 4);
  if (uint64_t(header_len) + fixed + 4 > f.size()) return false;
  char* header = f.data() + fixed;
  const size_t payload_at = fixed + header_len + 4;
  size_t p = 0;
  auto skip = [&](size_t n) { return header_len - p >= n ? (p += n, true) : false; };
  auto skip_str = [&] {
    uint16_t n;
    if (header_len - p < 2) return false;
    std::memcpy(&n, header + p, 2);
    return skip(2) && skip(n);
  };
  uint32_t n_stages = 0;
  bool ok = header_len >= 4;
  if (ok) std::memcpy(&n_stages, header, 4), p = 4;
  for (uint32_t i = 0; ok && i < n_stages; ++i) ok = skip_str() && skip_str() && skip_str();
  ok = ok && skip_str() && skip(8);  // quant_format, raw_bytes
  if (ok && header_len - p >= 12) {  // packed_bytes, payload_crc
    const uint64_t packed = f.size() - payload_at;
    const uint32_t crc = crc32(f.data() + payload_at, packed);
    std::memcpy(header + p, &packed, 8);
    std::memcpy(header + p + 8, &crc, 4);
  }
  const uint32_t header_crc = crc32(header, header_len);
  std::memcpy(f.data() + fixed + header_len, &header_crc, 4);
  return true;
}

void read(const std::string& path) {
  try {
    golf::host::read_artifact_info(path);
  } catch (const std::exception&) {
  }
  try {
    ArtifactInfo info;
    golf::host::read_artifact(path, zstd(), &info);
  } catch (const std::exception&) {
  }
}

at::Tensor rows(int64_t r, int64_t c, at::ScalarType t) { return at::arange(r * c).remainder(7).view({r, c}).to(t); }

void write_seeds(const std::filesystem::path& dir) {
  using golf::QuantizedTensor;
  const std::vector<golf::host::ArtifactStage> stages = {
      {"architecture", "gpt", "1.0.0"}, {"quantizer", "int8", "1.0.0"}, {"compressor", "zstd", "1.0.0"}};
  QuantizedTensor w{"blocks.0.attn.qkv.weight", "int8_row", {6, 8}, at::kFloat, {}};
  w.parts.emplace_back("q", rows(6, 8, at::kChar));
  w.parts.emplace_back("scale", at::full({6}, 0.5).to(at::kHalf));
  QuantizedTensor g{"norm.weight", "passthrough", {8}, at::kFloat, {{"value", at::ones({8})}}};
  QuantizedTensor b{"flags", "passthrough", {3}, at::kBool, {{"value", at::tensor({1, 0, 1}).to(at::kBool)}}};
  QuantizedTensor s{"scalar", "passthrough", {}, at::kDouble, {{"value", at::scalar_tensor(2.5, at::kDouble)}}};
  QuantizedTensor bf{"bf", "passthrough", {2, 2}, at::kBFloat16, {{"value", rows(2, 2, at::kBFloat16)}}};
  QuantizedTensor e{"empty", "passthrough", {0, 4}, at::kFloat, {{"value", at::empty({0, 4})}}};
  QuantizedTensor l{"ids", "passthrough", {4}, at::kLong, {{"value", at::arange(4)}}};
  auto put = [&](const char* name, const std::vector<QuantizedTensor>& t, const std::string& format,
                 golf::host::CompressionOptions options = {}) {
    golf::host::write_artifact((dir / name).string(), stages, format, t, zstd(), options);
  };
  put("int8_model.golf", {w, g}, "int8_clean_per_row_v1");
  put("every_dtype.golf", {b, s, bf, l}, "passthrough_v1");
  put("empty_tensor.golf", {e}, "passthrough_v1");
  put("no_tensors.golf", {}, "");
  // Version 2's stream table with several streams, stream indices and a shuffle stride.
  QuantizedTensor w1 = w;
  w1.name = "blocks.1.attn.qkv.weight";
  put("grouped_shuffled.golf", {w, g, w1}, "int8_clean_per_row_v1", {2, golf::host::GroupMode::kOn});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  golf::fuzz::seeds_requested(write_seeds);
  zstd();  // scan the plugins before the first input, not during it
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (golf::fuzz::scratch() / "input.golf").string();
  golf::fuzz::write_bytes(path, data, size);
  read(path);
  std::string fixed(reinterpret_cast<const char*>(data), size);
  if (fix_checksums(fixed) && std::memcmp(fixed.data(), data, size) != 0) {
    golf::fuzz::write_bytes(path, fixed.data(), fixed.size());
    read(path);
  }
  return 0;
}
