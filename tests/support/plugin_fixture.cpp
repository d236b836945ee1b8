// tests/support/plugin_fixture.cpp: real plugin instances from the build tree for tests.
#include "plugin_fixture.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "context.h"
#include "evaluate.h"
#include "registry.h"

namespace golf::testing {
namespace {

// GOLF_TEST_PLUGIN_DIR, then each non-empty entry of $GOLF_CONFORMANCE_PLUGIN_DIRS.
std::vector<std::string> test_plugin_dirs() {
  std::vector<std::string> dirs = {GOLF_TEST_PLUGIN_DIR};
  if (const char* env = std::getenv("GOLF_CONFORMANCE_PLUGIN_DIRS")) {
    std::stringstream list(env);
    for (std::string dir; std::getline(list, dir, ':');) {
      if (dir.empty()) continue;
      if (!std::filesystem::is_directory(dir))
        ADD_FAILURE() << "GOLF_CONFORMANCE_PLUGIN_DIRS names " << dir << ", which is not a directory";
      dirs.push_back(dir);
    }
  }
  return dirs;
}

host::Registry& builtin_registry() {
  static host::Registry* registry = [] {
    auto* r = new host::Registry();
    r->scan(test_plugin_dirs());
    for (const auto& lib : r->libraries())
      if (!lib->ok()) ADD_FAILURE() << "plugin refused: " << lib->error;
    return r;
  }();
  return *registry;
}

}  // namespace

std::pair<std::shared_ptr<host::Services>, host::StageSpec> plugin_spec(golf_kind kind, const std::string& name,
                                                                        const std::string& toml) {
  const host::PluginEntry* plugin = builtin_registry().find(name);
  if (!plugin || plugin->desc.kind != static_cast<uint32_t>(kind))
    throw std::runtime_error("no " + std::string(host::kind_name(kind)) + " plugin named '" + name +
                             "' in the build tree or $GOLF_CONFORMANCE_PLUGIN_DIRS");
  std::string stage = host::kind_name(kind);
  host::SourcedTable table;
  table.table = toml::parse(toml, "<test " + stage + ">");
  table.origins = host::origins_of(table.table);
  table.origin = host::Origin{"<test " + stage + ">", 0};
  host::Schema schema = host::plugin_schema(stage, *plugin);
  auto errors = host::check_table(table, schema);
  if (!errors.empty()) throw ConfigError(errors.front());

  auto services = std::make_shared<host::Services>();
  services->log.set_quiet(true);
  auto dir = std::filesystem::temp_directory_path() / ("golf-test-" + std::to_string(::getpid())) / name;
  std::filesystem::create_directories(dir);
  services->run.run_dir_ = dir.string();
  return {services, host::StageSpec{stage, plugin, host::TableConfig(schema, std::move(table))}};
}

EvalOutcome run_evaluation(Evaluator& evaluator, Architecture& model, const std::vector<int64_t>& stream,
                           const ByteTables& tables, int64_t seq_len, int32_t bos) {
  const at::Tensor tokens = at::tensor(at::ArrayRef<int64_t>(stream), at::kLong);
  host::RunLog log;
  log.set_quiet(true);
  const host::EvalStream s{tokens, &tables, bos, seq_len, host::count_bytes(tokens, tables)};
  const host::EvalResult r = host::evaluate(evaluator, "under test", model, s, 0, "test evaluation", log);
  return {r.val_loss * double(r.tokens), r.tokens, r.bytes, r.chunks, r.val_bpb};
}

std::vector<std::string> builtin_plugins(golf_kind kind) {
  std::vector<std::string> names = builtin_registry().names(kind);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<std::string> conformance_plugins(golf_kind kind) {
  static std::set<golf_kind> printed;
  std::vector<std::string> names = builtin_plugins(kind);
  if (printed.insert(kind).second) {
    std::string line = "[ PLUGINS  ] " + std::string(host::kind_name(kind)) + ":";
    for (size_t i = 0; i < names.size(); ++i) {
      line += (i ? ", " : " ") + names[i];
      const host::PluginEntry* p = builtin_registry().find(names[i]);
      if (p && p->library.rfind(std::filesystem::weakly_canonical(GOLF_TEST_PLUGIN_DIR).string(), 0) != 0)
        line += " (" + p->library + ")";
    }
    if (names.empty()) line += " none";
    std::cout << line << std::endl;
  }
  return names;
}

std::string shared_data(const std::string& sub) {
  std::filesystem::path root = GOLF_TEST_SHARED_DIR;
  if (const char* env = std::getenv("GOLF_SHARED_DIR")) root = env;
  std::filesystem::path p = root / "data" / sub;
  std::error_code ec;
  return std::filesystem::exists(p, ec) ? std::filesystem::canonical(p).string() : "";
}

}  // namespace golf::testing
