// host/files.h: files written whole or not at all.
#ifndef GOLF_HOST_FILES_H_
#define GOLF_HOST_FILES_H_

#include <functional>
#include <string>

namespace golf::host {

// Writes `path` through `write(tmp)`, which must create the file `tmp`: then flushes it to disk and
// renames it over `path`, so that a reader, a crash or a kill at any moment sees the old file or the
// new one, never half of one. `tmp` is in the same folder (rename is atomic there). On an exception
// from `write`, the temporary file is removed and the exception propagates.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

// write_atomically for bytes in memory. Throws std::runtime_error naming the file when it cannot write.
void write_file_atomically(const std::string& path, const std::string& bytes);

// The whole file, refusing files over `max_bytes` before reading (an InputError naming the file).
std::string read_file(const std::string& path, uint64_t max_bytes);

}  // namespace golf::host

#endif  // GOLF_HOST_FILES_H_
