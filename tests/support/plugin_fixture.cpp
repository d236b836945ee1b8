// tests/support/plugin_fixture.cpp: real plugin instances from the build tree for tests.
#include "plugin_fixture.h"

#include <cstdlib>
#include <filesystem>

#include "context.h"
#include "registry.h"

namespace golf::testing {
namespace {

host::Registry& builtin_registry() {
  static host::Registry* registry = [] {
    auto* r = new host::Registry();
    r->scan({GOLF_TEST_PLUGIN_DIR});
    for (const auto& lib : r->libraries())
      if (!lib->ok()) ADD_FAILURE() << "built-in plugin refused: " << lib->error;
    return r;
  }();
  return *registry;
}

// Services one test instance borrows, kept alive with its context.
struct Owned {
  host::RunLog log;
  host::MetricsSink metrics;
  host::RunState run;
  std::unique_ptr<host::StageContext> context;
};

class OwningContext final : public PluginContext {
 public:
  explicit OwningContext(std::unique_ptr<Owned> owned) : owned_(std::move(owned)) {}
  const Config& config() const override { return owned_->context->config(); }
  Logger& log() override { return owned_->context->log(); }
  Metrics& metrics() override { return owned_->context->metrics(); }
  const RunInfo& run() const override { return owned_->context->run(); }
  std::string stage() const override { return owned_->context->stage(); }

 private:
  std::unique_ptr<Owned> owned_;
};

}  // namespace

std::pair<std::shared_ptr<PluginContext>, void*> make_plugin_raw(golf_kind kind, const std::string& name,
                                                                 const std::string& toml) {
  const host::PluginEntry* plugin = builtin_registry().find(name);
  if (!plugin || plugin->desc.kind != static_cast<uint32_t>(kind))
    throw std::runtime_error("no built-in " + std::string(host::kind_name(kind)) + " plugin named '" + name + "'");
  std::string stage = host::kind_name(kind);
  host::SourcedTable table;
  table.table = toml::parse(toml, "<test " + stage + ">");
  table.origins = host::origins_of(table.table);
  table.origin = host::Origin{"<test " + stage + ">", 0};
  host::Schema schema = host::plugin_schema(stage, *plugin);
  auto errors = host::check_table(table, schema);
  if (!errors.empty()) throw ConfigError(errors.front());

  auto owned = std::make_unique<Owned>();
  owned->log.set_quiet(true);
  auto dir = std::filesystem::temp_directory_path() / ("golf-test-" + std::to_string(::getpid())) / name;
  std::filesystem::create_directories(dir);
  owned->run.run_dir_ = dir.string();
  owned->context = std::make_unique<host::StageContext>(stage, host::TableConfig(schema, std::move(table)),
                                                        owned->log, owned->metrics, owned->run);
  host::StageContext& ctx = *owned->context;
  auto context = std::make_shared<OwningContext>(std::move(owned));
  void* raw = host::create_stage(*plugin, ctx);
  return {context, raw};
}

std::vector<std::string> builtin_plugins(golf_kind kind) { return builtin_registry().names(kind); }

std::string shared_data(const std::string& sub) {
  std::filesystem::path root = GOLF_TEST_SHARED_DIR;
  if (const char* env = std::getenv("GOLF_SHARED_DIR")) root = env;
  std::filesystem::path p = root / "data" / sub;
  std::error_code ec;
  return std::filesystem::exists(p, ec) ? std::filesystem::canonical(p).string() : "";
}

}  // namespace golf::testing
