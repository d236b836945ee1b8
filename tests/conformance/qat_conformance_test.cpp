// tests/conformance/qat_conformance_test.cpp: what every quantization-aware-training plugin must do around a training step.
//
// Runs every QAT plugin in the build tree (late-qat) and in $GOLF_CONFORMANCE_PLUGIN_DIRS; with none
// found, each test reports itself skipped ("no QAT plugin built").
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Architecture;
using golf::Param;
using golf::Qat;
using golf::Quantizer;
using golf::testing::Instance;

// Each plugin with its defaults, and late-qat also switched on from the first step (the suite runs at
// lr_scale 1, above its default threshold) and with noisy QAT on one block.
std::vector<std::string> configs(const std::string& plugin) {
  if (plugin == "late-qat") return {"", "threshold = 2.0", "threshold = 2.0\nnoise_params = \"blocks.1.*\""};
  return {""};
}

struct Case {
  std::string plugin, toml;
  std::string trace() const { return plugin + (toml.empty() ? " (defaults)" : " with " + toml); }
};

#define GOLF_REQUIRE_QAT_PLUGINS(var)                                                                 \
  std::vector<Case> var;                                                                              \
  for (const std::string& n : golf::testing::conformance_plugins(GOLF_KIND_QAT))                      \
    for (const std::string& t : configs(n)) var.push_back({n, t});                                    \
  if (var.empty()) {                                                                                  \
    GTEST_SKIP() << "SKIPPED: no QAT plugin built (none in the build tree or $GOLF_CONFORMANCE_PLUGIN_DIRS)"; \
  }

// A small real model (the built-in gpt), with every parameter away from its initialisation.
Instance<Architecture> model() {
  Instance<Architecture> a = golf::testing::make_plugin<Architecture>(
      "gpt", "vocab_size = 64\nnum_layers = 2\nmodel_dim = 64\nnum_heads = 4\nnum_kv_heads = 2\n");
  a->build();
  at::NoGradGuard no_grad;
  at::manual_seed(5);
  for (const Param& p : a->parameters()) p.tensor.add_((at::randn(p.tensor.sizes()) * 0.05).to(p.tensor.scalar_type()));
  return a;
}

// The real quantizer a pipeline would pair it with (int8), its grid small enough to matter: every
// matrix is quantized, none passed through.
Instance<Quantizer> quantizer() { return golf::testing::make_plugin<Quantizer>("int8", "passthrough_max_numel = 0"); }

std::vector<at::Tensor> values(const std::vector<Param>& params) {
  std::vector<at::Tensor> out;
  for (const Param& p : params) out.push_back(p.tensor.detach().clone());
  return out;
}

// One micro-step as host/train.cpp takes it: before_forward, forward, backward, after_backward.
double micro_step(Qat& qat, Architecture& a, const golf::StepInfo& info, uint64_t seed) {
  at::manual_seed(seed);
  const int64_t V = a.vocab_size();
  const at::Tensor x = at::randint(V, {2, 16}, at::kLong), y = at::randint(V, {2, 16}, at::kLong);
  qat.before_forward(info);
  const at::Tensor loss = a.forward(x, y).mean();
  loss.backward();
  qat.after_backward(info);
  return loss.item<double>();
}

TEST(QatConformance, RestoresTheFullPrecisionWeightsExactly) {
  GOLF_REQUIRE_QAT_PLUGINS(names);
  for (const Case& c : names) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = model();
    Instance<Quantizer> q = quantizer();
    const std::vector<Param> params = a->parameters();
    auto qat = golf::testing::make_plugin<Qat>(c.plugin, c.toml);
    qat->attach(params, *q);
    a->set_training(true);
    for (int64_t step = 0; step < 3; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const std::vector<at::Tensor> before = values(params);
      const golf::StepInfo info{step, 1.0, step / 3.0};
      const double loss = micro_step(*qat, *a, info, 10 + step);
      EXPECT_TRUE(std::isfinite(loss));
      for (size_t i = 0; i < params.size(); ++i) {
        SCOPED_TRACE(params[i].name);
        EXPECT_TRUE(at::equal(params[i].tensor, before[i])) << "after_backward() did not restore the weights";
        EXPECT_TRUE(params[i].tensor.is_same(a->parameters()[i].tensor)) << "the param is no longer the live tensor";
        EXPECT_TRUE(params[i].tensor.requires_grad());
        const at::Tensor g = params[i].tensor.grad();
        ASSERT_TRUE(g.defined()) << "no gradient reached the full-precision weight";
        EXPECT_TRUE(at::isfinite(g.to(at::kFloat)).all().item<bool>());
      }
      // Stand in for the optimizer: move the weights, clear the gradients.
      at::NoGradGuard no_grad;
      for (const Param& p : params) {
        p.tensor.add_(p.tensor.grad(), -0.01);
        p.tensor.mutable_grad() = at::Tensor();
      }
    }
  }
}

// Stepping after save/load into a fresh instance attached to copies equals stepping straight on.
TEST(QatConformance, SaveLoadResumesExactly) {
  GOLF_REQUIRE_QAT_PLUGINS(names);
  for (const Case& c : names) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = model(), b = model();
    Instance<Quantizer> qa = quantizer(), qb = quantizer();
    auto qat = golf::testing::make_plugin<Qat>(c.plugin, c.toml);
    qat->attach(a->parameters(), *qa);
    a->set_training(true);
    b->set_training(true);
    for (int64_t step = 0; step < 2; ++step) {
      micro_step(*qat, *a, {step, 1.0, 0.0}, 20 + step);
      for (const Param& p : a->parameters()) p.tensor.mutable_grad() = at::Tensor();
    }
    golf::StateDict state;
    qat->save_state(state);
    auto fresh = golf::testing::make_plugin<Qat>(c.plugin, c.toml);
    fresh->attach(b->parameters(), *qb);
    fresh->load_state(state);
    for (int64_t step = 2; step < 4; ++step) {
      const double la = micro_step(*qat, *a, {step, 1.0, 0.5}, 30 + step);
      const double lb = micro_step(*fresh, *b, {step, 1.0, 0.5}, 30 + step);
      EXPECT_EQ(la, lb) << "step " << step;
      const std::vector<Param> pa = a->parameters(), pb = b->parameters();
      for (size_t i = 0; i < pa.size(); ++i) {
        EXPECT_TRUE(at::equal(pa[i].tensor.grad(), pb[i].tensor.grad())) << pa[i].name;
        pa[i].tensor.mutable_grad() = at::Tensor();
        pb[i].tensor.mutable_grad() = at::Tensor();
      }
    }
    golf::StateDict sa, sb;
    qat->save_state(sa);
    fresh->save_state(sb);
    ASSERT_EQ(sa.size(), sb.size());
    for (const auto& [k, v] : sa) {
      ASSERT_TRUE(sb.count(k)) << k;
      EXPECT_TRUE(at::equal(v, sb.at(k))) << k;
    }
  }
}

}  // namespace
