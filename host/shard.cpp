// host/shard.cpp: shard reading, writing and globbing.
#include "shard.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "errors.h"
#include "files.h"

namespace golf::host {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "shards are little-endian; golf reads them natively");

int64_t check_header(const std::string& path, std::ifstream& in) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot read shard (" + ec.message() + ")");
  int32_t header[256] = {};
  if (size < uint64_t(kShardHeaderBytes) || !in.read(reinterpret_cast<char*>(header), sizeof header))
    throw InputError(path + ": not a shard: shorter than the 1024-byte header");
  if (header[0] != kShardMagic)
    throw InputError(path + ": not a shard: magic " + std::to_string(header[0]) + ", expected " + std::to_string(kShardMagic));
  if (header[1] != kShardVersion)
    throw InputError(path + ": unsupported shard version " + std::to_string(header[1]) + " (golf reads version 1)");
  int64_t count = header[2];
  if (count < 0 || uint64_t(kShardHeaderBytes + 2 * count) != size)
    throw InputError(path + ": corrupted shard: header says " + std::to_string(count) + " tokens (" +
                             std::to_string(kShardHeaderBytes + 2 * count) + " bytes) but the file has " +
                             std::to_string(size) + " bytes");
  return count;
}

}  // namespace

int64_t shard_tokens(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open shard");
  return check_header(path, in);
}

std::vector<uint16_t> read_shard(const std::string& path, int64_t vocab) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open shard");
  int64_t count = check_header(path, in);
  std::vector<uint16_t> tokens(count);
  if (!in.read(reinterpret_cast<char*>(tokens.data()), 2 * count))
    throw InputError(path + ": read failed");
  if (vocab > 0)
    for (int64_t i = 0; i < count; ++i)
      if (tokens[i] >= vocab)
        throw InputError(path + ": token " + std::to_string(i) + " (of " + std::to_string(count) + ") has id " +
                         std::to_string(tokens[i]) + ", outside the tokenizer's " + std::to_string(vocab) +
                         " ids: the shard was made with another tokenizer");
  return tokens;
}

void write_shard(const std::string& path, const std::vector<uint16_t>& tokens) {
  if (tokens.size() > uint64_t(INT32_MAX)) throw std::runtime_error(path + ": too many tokens for one shard");
  int32_t header[256] = {kShardMagic, kShardVersion, static_cast<int32_t>(tokens.size())};
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  out.write(reinterpret_cast<const char*>(tokens.data()), 2 * tokens.size());
  if (!out) throw InputError(path + ": write failed");
}

std::vector<std::string> glob_shards(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> files;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  bool wants_sidecars = pattern.find("_bytes_") != std::string::npos;
  files.erase(std::remove_if(files.begin(), files.end(),
                             [&](const std::string& f) {
                               return !wants_sidecars &&
                                      std::filesystem::path(f).filename().string().find("_bytes_") != std::string::npos;
                             }),
              files.end());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(pattern + ": no shard files match");
  return files;
}

std::vector<int64_t> read_stream(const std::vector<std::string>& files, int64_t vocab) {
  std::vector<int64_t> out;
  for (const auto& f : files) {
    auto tokens = read_shard(f, vocab);
    out.insert(out.end(), tokens.begin(), tokens.end());
  }
  return out;
}

}  // namespace golf::host
