// lion.cpp: the Lion optimizer (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") as a golf plugin.
#include <golf/golf.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

class Lion final : public golf::Optimizer {
 public:
  explicit Lion(golf::PluginContext& ctx) : ctx_(ctx) {
    const golf::Config& c = ctx.config();
    lr_ = c.get_float("lr");
    if (lr_ <= 0) c.fail("lr", "must be positive");  // -> "file.toml:12: [optimizer] lr: must be positive"
    beta1_ = golf::get_unit_interval(c, "beta1");    // the SDK's common range checks
    beta2_ = golf::get_unit_interval(c, "beta2");
    weight_decay_ = golf::get_nonnegative(c, "weight_decay");
  }

  // Every role (SDK 2.0: kTiedEmbedding, kGate and kOther of any rank too) gets the same update: Lion
  // is elementwise, so it needs no split by role.
  void attach(const std::vector<golf::Param>& params) override {
    params_ = params;
    for (const auto& p : params_) momentum_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Contiguous));
  }

  // update = sign(b1*m + (1-b1)*g); m = b2*m + (1-b2)*g; p -= lr*(update + wd*p)
  void step(const golf::StepInfo& info) override {
    at::NoGradGuard no_grad;
    const double lr = lr_ * info.lr_scale;
    for (size_t i = 0; i < params_.size(); ++i) {
      at::Tensor p = params_[i].tensor;
      if (!p.grad().defined()) continue;
      at::Tensor g = p.grad();
      at::Tensor update = (momentum_[i] * beta1_ + g * (1 - beta1_)).sign_();
      if (weight_decay_ > 0) p.mul_(1 - lr * weight_decay_);
      p.add_(update, -lr);
      momentum_[i].mul_(beta2_).add_(g, 1 - beta2_);
    }
  }

  void save_state(golf::StateDict& out) const override {
    for (size_t i = 0; i < params_.size(); ++i) out["momentum." + params_[i].name] = momentum_[i].clone();
  }

  // A missing or misshapen entry is a std::runtime_error naming it (golf/stage.h).
  void load_state(const golf::StateDict& in) override {
    for (size_t i = 0; i < params_.size(); ++i) {
      const std::string key = "momentum." + params_[i].name;
      auto it = in.find(key);
      if (it == in.end() || !it->second.defined() || it->second.sizes() != momentum_[i].sizes())
        throw std::runtime_error("lion state: '" + key + "' is missing or has the wrong shape");
      momentum_[i].copy_(it->second);
    }
  }

 private:
  golf::PluginContext& ctx_;
  double lr_, beta1_, beta2_, weight_decay_;
  std::vector<golf::Param> params_;
  std::vector<at::Tensor> momentum_;
};

const golf_config_key kLionConfig[] = {
    {"lr", GOLF_TYPE_FLOAT, "3e-4", "learning rate (about 3-10x smaller than AdamW's)"},
    {"beta1", GOLF_TYPE_FLOAT, "0.9", "interpolation for the update direction"},
    {"beta2", GOLF_TYPE_FLOAT, "0.99", "momentum decay"},
    {"weight_decay", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Lion>("lion", "1.0.0", "Lion: sign of interpolated momentum, for every parameter", kLionConfig))
