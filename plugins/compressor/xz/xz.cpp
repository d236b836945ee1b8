// plugins/compressor/xz/xz.cpp: one .xz stream (liblzma, LZMA2, CRC64), preset 0..9 and extreme, as the reference's lzma preset=9.
#include <lzma.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "golf/compressor.h"
#include "golf/plugin.h"

namespace {

[[noreturn]] void fail(const std::string& why) { throw std::runtime_error("xz: " + why); }

const char* describe(lzma_ret r) {
  switch (r) {
    case LZMA_FORMAT_ERROR: return "not an xz stream";
    case LZMA_OPTIONS_ERROR: return "the stream uses options this liblzma does not support";
    case LZMA_DATA_ERROR: return "corrupted stream";
    case LZMA_MEM_ERROR: return "out of memory";
    case LZMA_UNSUPPORTED_CHECK: return "unsupported integrity check";
    default: return "liblzma error";
  }
}

// The dictionary size a decoder allocates for a stream of `n` bytes written by compress(): LZMA2
// stores it rounded up to 2^k or 3 * 2^(k-1), at least 4 KiB, so it is under 1.5 n + 4 KiB.
uint64_t stored_dict_size(uint64_t n) {
  uint64_t d = LZMA_DICT_SIZE_MIN;
  while (d < n) d = (d & (d - 1)) ? (d / 3) * 4 : d / 2 * 3;  // 2^k -> 3*2^(k-1) -> 2^(k+1)
  return d;
}

// liblzma's own decoder state (probabilities, stream and index bookkeeping) beside the dictionary.
constexpr uint64_t kDecoderOverhead = uint64_t(1) << 20;

struct Decoder {
  lzma_stream s = LZMA_STREAM_INIT;
  ~Decoder() { lzma_end(&s); }
};

class XzCompressor final : public golf::Compressor {
 public:
  explicit XzCompressor(golf::PluginContext& ctx) {
    const golf::Config& c = ctx.config();
    const int64_t preset = c.get_int("preset");
    if (preset < 0 || preset > 9) c.fail("preset", "must be in 0..9");
    preset_ = static_cast<uint32_t>(preset) | (c.get_bool("extreme") ? LZMA_PRESET_EXTREME : 0);
  }

  // The preset's LZMA2 options with the dictionary cut to the input's size: a window larger than the
  // input finds no more matches, and a decoder allocates the dictionary the stream declares, so
  // decompress() can bound its memory by the output's size. (liblzma also sizes its match-finder hash
  // by the dictionary: on a 2.9 MB int8 payload this came out 8 bytes larger than Python's
  // lzma.compress(preset=9).) CRC64 as in xz and Python's lzma.
  std::string compress(std::string_view raw) override {
    lzma_options_lzma options;
    if (lzma_lzma_preset(&options, preset_)) fail("unsupported preset");
    if (raw.size() < options.dict_size) options.dict_size = std::max<uint32_t>(LZMA_DICT_SIZE_MIN, raw.size());
    lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
    const size_t bound = lzma_stream_buffer_bound(raw.size());
    if (bound == 0) fail("input too large");
    std::string packed(bound, '\0');
    size_t out = 0;
    const lzma_ret r = lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC64, nullptr,
                                                 reinterpret_cast<const uint8_t*>(raw.data()), raw.size(),
                                                 reinterpret_cast<uint8_t*>(packed.data()), &out, packed.size());
    if (r != LZMA_OK) fail(std::string("compression failed: ") + describe(r));
    packed.resize(out);
    return packed;
  }

  // The stream decoder with all the input and exactly raw_size bytes of output, so it can never
  // write past raw_size; its memory limit refuses, before allocating, a stream whose dictionary is
  // larger than compress() would declare for raw_size bytes. One stream only: trailing bytes,
  // including a second stream, are refused.
  std::string decompress(std::string_view packed, std::size_t raw_size) override {
    Decoder d;
    lzma_stream& s = d.s;
    const uint64_t limit = stored_dict_size(raw_size) + kDecoderOverhead;
    if (lzma_ret r = lzma_stream_decoder(&s, limit, 0); r != LZMA_OK) fail(describe(r));
    std::string raw(raw_size, '\0');
    s.next_in = reinterpret_cast<const uint8_t*>(packed.data());
    s.avail_in = packed.size();
    s.next_out = reinterpret_cast<uint8_t*>(raw.data());
    s.avail_out = raw.size();
    lzma_ret r = LZMA_OK;
    while (r == LZMA_OK) r = lzma_code(&s, LZMA_FINISH);  // OK: progress made; it ends in STREAM_END or an error
    const std::string decoded = std::to_string(raw_size - s.avail_out);
    switch (r) {
      case LZMA_STREAM_END: break;
      case LZMA_MEMLIMIT_ERROR:
        fail("the stream needs " + std::to_string(lzma_memusage(&s)) + " bytes of memory to decode, more than the " +
             std::to_string(limit) + " allowed for its expected " + std::to_string(raw_size) + " bytes");
      case LZMA_BUF_ERROR:  // no progress possible: the input or the output space ran out
        if (s.avail_out > 0) fail("truncated stream (decoded " + decoded + " of " + std::to_string(raw_size) + " bytes)");
        if (s.avail_in > 0) fail("the stream holds more than the expected " + std::to_string(raw_size) + " bytes");
        fail("the stream ends early or holds more than the expected " + std::to_string(raw_size) + " bytes");
      default: fail(describe(r));
    }
    if (s.avail_out != 0) fail("decoded " + decoded + " bytes, expected " + std::to_string(raw_size));
    if (s.avail_in != 0) fail("trailing bytes after the stream");
    return raw;
  }

 private:
  uint32_t preset_;
};

const golf_config_key kXzConfig[] = {
    {"preset", GOLF_TYPE_INT, "9", "compression preset, 0 (fast) to 9 (smallest; the reference's lzma preset=9)"},
    {"extreme", GOLF_TYPE_BOOL, "false", "the preset's slower extreme variant (xz -e), sometimes a little smaller"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<XzCompressor>("xz", "1.0.0", "xz (LZMA2), one stream", kXzConfig))
