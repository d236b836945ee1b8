// plugins/averaging/averaging.cpp: the averaging plugins `none` (keeps the trained weights) and `ema`.
//
// `ema` follows the reference (§5.11): an fp32 shadow of every param taken at attach (the init
// weights), shadow = d·shadow + (1−d)·p after every step with no bias correction, copied into the
// params (cast to their dtype) by apply(). With `every` = k > 1 the update runs only after steps
// k, 2k, … (counted from 1, as SWA's checkpoints are) with the same d: no record averages every k
// steps, so in between the shadow simply stays as it is (no catch-up d^k).
#include <ATen/ATen.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "golf/averaging.h"
#include "golf/plugin.h"

namespace {

class NoAveraging final : public golf::Averaging {
 public:
  explicit NoAveraging(golf::PluginContext&) {}
  void attach(const std::vector<golf::Param>&) override {}
  void update(const golf::StepInfo&) override {}
  void apply() override {}
};

double read_decay(const golf::Config& c) {
  double d = c.get_float("decay");
  if (!(d >= 0 && d <= 1)) c.fail("decay", "must be in [0, 1]");
  return d;
}

class Ema final : public golf::Averaging {
 public:
  explicit Ema(golf::PluginContext& ctx)
      : decay_(read_decay(ctx.config())), every_(golf::get_int_in(ctx.config(), "every", 1, int64_t{1} << 40)) {}

  void attach(const std::vector<golf::Param>& params) override {
    for (const golf::Param& p : params) {
      entries_.push_back({p.name, p.tensor, p.tensor.detach().to(at::kFloat, /*non_blocking=*/false, /*copy=*/true)});
    }
  }

  void update(const golf::StepInfo& info) override {
    if ((info.step + 1) % every_ != 0) return;
    at::NoGradGuard no_grad;
    for (Entry& e : entries_) e.shadow.mul_(decay_).add_(e.param.detach().to(at::kFloat), 1 - decay_);
  }

  void apply() override {
    at::NoGradGuard no_grad;
    for (Entry& e : entries_) e.param.copy_(e.shadow);
  }

  // Cloned: the live shadow keeps moving after the snapshot.
  void save_state(golf::StateDict& out) const override {
    for (const Entry& e : entries_) out["ema/" + e.name] = e.shadow.clone();
  }

  void load_state(const golf::StateDict& in) override {
    for (Entry& e : entries_) {
      auto it = in.find("ema/" + e.name);
      if (it == in.end() || !it->second.defined()) throw std::runtime_error("ema state: missing 'ema/" + e.name + "'");
      if (it->second.sizes() != e.shadow.sizes()) {
        throw std::runtime_error("ema state: 'ema/" + e.name + "' has the wrong shape");
      }
      e.shadow.copy_(it->second);
    }
  }

 private:
  struct Entry {
    std::string name;
    at::Tensor param;
    at::Tensor shadow;  // fp32, on the param's device
  };
  double decay_;
  int64_t every_;
  std::vector<Entry> entries_;
};

const golf_config_key kEmaConfig[] = {
    {"decay", GOLF_TYPE_FLOAT, "0.997", "EMA decay d: shadow = d*shadow + (1-d)*param at each update"},
    {"every", GOLF_TYPE_INT, "1", "update the shadow after every k-th optimizer step only (steps k, 2k, ...)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<NoAveraging>("none", "1.0.0", "no weight averaging: the trained weights are kept"),
             golf::plugin<Ema>("ema", "1.1.0", "exponential moving average of the weights from init", kEmaConfig))
