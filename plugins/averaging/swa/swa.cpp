// plugins/averaging/swa/swa.cpp: the averaging plugin `swa`: a uniform average of checkpoints from the warmdown.
//
// Reference §5.11 (PR #162, R/2026-03-20_10L_Int5MLP_MuonWD04_SWA50): once the schedule's lr_scale is
// below start_lr_scale, the weights after every `every`-th step (steps counted from 1) are added to a
// running sum; apply() writes sum / count. The sum is float32 whatever the param dtype (the record
// summed state_dict tensors in their own dtype; a bf16 sum of ~30 checkpoints would lose the late ones).
#include <ATen/ATen.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "golf/averaging.h"
#include "golf/plugin.h"

namespace {

class Swa final : public golf::Averaging {
 public:
  explicit Swa(golf::PluginContext& ctx)
      : log_(ctx.log()),
        start_lr_scale_(golf::get_nonnegative(ctx.config(), "start_lr_scale")),
        every_(golf::get_int_in(ctx.config(), "every", 1, int64_t{1} << 40)) {}

  void attach(const std::vector<golf::Param>& params) override {
    for (const golf::Param& p : params) entries_.push_back({p.name, p.tensor, at::Tensor()});
  }

  void update(const golf::StepInfo& info) override {
    if (!(info.lr_scale < start_lr_scale_) || (info.step + 1) % every_ != 0) return;
    at::NoGradGuard no_grad;
    if (count_ == 0) {
      log_.info("swa: first checkpoint after step " + std::to_string(info.step + 1) + " (lr_scale " +
                std::to_string(info.lr_scale) + ")");
      // Allocated only now: no float32 copy of the model is held before the warmdown.
      for (Entry& e : entries_) e.sum = at::zeros(e.param.sizes(), e.param.options().dtype(at::kFloat));
    }
    for (Entry& e : entries_) e.sum.add_(e.param.detach().to(at::kFloat));
    ++count_;
  }

  void apply() override {
    if (count_ == 0) {
      log_.warn("swa: no checkpoint was collected (lr_scale never fell below start_lr_scale on a multiple of "
                "`every`); keeping the trained weights");
      return;
    }
    log_.info("swa: applying the average of " + std::to_string(count_) + " checkpoints");
    at::NoGradGuard no_grad;
    for (Entry& e : entries_) e.param.copy_(e.sum / static_cast<double>(count_));
  }

  // Cloned: the live sums keep growing after the snapshot. Sums exist only once a checkpoint was taken.
  void save_state(golf::StateDict& out) const override {
    out["swa/count"] = at::scalar_tensor(count_, at::kLong);
    if (count_ == 0) return;
    for (const Entry& e : entries_) out["swa/sum/" + e.name] = e.sum.clone();
  }

  void load_state(const golf::StateDict& in) override {
    auto it = in.find("swa/count");
    const int64_t count = it == in.end() || !it->second.defined() ? 0 : it->second.item<int64_t>();
    std::vector<at::Tensor> sums;
    for (Entry& e : entries_) {
      if (count == 0) break;
      const std::string key = "swa/sum/" + e.name;
      auto s = in.find(key);
      if (s == in.end() || !s->second.defined()) throw std::runtime_error("swa state: missing '" + key + "'");
      if (s->second.sizes() != e.param.sizes()) {
        throw std::runtime_error("swa state: '" + key + "' has the wrong shape");
      }
      sums.push_back(s->second.to(e.param.device(), at::kFloat, /*non_blocking=*/false, /*copy=*/true));
    }
    count_ = count;
    for (size_t i = 0; i < entries_.size(); ++i) entries_[i].sum = count == 0 ? at::Tensor() : sums[i];
  }

 private:
  struct Entry {
    std::string name;
    at::Tensor param;
    at::Tensor sum;  // float32 on the param's device; undefined until the first checkpoint
  };
  golf::Logger& log_;
  double start_lr_scale_;
  int64_t every_;
  int64_t count_ = 0;
  std::vector<Entry> entries_;
};

const golf_config_key kSwaConfig[] = {
    {"start_lr_scale", GOLF_TYPE_FLOAT, "0.5", "collect checkpoints once the schedule's lr_scale is below this"},
    {"every", GOLF_TYPE_INT, "50", "take a checkpoint after every k-th optimizer step (steps k, 2k, ...)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Swa>("swa", "1.0.0", "uniform average of float32 checkpoints taken during the warmdown",
                               kSwaConfig))
