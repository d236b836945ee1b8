// host/loader.h: the training token stream: shards in order, wrapping around, sliced by rank.
#ifndef GOLF_HOST_LOADER_H_
#define GOLF_HOST_LOADER_H_

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace golf::host {

// Deterministic, as the reference's DistributedTokenLoader: each call takes (local + 1) * world
// contiguous tokens from the stream and rank r keeps [r*(local+1), (r+1)*(local+1)), so x and y
// overlap by one token. No shuffling, no document masking.
class TokenLoader {
 public:
  // REQUIRES: files non-empty. Each shard is checked as it is read: header, size, and every id below
  // `vocab` (an InputError names the shard and position otherwise).
  TokenLoader(std::vector<std::string> files, int rank, int world_size, int64_t vocab);

  // x, y: int64 [local_tokens / seq_len, seq_len] on the CPU.
  // REQUIRES: local_tokens % seq_len == 0.
  std::pair<at::Tensor, at::Tensor> next(int64_t local_tokens, int64_t seq_len);

  // Position in the stream, to restore after warm-up priming.
  struct Position {
    size_t file;
    int64_t offset;
  };
  Position position() const { return {file_, offset_}; }
  void seek(Position p);

 private:
  void load(size_t file);
  std::vector<std::string> files_;
  int rank_, world_size_;
  int64_t vocab_;
  size_t file_ = 0;
  int64_t offset_ = 0;
  std::vector<uint16_t> tokens_;
};

}  // namespace golf::host

#endif  // GOLF_HOST_LOADER_H_
