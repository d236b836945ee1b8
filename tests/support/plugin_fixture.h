// tests/support/plugin_fixture.h: makes real plugin instances from the build tree for tests.
//
// Plugins are loaded from the built .so files through the host's own registry and configured from
// a TOML snippet through the host's own config code, so a test exercises exactly what a run does.
#ifndef GOLF_TESTS_PLUGIN_FIXTURE_H_
#define GOLF_TESTS_PLUGIN_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "golf/golf.h"

namespace golf::testing {

// A stage instance plus the host services it borrows; the stage is destroyed first.
template <class Kind>
class Instance {
 public:
  Instance(std::shared_ptr<host::Services> services, std::unique_ptr<Kind> stage)
      : services_(std::move(services)), stage_(std::move(stage)) {}
  Kind* operator->() const { return stage_.get(); }
  Kind& operator*() const { return *stage_; }
  Kind* get() const { return stage_.get(); }
  PluginContext& context() const { return *services_->contexts.back(); }
  // The run info the stage reads (device, seed, seq_len...): a test may change it before the call
  // that reads it, e.g. run().device_ = at::kMeta before Architecture::build().
  host::RunState& run() const { return services_->run; }

 private:
  std::shared_ptr<host::Services> services_;
  std::unique_ptr<Kind> stage_;
};

// The plugins tests load: the build tree's plugin folder (GOLF_TEST_PLUGIN_DIR), then every folder
// listed in $GOLF_CONFORMANCE_PLUGIN_DIRS (colon-separated), so the conformance suites also run
// against plugins built out of tree. A name found twice is the first one's (search order).

// The services and checked stage table for plugin `name` of `kind`, configured by `toml`.
// Throws golf::ConfigError on a bad snippet, std::runtime_error when no plugin of `kind` has that name.
std::pair<std::shared_ptr<host::Services>, host::StageSpec> plugin_spec(golf_kind kind, const std::string& name,
                                                                        const std::string& toml);

// Loads plugin `name` of Kind's kind, configured by `toml` (the body of its table, e.g.
// "lr = 0.1"), through host::Services::make as a run makes it. Run info: device cpu, float32 compute,
// the [run] seed and [train] seq_len defaults, rank 0 of 1, no time budget, a fresh run directory
// under the temp dir (Instance::run() changes them).
template <class Kind>
Instance<Kind> make_plugin(const std::string& name, const std::string& toml = "") {
  auto [services, spec] = plugin_spec(Kind::kKind, name, toml);
  std::unique_ptr<Kind> stage = services->template make<Kind>(spec);
  return Instance<Kind>(std::move(services), std::move(stage));
}

// Expects constructing plugin `name` with `toml` to fail with an error naming `key`.
template <class Kind>
void expect_rejected(const std::string& name, const std::string& toml, const std::string& key) {
  try {
    make_plugin<Kind>(name, toml);
    ADD_FAILURE() << name << " accepted: " << toml;
  } catch (const std::runtime_error& e) {  // golf::ConfigError is one
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

// What an evaluation through the host's loop (host/evaluate.h) added up.
struct EvalOutcome {
  double loss_sum = 0;  // nats over every target
  int64_t targets = 0, bytes = 0, chunks = 0;
  double val_bpb = 0;
};

// Evaluates `model` on `stream` with `evaluator` exactly as a run does (host::evaluate: score first,
// then adapt; parameters restored afterwards). `bos` is the BOS id for document segmentation.
EvalOutcome run_evaluation(Evaluator& evaluator, Architecture& model, const std::vector<int64_t>& stream,
                           const ByteTables& tables, int64_t seq_len, int32_t bos = 1);

// Names of every plugin of `kind` on the test plugin path (built-in ones and those in
// $GOLF_CONFORMANCE_PLUGIN_DIRS), sorted.
std::vector<std::string> builtin_plugins(golf_kind kind);

// The plugins of `kind` a conformance suite checks: builtin_plugins(kind), printed once per kind
// ("[ PLUGINS  ] optimizer: adamw, lion (/path/libgolf-lion.so), muon") so a log shows which ran.
std::vector<std::string> conformance_plugins(golf_kind kind);

// Absolute path of ../shared/data/<sub> (or $GOLF_SHARED_DIR/data/<sub>); "" when absent.
std::string shared_data(const std::string& sub);

}  // namespace golf::testing

// Skips the current test with a visible message when ../shared/data/<sub> is absent (a user's
// machine has no ../shared); otherwise declares `std::string var` holding its path.
#define GOLF_REQUIRE_SHARED_DATA(var, sub)                                                   \
  std::string var = ::golf::testing::shared_data(sub);                                       \
  if (var.empty()) {                                                                         \
    GTEST_SKIP() << "SKIPPED: ../shared/data/" << (sub)                                      \
                 << " is absent (set GOLF_SHARED_DIR to run this test)";                     \
  }

#endif  // GOLF_TESTS_PLUGIN_FIXTURE_H_
