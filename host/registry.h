// host/registry.h: finds plugin libraries, checks their descriptors, keeps them loaded for the process.
#ifndef GOLF_HOST_REGISTRY_H_
#define GOLF_HOST_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "golf/abi.h"

namespace golf::host {

struct PluginEntry {
  golf_plugin_desc desc;  // copied from the library (zero-filled past its struct_size); strings point
                          // into the library, which is never unloaded
  std::string library;    // canonical path of the .so
};

struct LibraryEntry {
  std::string path;         // canonical path
  std::string error;        // empty when loaded; else why it was refused (names file and values)
  std::vector<PluginEntry> plugins;
  bool ok() const { return error.empty(); }
};

// The host's own fingerprint; a plugin must match it field by field.
golf_fingerprint host_fingerprint();
std::string describe(const golf_fingerprint& fp);  // "LibTorch 1.13.0, CXX11 ABI 1, CUDA off, gcc 12"
const char* kind_name(uint32_t kind);              // "optimizer"; "unknown" out of range
uint32_t kind_from_name(const std::string& name);  // 0 when unknown

// Search path, in priority order: --plugin-path dirs, $GOLF_PLUGIN_PATH (colon-separated), then the
// built-in folder next to the executable (../lib/golf/plugins).
std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_dirs);

// Not thread-safe; one per process in practice. Libraries opened by any Registry stay loaded until
// the process exits, so objects made by a plugin can never outlive its code.
class Registry;
// A registry of every library on plugin_search_path(cli_dirs).
Registry scan_plugins(const std::vector<std::string>& cli_dirs);

class Registry {
 public:
  // Loads every lib*.so in each directory (sorted by name). A missing directory is skipped.
  void scan(const std::vector<std::string>& dirs);
  // Opens one library and checks its descriptor. Never throws: a refusal is recorded in error.
  // Loading the same file twice returns the first entry.
  const LibraryEntry& load(const std::string& path);

  const std::vector<std::unique_ptr<LibraryEntry>>& libraries() const { return libraries_; }
  // The first loaded plugin with this name in search-path order, or nullptr.
  const PluginEntry* find(const std::string& name) const;
  // Every loaded plugin name of `kind` (0: all kinds), for did-you-mean and listings.
  std::vector<std::string> names(uint32_t kind = 0) const;

 private:
  std::vector<std::unique_ptr<LibraryEntry>> libraries_;
};

}  // namespace golf::host

#endif  // GOLF_HOST_REGISTRY_H_
