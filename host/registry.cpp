// host/registry.cpp: plugin loading with Boost.DLL and the descriptor checks of golf/abi.h.
#include "registry.h"

#include <boost/dll/shared_library.hpp>
#include <boost/dll/runtime_symbol_info.hpp>

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "golf/fingerprint.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// Libraries are never unloaded (GStreamer's "resident" rule): the handles are deliberately leaked.
std::vector<boost::dll::shared_library>& resident_libraries() {
  static auto* libraries = new std::vector<boost::dll::shared_library>();
  return *libraries;
}

std::string str(const char* s) { return s ? s : "(null)"; }

bool same_fingerprint(const golf_fingerprint& a, const golf_fingerprint& b) {
  return a.cxx11_abi == b.cxx11_abi && a.cuda == b.cuda && a.compiler_major == b.compiler_major &&
         str(a.torch_version) == str(b.torch_version) && str(a.compiler) == str(b.compiler);
}

// Checks one plugin descriptor; returns "" when usable.
std::string check_plugin(const golf_plugin_desc& p) {
  if (!p.name || !*p.name) return "a plugin has no name";
  std::string who = "plugin '" + std::string(p.name) + "'";
  if (!kind_from_name(kind_name(p.kind))) return who + " has unknown kind " + std::to_string(p.kind);
  if (!p.create) return who + " has no factory";
  if (!p.version || !p.description) return who + " lacks a version or description";
  if (p.config_count && !p.config) return who + " declares config keys but no table";
  for (uint32_t i = 0; i < p.config_count; ++i) {
    const golf_config_key& k = p.config[i];
    if (!k.key || k.type < GOLF_TYPE_INT || k.type > GOLF_TYPE_PATH)
      return who + " has a malformed config key #" + std::to_string(i);
  }
  return "";
}

}  // namespace

golf_fingerprint host_fingerprint() { return GOLF_BUILD_FINGERPRINT; }

std::string describe(const golf_fingerprint& fp) {
  std::ostringstream out;
  out << "LibTorch " << str(fp.torch_version) << ", CXX11 ABI " << fp.cxx11_abi << ", CUDA "
      << (fp.cuda ? "on" : "off") << ", " << str(fp.compiler) << " " << fp.compiler_major;
  return out.str();
}

static const char* const kKindNames[] = {"",          "tokenizer", "architecture", "optimizer", "averaging",
                                         "qat",       "quantizer", "compressor",   "evaluator"};

const char* kind_name(uint32_t kind) {
  return kind >= 1 && kind <= GOLF_KIND_EVALUATOR ? kKindNames[kind] : "unknown";
}

uint32_t kind_from_name(const std::string& name) {
  for (uint32_t k = 1; k <= GOLF_KIND_EVALUATOR; ++k)
    if (name == kKindNames[k]) return k;
  return 0;
}

std::vector<std::string> plugin_search_path(const std::vector<std::string>& cli_dirs) {
  std::vector<std::string> dirs(cli_dirs);
  if (const char* env = std::getenv("GOLF_PLUGIN_PATH")) {
    std::stringstream parts(env);
    for (std::string dir; std::getline(parts, dir, ':');)
      if (!dir.empty()) dirs.push_back(dir);
  }
  fs::path exe = boost::dll::program_location();
  dirs.push_back((exe.parent_path().parent_path() / "lib" / "golf" / "plugins").string());
  return dirs;
}

void Registry::scan(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      std::string name = e.path().filename().string();
      if (e.is_regular_file() && name.rfind("lib", 0) == 0 && e.path().extension() == ".so")
        files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) load(f.string());
  }
}

Registry scan_plugins(const std::vector<std::string>& cli_dirs) {
  Registry r;
  r.scan(plugin_search_path(cli_dirs));
  return r;
}

namespace {

// RTLD_DEEPBIND (see Registry::load), but not in sanitizer builds: ASan refuses it (google/sanitizers#611),
// so GOLF_SANITIZE defines GOLF_NO_DEEPBIND and scripts/sanitize.sh copes with libsentencepiece's protobuf.
#ifdef GOLF_NO_DEEPBIND
constexpr int kDeepBind = 0;
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif

// Reads a library's fingerprint in a child process: a plugin built against another LibTorch can abort
// while that LibTorch initialises beside golf-host's, and must not take golf-host down with it. The
// child loads it as golf-host would; if that dies, a second child loads it in a link-map namespace
// of its own (dlmopen), where the other LibTorch initialises cleanly, to name its fingerprint.
// Returns "" when the library loaded in the child (the in-process checks then run), else the refusal;
// with own_namespace, the library's fingerprint described, or "".
std::string probe(const std::string& where, bool own_namespace) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  const pid_t pid = fork();
  if (pid < 0) return close(fds[0]), close(fds[1]), "";
  if (pid == 0) {
    close(fds[0]);
    if (!own_namespace) {  // surviving the load is all the first probe asks; a load error is reported in-process
      dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL | kDeepBind);
      _exit(0);
    }
    void* h = dlmopen(LM_ID_NEWLM, where.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto fn = h ? reinterpret_cast<golf_describe_fn>(dlsym(h, GOLF_ENTRY_POINT)) : nullptr;
    const golf_library_desc* d = fn ? fn() : nullptr;
    if (d && d->struct_size >= offsetof(golf_library_desc, plugin_count)) {
      golf_fingerprint fp{};
      std::memcpy(&fp, &d->fingerprint, std::min<size_t>(d->fingerprint.struct_size, sizeof fp));
      const std::string out = describe(fp);
      if (write(fds[1], out.data(), out.size()) < 0) _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!own_namespace) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    std::string theirs = probe(where, true);
    return where + ": loading it aborted (" +
           (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) : "exit " + std::to_string(WEXITSTATUS(status))) +
           "): built with " + (theirs.empty() ? "an unknown LibTorch" : theirs) + ", but golf-host was built with " +
           describe(host_fingerprint()) + "; rebuild the plugin with the same LibTorch and compiler (find_package(golf) from this install)";
  }
  return got;  // the fingerprint, or "" when even its own namespace could not load it
}

}  // namespace

const LibraryEntry& Registry::load(const std::string& path) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(path, ec);
  std::string where = ec ? path : canonical.string();
  for (const auto& lib : libraries_)
    if (lib->path == where) return *lib;
  auto entry = std::make_unique<LibraryEntry>();
  entry->path = where;
  LibraryEntry& e = *entry;
  libraries_.push_back(std::move(entry));

  if (!fs::is_regular_file(where, ec)) {
    e.error = where + ": no such plugin file";
    return e;
  }
  if (std::string refused = probe(where, false); !refused.empty()) {
    e.error = refused;
    return e;
  }
  boost::dll::shared_library lib;
  boost::dll::fs::error_code load_error;
  // RTLD_DEEPBIND: a plugin's own dependencies resolve against themselves before the global scope.
  // Without it, Debian's libsentencepiece (which carries protobuf 3.14 inside) binds to the system
  // protobuf 3.21 that LibTorch loaded first, and aborts on the version check.
  lib.load(where,
           boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local | boost::dll::load_mode::type(kDeepBind),
           load_error);
  if (load_error) {
    // Boost.DLL keeps only an error code; the loader's own reason (an undefined symbol, a missing
    // dependency, a wrong ELF class) comes from dlerror() after the same load.
    std::string reason = load_error.message();
    if (void* h = dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL)) dlclose(h);
    else if (const char* why = dlerror()) reason = why;
    e.error = where + ": cannot be loaded as a shared library: " + reason +
              "\n    (an undefined LibTorch or c10 symbol means the plugin was built against another LibTorch; "
              "rebuild it with find_package(golf) from this install)";
    return e;
  }
  if (!lib.has(GOLF_ENTRY_POINT)) {
    e.error = where + ": not a golf plugin (it does not export " GOLF_ENTRY_POINT ")";
    return e;
  }
  auto describe_fn = lib.get<const golf_library_desc*()>(GOLF_ENTRY_POINT);
  resident_libraries().push_back(lib);
  const golf_library_desc* raw = describe_fn();
  if (!raw || raw->struct_size < offsetof(golf_library_desc, plugins) + sizeof(raw->plugins)) {
    e.error = where + ": descriptor is missing or smaller than any golf ABI's";
    return e;
  }
  golf_library_desc d{};  // the OBS rule: copy what the plugin has, zero the rest
  std::memcpy(&d, raw, std::min<size_t>(raw->struct_size, sizeof d));
  if (d.abi_major != GOLF_ABI_MAJOR || d.abi_minor > GOLF_ABI_MINOR) {
    std::ostringstream m;
    m << where << ": built for golf ABI " << d.abi_major << "." << d.abi_minor << ", but this golf-host has ABI "
      << GOLF_ABI_MAJOR << "." << GOLF_ABI_MINOR << "; rebuild the plugin against this golf's SDK";
    if (d.abi_major < GOLF_ABI_MAJOR)  // what a 1.x plugin's author must change, not only rebuild
      m << " (ABI 2.0 changed the evaluator, quantizer, QAT and architecture interfaces: docs/abi.md)";
    e.error = m.str();
    return e;
  }
  golf_fingerprint fp{};
  std::memcpy(&fp, &d.fingerprint, std::min<size_t>(d.fingerprint.struct_size, sizeof fp));
  golf_fingerprint mine = host_fingerprint();
  if (!same_fingerprint(fp, mine)) {
    e.error = where + ": built with " + describe(fp) + ", but golf-host was built with " + describe(mine) +
              "; rebuild the plugin with the same LibTorch and compiler (find_package(golf) from this install)";
    return e;
  }
  if (d.plugin_count == 0 || !d.plugins) {
    e.error = where + ": the library declares no plugins";
    return e;
  }
  // Plugin descriptors may be smaller than ours (an older minor): step by the plugin's own size.
  const uint32_t stride = d.plugins[0].struct_size;
  if (stride < offsetof(golf_plugin_desc, create) + sizeof(golf_factory)) {
    e.error = where + ": plugin descriptors are smaller than any golf ABI's";
    return e;
  }
  for (uint32_t i = 0; i < d.plugin_count; ++i) {
    PluginEntry p{};
    const char* at = reinterpret_cast<const char*>(d.plugins) + size_t(i) * stride;
    std::memcpy(&p.desc, at, std::min<size_t>(stride, sizeof p.desc));
    p.library = where;
    if (std::string why = check_plugin(p.desc); !why.empty()) {
      e.error = where + ": " + why;
      e.plugins.clear();
      return e;
    }
    e.plugins.push_back(p);
  }
  return e;
}

const PluginEntry* Registry::find(const std::string& name) const {
  for (const auto& lib : libraries_)
    for (const auto& p : lib->plugins)
      if (name == p.desc.name) return &p;
  return nullptr;
}

std::vector<std::string> Registry::names(uint32_t kind) const {
  std::vector<std::string> out;
  for (const auto& lib : libraries_)
    for (const auto& p : lib->plugins)
      if (kind == 0 || p.desc.kind == kind) out.push_back(p.desc.name);
  return out;
}

}  // namespace golf::host
