// plugins/quantizer/grid/grid_testing.h: helpers for the tests of the grid quantizers (rtn, gptq, awq).
#ifndef GOLF_QUANTIZER_GRID_TESTING_H_
#define GOLF_QUANTIZER_GRID_TESTING_H_

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace grid_testing {

using golf::Param;
using golf::ParamRole;
using golf::QuantizedTensor;

inline golf::testing::Instance<golf::Quantizer> make(const std::string& plugin, const std::string& toml = "") {
  return golf::testing::make_plugin<golf::Quantizer>(plugin, toml);
}

inline QuantizedTensor quantize_one(const std::string& plugin, const Param& p, const std::string& toml = "",
                                    const golf::Calibration& calibration = {}) {
  std::vector<QuantizedTensor> q = make(plugin, toml)->quantize({p}, calibration);
  EXPECT_EQ(q.size(), 1u);
  return q.at(0);
}

inline bool has_part(const QuantizedTensor& q, const std::string& name) {
  for (const auto& [n, t] : q.parts) {
    if (n == name) return true;
  }
  return false;
}

inline const at::Tensor& part(const QuantizedTensor& q, const std::string& name) {
  for (const auto& [n, t] : q.parts) {
    if (n == name) return t;
  }
  throw std::runtime_error("no part " + name + " in " + q.name);
}

// Per-element steps [rows, cols] of a grid tensor without AWQ-lite groups: its fp16 scales per row
// (group 0) or per `group` columns.
inline at::Tensor steps(const QuantizedTensor& q, int64_t group = 0) {
  const at::Tensor s = part(q, "scale").to(at::kFloat);
  const int64_t cols = part(q, "q").size(1);
  return group ? s.repeat_interleave(group, 1).narrow(1, 0, cols) : s.expand({s.size(0), cols});
}

inline double range(int bits) { return double((1 << (bits - 1)) - 1); }

// The input statistics the host would collect from one batch of rows x [n, in].
inline golf::LinearStats stats_of(const at::Tensor& x) { return {x.t().matmul(x), x.size(0)}; }

// tr(E H Eᵀ) / tr(W H Wᵀ), E = w − what, in double.
inline double hessian_error(const at::Tensor& w, const at::Tensor& what, const at::Tensor& H) {
  const at::Tensor W = w.to(at::kDouble), E = W - what.to(at::kDouble), h = H.to(at::kDouble);
  return (E.matmul(h) * E).sum().item<double>() / (W.matmul(h) * W).sum().item<double>();
}

// Rows whose columns are strongly correlated: 8 latent factors mixed into `in` columns, plus a little noise.
inline at::Tensor correlated_inputs(int64_t n, int64_t in) {
  return at::randn({n, 8}).matmul(at::randn({8, in})) + 0.05 * at::randn({n, in});
}

}  // namespace grid_testing

#endif  // GOLF_QUANTIZER_GRID_TESTING_H_
