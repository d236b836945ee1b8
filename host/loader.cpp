// host/loader.cpp: sequential shard streaming with wrap-around.
#include "loader.h"

#include <stdexcept>

#include "shard.h"

namespace golf::host {

TokenLoader::TokenLoader(std::vector<std::string> files, int rank, int world_size, int64_t vocab)
    : files_(std::move(files)), rank_(rank), world_size_(world_size), vocab_(vocab) {
  if (files_.empty()) throw std::runtime_error("no training shards");
  load(0);
}

void TokenLoader::load(size_t file) {
  file_ = file;
  offset_ = 0;
  tokens_ = read_shard(files_[file_], vocab_);
}

void TokenLoader::seek(Position p) {
  if (p.file != file_) load(p.file);
  offset_ = p.offset;
}

std::pair<at::Tensor, at::Tensor> TokenLoader::next(int64_t local_tokens, int64_t seq_len) {
  if (local_tokens % seq_len) throw std::runtime_error("tokens per rank must be a multiple of seq_len");
  const int64_t span = local_tokens + 1, total = span * world_size_;
  std::vector<int64_t> chunk;
  chunk.reserve(total);
  size_t empty_files = 0;
  while (int64_t(chunk.size()) < total) {
    if (offset_ >= int64_t(tokens_.size())) {
      if (++empty_files > files_.size()) throw std::runtime_error("training shards hold no tokens");
      load((file_ + 1) % files_.size());
      continue;
    }
    int64_t take = std::min<int64_t>(total - chunk.size(), tokens_.size() - offset_);
    chunk.insert(chunk.end(), tokens_.begin() + offset_, tokens_.begin() + offset_ + take);
    offset_ += take;
    empty_files = 0;
  }
  at::Tensor all = at::from_blob(chunk.data(), {total}, at::kLong).slice(0, rank_ * span, (rank_ + 1) * span).clone();
  at::Tensor x = all.slice(0, 0, local_tokens).view({-1, seq_len});
  at::Tensor y = all.slice(0, 1, local_tokens + 1).view({-1, seq_len});
  return {x, y};
}

}  // namespace golf::host
