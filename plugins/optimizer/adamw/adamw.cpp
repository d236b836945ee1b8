// plugins/optimizer/adamw/adamw.cpp: LibTorch's AdamW over every parameter, one learning rate for all.
#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../torch_adam_state.h"
#include "golf/optimizer.h"
#include "golf/plugin.h"

namespace {

struct AdamwOptions {
  double lr, beta1, beta2, eps, weight_decay;
};

AdamwOptions read_options(const golf::Config& c) {
  return {golf::get_nonnegative(c, "lr"), golf::get_unit_interval(c, "beta1"), golf::get_unit_interval(c, "beta2"), golf::get_nonnegative(c, "eps"),
          golf::get_nonnegative(c, "weight_decay")};
}

class Adamw final : public golf::Optimizer {
 public:
  explicit Adamw(golf::PluginContext& ctx) : opt_(read_options(ctx.config())) {}

  void attach(const std::vector<golf::Param>& params) override {
    params_ = params;
    std::vector<at::Tensor> tensors;
    for (const golf::Param& p : params) tensors.push_back(p.tensor);
    adamw_ = std::make_unique<torch::optim::AdamW>(std::move(tensors), torch::optim::AdamWOptions(opt_.lr)
                                                                           .betas({opt_.beta1, opt_.beta2})
                                                                           .eps(opt_.eps)
                                                                           .weight_decay(opt_.weight_decay));
  }

  void step(const golf::StepInfo& info) override {
    if (!adamw_) throw std::logic_error("adamw: step() before attach()");
    adamw_->param_groups()[0].options().set_lr(opt_.lr * info.lr_scale);
    adamw_->step();
  }

  void save_state(golf::StateDict& out) const override {
    if (adamw_) golf::optim_state::save<torch::optim::AdamWParamState>(*adamw_, params_, "adamw/", out);
  }

  void load_state(const golf::StateDict& in) override {
    if (adamw_) golf::optim_state::load<torch::optim::AdamWParamState>(*adamw_, params_, "adamw/", in);
  }

 private:
  AdamwOptions opt_;
  std::vector<golf::Param> params_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
};

const golf_config_key kAdamwConfig[] = {
    {"lr", GOLF_TYPE_FLOAT, "0.001", "learning rate for every parameter"},
    {"beta1", GOLF_TYPE_FLOAT, "0.9", "first-moment decay"},
    {"beta2", GOLF_TYPE_FLOAT, "0.95", "second-moment decay"},
    {"eps", GOLF_TYPE_FLOAT, "1e-8", "denominator epsilon"},
    {"weight_decay", GOLF_TYPE_FLOAT, "0.0", "decoupled weight decay: p *= 1 - lr*wd"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Adamw>("adamw", "1.0.0", "LibTorch AdamW over all parameters", kAdamwConfig))
