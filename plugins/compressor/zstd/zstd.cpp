// plugins/compressor/zstd/zstd.cpp: one zstd frame (libzstd one-shot API), level 1..22.
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "golf/compressor.h"
#include "golf/plugin.h"

namespace {

[[noreturn]] void fail(const std::string& why) { throw std::runtime_error("zstd: " + why); }

class ZstdCompressor final : public golf::Compressor {
 public:
  explicit ZstdCompressor(golf::PluginContext& ctx) {
    const golf::Config& c = ctx.config();
    const int64_t level = c.get_int("level");
    if (level < 1 || level > 22) c.fail("level", "must be in 1..22");
    level_ = static_cast<int>(level);
  }

  std::string compress(std::string_view raw) override {
    std::string packed(ZSTD_compressBound(raw.size()), '\0');
    const size_t n = ZSTD_compress(packed.data(), packed.size(), raw.data(), raw.size(), level_);
    if (ZSTD_isError(n)) fail(ZSTD_getErrorName(n));
    packed.resize(n);
    return packed;
  }

  // The frame header's content size is checked against raw_size before any allocation, so a
  // corrupted stream can neither claim a huge buffer nor decode past the expected size.
  std::string decompress(std::string_view packed, std::size_t raw_size) override {
    const unsigned long long declared = ZSTD_getFrameContentSize(packed.data(), packed.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR) fail("not a zstd frame (or its header is truncated)");
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN) fail("the frame does not record its content size");
    if (declared != raw_size) {
      fail("the frame holds " + std::to_string(declared) + " bytes, expected " + std::to_string(raw_size));
    }
    const size_t frame = ZSTD_findFrameCompressedSize(packed.data(), packed.size());
    if (ZSTD_isError(frame)) fail(ZSTD_getErrorName(frame));
    if (frame != packed.size()) fail("trailing bytes after the frame");
    std::string raw(raw_size, '\0');
    const size_t n = ZSTD_decompress(raw.data(), raw.size(), packed.data(), packed.size());
    if (ZSTD_isError(n)) fail(ZSTD_getErrorName(n));
    if (n != raw_size) fail("decoded " + std::to_string(n) + " bytes, expected " + std::to_string(raw_size));
    return raw;
  }

 private:
  int level_;
};

const golf_config_key kZstdConfig[] = {
    {"level", GOLF_TYPE_INT, "22", "compression level, 1 (fast) to 22 (smallest)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<ZstdCompressor>("zstd", "1.0.0", "zstd, one frame", kZstdConfig))
