// gpt.cpp: the built-in "gpt" architecture plugin: config schema and checks, and the golf::Architecture glue.
#include <cmath>
#include <memory>
#include <sstream>
#include <string>

#include "golf/architecture.h"
#include "golf/plugin.h"
#include "gpt_model.h"

namespace golf::gpt {
namespace {

// Defaults are the Parameter Golf baseline (reference §4.1).
const golf_config_key kConfig[] = {
    {"vocab_size", GOLF_TYPE_INT, "1024", "size of the output distribution (tokenizer vocabulary)"},
    {"num_layers", GOLF_TYPE_INT, "9", "transformer blocks; the first half feed U-Net skips to the second"},
    {"model_dim", GOLF_TYPE_INT, "512", "width of the residual stream"},
    {"num_heads", GOLF_TYPE_INT, "8", "query heads; model_dim / num_heads must be even (RoPE)"},
    {"num_kv_heads", GOLF_TYPE_INT, "4", "key/value heads (GQA); must divide num_heads"},
    {"mlp_mult", GOLF_TYPE_INT, "2", "MLP hidden width as a multiple of model_dim"},
    {"tie_embeddings", GOLF_TYPE_BOOL, "true", "use tok_emb^T as the output head"},
    {"tied_embed_init_std", GOLF_TYPE_FLOAT, "0.005", "std of the tied embedding at init"},
    {"rope_base", GOLF_TYPE_FLOAT, "10000.0", "RoPE frequency base"},
    {"logit_softcap", GOLF_TYPE_FLOAT, "30.0", "logits = c * tanh(logits / c)"},
    {"qk_gain_init", GOLF_TYPE_FLOAT, "1.5", "initial per-head query gain (attention temperature)"},
    {"rope_ntk", GOLF_TYPE_BOOL, "true",
     "a forward longer than [train] seq_len scales the RoPE base by (T / seq_len)^(d / (d - 2)), d = head_dim (NTK)"},
};

double positive_float(const Config& config, const std::string& key) {
  const double value = config.get_float(key);
  if (!(value > 0.0) || !std::isfinite(value)) config.fail(key, "must be positive and finite");
  return value;
}

// Reads and checks every key once; the model never sees an inconsistent shape.
GptShape read_shape(const Config& config) {
  GptShape s{};
  // Bounds far above any Parameter Golf model; they keep every product of sizes inside int64.
  s.vocab_size = get_int_in(config, "vocab_size", 1, 1 << 20);
  s.num_layers = get_int_in(config, "num_layers", 1, 1024);
  s.model_dim = get_int_in(config, "model_dim", 1, 1 << 16);
  s.num_heads = get_int_in(config, "num_heads", 1, 1024);
  s.num_kv_heads = get_int_in(config, "num_kv_heads", 1, 1024);
  s.mlp_mult = get_int_in(config, "mlp_mult", 1, 64);
  s.tie_embeddings = config.get_bool("tie_embeddings");
  s.tied_embed_init_std = positive_float(config, "tied_embed_init_std");
  s.rope_base = positive_float(config, "rope_base");
  s.logit_softcap = positive_float(config, "logit_softcap");
  s.qk_gain_init = config.get_float("qk_gain_init");
  if (!std::isfinite(s.qk_gain_init)) config.fail("qk_gain_init", "must be finite");
  s.rope_ntk = config.get_bool("rope_ntk");

  if (s.model_dim % s.num_heads != 0) {
    config.fail("num_heads", "must divide model_dim (" + std::to_string(s.model_dim) + "), got " +
                                 std::to_string(s.num_heads));
  }
  if (s.head_dim() % 2 != 0) {
    config.fail("num_heads", "head_dim = model_dim / num_heads = " + std::to_string(s.head_dim()) +
                                 " must be even for RoPE");
  }
  if (s.num_heads % s.num_kv_heads != 0) {
    config.fail("num_kv_heads", "must divide num_heads (" + std::to_string(s.num_heads) + "), got " +
                                    std::to_string(s.num_kv_heads));
  }
  return s;
}

int64_t count(const std::vector<Param>& params) {
  int64_t n = 0;
  for (const Param& p : params) n += p.tensor.numel();
  return n;
}

class Gpt final : public Architecture {
 public:
  explicit Gpt(PluginContext& ctx) : ctx_(ctx), shape_(read_shape(ctx.config())) {}

  void build() override {
    const RunInfo& run = ctx_.run();
    GptShape shape = shape_;
    shape.train_seq_len = run.seq_len();
    model_ = std::make_unique<GptModel>(shape, run.device(), run.compute_dtype(), run.seed());
    model_->set_hook(hook_);
    std::ostringstream msg;
    msg << "gpt: " << count(model_->parameters()) << " parameters (" << shape_.num_layers << " layers, dim "
        << shape_.model_dim << ", heads " << shape_.num_heads << "/" << shape_.num_kv_heads << ", vocab "
        << shape_.vocab_size << (shape_.tie_embeddings ? ", tied" : ", untied") << ") on " << run.device();
    ctx_.log().info(msg.str());
  }

  int64_t vocab_size() const override { return shape_.vocab_size; }

  std::vector<Param> parameters() override { return built().parameters(); }

  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override { return built().forward(x, y); }

  at::Tensor logits(const at::Tensor& x) override { return built().logits(x); }

  bool set_linear_hook(LinearHook* hook) override {
    hook_ = hook;
    if (model_) model_->set_hook(hook);
    return true;
  }

 private:
  GptModel& built() const {
    TORCH_CHECK(model_ != nullptr, "gpt: build() must be called before parameters() or forward()");
    return *model_;
  }

  PluginContext& ctx_;
  const GptShape shape_;
  std::unique_ptr<GptModel> model_;
  LinearHook* hook_ = nullptr;
};

}  // namespace
}  // namespace golf::gpt

GOLF_PLUGINS(golf::plugin<golf::gpt::Gpt>(
    "gpt", "2.0.0", "Parameter Golf baseline GPT: U-Net skips, GQA, RoPE, QK-norm, relu^2 MLP", golf::gpt::kConfig))
