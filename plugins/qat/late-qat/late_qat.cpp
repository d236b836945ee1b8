// plugins/qat/late-qat/late_qat.cpp: straight-through fake quantization once lr_scale falls below a threshold.
//
// Reference §5.10 (PR #315/#374…#1019): when the schedule's lr_scale first drops below `threshold` the
// switch latches on; from then on before_forward() writes the pipeline quantizer's own fake-quantized
// weights into the chosen params (a copy of the full-precision masters kept aside) and after_backward()
// copies the masters back bit for bit, so the gradient taken at the quantized point updates them. The
// switch is a plain member read on every call, never a constant a compiler could fold (the PR #315 bug).
// "Noisy QAT" (NR/2026-03-21_DepthRecurrence_MixedPrecisionQuant): params matched by `noise_params`
// instead get uniform noise of ±half their row's quantization step. The step is read off the
// quantizer: the smallest gap between the distinct fake-quantized values of the row, which is the
// grid spacing of any per-row uniform grid once two neighbouring levels are used (a row with a
// single level gets no noise).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "golf/plugin.h"
#include "golf/qat.h"

namespace {

using golf::Param;
using golf::ParamRole;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::set<ParamRole> read_roles(const golf::Config& c) {
  std::set<ParamRole> roles;
  for (const std::string& name : split_list(c.get_string("roles"))) {
    bool known = false;
    for (ParamRole r : {ParamRole::kMatrix, ParamRole::kEmbedding, ParamRole::kTiedEmbedding, ParamRole::kHead,
                        ParamRole::kScalar, ParamRole::kGate, ParamRole::kOther}) {
      if (name == golf::role_name(r)) roles.insert(r), known = true;
    }
    if (!known) {
      c.fail("roles", "unknown role \"" + name + "\" (matrix, embedding, tied_embedding, head, scalar, gate, other)");
    }
  }
  return roles;
}

// Per-row grid step of fake-quantized values fq: the smallest clearly positive gap between sorted
// values of each row (gaps under 1e-6 of the row's range are rounding noise). [rows, 1], float32.
at::Tensor row_steps(const at::Tensor& fq) {
  const at::Tensor rows = (fq.dim() >= 2 ? fq.reshape({fq.size(0), -1}) : fq.reshape({1, -1})).to(at::kFloat);
  if (rows.size(1) < 2) return at::zeros({rows.size(0), 1}, rows.options());
  const at::Tensor sorted = std::get<0>(rows.sort(-1));
  const at::Tensor gaps = sorted.slice(-1, 1) - sorted.slice(-1, 0, -1);
  const at::Tensor range = sorted.select(-1, -1).unsqueeze(-1) - sorted.select(-1, 0).unsqueeze(-1);
  const at::Tensor inf = at::full({}, std::numeric_limits<float>::infinity(), rows.options());
  const at::Tensor step = at::where(gaps > range * 1e-6, gaps, inf).amin(-1, /*keepdim=*/true);
  return at::where(at::isinf(step), at::zeros_like(step), step);
}

class LateQat final : public golf::Qat {
 public:
  explicit LateQat(golf::PluginContext& ctx)
      : ctx_(ctx),
        threshold_(golf::get_nonnegative(ctx.config(), "threshold")),
        roles_(read_roles(ctx.config())),
        noise_globs_(split_list(ctx.config().get_string("noise_params"))) {}

  void attach(const std::vector<Param>& params, golf::Quantizer& quantizer) override {
    quantizer_ = &quantizer;
    std::vector<bool> glob_used(noise_globs_.size(), false);
    for (const Param& p : params) {
      bool noisy = false;
      for (size_t g = 0; g < noise_globs_.size(); ++g) {
        if (fnmatch(noise_globs_[g].c_str(), p.name.c_str(), 0) == 0) noisy = true, glob_used[g] = true;
      }
      if (noisy || roles_.count(p.role)) entries_.push_back({p, noisy, at::Tensor()});
    }
    for (size_t g = 0; g < noise_globs_.size(); ++g) {
      if (!glob_used[g]) {
        ctx_.log().warn("late-qat: noise_params pattern \"" + noise_globs_[g] + "\" matches no parameter");
      }
    }
  }

  void before_forward(const golf::StepInfo& info) override {
    if (!enabled_ && info.lr_scale < threshold_) {
      enabled_ = true;
      ctx_.log().info("late-qat: enabled at step " + std::to_string(info.step) + " (lr_scale " +
                      std::to_string(info.lr_scale) + "), " + std::to_string(entries_.size()) + " params");
    }
    if (!enabled_) return;
    const auto start = std::chrono::steady_clock::now();
    if (info.step != timed_step_) timed_step_ = info.step, step_ms_ = 0, micro_ = 0;
    at::NoGradGuard no_grad;
    for (Entry& e : entries_) {
      at::Tensor w = e.param.tensor.detach();
      if (!e.master.defined()) e.master = at::empty_like(w);
      e.master.copy_(w);
      at::Tensor fq = quantizer_->fake_quantize(e.param, w);
      if (e.noisy) {
        w.add_(noise_like(w, row_steps(fq), info.step, micro_));
      } else {
        w.copy_(fq);
      }
    }
    swapped_ = true;
    step_ms_ += ms_since(start);
  }

  void after_backward(const golf::StepInfo&) override {
    if (!swapped_) return;
    const auto start = std::chrono::steady_clock::now();
    at::NoGradGuard no_grad;
    for (Entry& e : entries_) e.param.tensor.detach().copy_(e.master);
    swapped_ = false;
    ++micro_;
    step_ms_ += ms_since(start);
    // Host-side time of both hooks, summed over the step's micro-steps (on a GPU, without a device
    // sync, this is mostly launch cost).
    ctx_.metrics().record("late_qat/ms", step_ms_);
  }

  void save_state(golf::StateDict& out) const override {
    out["late_qat/enabled"] = at::scalar_tensor(static_cast<int64_t>(enabled_), at::kLong);
  }

  void load_state(const golf::StateDict& in) override {
    auto it = in.find("late_qat/enabled");
    enabled_ = it != in.end() && it->second.defined() && it->second.item<int64_t>() != 0;
  }

 private:
  struct Entry {
    Param param;
    bool noisy;         // noise of ±step/2 instead of the fake-quantized value
    at::Tensor master;  // the full-precision weight while the swapped one is in the param
  };

  static double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }

  // Uniform in [−step/2, step/2) per row, from a generator seeded by (run seed, step, micro-step), so
  // a resumed run draws the same noise as an uninterrupted one without saving generator state.
  at::Tensor noise_like(const at::Tensor& w, const at::Tensor& steps, int64_t step, int64_t micro) const {
    const uint64_t seed = ctx_.run().seed() * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(step) * 1000003ULL +
                          static_cast<uint64_t>(micro);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const int64_t rows = steps.size(0);
    at::Tensor u = at::rand({rows, w.numel() / std::max<int64_t>(rows, 1)}, gen, at::TensorOptions().dtype(at::kFloat));
    u = (u - 0.5) * steps.to(at::kCPU);
    return u.reshape(w.sizes()).to(w.device(), w.scalar_type());
  }

  golf::PluginContext& ctx_;
  double threshold_;
  std::set<ParamRole> roles_;
  std::vector<std::string> noise_globs_;
  golf::Quantizer* quantizer_ = nullptr;
  std::vector<Entry> entries_;
  bool enabled_ = false;  // latched: once on, stays on (saved)
  bool swapped_ = false;  // masters are out; after_backward puts them back
  int64_t timed_step_ = -1, micro_ = 0;
  double step_ms_ = 0;
};

const golf_config_key kLateQatConfig[] = {
    {"threshold", GOLF_TYPE_FLOAT, "0.15", "switch on (for good) at the first step whose lr_scale is below this"},
    {"roles", GOLF_TYPE_STRING, "\"matrix\"", "comma-separated param roles that get straight-through fake quantization"},
    {"noise_params", GOLF_TYPE_STRING, "\"\"",
     "comma-separated globs over param names that get uniform noise of +-half their row's quantization step instead (noisy QAT)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<LateQat>("late-qat", "1.0.0",
                                   "straight-through fake quantization on the quantizer's grid once lr_scale < threshold",
                                   kLateQatConfig))
