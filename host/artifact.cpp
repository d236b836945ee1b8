// host/artifact.cpp: artifact (de)serialization with CRC-32 checks on header and payload.
#include "artifact.h"

#include <boost/crc.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "errors.h"
#include "files.h"

namespace golf::host {
namespace {

// Stored dtype codes: part of the file format, never renumber.
const at::ScalarType kDtypes[] = {at::kByte, at::kChar,   at::kShort, at::kInt,      at::kLong,
                                  at::kHalf, at::kFloat,  at::kDouble, at::kBFloat16, at::kBool};

uint8_t dtype_code(at::ScalarType t) {
  for (uint8_t i = 0; i < sizeof kDtypes / sizeof kDtypes[0]; ++i)
    if (kDtypes[i] == t) return i;
  throw std::runtime_error(std::string("artifact: unsupported dtype ") + c10::toString(t));
}

uint32_t crc32(const void* data, size_t n) {
  boost::crc_32_type crc;
  crc.process_bytes(data, n);
  return crc.checksum();
}

class Writer {
 public:
  template <class T>
  void put(T v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(const std::string& s) {
    if (s.size() > 0xFFFF) throw std::runtime_error("artifact: string too long: " + s.substr(0, 40));
    put<uint16_t>(s.size());
    buf_ += s;
  }
  void shape(const std::vector<int64_t>& dims) {
    put<uint8_t>(dims.size());
    for (int64_t d : dims) put<int64_t>(d);
  }
  std::string& data() { return buf_; }

 private:
  std::string buf_;
};

// Bounds-checked reader: every read past the end throws instead of reading garbage.
class Reader {
 public:
  Reader(const std::string& file, const char* data, size_t n) : file_(file), p_(data), end_(data + n) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  std::string str() {
    size_t n = get<uint16_t>();
    need(n);
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  std::vector<int64_t> shape() {
    size_t n = get<uint8_t>();
    std::vector<int64_t> dims(n);
    for (auto& d : dims) {
      d = get<int64_t>();
      if (d < 0) corrupt("negative dimension");
    }
    return dims;
  }
  at::ScalarType dtype() {
    uint8_t c = get<uint8_t>();
    if (c >= sizeof kDtypes / sizeof kDtypes[0]) corrupt("unknown dtype code " + std::to_string(c));
    return kDtypes[c];
  }
  [[noreturn]] void corrupt(const std::string& why) {
    throw InputError(file_ + ": corrupted artifact: " + why);
  }

 private:
  void need(size_t n) {
    if (size_t(end_ - p_) < n) corrupt("header ends early");
  }
  std::string file_;
  const char* p_;
  const char* end_;
};

struct Parsed {
  ArtifactInfo info;
  std::vector<QuantizedTensor> tensors;
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> spans;  // per tensor, per part: offset, bytes
  std::string_view packed;
};

// The element count of `shape`, or limit + 1 as soon as it exceeds `limit` (no overflow).
uint64_t numel_at_most(const std::vector<int64_t>& shape, uint64_t limit) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0) return 0;
    if (n > limit / uint64_t(d)) return limit + 1;
    n *= uint64_t(d);
  }
  return n;
}

// Layout: magic[8] | u32 version | u32 header_len | header | u32 header_crc | packed payload.
// Every declared size is checked against the file and kMaxArtifactBytes before anything is allocated.
Parsed parse(const std::string& path, const std::string& file) {
  Parsed out;
  const size_t fixed = 8 + 4 + 4;
  if (file.size() < fixed + 4) throw InputError(path + ": truncated artifact (" + std::to_string(file.size()) + " bytes)");
  if (std::memcmp(file.data(), kArtifactMagic, 8) != 0) throw InputError(path + ": not a golf artifact (bad magic)");
  uint32_t version, header_len;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(&header_len, file.data() + 12, 4);
  if (version != kArtifactVersion)
    throw InputError(path + ": artifact format version " + std::to_string(version) + ", this golf reads " +
                             std::to_string(kArtifactVersion));
  if (uint64_t(header_len) + fixed + 4 > file.size()) throw InputError(path + ": truncated artifact (header cut short)");
  const char* header = file.data() + fixed;
  uint32_t stored_crc;
  std::memcpy(&stored_crc, header + header_len, 4);
  if (crc32(header, header_len) != stored_crc) throw InputError(path + ": corrupted artifact: header checksum mismatch");

  Reader r(path, header, header_len);
  uint32_t n_stages = r.get<uint32_t>();
  for (uint32_t i = 0; i < n_stages; ++i) {
    ArtifactStage s;
    s.table = r.str(), s.plugin = r.str(), s.version = r.str();
    out.info.stages.push_back(s);
  }
  out.info.quant_format = r.str();
  out.info.raw_bytes = r.get<uint64_t>();
  uint64_t packed_bytes = r.get<uint64_t>();
  uint32_t payload_crc = r.get<uint32_t>();
  if (out.info.raw_bytes > kMaxArtifactBytes)
    r.corrupt("payload declared as " + std::to_string(out.info.raw_bytes) + " bytes, over the " +
              std::to_string(kMaxArtifactBytes) + " an artifact may hold");
  const size_t payload_at = fixed + header_len + 4;
  if (file.size() - payload_at != packed_bytes)
    throw InputError(path + ": truncated artifact: payload is " + std::to_string(file.size() - payload_at) +
                     " bytes, header says " + std::to_string(packed_bytes));
  out.packed = std::string_view(file.data() + payload_at, packed_bytes);
  if (crc32(out.packed.data(), out.packed.size()) != payload_crc) r.corrupt("payload checksum mismatch");
  uint32_t n_tensors = r.get<uint32_t>();
  uint64_t expected_offset = 0;
  for (uint32_t i = 0; i < n_tensors; ++i) {
    QuantizedTensor q;
    q.name = r.str();
    q.scheme = r.str();
    q.dtype = r.dtype();
    q.shape = r.shape();
    // The dequantized tensor is allocated from this shape: at least one bit per element is stored.
    if (numel_at_most(q.shape, 8 * out.info.raw_bytes) > 8 * out.info.raw_bytes)
      r.corrupt("tensor " + q.name + " declares more elements than its payload can hold");
    uint32_t n_parts = r.get<uint32_t>();
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (uint32_t j = 0; j < n_parts; ++j) {
      std::string name = r.str();
      at::ScalarType dtype = r.dtype();
      std::vector<int64_t> shape = r.shape();
      const uint64_t bytes = numel_at_most(shape, out.info.raw_bytes) * c10::elementSize(dtype);
      if (expected_offset + bytes > out.info.raw_bytes) r.corrupt("tensor table points past the payload");
      spans.emplace_back(expected_offset, bytes);
      expected_offset += bytes;
      q.parts.emplace_back(name, at::empty(shape, at::TensorOptions().dtype(dtype)));  // bounded by raw_bytes
    }
    out.tensors.push_back(std::move(q));
    out.spans.push_back(std::move(spans));
  }
  if (expected_offset != out.info.raw_bytes) r.corrupt("tensor table does not cover the payload");
  out.info.file_bytes = file.size();
  return out;
}

}  // namespace

ArtifactInfo write_artifact(const std::string& path, std::vector<ArtifactStage> stages, const std::string& quant_format,
                            const std::vector<QuantizedTensor>& tensors, Compressor& compressor) {
  Writer table;
  std::string raw;
  for (const auto& q : tensors) {
    table.str(q.name);
    table.str(q.scheme);
    table.put<uint8_t>(dtype_code(q.dtype));
    table.shape(q.shape);
    table.put<uint32_t>(q.parts.size());
    for (const auto& [name, t] : q.parts) {
      at::Tensor c = t.contiguous().cpu();
      table.str(name);
      table.put<uint8_t>(dtype_code(c.scalar_type()));
      table.shape(c.sizes().vec());
      raw.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    }
  }
  std::string packed = compressor.compress(raw);

  Writer header;
  header.put<uint32_t>(stages.size());
  for (const auto& s : stages) header.str(s.table), header.str(s.plugin), header.str(s.version);
  header.str(quant_format);
  header.put<uint64_t>(raw.size());
  header.put<uint64_t>(packed.size());
  header.put<uint32_t>(crc32(packed.data(), packed.size()));
  header.put<uint32_t>(tensors.size());
  header.data() += table.data();

  Writer file;
  file.data().append(kArtifactMagic, 8);
  file.put<uint32_t>(kArtifactVersion);
  file.put<uint32_t>(header.data().size());
  file.data() += header.data();
  file.put<uint32_t>(crc32(header.data().data(), header.data().size()));
  file.data() += packed;

  write_file_atomically(path, file.data());
  ArtifactInfo info{std::move(stages), quant_format, raw.size(), file.data().size()};
  return info;
}

std::vector<QuantizedTensor> read_artifact(const std::string& path, Compressor& compressor, ArtifactInfo* info) {
  std::string file = read_file(path, kMaxArtifactBytes);
  Parsed p = parse(path, file);
  std::string raw;
  try {
    raw = compressor.decompress(p.packed, p.info.raw_bytes);
  } catch (const std::exception& e) {
    throw InputError(path + ": payload does not decompress: " + user_message(e));
  }
  if (raw.size() != p.info.raw_bytes) throw InputError(path + ": payload decompressed to the wrong size");
  for (size_t i = 0; i < p.tensors.size(); ++i)
    for (size_t j = 0; j < p.tensors[i].parts.size(); ++j) {
      auto [offset, bytes] = p.spans[i][j];
      if (bytes) std::memcpy(p.tensors[i].parts[j].second.data_ptr(), raw.data() + offset, bytes);  // empty: no buffer
    }
  if (info) *info = p.info;
  return std::move(p.tensors);
}

ArtifactInfo read_artifact_info(const std::string& path) {
  std::string file = read_file(path, kMaxArtifactBytes);
  return parse(path, file).info;
}

}  // namespace golf::host
