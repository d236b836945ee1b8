// tests/conformance/averaging_conformance_test.cpp: what every weight-averaging plugin must do (shapes kept, exact resume, identity on still weights).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Averaging;
using golf::Param;
using golf::ParamRole;

// Configs each plugin is checked with: every kind of decay for the built-in ema, the defaults for any
// other plugin.
std::vector<std::string> configs(const std::string& plugin) {
  if (plugin == "ema")
    return {"", "decay = 0.0", "decay = 0.5", "decay = 0.9", "decay = 0.999", "decay = 1.0", "decay = 0.9\nevery = 2"};
  // The suite steps at lr_scale 1: a start above 1 makes swa collect from the first step.
  if (plugin == "swa") return {"", "start_lr_scale = 1.5\nevery = 1", "start_lr_scale = 1.5\nevery = 2"};
  return {""};
}

struct Case {
  std::string plugin, toml;
  std::string trace() const { return plugin + (toml.empty() ? " (defaults)" : " with " + toml); }
};
std::vector<Case> cases() {
  std::vector<std::string> names = golf::testing::conformance_plugins(GOLF_KIND_AVERAGING);
  EXPECT_FALSE(names.empty()) << "no averaging plugin found";
  std::vector<Case> out;
  for (const std::string& name : names)
    for (const std::string& toml : configs(name)) out.push_back({name, toml});
  return out;
}

// A model's worth of parameters: every role, fp32 and bf16, 1-D to 3-D.
std::vector<Param> model_params(uint64_t seed) {
  at::manual_seed(seed);
  auto p = [](const std::string& name, at::Tensor t, ParamRole role) { return Param{name, t.set_requires_grad(true), role}; };
  return {p("tok_emb.weight", at::randn({32, 16}).to(at::kBFloat16), ParamRole::kTiedEmbedding),
          p("blocks.0.attn.c_q.weight", at::randn({16, 16}), ParamRole::kMatrix),
          p("blocks.0.attn_scale", at::randn({16}), ParamRole::kScalar),
          p("blocks.0.attn_gate.weight", at::randn({2, 16}), ParamRole::kGate),
          p("emb.weight", at::randn({32, 16}), ParamRole::kEmbedding),
          p("lm_head.weight", at::randn({32, 16}), ParamRole::kHead),
          p("bank.weight", at::randn({2, 8, 16}), ParamRole::kOther)};
}

std::vector<Param> copies(const std::vector<Param>& params) {
  std::vector<Param> out;
  for (const Param& p : params) out.push_back({p.name, p.tensor.detach().clone().set_requires_grad(true), p.role});
  return out;
}

// Stands in for optimizer step `step`: moves every param by a deterministic amount.
void train_step(const std::vector<Param>& params, int64_t step) {
  at::NoGradGuard no_grad;
  at::manual_seed(1000 + step);
  for (const Param& p : params) p.tensor.add_((at::randn(p.tensor.sizes()) * 0.1).to(p.tensor.scalar_type()));
}

void expect_same_tensors(const std::vector<Param>& a, const std::vector<at::Tensor>& impls) {
  ASSERT_EQ(a.size(), impls.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(a[i].name);
    EXPECT_TRUE(a[i].tensor.is_same(impls[i])) << "the param is no longer the live tensor";
  }
}

TEST(AveragingConformance, KeepsShapesDtypesDevicesAndTheLiveTensors) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    std::vector<Param> params = model_params(1);
    std::vector<at::Tensor> live;
    for (const Param& p : params) live.push_back(p.tensor);
    auto avg = golf::testing::make_plugin<Averaging>(c.plugin, c.toml);
    avg->attach(params);
    for (int64_t step = 0; step < 4; ++step) {
      train_step(params, step);
      std::vector<at::Tensor> before;
      for (const Param& p : params) before.push_back(p.tensor.detach().clone());
      avg->update({step, 1.0, step / 4.0});
      for (size_t i = 0; i < params.size(); ++i)
        EXPECT_TRUE(at::equal(params[i].tensor, before[i])) << params[i].name << ": update() changed the param";
    }
    avg->apply();
    const std::vector<Param> fresh = model_params(1);
    expect_same_tensors(params, live);
    for (size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE(params[i].name);
      const at::Tensor& t = params[i].tensor;
      EXPECT_EQ(t.sizes(), fresh[i].tensor.sizes());
      EXPECT_EQ(t.scalar_type(), fresh[i].tensor.scalar_type());
      EXPECT_EQ(t.device(), fresh[i].tensor.device());
      EXPECT_TRUE(t.requires_grad());
      EXPECT_TRUE(t.is_leaf());
      EXPECT_TRUE(at::isfinite(t.to(at::kFloat)).all().item<bool>());
    }
  }
}

// Weights that never move average to themselves: apply() is the identity, whatever the decay.
TEST(AveragingConformance, ApplyOnUnchangedWeightsIsIdentity) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    std::vector<Param> params = model_params(2);
    const std::vector<Param> before = copies(params);
    auto avg = golf::testing::make_plugin<Averaging>(c.plugin, c.toml);
    avg->attach(params);
    for (int64_t step = 0; step < 5; ++step) avg->update({step, 1.0, step / 5.0});
    avg->apply();
    for (size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE(params[i].name);
      const at::Tensor got = params[i].tensor.detach(), want = before[i].tensor.detach();
      if (got.scalar_type() == at::kFloat)  // d·w + (1-d)·w may round by an ulp in float32
        EXPECT_TRUE(at::allclose(got, want, 1e-6, 1e-7)) << (got - want).abs().max().item<double>();
      else  // a bf16 value survives the round trip through a float32 average exactly
        EXPECT_TRUE(at::equal(got, want));
    }
  }
}

// save_state after a few steps, load_state into a fresh instance attached to copies of the weights:
// both go on identically, and apply() writes the same weights.
TEST(AveragingConformance, SaveLoadResumesExactly) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    std::vector<Param> params = model_params(3);
    auto avg = golf::testing::make_plugin<Averaging>(c.plugin, c.toml);
    avg->attach(params);
    for (int64_t step = 0; step < 3; ++step) {
      train_step(params, step);
      avg->update({step, 1.0, 0.0});
    }
    golf::StateDict state;
    avg->save_state(state);
    golf::StateDict kept;
    for (const auto& [k, v] : state) kept[k] = v.clone();

    std::vector<Param> resumed = copies(params);
    auto fresh = golf::testing::make_plugin<Averaging>(c.plugin, c.toml);
    fresh->attach(resumed);
    fresh->load_state(state);
    for (int64_t step = 3; step < 6; ++step) {
      train_step(params, step);
      train_step(resumed, step);
      avg->update({step, 1.0, 0.0});
      fresh->update({step, 1.0, 0.0});
    }
    for (const auto& [k, v] : state)  // the saved tensors are copies: training on leaves them be
      EXPECT_TRUE(at::equal(v, kept.at(k))) << "state '" << k << "' moved after save_state";
    avg->apply();
    fresh->apply();
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_TRUE(at::equal(params[i].tensor, resumed[i].tensor)) << params[i].name;

    golf::StateDict a, b;  // and their states agree too
    avg->save_state(a);
    fresh->save_state(b);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [k, v] : a) {
      ASSERT_TRUE(b.count(k)) << k;
      EXPECT_TRUE(at::equal(v, b.at(k))) << k;
    }
  }
}

}  // namespace
