// tests/abi/bad_plugins.cpp: deliberately mismatched plugin libraries for the registry's refusal tests.
// Built several times with one BAD_* definition each; every variant writes its descriptor by hand
// to get past what GOLF_PLUGINS would fill in correctly.
#include "golf/golf.h"

namespace {
class Nothing final : public golf::Compressor {
 public:
  explicit Nothing(golf::PluginContext&) {}
  std::string compress(std::string_view raw) override { return std::string(raw); }
  std::string decompress(std::string_view packed, std::size_t) override { return std::string(packed); }
};
}  // namespace

#if defined(BAD_UNDEFINED_SYMBOL)
extern "C" int golf_test_symbol_nobody_defines(void);  // the loader refuses the library, naming it
GOLF_EXPORT int golf_test_uses_a_missing_symbol(void) { return golf_test_symbol_nobody_defines(); }
#endif

#if defined(BAD_NO_ENTRY)
GOLF_EXPORT int golf_something_else(void) { return 0; }
#else
GOLF_EXPORT const golf_library_desc* golf_describe_library(void) {
  static const golf_plugin_desc plugins[] = {golf::plugin<Nothing>("bad-test-plugin", "0.0.1", "test")};
  static golf_library_desc d = {sizeof(golf_library_desc), GOLF_ABI_MAJOR, GOLF_ABI_MINOR,
                                GOLF_BUILD_FINGERPRINT, 1, plugins};
#if defined(BAD_ABI_MAJOR)
  d.abi_major = GOLF_ABI_MAJOR + 1, d.abi_minor = 0;
#elif defined(BAD_ABI_OLD)  // a plugin built against SDK 1.0
  d.abi_major = 1, d.abi_minor = 0;
#elif defined(BAD_ABI_MINOR)
  d.abi_minor = GOLF_ABI_MINOR + 1;
#elif defined(BAD_TORCH)
  d.fingerprint.torch_version = "0.0.1";
#elif defined(BAD_CXX11_ABI)
  d.fingerprint.cxx11_abi = !d.fingerprint.cxx11_abi;
#elif defined(GOOD) || defined(BAD_UNDEFINED_SYMBOL)
#else
#error "define one variant"
#endif
  return &d;
}
#endif
