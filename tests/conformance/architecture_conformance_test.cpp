// tests/conformance/architecture_conformance_test.cpp: what every architecture plugin must do (parameters, losses, causality, hooks).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Architecture;
using golf::Param;
using golf::ParamRole;
using golf::testing::Instance;

constexpr int64_t kBatch = 2, kSeq = 16;

// Configs each plugin is checked with: small ones for the built-in plugins (the defaults are a
// competition-sized model), the plugin's defaults for any other.
std::vector<std::string> configs(const std::string& plugin) {
  static const std::map<std::string, std::vector<std::string>> small = {
      {"gpt",
       {"vocab_size = 64\nnum_layers = 3\nmodel_dim = 32\nnum_heads = 4\nnum_kv_heads = 2\n",
        "vocab_size = 96\nnum_layers = 2\nmodel_dim = 32\nnum_heads = 2\nnum_kv_heads = 1\ntie_embeddings = false\n"}}};
  auto it = small.find(plugin);
  return it == small.end() ? std::vector<std::string>{""} : it->second;
}

// Every (plugin, config) pair, with the trace every check of it runs under.
struct Case {
  std::string plugin, toml;
  std::string trace() const { return plugin + (toml.empty() ? " (defaults)" : " with\n" + toml); }
};
std::vector<Case> cases() {
  std::vector<std::string> names = golf::testing::conformance_plugins(GOLF_KIND_ARCHITECTURE);
  EXPECT_FALSE(names.empty()) << "no architecture plugin found";
  std::vector<Case> out;
  for (const std::string& name : names)
    for (const std::string& toml : configs(name)) out.push_back({name, toml});
  return out;
}

Instance<Architecture> built(const Case& c, uint64_t seed = 1337) {
  Instance<Architecture> a = golf::testing::make_plugin<Architecture>(c.plugin, c.toml);
  a.run().seed_ = seed;
  a->build();
  return a;
}

at::Tensor random_ids(int64_t vocab, uint64_t seed, int64_t batch = kBatch, int64_t seq = kSeq) {
  at::manual_seed(seed);
  return at::randint(vocab, {batch, seq}, at::kLong);
}

// Moves every parameter away from its initialisation (zero-initialised projections included), so
// that every parameter influences the loss and receives a non-zero gradient.
void perturb(Architecture& a, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::manual_seed(seed);
  for (const Param& p : a.parameters()) {
    if (!p.tensor.is_floating_point()) continue;
    const at::Tensor noise = at::randn(p.tensor.sizes(), at::kFloat) * 0.05;
    p.tensor.add_(noise.to(p.tensor.device(), p.tensor.scalar_type()));
  }
}

// The NLL forward() must equal: -log_softmax(logits) at the target.
at::Tensor nll_of_logits(Architecture& a, const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor logits = a.logits(x);
  return -at::log_softmax(logits.to(at::kFloat), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1);
}

bool valid_role(ParamRole role) {
  switch (role) {
    case ParamRole::kMatrix:
    case ParamRole::kEmbedding:
    case ParamRole::kTiedEmbedding:
    case ParamRole::kHead:
    case ParamRole::kScalar:
    case ParamRole::kGate:
    case ParamRole::kOther:
      return true;
  }
  return false;
}

TEST(ArchitectureConformance, VocabSizeIsKnownBeforeBuild) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = golf::testing::make_plugin<Architecture>(c.plugin, c.toml);
    const int64_t before = a->vocab_size();
    EXPECT_GT(before, 0);
    a->build();
    EXPECT_EQ(a->vocab_size(), before);
  }
}

TEST(ArchitectureConformance, ParametersAreStableNamedLeavesWithValidRoles) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c);
    const std::vector<Param> first = a->parameters(), second = a->parameters();
    ASSERT_FALSE(first.empty()) << "no parameters";
    ASSERT_EQ(first.size(), second.size()) << "parameters() changed between calls";
    std::set<std::string> names;
    for (size_t i = 0; i < first.size(); ++i) {
      const Param& p = first[i];
      SCOPED_TRACE(p.name);
      EXPECT_FALSE(p.name.empty());
      EXPECT_TRUE(names.insert(p.name).second) << "duplicate parameter name";
      EXPECT_EQ(second[i].name, p.name) << "order or names changed between calls";
      EXPECT_EQ(second[i].role, p.role);
      EXPECT_TRUE(valid_role(p.role)) << "role " << static_cast<int>(p.role) << " is not a golf::ParamRole";
      ASSERT_TRUE(p.tensor.defined());
      EXPECT_TRUE(p.tensor.is_same(second[i].tensor)) << "parameters() returned another tensor (a copy?)";
      EXPECT_TRUE(p.tensor.is_leaf()) << "not a leaf tensor";
      EXPECT_TRUE(p.tensor.requires_grad()) << "does not require grad";
      EXPECT_TRUE(p.tensor.device().is_cpu()) << "built on " << p.tensor.device() << ", run().device() is cpu";
      EXPECT_GT(p.tensor.numel(), 0) << "empty tensor";
      EXPECT_TRUE(at::isfinite(p.tensor.detach().to(at::kFloat)).all().item<bool>()) << "non-finite initial values";
    }
  }
}

// The host sizes a model on the meta device before it allocates (docs/pipelines.md, Validation).
TEST(ArchitectureConformance, BuildsOnTheMetaDeviceWithTheSameShapes) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> cpu = built(c);
    Instance<Architecture> meta = golf::testing::make_plugin<Architecture>(c.plugin, c.toml);
    meta.run().device_ = at::Device(at::kMeta);
    try {
      meta->build();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "build() on the meta device threw (the host's memory check is skipped for this "
                       "architecture; docs/writing-a-plugin.md): "
                    << e.what();
      continue;
    }
    const std::vector<Param> want = cpu->parameters(), got = meta->parameters();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE(want[i].name);
      EXPECT_EQ(got[i].name, want[i].name);
      EXPECT_EQ(got[i].role, want[i].role);
      EXPECT_TRUE(got[i].tensor.device().is_meta()) << "on " << got[i].tensor.device();
      EXPECT_EQ(got[i].tensor.sizes(), want[i].tensor.sizes());
      EXPECT_EQ(got[i].tensor.scalar_type(), want[i].tensor.scalar_type());
    }
  }
}

TEST(ArchitectureConformance, ForwardIsAFiniteNonNegativeFloatNllOfShapeBT) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c);
    const int64_t V = a->vocab_size();
    const at::Tensor x = random_ids(V, 1), y = random_ids(V, 2);
    for (bool training : {true, false}) {
      SCOPED_TRACE(training ? "training mode" : "evaluation mode");
      a->set_training(training);
      at::Tensor nll = a->forward(x, y);
      ASSERT_EQ(nll.sizes(), x.sizes());
      EXPECT_EQ(nll.scalar_type(), at::kFloat);
      EXPECT_TRUE(at::isfinite(nll).all().item<bool>());
      EXPECT_GE(nll.min().item<double>(), -1e-6) << "a negative NLL: not a normalised distribution";
      const at::Tensor logits = a->logits(x);
      EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{kBatch, kSeq, V}));
      EXPECT_EQ(logits.scalar_type(), at::kFloat);
    }
  }
}

TEST(ArchitectureConformance, ForwardIsDifferentiableInEveryParameter) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c);
    perturb(*a, 3);
    a->set_training(true);
    const int64_t V = a->vocab_size();
    const at::Tensor loss = a->forward(random_ids(V, 4), random_ids(V, 5)).mean();
    ASSERT_TRUE(loss.requires_grad()) << "forward() is not differentiable in training mode";
    loss.backward();
    for (const Param& p : a->parameters()) {
      SCOPED_TRACE(p.name);
      const at::Tensor g = p.tensor.grad();
      ASSERT_TRUE(g.defined()) << "no gradient reached this parameter";
      EXPECT_EQ(g.sizes(), p.tensor.sizes());
      EXPECT_TRUE(at::isfinite(g.to(at::kFloat)).all().item<bool>());
      EXPECT_GT(g.to(at::kFloat).abs().max().item<double>(), 0.0) << "a zero gradient: the parameter does not affect the loss";
    }
  }
}

TEST(ArchitectureConformance, ForwardIsTheNllOfLogits) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c);
    perturb(*a, 6);
    a->set_training(false);
    at::NoGradGuard no_grad;
    const int64_t V = a->vocab_size();
    const at::Tensor x = random_ids(V, 7), y = random_ids(V, 8);
    const at::Tensor nll = a->forward(x, y), expected = nll_of_logits(*a, x, y);
    EXPECT_TRUE(at::allclose(nll, expected, /*rtol=*/1e-4, /*atol=*/1e-4))
        << "max difference " << (nll - expected).abs().max().item<double>();
  }
}

// A token at position t changes no NLL at a position before t (inputs and targets alike).
TEST(ArchitectureConformance, IsCausal) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c);
    perturb(*a, 9);
    a->set_training(false);
    at::NoGradGuard no_grad;
    const int64_t V = a->vocab_size();
    const at::Tensor x = random_ids(V, 10), y = random_ids(V, 11);
    const at::Tensor base = a->forward(x, y);
    for (int64_t t : {int64_t(1), kSeq / 2, kSeq - 1}) {
      SCOPED_TRACE("changed position " + std::to_string(t));
      at::Tensor x2 = x.clone(), y2 = y.clone();
      x2.narrow(1, t, kSeq - t).copy_(at::remainder(x2.narrow(1, t, kSeq - t) + (1 + t), V));
      y2.narrow(1, t, kSeq - t).copy_(at::remainder(y2.narrow(1, t, kSeq - t) + 3, V));
      const at::Tensor changed = a->forward(x2, y2);
      EXPECT_TRUE(at::allclose(changed.narrow(1, 0, t), base.narrow(1, 0, t), 1e-5, 1e-5))
          << "an earlier NLL changed by " << (changed.narrow(1, 0, t) - base.narrow(1, 0, t)).abs().max().item<double>();
      EXPECT_FALSE(at::equal(changed.narrow(1, t, kSeq - t), base.narrow(1, t, kSeq - t)))
          << "changing the tokens changed no later NLL";
    }
  }
}

TEST(ArchitectureConformance, TheSeedDeterminesTheModel) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c, 1337), b = built(c, 1337), other = built(c, 42);
    const std::vector<Param> pa = a->parameters(), pb = b->parameters(), po = other->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    bool any_differs = false;
    for (size_t i = 0; i < pa.size(); ++i) {
      EXPECT_TRUE(at::equal(pa[i].tensor, pb[i].tensor)) << pa[i].name << " differs between two builds with seed 1337";
      any_differs |= !at::equal(pa[i].tensor, po[i].tensor);
    }
    EXPECT_TRUE(any_differs) << "seeds 1337 and 42 build the same weights: run().seed() is ignored";
    a->set_training(false);
    b->set_training(false);
    at::NoGradGuard no_grad;
    const int64_t V = a->vocab_size();
    const at::Tensor x = random_ids(V, 12), y = random_ids(V, 13);
    EXPECT_TRUE(at::equal(a->forward(x, y), b->forward(x, y)));
    EXPECT_TRUE(at::equal(a->forward(x, y), a->forward(x, y))) << "two forwards of one model differ";
  }
}

// Records every call; optionally adds a constant to every matmul's output.
class RecordingHook final : public golf::LinearHook {
 public:
  struct Call {
    int64_t param;
    std::vector<int64_t> x_shape;
  };
  explicit RecordingHook(double add = 0) : add_(add) {}
  at::Tensor on_linear(int64_t param, const at::Tensor& x) override {
    calls.push_back({param, x.sizes().vec()});
    if (add_ == 0 || param < 0 || param >= int64_t(out_features.size())) return {};
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = out_features[param];
    return at::full(shape, add_, x.options());
  }
  std::vector<Call> calls;
  std::vector<int64_t> out_features;  // by parameter index; 0 for a parameter that is not 2-D

 private:
  double add_;
};

TEST(ArchitectureConformance, LinearHookSeesEveryMatrixUseAndCanAddToIt) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.trace());
    Instance<Architecture> a = built(c);
    perturb(*a, 14);
    a->set_training(false);
    at::NoGradGuard no_grad;
    const std::vector<Param> params = a->parameters();
    const int64_t V = a->vocab_size();
    const at::Tensor x = random_ids(V, 15), y = random_ids(V, 16);
    const at::Tensor plain = a->forward(x, y);

    RecordingHook recorder;
    if (!a->set_linear_hook(&recorder)) {
      std::cout << "[     INFO ] " << c.plugin << " does not report its matmuls (set_linear_hook returns false)\n";
      EXPECT_TRUE(recorder.calls.empty());
      continue;
    }
    const at::Tensor seen = a->forward(x, y);
    EXPECT_TRUE(at::equal(seen, plain)) << "a hook that adds nothing changed the NLL";
    std::set<int64_t> reported;
    for (const RecordingHook::Call& call : recorder.calls) {
      ASSERT_GE(call.param, 0);
      ASSERT_LT(call.param, int64_t(params.size())) << "hook called with an index outside parameters()";
      const Param& p = params[call.param];
      SCOPED_TRACE(p.name);
      ASSERT_EQ(p.tensor.dim(), 2) << "reported a parameter that is not a 2-D matrix";
      ASSERT_FALSE(call.x_shape.empty());
      EXPECT_EQ(call.x_shape.back(), p.tensor.size(1)) << "x's last dimension is not the matrix's in_features";
      reported.insert(call.param);
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const ParamRole r = params[i].role;
      if (params[i].tensor.dim() == 2 &&
          (r == ParamRole::kMatrix || r == ParamRole::kHead || r == ParamRole::kTiedEmbedding))
        EXPECT_TRUE(reported.count(int64_t(i))) << params[i].name << " (a " << golf::role_name(r)
                                                << " matrix) was never reported to the hook";
    }

    RecordingHook adder(0.25);
    for (const Param& p : params) adder.out_features.push_back(p.tensor.dim() == 2 ? p.tensor.size(0) : 0);
    ASSERT_TRUE(a->set_linear_hook(&adder));
    const at::Tensor added = a->forward(x, y);
    EXPECT_EQ(added.sizes(), plain.sizes());
    EXPECT_FALSE(at::allclose(added, plain)) << "the hook's added tensors did not change the output";
    EXPECT_EQ(adder.calls.size(), recorder.calls.size()) << "a different number of matmuls reported";

    ASSERT_TRUE(a->set_linear_hook(nullptr));
    EXPECT_TRUE(at::equal(a->forward(x, y), plain)) << "set_linear_hook(nullptr) did not remove the hook";

    // Installed before build() (the host probes for calibration support then), it reports the same.
    Instance<Architecture> early = golf::testing::make_plugin<Architecture>(c.plugin, c.toml);
    RecordingHook before_build;
    ASSERT_TRUE(early->set_linear_hook(&before_build)) << "supported after build() but not before";
    early->build();
    early->set_training(false);
    early->forward(x, y);
    EXPECT_EQ(before_build.calls.size(), recorder.calls.size()) << "a hook installed before build() sees other matmuls";
    early->set_linear_hook(nullptr);
  }
}

}  // namespace
