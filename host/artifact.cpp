// host/artifact.cpp: artifact (de)serialization with CRC-32 checks on header and payload, and the
// byte shuffle and per-group streams around the compressor.
#include "artifact.h"

#include <boost/crc.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "errors.h"
#include "files.h"
#include "json.h"

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

// Where a part's bytes are: which stream, and where in that stream's raw (unshuffled) bytes.
struct Span {
  uint32_t stream;
  uint64_t offset, bytes;
};

struct Parsed {
  ArtifactInfo info;
  std::vector<QuantizedTensor> tensors;
  std::vector<std::vector<Span>> spans;  // per tensor, per part
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
// Version 1 has no shuffle stride, no stream table (one stream) and no stream index per tensor.
Parsed parse(const std::string& path, const std::string& file) {
  Parsed out;
  const size_t fixed = 8 + 4 + 4;
  if (file.size() < fixed + 4) throw InputError(path + ": truncated artifact (" + std::to_string(file.size()) + " bytes)");
  if (std::memcmp(file.data(), kArtifactMagic, 8) != 0) throw InputError(path + ": not a golf artifact (bad magic)");
  uint32_t version, header_len;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(&header_len, file.data() + 12, 4);
  if (version != 1 && version != kArtifactVersion)
    throw InputError(path + ": artifact format version " + std::to_string(version) + ", this golf reads versions 1 to " +
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
  const uint64_t raw_bytes = out.info.raw_bytes = r.get<uint64_t>();
  const uint64_t packed_bytes = out.info.compressed_bytes = r.get<uint64_t>();
  uint32_t payload_crc = r.get<uint32_t>();
  if (raw_bytes > kMaxArtifactBytes)
    r.corrupt("payload declared as " + std::to_string(raw_bytes) + " bytes, over the " +
              std::to_string(kMaxArtifactBytes) + " an artifact may hold");
  const size_t payload_at = fixed + header_len + 4;
  if (file.size() - payload_at != packed_bytes)
    throw InputError(path + ": truncated artifact: payload is " + std::to_string(file.size() - payload_at) +
                     " bytes, header says " + std::to_string(packed_bytes));
  out.packed = std::string_view(file.data() + payload_at, packed_bytes);
  if (crc32(out.packed.data(), out.packed.size()) != payload_crc) r.corrupt("payload checksum mismatch");

  std::vector<GroupBytes>& streams = out.info.streams;
  if (version == 1) {
    streams.push_back({"", raw_bytes, packed_bytes});
  } else {
    const uint32_t stride = out.info.shuffle_stride = r.get<uint8_t>();
    if (stride == 1 || stride > kMaxShuffleStride)
      r.corrupt("byte-shuffle stride " + std::to_string(stride) + " (0 or 2.." + std::to_string(kMaxShuffleStride) + ")");
    const uint32_t n_streams = r.get<uint32_t>();
    uint64_t raw_left = raw_bytes, packed_left = packed_bytes;  // each size fits what is left: no sum overflows
    for (uint32_t i = 0; i < n_streams; ++i) {
      GroupBytes g;
      g.group = r.str();
      g.raw_bytes = r.get<uint64_t>();
      g.compressed_bytes = r.get<uint64_t>();
      if (g.raw_bytes > raw_left || g.compressed_bytes > packed_left)
        r.corrupt("stream table points past the payload (stream " + std::to_string(i) + ")");
      raw_left -= g.raw_bytes, packed_left -= g.compressed_bytes;
      streams.push_back(std::move(g));
    }
    if (raw_left || packed_left) r.corrupt("stream table does not cover the payload");
  }
  out.info.grouped = !(streams.size() == 1 && streams[0].group.empty());

  uint32_t n_tensors = r.get<uint32_t>();
  if (n_tensors && streams.empty()) r.corrupt("tensors but no stream to hold them");
  std::vector<uint64_t> filled(streams.size(), 0);  // bytes of each stream the table has placed
  for (uint32_t i = 0; i < n_tensors; ++i) {
    QuantizedTensor q;
    q.name = r.str();
    q.scheme = r.str();
    q.dtype = r.dtype();
    q.shape = r.shape();
    // The dequantized tensor is allocated from this shape: at least one bit per element is stored.
    if (numel_at_most(q.shape, 8 * raw_bytes) > 8 * raw_bytes)
      r.corrupt("tensor " + q.name + " declares more elements than its payload can hold");
    uint32_t stream = 0;
    if (streams.size() > 1) {
      stream = r.get<uint32_t>();
      if (stream >= streams.size())
        r.corrupt("tensor " + q.name + " is in stream " + std::to_string(stream) + " of " + std::to_string(streams.size()));
    }
    uint32_t n_parts = r.get<uint32_t>();
    std::vector<Span> spans;
    for (uint32_t j = 0; j < n_parts; ++j) {
      std::string name = r.str();
      at::ScalarType dtype = r.dtype();
      std::vector<int64_t> shape = r.shape();
      const uint64_t bytes = numel_at_most(shape, raw_bytes) * c10::elementSize(dtype);
      if (filled[stream] + bytes > streams[stream].raw_bytes) r.corrupt("tensor table points past the payload");
      spans.push_back({stream, filled[stream], bytes});
      filled[stream] += bytes;
      q.parts.emplace_back(name, at::empty(shape, at::TensorOptions().dtype(dtype)));  // bounded by raw_bytes
    }
    out.tensors.push_back(std::move(q));
    out.spans.push_back(std::move(spans));
  }
  for (size_t s = 0; s < streams.size(); ++s)
    if (filled[s] != streams[s].raw_bytes) r.corrupt("tensor table does not cover the payload");
  out.info.file_bytes = file.size();
  return out;
}

// A tensor's entry in the tensor table, split around where its stream index goes, and its bytes.
struct Entry {
  std::string head;   // name, scheme, dtype, shape
  std::string parts;  // part count; each part's name, dtype, shape
  std::string bytes;  // the parts' data, back to back
  std::string group;  // tensor_group(name)
};

// One way to store the payload: its compressed streams and the stream of each tensor.
struct Layout {
  bool grouped = false;
  std::vector<GroupBytes> streams;
  std::vector<uint32_t> stream_of;  // per tensor
  std::string packed;               // the streams back to back
};

// Compresses the payload as one stream (in table order), or as one stream per tensor group (groups
// in order of first appearance, each holding its tensors in table order), each shuffled first.
Layout compress_payload(const std::vector<Entry>& entries, bool grouped, uint32_t stride, Compressor& compressor) {
  Layout l;
  l.grouped = grouped;
  std::map<std::string, uint32_t> index;
  if (!grouped) l.streams.push_back({"", 0, 0}), index[""] = 0;  // one stream, even for no tensors
  for (const Entry& e : entries) {
    auto [it, fresh] = index.emplace(grouped ? e.group : "", uint32_t(l.streams.size()));
    if (fresh) l.streams.push_back({e.group, 0, 0});
    l.stream_of.push_back(it->second);
  }
  for (uint32_t s = 0; s < l.streams.size(); ++s) {
    std::string raw;
    for (size_t i = 0; i < entries.size(); ++i)
      if (l.stream_of[i] == s) raw += entries[i].bytes;
    const std::string packed = compressor.compress(byte_shuffle(raw, stride));
    l.streams[s].raw_bytes = raw.size();
    l.streams[s].compressed_bytes = packed.size();
    l.packed += packed;
  }
  return l;
}

std::string file_bytes(const std::vector<ArtifactStage>& stages, const std::string& quant_format,
                       const std::vector<Entry>& entries, uint64_t raw_bytes, uint32_t stride, const Layout& l) {
  Writer header;
  header.put<uint32_t>(stages.size());
  for (const auto& s : stages) header.str(s.table), header.str(s.plugin), header.str(s.version);
  header.str(quant_format);
  header.put<uint64_t>(raw_bytes);
  header.put<uint64_t>(l.packed.size());
  header.put<uint32_t>(crc32(l.packed.data(), l.packed.size()));
  header.put<uint8_t>(stride);
  header.put<uint32_t>(l.streams.size());
  for (const auto& g : l.streams) header.str(g.group), header.put<uint64_t>(g.raw_bytes), header.put<uint64_t>(g.compressed_bytes);
  header.put<uint32_t>(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    header.data() += entries[i].head;
    if (l.streams.size() > 1) header.put<uint32_t>(l.stream_of[i]);
    header.data() += entries[i].parts;
  }

  Writer file;
  file.data().append(kArtifactMagic, 8);
  file.put<uint32_t>(kArtifactVersion);
  file.put<uint32_t>(header.data().size());
  file.data() += header.data();
  file.put<uint32_t>(crc32(header.data().data(), header.data().size()));
  file.data() += l.packed;
  return std::move(file.data());
}

}  // namespace

ArtifactInfo write_artifact(const std::string& path, std::vector<ArtifactStage> stages, const std::string& quant_format,
                            const std::vector<QuantizedTensor>& tensors, Compressor& compressor,
                            const CompressionOptions& options) {
  const uint32_t stride = options.shuffle_stride;
  if (stride == 1 || stride > kMaxShuffleStride)
    throw std::runtime_error("artifact: byte-shuffle stride " + std::to_string(stride) + " is not 0 or 2.." +
                             std::to_string(kMaxShuffleStride));
  std::vector<Entry> entries;
  uint64_t raw_bytes = 0;
  for (const auto& q : tensors) {
    Writer head, parts;
    Entry e;
    head.str(q.name);
    head.str(q.scheme);
    head.put<uint8_t>(dtype_code(q.dtype));
    head.shape(q.shape);
    parts.put<uint32_t>(q.parts.size());
    for (const auto& [name, t] : q.parts) {
      at::Tensor c = t.contiguous().cpu();
      parts.str(name);
      parts.put<uint8_t>(dtype_code(c.scalar_type()));
      parts.shape(c.sizes().vec());
      e.bytes.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
    }
    e.head = std::move(head.data()), e.parts = std::move(parts.data()), e.group = tensor_group(q.name);
    raw_bytes += e.bytes.size();
    entries.push_back(std::move(e));
  }
  if (raw_bytes > kMaxArtifactBytes)
    throw std::runtime_error("artifact: the payload is " + std::to_string(raw_bytes) + " bytes, over the " +
                             std::to_string(kMaxArtifactBytes) + " an artifact may hold");

  // Each layout the mode allows is compressed once ("auto": both, keeping the smaller); compressing is
  // the slow part with brotli 11 or xz 9, so "off" never compresses groups only to report them
  // (quantization.json has each tensor's compressed size alone).
  Layout grouped, whole;
  const Layout* chosen = nullptr;
  std::string file;
  if (options.groups != GroupMode::kOff) {
    grouped = compress_payload(entries, true, stride, compressor);
    file = file_bytes(stages, quant_format, entries, raw_bytes, stride, grouped);
    chosen = &grouped;
  }
  if (options.groups != GroupMode::kOn) {
    whole = compress_payload(entries, false, stride, compressor);
    std::string one = file_bytes(stages, quant_format, entries, raw_bytes, stride, whole);
    if (!chosen || one.size() <= file.size()) file = std::move(one), chosen = &whole;
  }
  write_file_atomically(path, file);

  ArtifactInfo info;
  info.stages = std::move(stages);
  info.quant_format = quant_format;
  info.raw_bytes = raw_bytes;
  info.file_bytes = file.size();
  info.compressed_bytes = chosen->packed.size();
  info.shuffle_stride = stride;
  info.streams = chosen->streams;
  info.grouped = chosen->grouped;
  if (options.groups != GroupMode::kOff) info.groups = grouped.streams;
  return info;
}

std::vector<QuantizedTensor> read_artifact(const std::string& path, Compressor& compressor, ArtifactInfo* info) {
  std::string file = read_file(path, kMaxArtifactBytes);
  Parsed p = parse(path, file);
  uint64_t at = 0;
  for (uint32_t s = 0; s < p.info.streams.size(); ++s) {  // one at a time: the payload is never held twice
    const GroupBytes& g = p.info.streams[s];
    const std::string which = g.group.empty() ? "" : " (group " + g.group + ")";
    std::string raw;
    try {
      raw = compressor.decompress(p.packed.substr(at, g.compressed_bytes), g.raw_bytes);
    } catch (const std::exception& e) {
      throw InputError(path + ": payload does not decompress" + which + ": " + user_message(e));
    }
    at += g.compressed_bytes;
    if (raw.size() != g.raw_bytes) throw InputError(path + ": payload decompressed to the wrong size" + which);
    raw = byte_unshuffle(raw, p.info.shuffle_stride);
    for (size_t i = 0; i < p.tensors.size(); ++i)
      for (size_t j = 0; j < p.tensors[i].parts.size(); ++j) {
        const Span& span = p.spans[i][j];
        if (span.stream == s && span.bytes)  // empty: no buffer
          std::memcpy(p.tensors[i].parts[j].second.data_ptr(), raw.data() + span.offset, span.bytes);
      }
  }
  if (info) *info = p.info;
  return std::move(p.tensors);
}

ArtifactInfo read_artifact_info(const std::string& path) {
  std::string file = read_file(path, kMaxArtifactBytes);
  return parse(path, file).info;
}

std::string compression_json(const ArtifactInfo& info, const CompressionOptions& options) {
  JsonObject o;
  o.add("byte_shuffle", int64_t(options.shuffle_stride));
  o.add("compress_groups", group_mode_name(options.groups));
  o.add("grouped", info.grouped);
  o.add("streams", int64_t(info.streams.size()));
  o.add("raw_bytes", int64_t(info.raw_bytes));
  o.add("compressed_bytes", int64_t(info.compressed_bytes));
  std::string groups;
  for (const auto& g : info.groups) {
    JsonObject j;
    j.add("group", g.group);
    j.add("raw_bytes", int64_t(g.raw_bytes));
    j.add("compressed_bytes", int64_t(g.compressed_bytes));
    groups += (groups.empty() ? "" : ", ") + j.str();
  }
  o.raw("groups", "[" + groups + "]");
  return o.str();
}

std::vector<std::string> compression_lines(const ArtifactInfo& info) {
  std::vector<std::string> lines;
  lines.push_back("compression: payload " + std::to_string(info.raw_bytes) + " -> " + std::to_string(info.compressed_bytes) +
                  " bytes in " + std::to_string(info.streams.size()) + (info.grouped ? " group streams" : " stream") +
                  ", byte shuffle " + (info.shuffle_stride ? "stride " + std::to_string(info.shuffle_stride) : "off") +
                  (info.groups.empty() || info.grouped ? "" : "; per group below, as \"auto\" compressed them"));
  for (const auto& g : info.groups) {
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.2f%%", g.raw_bytes ? 100.0 * double(g.compressed_bytes) / double(g.raw_bytes) : 0.0);
    lines.push_back("compression: group " + g.group + ": " + std::to_string(g.raw_bytes) + " -> " +
                    std::to_string(g.compressed_bytes) + " bytes (" + pct + ")");
  }
  return lines;
}

}  // namespace golf::host
