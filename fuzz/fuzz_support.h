// fuzz/fuzz_support.h: what the fuzz targets share: a per-process scratch folder, writing an input
// to a file there, seed files, and the plugin registry of the build tree, scanned once.
#ifndef GOLF_FUZZ_SUPPORT_H_
#define GOLF_FUZZ_SUPPORT_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "registry.h"

namespace golf::fuzz {

// $TMPDIR/golf-fuzz-<pid>/, made on first use and removed at exit. One per process, so parallel
// fuzzing jobs (-jobs, -fork) never share files.
inline const std::filesystem::path& scratch() {
  static const auto* dir = [] {  // never destroyed: the exit handler below still reads it
    auto* d = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                        ("golf-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch(), ec);
    });
    return d;
  }();
  return *dir;
}

// Writes `size` bytes to `path` (truncating it); aborts if it cannot: that is the harness failing.
inline void write_bytes(const std::string& path, const void* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
}

// When $GOLF_FUZZ_SEEDS_OUT names a folder, the target writes its seed inputs there (through
// `write_seeds(folder)`, using golf's own writers) and exits instead of fuzzing: scripts/fuzz.sh
// adds them to the copy of fuzz/corpus/<target>/ it fuzzes, so seeds follow the current formats.
template <class Fn>
void seeds_requested(Fn&& write_seeds) {
  const char* out = std::getenv("GOLF_FUZZ_SEEDS_OUT");
  if (!out || !*out) return;
  std::filesystem::create_directories(out);
  write_seeds(std::filesystem::path(out));
  std::exit(0);
}

// Every plugin library in the build tree's plugin folder, loaded once (probing forks a child per
// library, so never per input). Aborts when one is refused: the fuzz build itself is broken then.
inline host::Registry& registry() {
  static host::Registry* r = [] {
    auto* reg = new host::Registry();
    reg->scan({GOLF_FUZZ_PLUGIN_DIR});
    for (const auto& lib : reg->libraries())
      if (!lib->ok()) {
        std::fprintf(stderr, "fuzz: plugin library refused: %s\n", lib->error.c_str());
        std::abort();
      }
    return reg;
  }();
  return *r;
}

}  // namespace golf::fuzz

#endif  // GOLF_FUZZ_SUPPORT_H_
