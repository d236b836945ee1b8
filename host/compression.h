// host/compression.h: what the host does around any compressor: the byte shuffle, tensor groups, and
// the [run] keys that choose them (byte_shuffle, compress_groups). Stored as docs/artifact.md says.
#ifndef GOLF_HOST_COMPRESSION_H_
#define GOLF_HOST_COMPRESSION_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace golf::host {

// The largest byte-shuffle stride an artifact may record; 0 means no shuffle.
constexpr uint32_t kMaxShuffleStride = 16;

// The byte shuffle of parameter-golf.md §5.9: every byte at a position ≡ 0 (mod stride), then every
// byte ≡ 1, and so on, so the k-th bytes of fixed-width values sit together. Any length: when it is
// not a multiple of stride the first classes are one byte longer. Stride 0 or 1 returns the bytes as
// they are.
std::string byte_shuffle(std::string_view bytes, uint32_t stride);
// The inverse: byte_unshuffle(byte_shuffle(b, s), s) == b for every b and s.
std::string byte_unshuffle(std::string_view bytes, uint32_t stride);

// A tensor's group: its name with every purely numeric dotted component replaced by '*'
// (blocks.3.attn.c_q.weight -> blocks.*.attn.c_q.weight), so one group holds one role across layers.
std::string tensor_group(const std::string& name);

// [run] compress_groups: one stream for the whole payload, one per tensor group, or whichever makes
// the smaller file.
enum class GroupMode { kOff, kOn, kAuto };
const char* group_mode_name(GroupMode mode);  // "off", "on", "auto"
// Throws std::invalid_argument naming the accepted values when `name` is none of them.
GroupMode parse_group_mode(const std::string& name);

struct CompressionOptions {
  uint32_t shuffle_stride = 0;  // 0 = none, else 2..kMaxShuffleStride
  GroupMode groups = GroupMode::kOff;
};

}  // namespace golf::host

#endif  // GOLF_HOST_COMPRESSION_H_
