// plugins/compressor/brotli/brotli.cpp: one brotli stream (libbrotlienc/dec), quality 0..11, window 10..24.
#include <brotli/decode.h>
#include <brotli/encode.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "golf/compressor.h"
#include "golf/plugin.h"

namespace {

[[noreturn]] void fail(const std::string& why) { throw std::runtime_error("brotli: " + why); }

using Decoder = std::unique_ptr<BrotliDecoderState, decltype(&BrotliDecoderDestroyInstance)>;

class BrotliCompressor final : public golf::Compressor {
 public:
  explicit BrotliCompressor(golf::PluginContext& ctx) {
    const golf::Config& c = ctx.config();
    const int64_t quality = c.get_int("quality"), window = c.get_int("window");
    if (quality < BROTLI_MIN_QUALITY || quality > BROTLI_MAX_QUALITY) c.fail("quality", "must be in 0..11");
    if (window < BROTLI_MIN_WINDOW_BITS || window > BROTLI_MAX_WINDOW_BITS) c.fail("window", "must be in 10..24");
    quality_ = static_cast<int>(quality);
    window_ = static_cast<int>(window);
  }

  std::string compress(std::string_view raw) override {
    size_t size = BrotliEncoderMaxCompressedSize(raw.size());
    if (size == 0) fail("input too large");
    std::string packed(size, '\0');
    if (!BrotliEncoderCompress(quality_, window_, BROTLI_MODE_GENERIC, raw.size(),
                               reinterpret_cast<const uint8_t*>(raw.data()), &size,
                               reinterpret_cast<uint8_t*>(packed.data()))) {
      fail("compression failed");
    }
    packed.resize(size);
    return packed;
  }

  // One call of the streaming decoder with all the input and exactly raw_size bytes of output: it
  // reports why a stream fails (the one-shot call does not) and can never write past raw_size.
  // Memory stays bounded: the standard format's window is at most 16 MiB.
  std::string decompress(std::string_view packed, std::size_t raw_size) override {
    Decoder decoder(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), &BrotliDecoderDestroyInstance);
    if (!decoder) fail("cannot create a decoder");
    std::string raw(raw_size, '\0');
    size_t in_left = packed.size(), out_left = raw.size();
    const uint8_t* in = reinterpret_cast<const uint8_t*>(packed.data());
    uint8_t* out = reinterpret_cast<uint8_t*>(raw.data());
    const BrotliDecoderResult result = BrotliDecoderDecompressStream(decoder.get(), &in_left, &in, &out_left, &out, nullptr);
    switch (result) {
      case BROTLI_DECODER_RESULT_SUCCESS: break;
      case BROTLI_DECODER_RESULT_ERROR:
        fail(BrotliDecoderErrorString(BrotliDecoderGetErrorCode(decoder.get())));
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        fail("truncated stream (decoded " + std::to_string(raw_size - out_left) + " of " + std::to_string(raw_size) + " bytes)");
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
        fail("the stream holds more than the expected " + std::to_string(raw_size) + " bytes");
    }
    if (out_left != 0) fail("decoded " + std::to_string(raw_size - out_left) + " bytes, expected " + std::to_string(raw_size));
    if (in_left != 0) fail("trailing bytes after the stream");
    return raw;
  }

 private:
  int quality_;
  int window_;
};

const golf_config_key kBrotliConfig[] = {
    {"quality", GOLF_TYPE_INT, "11", "compression quality, 0 (fast) to 11 (smallest)"},
    {"window", GOLF_TYPE_INT, "24", "log2 of the sliding window, 10..24"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<BrotliCompressor>("brotli", "1.0.0", "brotli, one stream", kBrotliConfig))
