// gpt_test_util.h: helpers the gpt tests share: a built instance, its params by name, random weights and ids.
#ifndef GOLF_PLUGINS_GPT_TEST_UTIL_H_
#define GOLF_PLUGINS_GPT_TEST_UTIL_H_

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>
#include <string>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace golf::testing::gpt {

// The gpt plugin configured by `toml` and built.
inline Instance<Architecture> built(const std::string& toml) {
  Instance<Architecture> gpt = make_plugin<Architecture>("gpt", toml);
  gpt->build();
  return gpt;
}

// The model's parameters by name (the tensors themselves, not copies).
inline std::map<std::string, at::Tensor> by_name(Architecture& gpt) {
  std::map<std::string, at::Tensor> out;
  for (const Param& p : gpt.parameters()) out[p.name] = p.tensor;
  return out;
}

// Overwrites every parameter, zero-initialised ones included, with random values of a sensible size
// (scalars and vectors uniform in [-1, 1.5), matrices normal with std 1/sqrt(cols)), so every path of
// the forward carries signal. The same seed gives the same values.
inline void randomize(Architecture& gpt, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const Param& p : gpt.parameters()) {
    at::Tensor r = at::empty(p.tensor.sizes(), at::kFloat);
    if (p.role == ParamRole::kScalar || p.tensor.dim() < 2) {
      r.uniform_(-1.0, 1.5, gen);
    } else {
      r.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.tensor.size(1))), gen);
    }
    p.tensor.copy_(r);
  }
}

// B x T token ids uniform in [0, V), from `seed`.
inline at::Tensor random_ids(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(V, {B, T}, gen, at::kLong);
}

}  // namespace golf::testing::gpt

#endif  // GOLF_PLUGINS_GPT_TEST_UTIL_H_
