// host/artifact.h: the artifact file: a small header (magic, version, producing plugins, tensor table)
// and the compressed payload of quantized tensors. Format described in docs/artifact.md.
#ifndef GOLF_HOST_ARTIFACT_H_
#define GOLF_HOST_ARTIFACT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "compression.h"
#include "golf/compressor.h"
#include "golf/quantizer.h"

namespace golf::host {

constexpr char kArtifactMagic[8] = {'G', 'O', 'L', 'F', 'A', 'R', 'T', '\0'};
// 2: the byte-shuffle stride and the compressed streams (one, or one per tensor group) are recorded.
// Version-1 files (one unshuffled stream) are still read.
constexpr uint32_t kArtifactVersion = 2;
// Hard bound on an artifact's file and on its decompressed payload: 64 times the competition's
// 16,000,000 bytes. Declared sizes above it are refused before any allocation.
constexpr uint64_t kMaxArtifactBytes = uint64_t(1) << 30;

struct ArtifactStage {
  std::string table, plugin, version;  // e.g. "quantizer", "int8", "1.0.0"
};

// Bytes of one tensor group (tensor_group()), or of the whole payload when `group` is "".
struct GroupBytes {
  std::string group;
  uint64_t raw_bytes = 0;         // before the shuffle and compression
  uint64_t compressed_bytes = 0;
};

struct ArtifactInfo {
  std::vector<ArtifactStage> stages;  // the plugins that made it (architecture, quantizer, compressor)
  std::string quant_format;           // Quantizer::format()
  uint64_t raw_bytes = 0;             // payload before compression
  uint64_t file_bytes = 0;            // the whole file: what bytes_model counts
  uint64_t compressed_bytes = 0;      // the payload after compression: every stream
  uint32_t shuffle_stride = 0;        // 0 = no byte shuffle
  std::vector<GroupBytes> streams;    // as stored: one per tensor group, or one ("") for the whole payload
  bool grouped = false;               // one stream per tensor group
  // write_artifact only, with compress_groups "on" or "auto": compressed bytes per tensor group
  // (the group streams, whether or not "auto" kept them). Empty with "off".
  std::vector<GroupBytes> groups;
};

// Serializes `tensors`, compresses the payload as `options` say (byte shuffle, streams per tensor
// group), writes `path` atomically. Returns the info (file_bytes and groups set). "auto" compresses
// the payload both whole and per group, so it takes about twice the compressor's time.
ArtifactInfo write_artifact(const std::string& path, std::vector<ArtifactStage> stages, const std::string& quant_format,
                            const std::vector<QuantizedTensor>& tensors, Compressor& compressor,
                            const CompressionOptions& options = {});

// Reads `path` back. Throws InputError naming the file on a bad magic or version, a truncated or
// corrupted file (checksums on header and payload), a declared size over kMaxArtifactBytes, a
// stream table or tensor table that does not fit the payload, a shuffle stride out of range, or a
// compressor that cannot decode a stream. Never crashes on bad input (fuzz/fuzz_artifact.cpp).
std::vector<QuantizedTensor> read_artifact(const std::string& path, Compressor& compressor, ArtifactInfo* info);

// Just the header (for `golf-host` messages when the pipeline's plugins differ from the artifact's).
ArtifactInfo read_artifact_info(const std::string& path);

// The compression report of a written artifact: a JSON object (the options, the stored streams'
// total, and `groups`), and one line per group for the log.
std::string compression_json(const ArtifactInfo& info, const CompressionOptions& options);
std::vector<std::string> compression_lines(const ArtifactInfo& info);

}  // namespace golf::host

#endif  // GOLF_HOST_ARTIFACT_H_
