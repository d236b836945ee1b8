// plugins/evaluator/evaluator_test_util.h: what the evaluator plugins' tests share: streams, tables, a tiny gpt, per-target NLL.
#ifndef GOLF_PLUGINS_EVALUATOR_EVALUATOR_TEST_UTIL_H_
#define GOLF_PLUGINS_EVALUATOR_EVALUATOR_TEST_UTIL_H_

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace golf::evaltest {

// Every id one byte, no leading spaces: BPB is then loss / ln 2.
inline ByteTables one_byte_tables(int64_t vocab) {
  ByteTables t;
  t.base_bytes.assign(vocab, 1);
  t.has_leading_space.assign(vocab, 0);
  t.is_boundary.assign(vocab, 0);
  return t;
}

// n ids drawn from [lo, hi).
inline std::vector<int64_t> random_tokens(int64_t n, int64_t lo, int64_t hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int64_t> s(n);
  for (int64_t& v : s) v = lo + int64_t(rng() % uint32_t(hi - lo));
  return s;
}

// Passes every call on to `inner` and keeps the NLL it returns, by target position.
class Recorder : public Evaluator {
 public:
  explicit Recorder(Evaluator& inner) : inner_(inner) {}
  EvalPlan begin(Architecture& model, const EvalSetup& setup) override { return inner_.begin(model, setup); }
  std::vector<at::Tensor> score(Architecture& model, const std::vector<EvalChunk>& batch) override {
    std::vector<at::Tensor> out = inner_.score(model, batch);
    for (size_t i = 0; i < batch.size() && i < out.size(); ++i) {
      const at::Tensor v = out[i].detach().to(at::kDouble).cpu().contiguous();
      for (int64_t p = batch[i].begin; p < batch[i].end && p - batch[i].begin < v.numel(); ++p) {
        times[p] += 1;
        nll[p] = v.data_ptr<double>()[p - batch[i].begin];
      }
    }
    return out;
  }
  void adapt(Architecture& model, const std::vector<EvalChunk>& batch) override {
    inner_.adapt(model, batch);
    if (after_adapt) after_adapt(model);
  }
  void end(Architecture& model) override { inner_.end(model); }

  std::map<int64_t, double> nll;     // target position -> NLL
  std::map<int64_t, int64_t> times;  // target position -> times scored
  std::function<void(Architecture&)> after_adapt;

 private:
  Evaluator& inner_;
};

// The sum of `nll` over positions [begin, end).
inline double sum_over(const std::map<int64_t, double>& nll, int64_t begin, int64_t end) {
  double s = 0;
  for (auto it = nll.lower_bound(begin); it != nll.end() && it->first < end; ++it) s += it->second;
  return s;
}

// Passes every call on to `inner`, and shows every forward run with gradients (training) to `on_train`.
class Spy : public Architecture {
 public:
  explicit Spy(Architecture& inner) : inner_(inner) {}
  void build() override {}
  int64_t vocab_size() const override { return inner_.vocab_size(); }
  std::vector<Param> parameters() override { return inner_.parameters(); }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override {
    if (at::GradMode::is_enabled() && on_train) on_train(x, y);
    return inner_.forward(x, y);
  }
  at::Tensor logits(const at::Tensor& x) override { return inner_.logits(x); }
  void set_training(bool training) override { inner_.set_training(training); }
  bool set_linear_hook(LinearHook* hook) override { return inner_.set_linear_hook(hook); }

  std::function<void(const at::Tensor& x, const at::Tensor& y)> on_train;

 private:
  Architecture& inner_;
};

// A built gpt plugin whose run has [train] seq_len = seq_len (NTK scaling starts past it).
inline testing::Instance<Architecture> tiny_gpt(const std::string& toml, int64_t seq_len) {
  auto [services, spec] = testing::plugin_spec(GOLF_KIND_ARCHITECTURE, "gpt", toml);
  services->run.seq_len_ = seq_len;
  std::unique_ptr<Architecture> model = services->template make<Architecture>(spec);
  model->build();
  return testing::Instance<Architecture>(std::move(services), std::move(model));
}

// Matrices ~ N(0, 1/in), the zero-initialised projections included, so attention and MLP carry signal.
inline void randomize_matrices(Architecture& model, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const Param& p : model.parameters())
    if (p.role == ParamRole::kMatrix)
      p.tensor.copy_(at::empty(p.tensor.sizes(), at::kFloat).normal_(0.0, 1.0 / std::sqrt(double(p.tensor.size(1))), gen));
}

inline std::vector<at::Tensor> copies_of(Architecture& model) {
  std::vector<at::Tensor> out;
  for (const Param& p : model.parameters()) out.push_back(p.tensor.detach().clone());
  return out;
}

// Every parameter bit-equal to `before`.
inline void expect_parameters_equal(Architecture& model, const std::vector<at::Tensor>& before) {
  const std::vector<Param> params = model.parameters();
  ASSERT_EQ(params.size(), before.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(at::equal(params[i].tensor.detach(), before[i])) << params[i].name << " not restored";
    EXPECT_FALSE(params[i].tensor.grad().defined()) << params[i].name << " keeps a .grad";
  }
}

}  // namespace golf::evaltest

#endif  // GOLF_PLUGINS_EVALUATOR_EVALUATOR_TEST_UTIL_H_
