/* golf/abi.h: the C envelope every plugin library exports, read by the host before anything else.
 *
 * A plugin library exports exactly one symbol, GOLF_ENTRY_POINT, a function returning a pointer to a
 * static golf_library_desc. Everything in this file is plain C with sized integers so that any host,
 * even one built against another LibTorch or compiler, can read it and explain a mismatch instead of
 * crashing. Plugin authors never fill these structs by hand: GOLF_PLUGINS in golf/plugin.h does it.
 *
 * Compatibility rules (checked by the host in this order):
 *   1. struct_size of the library descriptor is at least the size of ABI 1.0's descriptor;
 *   2. abi_major == the host's GOLF_ABI_MAJOR and abi_minor <= the host's GOLF_ABI_MINOR;
 *   3. the build fingerprint equals the host's field by field (the C++ stage interfaces pass
 *      at::Tensor and std types, so LibTorch version, C++ ABI, CUDA and compiler must agree).
 * Structs are append-only: a new field goes at the end, and moves GOLF_ABI_MINOR. Their layout is
 * pinned by tests/abi_layout_test.cpp, which fails until the version moves with it.
 */
#ifndef GOLF_ABI_H_
#define GOLF_ABI_H_

#include <stdint.h>

#define GOLF_ABI_MAJOR 2
#define GOLF_ABI_MINOR 1

/* Name of the one exported function; its type is golf_describe_fn. */
#define GOLF_ENTRY_POINT "golf_describe_library"

/* Stage kinds. Values are part of the ABI: never renumber, only append. */
typedef enum golf_kind {
  GOLF_KIND_TOKENIZER = 1,
  GOLF_KIND_ARCHITECTURE = 2,
  GOLF_KIND_OPTIMIZER = 3,
  GOLF_KIND_AVERAGING = 4,
  GOLF_KIND_QAT = 5,
  GOLF_KIND_QUANTIZER = 6,
  GOLF_KIND_COMPRESSOR = 7,
  GOLF_KIND_EVALUATOR = 8
} golf_kind;

/* Types a config key may take in a pipeline's TOML. An int is accepted where a float is declared. */
typedef enum golf_value_type {
  GOLF_TYPE_INT = 1,
  GOLF_TYPE_FLOAT = 2,
  GOLF_TYPE_BOOL = 3,
  GOLF_TYPE_STRING = 4,
  GOLF_TYPE_PATH = 5  /* a string; a relative path is resolved against the directory of the file
                         that set it (the pipeline file, or the working directory for --set) */
} golf_value_type;

/* One key of a plugin's config table. All strings are static, owned by the plugin library.
 * REQUIRES: `key` non-NULL and `type` a golf_value_type (the library is refused otherwise); `key`
 * unique within the plugin and not "plugin" (the stage's own key); `default_value` NULL or a TOML
 * literal of `type` (an unparsable one makes every construction of the plugin fail). */
typedef struct golf_config_key {
  const char* key;           /* TOML key, e.g. "lr" */
  uint32_t type;             /* a golf_value_type */
  const char* default_value; /* TOML literal ("0.04", "true", "\"zstd\""); NULL means required */
  const char* doc;           /* one line for `golf-host plugin NAME` (and the docs' key tables); may be NULL */
} golf_config_key;

/* What a plugin was built against. The host refuses a plugin whose fingerprint differs from its own. */
typedef struct golf_fingerprint {
  uint32_t struct_size;
  uint32_t cxx11_abi;        /* _GLIBCXX_USE_CXX11_ABI */
  uint32_t cuda;             /* 1 when built against a CUDA-enabled LibTorch */
  uint32_t compiler_major;   /* e.g. 12 for g++ 12 */
  const char* torch_version; /* TORCH_VERSION, e.g. "1.13.0" */
  const char* compiler;      /* "gcc" or "clang" */
} golf_fingerprint;

/* Makes one stage object. `context` is a golf::PluginContext*, never NULL, that outlives the object;
 * the result is a non-NULL pointer to the kind's C++ interface (golf::Optimizer* for an optimizer),
 * owned by the host, which deletes it through the interface's virtual destructor. Called on the
 * host's thread, once per stage instance. May throw (C++ is safe past rule 3): a golf::ConfigError
 * for a bad config value, any std::exception otherwise; the host reports it naming stage and plugin. */
typedef void* (*golf_factory)(void* context);

/* One plugin of a library. Static, owned by the library, which is never unloaded; every pointer in
 * it must stay valid for the life of the process. REQUIRES (the library is refused otherwise): a
 * non-empty name, a known kind, a factory, a version and a description; `config` non-NULL when
 * config_count > 0. */
typedef struct golf_plugin_desc {
  uint32_t struct_size;
  uint32_t kind;                  /* a golf_kind */
  const char* name;               /* unique among loaded plugins, e.g. "muon"; the first found on the
                                     plugin path wins, later ones are listed as shadowed */
  const char* version;            /* the plugin's own version, e.g. "1.0.0"; recorded in artifacts */
  const char* description;        /* one line */
  const golf_config_key* config;  /* schema of the plugin's TOML table; may be NULL when count is 0 */
  uint32_t config_count;
  golf_factory create;            /* never NULL */
} golf_plugin_desc;

/* The library's descriptor: what GOLF_ENTRY_POINT returns. Static, owned by the library. */
typedef struct golf_library_desc {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  golf_fingerprint fingerprint;
  uint32_t plugin_count;          /* one library may hold several plugins */
  const golf_plugin_desc* plugins;
} golf_library_desc;

/* Returns a pointer to static storage; never NULL; the same pointer every call, from any thread, any
 * number of times. Runs no plugin code besides static initialisation; never throws (it is C). */
typedef const golf_library_desc* (*golf_describe_fn)(void);

#endif /* GOLF_ABI_H_ */
