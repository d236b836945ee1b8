// gpt.cpp: the built-in "gpt" architecture plugin: config schema and checks, and the golf::Architecture glue.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "golf/architecture.h"
#include "golf/plugin.h"
#include "gpt_model.h"

namespace golf::gpt {
namespace {

// Defaults are the Parameter Golf baseline (reference §4.1); every option below the baseline keys is
// off by default, and off reproduces the baseline bit for bit (same parameters, names, order, draws).
const golf_config_key kConfig[] = {
    {"vocab_size", GOLF_TYPE_INT, "1024", "size of the output distribution (tokenizer vocabulary)"},
    {"num_layers", GOLF_TYPE_INT, "9", "transformer blocks (physical); the first half feed U-Net skips to the second"},
    {"model_dim", GOLF_TYPE_INT, "512", "width of the residual stream"},
    {"num_heads", GOLF_TYPE_INT, "8", "query heads; model_dim / num_heads must be even (RoPE)"},
    {"num_kv_heads", GOLF_TYPE_INT, "4", "key/value heads (GQA); must divide num_heads"},
    {"mlp_mult", GOLF_TYPE_FLOAT, "2.0", "MLP hidden width = int(mlp_mult * model_dim) (§5.15: 3, then 4 in the records)"},
    {"tie_embeddings", GOLF_TYPE_BOOL, "true", "use tok_emb^T as the output head; false adds a zero-init lm_head (role head)"},
    {"tied_embed_init_std", GOLF_TYPE_FLOAT, "0.005", "std of the tied embedding at init"},
    {"rope_base", GOLF_TYPE_FLOAT, "10000.0", "RoPE frequency base"},
    {"logit_softcap", GOLF_TYPE_FLOAT, "30.0", "logits = c * tanh(logits / c); 0 = no softcap"},
    {"qk_gain_init", GOLF_TYPE_FLOAT, "1.5", "initial per-head query gain (attention temperature; 5.25 in PR #1493, §5.14)"},
    {"rope_ntk", GOLF_TYPE_BOOL, "true",
     "a forward longer than [train] seq_len scales the RoPE base by (T / seq_len)^(r / (r - 2)), r = rotated dims (NTK)"},
    {"activation", GOLF_TYPE_STRING, "\"relu2\"",
     "MLP activation: relu2 (relu(x)^2), leaky_relu2 (leaky_relu(x, leaky_slope)^2, §5.15) or gelu"},
    {"leaky_slope", GOLF_TYPE_FLOAT, "0.5", "negative slope of leaky_relu2"},
    {"qk_norm", GOLF_TYPE_BOOL, "true", "RMS-normalise q and k per head before RoPE"},
    {"rope_dims", GOLF_TYPE_INT, "0",
     "partial RoPE (§5.13): rotate only the first rope_dims of each head (even, <= head_dim); 0 = all"},
    {"ln_scale", GOLF_TYPE_BOOL, "false", "multiply each block's norm outputs by 1/sqrt(physical layer + 1) (§5.13)"},
    {"xsa_last_n", GOLF_TYPE_INT, "0",
     "XSA (§5.12) on the last N physical layers: remove from each head's output its component along the "
     "token's own value; 0 = off, num_layers = all"},
    {"smear_gate", GOLF_TYPE_STRING, "\"off\"",
     "SmearGate (§5.16): off; v1 (after bigram and rms_norm, x = (1-g)x + g x_prev, g = sigmoid(smear.gate [D], "
     "role gate) init 0.5); v2 (raw embedding, x += lambda sigmoid(W x[:gate_window]) x_prev, smear_gate.weight "
     "[1, gate_window] role gate and smear_lambda [1] role scalar, both zero)"},
    {"smear_bos_fix", GOLF_TYPE_BOOL, "true", "SmearGate v2: no smear into a token equal to bos_id (PR #1851)"},
    {"bos_id", GOLF_TYPE_INT, "1", "the BOS token id (1 in the sp tokenizers), for smear_bos_fix"},
    {"gate_window", GOLF_TYPE_INT, "12",
     "leading dims of x that feed SmearGate v2 and the output/sparse attention gates (GATE_WINDOW)"},
    {"bigram_vocab", GOLF_TYPE_INT, "0",
     "BigramHash (§5.17) buckets; 0 = off. Adds bigram.embed.weight [buckets, bigram_dim] (role embedding, zero), "
     "bigram.proj.weight [model_dim, bigram_dim] (role other: Adam in the record; zero; absent when bigram_dim = "
     "model_dim) and bigram.scale (role scalar, 0.05)"},
    {"bigram_dim", GOLF_TYPE_INT, "128", "width of the BigramHash table"},
    {"ve_layers", GOLF_TYPE_STRING, "\"\"",
     "value embeddings (§5.18): comma-separated physical layers (e.g. \"9,10\") whose v adds a shared "
     "ve_shared.embed.weight [vocab, ve_dim] (role embedding, N(0, 0.01^2)) through ve_shared.proj.weight "
     "[kv_dim, ve_dim] (role other, zero) times ve_shared.scale (0.1) and ve_layer_scales.k (1); empty = off"},
    {"ve_dim", GOLF_TYPE_INT, "128", "width of the value-embedding table"},
    {"value_residual", GOLF_TYPE_BOOL, "false",
     "value residual (§5.18, record code): v = l0 v0 + l1 v with v0 the first layer's values; "
     "blocks.i.attn.vr_lambda [2] (role scalar, init 0.5, 0.5)"},
    {"ortho_init", GOLF_TYPE_BOOL, "false",
     "orthogonal init (gain 1, §5.19) of every non-zero-init block Linear with both dims >= 64"},
    {"skip_gates", GOLF_TYPE_BOOL, "false",
     "U-Net skip gates (§5.20): x = lerp(w skip, x, sigmoid(g)); skip_gates [skips, model_dim] (role scalar, zero)"},
    {"num_loops", GOLF_TYPE_INT, "0",
     "depth recurrence (§5.21, PR #1394): extra passes over physical layers loop_start..loop_end; 0 = off"},
    {"loop_start", GOLF_TYPE_INT, "0", "first physical layer of the looped range"},
    {"loop_end", GOLF_TYPE_INT, "0", "last physical layer of the looped range (inclusive)"},
    {"loop_at", GOLF_TYPE_FLOAT, "0.0",
     "training progress (run progress, 0..1) at which the first extra loop switches on; finished weights are at "
     "progress 1 (every loop on), a validation during training sees the loops training has"},
    {"loop_step", GOLF_TYPE_FLOAT, "0.0",
     "progressive looping: extra loop k switches on at loop_at + (k - 1) * loop_step; 0 = all at once"},
    {"parallel_residual", GOLF_TYPE_STRING, "\"none\"",
     "parallel residuals from physical layer parallel_start (§5.22): none; gptj (attention and MLP read the same "
     "input, no parameters); two_lane_seq (PR #1204); two_lane (PR #1529/#1530, decoder only). The two-lane forms "
     "add parallel_post_lambdas [L, 2, 2] (1) and parallel_resid_lambdas [L, 2] (sqrt 1.1 / 1.1), role scalar"},
    {"parallel_start", GOLF_TYPE_INT, "0", "first physical layer with parallel residuals"},
    {"attn_gate", GOLF_TYPE_STRING, "\"none\"",
     "per-head attention output gate (§5.23), applied after XSA: none; dense (sigmoid(W x), attn_gate_w [H, D] "
     "N(0, attn_gate_init_std^2)); output (2 sigmoid(W x[:gate_window]), attn_gate_proj.weight [H, gate_window] "
     "zero); sparse (sigmoid(attn_gate_scale W x[:gate_window]), attn_gate_w [H, gate_window] zero); headwise "
     "(c_q widened by H rows, sigmoid of those). Gate weights have role gate"},
    {"attn_gate_scale", GOLF_TYPE_FLOAT, "1.0", "scale inside the sparse gate's sigmoid"},
    {"attn_gate_init_std", GOLF_TYPE_FLOAT, "0.01", "std of the dense gate's weight at init (record code: 0.01)"},
};

double positive_float(const Config& config, const std::string& key) {
  const double value = config.get_float(key);
  if (!(value > 0.0) || !std::isfinite(value)) config.fail(key, "must be positive and finite");
  return value;
}

double finite_float(const Config& config, const std::string& key) {
  const double value = config.get_float(key);
  if (!std::isfinite(value)) config.fail(key, "must be finite");
  return value;
}

// One of `names` (in enum order), or a ConfigError naming the key and the choices.
template <class E>
E choice(const Config& config, const std::string& key, std::initializer_list<const char*> names) {
  const std::string value = config.get_string(key);
  int i = 0;
  std::string all;
  for (const char* n : names) {
    if (value == n) return static_cast<E>(i);
    all += (i++ ? ", " : "") + std::string(n);
  }
  config.fail(key, "must be one of " + all + ", got '" + value + "'");
  return E{};  // not reached: fail() throws
}

// "9,10" -> {9, 10}; each a physical layer, no repeats.
std::vector<int64_t> layer_list(const Config& config, const std::string& key, int64_t num_layers) {
  std::vector<int64_t> out;
  std::stringstream in(config.get_string(key));
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a == std::string::npos) config.fail(key, "has an empty entry");
    item = item.substr(a, b - a + 1);
    if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 9)
      config.fail(key, "entries must be layer numbers, got '" + item + "'");
    const int64_t layer = std::stoll(item);
    if (layer >= num_layers)
      config.fail(key, "layer " + item + " is beyond num_layers (" + std::to_string(num_layers) + ")");
    if (std::find(out.begin(), out.end(), layer) != out.end()) config.fail(key, "repeats layer " + item);
    out.push_back(layer);
  }
  return out;
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
  s.mlp_mult = positive_float(config, "mlp_mult");
  if (s.mlp_mult > 64.0 || s.hidden() < 1) config.fail("mlp_mult", "must give a hidden width in [1, 64 * model_dim]");
  s.tie_embeddings = config.get_bool("tie_embeddings");
  s.tied_embed_init_std = positive_float(config, "tied_embed_init_std");
  s.rope_base = positive_float(config, "rope_base");
  s.logit_softcap = config.get_float("logit_softcap");
  if (!(s.logit_softcap >= 0.0) || !std::isfinite(s.logit_softcap))
    config.fail("logit_softcap", "must be positive and finite, or 0 for no softcap");
  s.qk_gain_init = finite_float(config, "qk_gain_init");
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
  const int64_t L = s.num_layers;

  s.activation = choice<Activation>(config, "activation", {"relu2", "leaky_relu2", "gelu"});
  s.leaky_slope = finite_float(config, "leaky_slope");
  s.qk_norm = config.get_bool("qk_norm");
  s.rope_dims = get_int_in(config, "rope_dims", 0, s.head_dim());
  if (s.rope_dims % 2 != 0) config.fail("rope_dims", "must be even (rotate-half pairs), got " + std::to_string(s.rope_dims));
  if (s.rope_ntk && s.rotary_dims() == 2) config.fail("rope_dims", "must be at least 4 with rope_ntk (r / (r - 2))");
  s.ln_scale = config.get_bool("ln_scale");
  s.xsa_last_n = get_int_in(config, "xsa_last_n", 0, L);

  s.smear = choice<Smear>(config, "smear_gate", {"off", "v1", "v2"});
  s.smear_bos_fix = config.get_bool("smear_bos_fix");
  s.bos_id = get_int_in(config, "bos_id", 0, s.vocab_size - 1);
  s.gate_window = get_int_in(config, "gate_window", 1, s.model_dim);
  s.bigram_vocab = get_int_in(config, "bigram_vocab", 0, 1 << 24);
  if (s.bigram_vocab == 1) config.fail("bigram_vocab", "must be 0 (off) or at least 2 (one bucket is position 0's)");
  s.bigram_dim = get_int_in(config, "bigram_dim", 1, 1 << 16);
  s.ve_layers = layer_list(config, "ve_layers", L);
  s.ve_dim = get_int_in(config, "ve_dim", 1, 1 << 16);
  s.value_residual = config.get_bool("value_residual");
  s.ortho_init = config.get_bool("ortho_init");
  s.skip_gates = config.get_bool("skip_gates");

  s.num_loops = get_int_in(config, "num_loops", 0, 64);
  s.loop_start = get_int_in(config, "loop_start", 0, 1 << 20);
  s.loop_end = get_int_in(config, "loop_end", 0, 1 << 20);
  if (s.num_loops > 0) {
    if (s.loop_end >= L)
      config.fail("loop_end", "must be a physical layer below num_layers (" + std::to_string(L) + ")");
    if (s.loop_start > s.loop_end) config.fail("loop_start", "must not exceed loop_end");
  }

  s.parallel = choice<Parallel>(config, "parallel_residual", {"none", "gptj", "two_lane_seq", "two_lane"});
  s.parallel_start = get_int_in(config, "parallel_start", 0, 1 << 20);
  if (s.parallel != Parallel::kNone && s.parallel_start >= L)
    config.fail("parallel_start", "must be a physical layer below num_layers (" + std::to_string(L) + ")");
  if (s.parallel == Parallel::kTwoLaneSeq || s.parallel == Parallel::kTwoLane) {
    // Lanes never merge back into one stream before the end: once a layer at or past parallel_start
    // runs, every later one must too (the records would silently drop the lanes otherwise).
    const Layout full = layout(s, s.num_loops);
    std::vector<int64_t> order = s.parallel == Parallel::kTwoLaneSeq ? full.encoder : std::vector<int64_t>{};
    order.insert(order.end(), full.decoder.begin(), full.decoder.end());
    bool started = false;
    for (int64_t i : order) {
      if (i >= s.parallel_start) started = true;
      else if (started)
        config.fail("parallel_start", "layer " + std::to_string(i) + " comes after a two-lane layer in the loop layout; "
                                      "start the lanes after loop_end or at or before loop_start");
    }
  }

  s.attn_gate = choice<AttnGate>(config, "attn_gate", {"none", "dense", "output", "sparse", "headwise"});
  s.attn_gate_scale = finite_float(config, "attn_gate_scale");
  s.attn_gate_init_std = config.get_float("attn_gate_init_std");
  if (!(s.attn_gate_init_std >= 0.0) || !std::isfinite(s.attn_gate_init_std))
    config.fail("attn_gate_init_std", "must be finite and >= 0");
  return s;
}

// When looping switches on during training (reference §5.21).
struct LoopSchedule {
  double at = 0, step = 0;
  // How many of `num_loops` extra loops are on at training progress p: loop k from at + (k - 1) step.
  int64_t active(int64_t num_loops, double p) const {
    int64_t k = 0;
    while (k < num_loops && p >= at + double(k) * step) ++k;
    return k;
  }
};

LoopSchedule read_schedule(const Config& config) {
  LoopSchedule l{config.get_float("loop_at"), config.get_float("loop_step")};
  if (!(l.at >= 0.0 && l.at <= 1.0)) config.fail("loop_at", "must be a training fraction in [0, 1]");
  if (!(l.step >= 0.0 && l.step <= 1.0)) config.fail("loop_step", "must be in [0, 1]");
  return l;
}

std::string roles(const std::vector<Param>& params) {
  std::map<std::string, int64_t> by_role;
  int64_t total = 0;
  for (const Param& p : params) {
    by_role[role_name(p.role)] += p.tensor.numel();
    total += p.tensor.numel();
  }
  std::ostringstream out;
  out << total << " parameters (";
  const char* sep = "";
  for (const auto& [role, n] : by_role) {
    out << sep << role << " " << n;
    sep = ", ";
  }
  out << ")";
  return out.str();
}

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
  return out;
}

class Gpt final : public Architecture {
 public:
  explicit Gpt(PluginContext& ctx)
      : ctx_(ctx), shape_(read_shape(ctx.config())), schedule_(read_schedule(ctx.config())) {}

  void build() override {
    const RunInfo& run = ctx_.run();
    GptShape shape = shape_;
    shape.train_seq_len = run.seq_len();
    model_ = std::make_unique<GptModel>(shape, run.device(), run.compute_dtype(), run.seed());
    model_->set_hook(hook_);
    std::ostringstream msg;
    msg << "gpt: " << roles(model_->parameters()) << "; " << shape_.num_layers << " layers, dim "
        << shape_.model_dim << ", heads " << shape_.num_heads << "/" << shape_.num_kv_heads << ", vocab "
        << shape_.vocab_size << (shape_.tie_embeddings ? ", tied" : ", untied") << " on " << run.device();
    if (shape_.num_loops > 0) {
      const Layout full = layout(shape_, shape_.num_loops);
      msg << "; loops on at " << schedule_.at << ": encoder [" << join(full.encoder) << "] decoder ["
          << join(full.decoder) << "]";
    }
    ctx_.log().info(msg.str());
  }

  int64_t vocab_size() const override { return shape_.vocab_size; }

  std::vector<Param> parameters() override { return built().parameters(); }

  at::Tensor forward(const at::Tensor& x, const at::Tensor& y) override { return schedule().forward(x, y); }

  at::Tensor logits(const at::Tensor& x) override { return schedule().logits(x); }

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

  // The loop schedule follows run progress in training and evaluation alike, so a validation in the
  // middle of training scores the model as it trains; finished weights are at progress 1, every loop on.
  GptModel& schedule() const {
    GptModel& m = built();
    m.set_active_loops(schedule_.active(shape_.num_loops, ctx_.run().progress()));
    return m;
  }

  PluginContext& ctx_;
  const GptShape shape_;
  const LoopSchedule schedule_;
  std::unique_ptr<GptModel> model_;
  LinearHook* hook_ = nullptr;
};

}  // namespace
}  // namespace golf::gpt

GOLF_PLUGINS(golf::plugin<golf::gpt::Gpt>(
    "gpt", "2.1.0", "Parameter Golf GPT: the baseline (U-Net skips, GQA, RoPE, QK-norm, relu^2 MLP) and the frontier options", golf::gpt::kConfig))
