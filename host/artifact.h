// host/artifact.h: the artifact file: a small header (magic, version, producing plugins, tensor table)
// and the compressed payload of quantized tensors. Format described in docs/artifact.md.
#ifndef GOLF_HOST_ARTIFACT_H_
#define GOLF_HOST_ARTIFACT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "golf/compressor.h"
#include "golf/quantizer.h"

namespace golf::host {

constexpr char kArtifactMagic[8] = {'G', 'O', 'L', 'F', 'A', 'R', 'T', '\0'};
constexpr uint32_t kArtifactVersion = 1;
// Hard bound on an artifact's file and on its decompressed payload: 64 times the competition's
// 16,000,000 bytes. Declared sizes above it are refused before any allocation.
constexpr uint64_t kMaxArtifactBytes = uint64_t(1) << 30;

struct ArtifactStage {
  std::string table, plugin, version;  // e.g. "quantizer", "int8", "1.0.0"
};

struct ArtifactInfo {
  std::vector<ArtifactStage> stages;  // the plugins that made it (architecture, quantizer, compressor)
  std::string quant_format;           // Quantizer::format()
  uint64_t raw_bytes = 0;             // payload before compression
  uint64_t file_bytes = 0;            // the whole file: what bytes_model counts
};

// Serializes `tensors`, compresses the payload, writes `path` atomically. Returns the info (file_bytes set).
ArtifactInfo write_artifact(const std::string& path, std::vector<ArtifactStage> stages, const std::string& quant_format,
                            const std::vector<QuantizedTensor>& tensors, Compressor& compressor);

// Reads `path` back. Throws InputError naming the file on a bad magic or version, a truncated or
// corrupted file (checksums on header and payload), a declared size over kMaxArtifactBytes, a
// compressor that cannot decode it, or a tensor table that does not fit the payload. Never crashes on
// bad input (fuzz/fuzz_artifact.cpp).
std::vector<QuantizedTensor> read_artifact(const std::string& path, Compressor& compressor, ArtifactInfo* info);

// Just the header (for `golf-host` messages when the pipeline's plugins differ from the artifact's).
ArtifactInfo read_artifact_info(const std::string& path);

}  // namespace golf::host

#endif  // GOLF_HOST_ARTIFACT_H_
