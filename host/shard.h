// host/shard.h: the Parameter Golf shard format (256 int32 header, then uint16 tokens) and shard globs.
#ifndef GOLF_HOST_SHARD_H_
#define GOLF_HOST_SHARD_H_

#include <cstdint>
#include <string>
#include <vector>

namespace golf::host {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int64_t kShardHeaderBytes = 256 * 4;
constexpr int64_t kShardTokens = 100'000'000;  // tokens per shard when exporting (the reference's)

// Number of tokens in `path` after checking magic, version and that the file is exactly
// 1024 + 2*count bytes. Throws InputError naming the file and what is wrong.
int64_t shard_tokens(const std::string& path);

// All tokens of the shard, checked as above; with vocab > 0, also that every id is below vocab (an
// InputError names the shard, the token's position and the vocabulary otherwise).
std::vector<uint16_t> read_shard(const std::string& path, int64_t vocab = 0);

// Writes a shard (little-endian header and tokens) atomically. Throws on I/O errors.
void write_shard(const std::string& path, const std::vector<uint16_t>& tokens);

// Files matching `pattern`, sorted by name. Byte sidecars (names containing "_bytes_") are skipped
// unless the pattern itself names them: fineweb_val_*.bin must not pick up fineweb_val_bytes_*.bin.
// Throws InputError when nothing matches.
std::vector<std::string> glob_shards(const std::string& pattern);

// Tokens of all shards concatenated, as int64 (host memory); ids checked against vocab when > 0.
std::vector<int64_t> read_stream(const std::vector<std::string>& files, int64_t vocab = 0);

}  // namespace golf::host

#endif  // GOLF_HOST_SHARD_H_
