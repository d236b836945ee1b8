// host/code_bytes.cpp: bytes_code from the stage plugins' code manifests and [run] code_files.
#include "code_bytes.h"

#include <glob.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "errors.h"
#include "provenance.h"

namespace fs = std::filesystem;

namespace golf::host {

CodeBytes code_bytes(const Pipeline& p) {
  CodeBytes out;
  std::set<std::string> libraries, seen;  // a file shared by two plugins (a common header) counts once
  for (const auto& st : p.stages) {
    const std::string& lib = st.plugin->library;
    if (!libraries.insert(lib).second) continue;
    const std::string manifest = lib + ".code";
    std::ifstream in(manifest);
    if (!in)
      throw InputError("[" + st.table + "] plugin " + st.plugin->desc.name + ": " + manifest +
                       " is missing, so its code cannot be counted in bytes_code; build the plugin with "
                       "golf_add_plugin() (golf-sdk.cmake), which writes it beside the library");
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      int64_t bytes = -1;
      std::string sha, name;
      if (!(fields >> bytes >> sha >> name) || bytes < 0 || sha.size() != 64)
        throw InputError(manifest + ":" + std::to_string(n + 2) + ": not a code manifest line: " + line.substr(0, 80));
      ++n;
      if (!seen.insert(sha).second) continue;
      out.bytes += bytes;
      out.files.push_back(fs::path(lib).filename().string() + ": " + name + " (" + std::to_string(bytes) + " bytes)");
    }
    if (n == 0) throw InputError(manifest + ": lists no source files");
  }
  // [run] code_files: resolve() made each glob absolute.
  std::stringstream list(p.resolved["run"]["code_files"].value_or(std::string()));
  for (std::string pattern; std::getline(list, pattern, ',');) {
    if (pattern.empty()) continue;
    glob_t g{};
    if (::glob(pattern.c_str(), 0, nullptr, &g) != 0) {
      ::globfree(&g);
      p.run->fail("code_files", "'" + pattern + "' matches no file");
    }
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      const std::string f = g.gl_pathv[i];
      std::error_code ec;
      if (!fs::is_regular_file(f, ec) || !seen.insert(sha256_file(f)).second) continue;  // once, even if a plugin's
      const int64_t bytes = int64_t(fs::file_size(f, ec));
      out.bytes += bytes;
      out.files.push_back(f + " (" + std::to_string(bytes) + " bytes)");
    }
    ::globfree(&g);
  }
  return out;
}

}  // namespace golf::host
