// host/files.cpp: atomic writes (temporary name, fsync, rename) and bounded reads.
#include "files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "errors.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

void sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // best effort: the rename below is what readers rely on
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  const fs::path target(path);
  const std::string name = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid());
  const std::string tmp = (target.parent_path() / name).string();
  try {
    write(tmp);
    if (!fs::is_regular_file(tmp)) throw std::runtime_error(path + ": nothing was written");
    sync_path(tmp, false);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  sync_path(target.parent_path().empty() ? "." : target.parent_path().string(), true);
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out.flush()) throw std::runtime_error(path + ": cannot write");
  });
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": no such file");
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw InputError(path + ": cannot read (" + ec.message() + ")");
  if (size > max_bytes)
    throw InputError(path + ": " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                     " this kind of file may hold");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in || !in.read(bytes.data(), std::streamsize(size))) throw InputError(path + ": cannot read");
  return bytes;
}

}  // namespace golf::host
