// fuzz/fuzz_pipeline.cpp: libFuzzer target for pipeline loading (host/pipeline.h: TOML, extends, schemas).
//
// Each input is a pipeline file in a scratch folder that also holds the repository's pipelines/, so
// `extends = "baseline.toml"` resolves; plugin names resolve in a registry of the build's plugins,
// scanned once. PipelineError (or any std::exception) is the loader refusing the file; only a crash,
// a sanitizer report, a timeout or running out of memory is a finding.
//
// A pipeline may name a plugin library by path (a value ending in .so), and loading a library runs
// its code: that is by design (pipelines are trusted to pick their plugins), so inputs that would
// make the loader open a .so are skipped here rather than let the fuzzer dlopen system libraries.
#include <algorithm>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "pipeline.h"

namespace fs = std::filesystem;

namespace {

void write_seeds(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(fs::path(GOLF_FUZZ_SOURCE_DIR) / "pipelines"))
    if (e.path().extension() == ".toml") fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
}

// True when the bytes could name a file ending in ".so" (also written with TOML escapes, \u002e...).
bool may_name_a_library(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find(".so") != std::string::npos || lower.find("\\u") != std::string::npos ||
         lower.find("\\x") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  golf::fuzz::seeds_requested(write_seeds);
  write_seeds(golf::fuzz::scratch());  // the repository's pipelines, for `extends`
  golf::fuzz::registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (may_name_a_library(text)) return -1;  // -1: not added to the corpus
  static const std::string path = (golf::fuzz::scratch() / "input.toml").string();
  golf::fuzz::write_bytes(path, data, size);
  try {
    golf::host::load_pipeline(path, {}, golf::fuzz::registry());
  } catch (const std::exception&) {
  }
  return 0;
}
