// golf/plugin.h: what a plugin author writes once per library: GOLF_PLUGINS(golf::plugin<T>(...), ...).
//
//   class Lion final : public golf::Optimizer { public: explicit Lion(golf::PluginContext& ctx); ... };
//   static const golf_config_key kLionConfig[] = {
//       {"lr", GOLF_TYPE_FLOAT, "1e-4", "learning rate"}};
//   GOLF_PLUGINS(golf::plugin<Lion>("lion", "1.0.0", "Lion optimizer", kLionConfig))
//
// The macro defines the library's one exported entry point and fills its descriptor: ABI version,
// build fingerprint, and for each plugin its name, kind (taken from the interface T derives from),
// version, description, config schema and factory. T must be constructible from PluginContext&.
#ifndef GOLF_PLUGIN_H_
#define GOLF_PLUGIN_H_

#include <cstddef>

#include "golf/abi.h"
#include "golf/context.h"
#include "golf/fingerprint.h"

#define GOLF_EXPORT extern "C" __attribute__((visibility("default")))

namespace golf {
namespace detail {
template <class T>
void* create(void* context) {
  using Interface = typename T::Interface;
  return static_cast<Interface*>(new T(*static_cast<PluginContext*>(context)));
}
}  // namespace detail

// Describes plugin class T, at compile time. REQUIRES: T derives from exactly one stage interface
// (golf::Optimizer...), is constructible from PluginContext& and is deleted through that interface;
// every string and `config` have static storage (the descriptor stores the pointers), as literals and
// a namespace-scope array do. T's constructor may throw (golf/abi.h, golf_factory); it is called
// once per stage instance, on the host's thread.
template <class T, std::size_t N>
constexpr golf_plugin_desc plugin(const char* name, const char* version, const char* description,
                                  const golf_config_key (&config)[N]) {
  return {sizeof(golf_plugin_desc), static_cast<uint32_t>(T::kKind), name, version, description,
          config, static_cast<uint32_t>(N), &detail::create<T>};
}

// The same for a plugin without config keys (its pipeline table may hold only `plugin`).
template <class T>
constexpr golf_plugin_desc plugin(const char* name, const char* version, const char* description) {
  return {sizeof(golf_plugin_desc), static_cast<uint32_t>(T::kKind), name, version, description,
          nullptr, 0, &detail::create<T>};
}
}  // namespace golf

// Defines the library's entry point from golf::plugin<T>(...) values. REQUIRES: used exactly once
// per library, at global namespace scope, with at least one plugin, names unique in the library.
#define GOLF_PLUGINS(...)                                                                     \
  GOLF_EXPORT const golf_library_desc* golf_describe_library(void) {                         \
    static const golf_plugin_desc plugins[] = {__VA_ARGS__};                                 \
    static const golf_library_desc desc = {                                                  \
        sizeof(golf_library_desc), GOLF_ABI_MAJOR,   GOLF_ABI_MINOR, GOLF_BUILD_FINGERPRINT, \
        sizeof(plugins) / sizeof(plugins[0]), plugins};                                      \
    return &desc;                                                                            \
  }

#endif  // GOLF_PLUGIN_H_
