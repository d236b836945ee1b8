// host/provenance.cpp: run directory creation and the provenance header.
#include "provenance.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "device.h"
#include "errors.h"
#include "golf_build_info.h"

#if GOLF_HAVE_CRYPTO
#include <openssl/evp.h>
#endif

namespace fs = std::filesystem;

namespace golf::host {

std::string golf_version() { return GOLF_VERSION; }
std::string golf_commit() { return GOLF_GIT_COMMIT; }

std::string sha256_file(const std::string& path) {
#if GOLF_HAVE_CRYPTO
  std::ifstream in(path, std::ios::binary);
  if (!in) return "unreadable";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount()) EVP_DigestUpdate(ctx, buf, in.gcount());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char two[3];
  for (unsigned i = 0; i < n; ++i) std::snprintf(two, sizeof two, "%02x", md[i]), hex += two;
  return hex;
#else
  (void)path;
  return "unavailable (golf-host built without libcrypto)";
#endif
}

std::string make_run_dir(const std::string& requested, const std::string& name) {
  fs::path dir = requested;
  if (dir.empty()) {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    dir = fs::path("runs") / (name + "-" + stamp);
  }
  std::error_code ec;
  if (fs::exists(dir) && !fs::is_empty(dir, ec))
    throw InputError(dir.string() + ": run directory exists and is not empty; choose another --run-dir");
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw InputError(dir.string() + ": cannot create the run directory (" +
                     (ec ? ec.message() : std::string("a file of that name exists")) + ")");
  return fs::absolute(dir).lexically_normal().string();
}

void write_provenance(RunLog& log, const Pipeline& p, const std::string& device, uint64_t seed) {
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  log.file_only("golf " + golf_version() + " commit " + golf_commit() + " (" + describe(host_fingerprint()) + ")");
  log.file_only(torch_summary());
  log.file_only("started " + std::string(date));
  log.file_only("pipeline " + fs::absolute(p.file).string() + " (resolved copy: pipeline.toml)");
  log.file_only("device " + device + " seed " + std::to_string(seed));
  for (const auto& s : p.stages) {
    const auto& d = s.plugin->desc;
    log.file_only("plugin [" + s.table + "] " + d.name + " " + d.version + " " + s.plugin->library + " sha256 " +
                  sha256_file(s.plugin->library));
  }
}

}  // namespace golf::host
