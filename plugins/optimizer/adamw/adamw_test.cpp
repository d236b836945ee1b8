// plugins/optimizer/adamw/adamw_test.cpp: the adamw plugin against LibTorch AdamW run independently, and its resume.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include <string>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

using golf::Param;
using golf::ParamRole;

Param param(const std::string& name, const at::Tensor& t, ParamRole role) {
  return {name, t.clone().set_requires_grad(true), role};
}

std::vector<Param> clone_params(const std::vector<Param>& params) {
  std::vector<Param> out;
  for (const Param& p : params) out.push_back(param(p.name, p.tensor.detach(), p.role));
  return out;
}

std::vector<Param> some_params() {
  return {param("w", at::randn({16, 8}), ParamRole::kMatrix), param("emb", at::randn({32, 8}), ParamRole::kEmbedding),
          param("gain", at::randn({8}), ParamRole::kScalar)};
}

void set_grads(const std::vector<Param>& params, const std::vector<at::Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].tensor.mutable_grad() = grads[i].clone();
}

std::vector<at::Tensor> random_grads(const std::vector<Param>& params) {
  std::vector<at::Tensor> grads;
  for (const Param& p : params) grads.push_back(at::randn(p.tensor.sizes()));
  return grads;
}

TEST(AdamwTest, MatchesTorchAdamWWithScheduledLr) {
  at::manual_seed(11);
  std::vector<Param> params = some_params();
  std::vector<Param> copies = clone_params(params);
  auto adamw = golf::testing::make_plugin<golf::Optimizer>("adamw", "lr = 0.01\nweight_decay = 0.1\nbeta2 = 0.99");
  adamw->attach(params);
  std::vector<at::Tensor> tensors;
  for (const Param& p : copies) tensors.push_back(p.tensor);
  torch::optim::AdamW reference(tensors, torch::optim::AdamWOptions(0.01).betas({0.9, 0.99}).eps(1e-8).weight_decay(0.1));
  const double lr_scales[] = {1.0, 0.6, 0.1};
  for (int step = 0; step < 3; ++step) {
    std::vector<at::Tensor> grads = random_grads(params);
    set_grads(params, grads);
    set_grads(copies, grads);
    adamw->step({step, lr_scales[step], 0.0});
    reference.param_groups()[0].options().set_lr(0.01 * lr_scales[step]);
    reference.step();
  }
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(at::allclose(params[i].tensor, copies[i].tensor, 1e-6, 1e-7)) << params[i].name;
    EXPECT_FALSE(at::allclose(params[i].tensor, clone_params(some_params())[i].tensor)) << "params did not move";
  }
}

TEST(AdamwTest, SaveLoadResumesExactly) {
  at::manual_seed(12);
  std::vector<Param> params = some_params();
  auto adamw = golf::testing::make_plugin<golf::Optimizer>("adamw", "weight_decay = 0.1");
  adamw->attach(params);
  std::vector<std::vector<at::Tensor>> grads;
  for (int i = 0; i < 5; ++i) grads.push_back(random_grads(params));
  for (int step = 0; step < 2; ++step) {
    set_grads(params, grads[step]);
    adamw->step({step, 1.0, 0.0});
  }
  golf::StateDict state;
  adamw->save_state(state);
  EXPECT_EQ(state.at("adamw/w/step").item<int64_t>(), 2);
  std::vector<Param> resumed = clone_params(params);
  for (int step = 2; step < 5; ++step) {
    set_grads(params, grads[step]);
    adamw->step({step, 0.5, 0.0});
  }
  auto fresh = golf::testing::make_plugin<golf::Optimizer>("adamw", "weight_decay = 0.1");
  fresh->attach(resumed);
  fresh->load_state(state);
  for (int step = 2; step < 5; ++step) {
    set_grads(resumed, grads[step]);
    fresh->step({step, 0.5, 0.0});
  }
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(at::equal(params[i].tensor, resumed[i].tensor)) << params[i].name;
}

// A rejected value is an error naming its key.
void expect_rejected(const std::string& toml, const std::string& key) {
  golf::testing::expect_rejected<golf::Optimizer>("adamw", toml, key);
}

TEST(AdamwTest, RejectsBadConfig) {
  expect_rejected("beta1 = 1.0", "beta1");
  expect_rejected("lr = -1", "lr");
  expect_rejected("weight_decay = -0.1", "weight_decay");
}

}  // namespace
