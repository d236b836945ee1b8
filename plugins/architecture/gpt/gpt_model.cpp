// gpt_model.cpp: initialisation and forward pass of the GPT (reference §4.2; options §5.12-5.23).
#include "gpt_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/init.h>

#include <cmath>
#include <string>
#include <tuple>

#include "golf/compat.h"

namespace golf::gpt {
namespace {

// nn.Linear's default init, kaiming_uniform_(a = sqrt(5)) = U(±1/sqrt(fan_in)). The bound follows
// PyTorch's own arithmetic so that the double handed to uniform_ is the same one.
at::Tensor linear_weight(int64_t out_features, int64_t in_features, at::Generator& gen, const at::TensorOptions& f32) {
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1.0 + std::pow(a, 2.0)));
  const double bound = std::sqrt(3.0) * (gain / std::sqrt(static_cast<double>(in_features)));
  return at::empty({out_features, in_features}, f32).uniform_(-bound, bound, gen);
}

// A zero-initialised Linear still draws its default init first (then _init_weights zeroes it), so
// the generator stays in step with the reference's construction order.
at::Tensor zero_linear_weight(int64_t out_features, int64_t in_features, at::Generator& gen, const at::TensorOptions& f32) {
  return linear_weight(out_features, in_features, gen, f32).zero_();
}

// nn.init.orthogonal_ (gain 1) drawing from `gen`: LibTorch's orthogonal_ takes no generator, so the
// default CPU generator is handed gen's state for the call and gen takes back what it consumed.
void orthogonal_from(at::Tensor& w, at::Generator& gen) {
  at::Generator global = at::detail::getDefaultCPUGenerator();
  const at::Tensor saved = global.get_state();
  global.set_state(gen.get_state());
  torch::nn::init::orthogonal_(w, 1.0);
  gen.set_state(global.get_state());
  global.set_state(saved);
}

// Control tensors (scales, gains, mixes) stay fp32 and are cast to the activation dtype at use.
at::Tensor like(const at::Tensor& control, const at::Tensor& x) { return control.to(x.scalar_type()); }

// RoPE, rotate-half layout on the first 2·cos.size(-1) dims: halves (x1, x2) -> (x1 cos + x2 sin,
// -x1 sin + x2 cos), i.e. rotation by -θ; the remaining dims (partial RoPE) pass through.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = cos.size(-1);
  const at::Tensor x1 = x.narrow(-1, 0, half);
  const at::Tensor x2 = x.narrow(-1, half, half);
  const at::Tensor rotated = at::cat({x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos}, -1);
  if (2 * half == x.size(-1)) return rotated;
  return at::cat({rotated, x.narrow(-1, 2 * half, x.size(-1) - 2 * half)}, -1);
}

}  // namespace

Layout layout(const GptShape& s, int64_t loops) {
  std::vector<int64_t> all;
  if (s.num_loops > 0) {
    for (int64_t i = 0; i < s.loop_start; ++i) all.push_back(i);
    for (int64_t pass = 0; pass <= loops; ++pass)
      for (int64_t i = s.loop_start; i <= s.loop_end; ++i) all.push_back(i);
    for (int64_t i = s.loop_end + 1; i < s.num_layers; ++i) all.push_back(i);
  } else {
    for (int64_t i = 0; i < s.num_layers; ++i) all.push_back(i);
  }
  const auto half = all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2);
  return {std::vector<int64_t>(all.begin(), half), std::vector<int64_t>(half, all.end())};
}

int64_t GptShape::skip_count() const {
  const Layout full = layout(*this, num_loops);
  return static_cast<int64_t>(std::min(full.encoder.size(), full.decoder.size()));
}

at::Tensor bigram_hash(const at::Tensor& ids, int64_t bigram_vocab) {
  const int64_t mod = bigram_vocab - 1;
  const at::Tensor t = ids.to(at::kInt);  // int32 products wrap as the record's do
  at::Tensor out = at::empty_like(t);
  out.narrow(1, 0, 1).fill_(mod);
  const int64_t T = t.size(1);
  if (T > 1) {
    const at::Tensor h = at::bitwise_xor(t.narrow(1, 1, T - 1) * 36313, t.narrow(1, 0, T - 1) * 27191);
    out.narrow(1, 1, T - 1).copy_(at::remainder(h, mod));  // Python's %: non-negative for mod > 0
  }
  return out.to(at::kLong);
}

GptModel::GptModel(const GptShape& shape, at::Device device, at::ScalarType compute, uint64_t seed)
    : shape_(shape), device_(device), compute_(compute), active_loops_(shape.num_loops) {
  init(seed);
}

void GptModel::init(uint64_t seed) {
  const int64_t V = shape_.vocab_size, D = shape_.model_dim, H = shape_.num_heads, L = shape_.num_layers;
  const int64_t KV = shape_.kv_dim(), F = shape_.hidden(), W = shape_.gate_window;
  const int64_t Q = D + (shape_.attn_gate == AttnGate::kHeadwise ? H : 0);  // c_q rows: headwise adds a gate per head

  // A private CPU generator: the weights depend on the seed alone (not on the device or on whatever
  // else used the global generator), and the draws come in the reference's module-construction order,
  // so a seed gives the same stream of draws as torch.manual_seed(seed) followed by GPT(...).
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Drawn on the CPU, or only shaped on the meta device (the host sizes a model there before allocating).
  const bool meta = device_.is_meta();
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(meta ? at::kMeta : at::kCPU);

  at::Tensor tok_emb = at::empty({V, D}, f32).normal_(0.0, 1.0, gen);  // nn.Embedding default
  at::Tensor bigram_embed, bigram_proj, bigram_scale;
  if (shape_.bigram_vocab > 0) {  // constructed right after tok_emb; table and projection zero
    bigram_embed = at::empty({shape_.bigram_vocab, shape_.bigram_dim}, f32).normal_(0.0, 1.0, gen).zero_();
    if (shape_.bigram_dim != D) bigram_proj = zero_linear_weight(D, shape_.bigram_dim, gen, f32);
    bigram_scale = at::full({}, 0.05, f32);
  }
  at::Tensor smear_gate, smear_lambda;
  if (shape_.smear == Smear::kV1) smear_gate = at::zeros({D}, f32);  // g = sigmoid(0) = 0.5
  const int64_t skips = shape_.skip_count();
  at::Tensor skip_weights = at::ones({skips, D}, f32);
  at::Tensor skip_gates;
  if (shape_.skip_gates) skip_gates = at::zeros({skips, D}, f32);  // an even blend at init
  at::Tensor lane_post, lane_resid;
  if (shape_.parallel == Parallel::kTwoLaneSeq || shape_.parallel == Parallel::kTwoLane) {
    lane_post = at::ones({L, 2, 2}, f32);
    lane_resid = at::full({L, 2}, shape_.parallel == Parallel::kTwoLane ? 1.1 : std::sqrt(1.1), f32);
  }
  // Layer 0 mixes in v0 only when a loop revisits it (it is where v0 comes from).
  const bool layer0_revisited = shape_.num_loops > 0 && shape_.loop_start == 0;
  std::vector<Block> blocks;
  for (int64_t i = 0; i < L; ++i) {
    Block b;
    b.c_q = linear_weight(Q, D, gen, f32);
    b.c_k = linear_weight(KV, D, gen, f32);
    b.c_v = linear_weight(KV, D, gen, f32);
    b.attn_proj = zero_linear_weight(D, D, gen, f32);
    b.q_gain = at::full({H}, shape_.qk_gain_init, f32);
    if (shape_.value_residual && (i > 0 || layer0_revisited)) b.vr_lambda = at::full({2}, 0.5, f32);
    switch (shape_.attn_gate) {
      case AttnGate::kDense: b.attn_gate = at::empty({H, D}, f32).normal_(0.0, shape_.attn_gate_init_std, gen); break;
      case AttnGate::kOutput: b.attn_gate = zero_linear_weight(H, W, gen, f32); break;
      case AttnGate::kSparse: b.attn_gate = at::zeros({H, W}, f32); break;  // sigmoid(0) = 0.5 at init
      default: break;
    }
    b.fc = linear_weight(F, D, gen, f32);
    b.mlp_proj = zero_linear_weight(D, F, gen, f32);
    b.attn_scale = at::ones({D}, f32);
    b.mlp_scale = at::ones({D}, f32);
    b.resid_mix = at::stack({at::ones({D}, f32), at::zeros({D}, f32)});
    if (shape_.uses_ve(i)) b.ve_scale = at::ones({1}, f32);
    blocks.push_back(b);
  }
  at::Tensor ve_embed, ve_proj, ve_scale;
  if (!shape_.ve_layers.empty()) {  // the shared table N(0, 0.01²); projection zero; scale 0.1
    ve_embed = at::empty({V, shape_.ve_dim}, f32).normal_(0.0, 0.01, gen);
    if (shape_.ve_dim != KV) ve_proj = zero_linear_weight(KV, shape_.ve_dim, gen, f32);
    ve_scale = at::full({}, 0.1, f32);
  }
  at::Tensor lm_head;
  if (!shape_.tie_embeddings) lm_head = zero_linear_weight(V, D, gen, f32);
  if (shape_.smear == Smear::kV2) {  // zero W and λ = 0: the identity at init
    smear_gate = zero_linear_weight(1, W, gen, f32);
    smear_lambda = at::zeros({1}, f32);
  }
  // Only the tied embedding is re-drawn with the small std; an untied one keeps N(0, 1), as in the reference.
  if (shape_.tie_embeddings) tok_emb.normal_(0.0, shape_.tied_embed_init_std, gen);
  // Orthogonal init (§5.19) replaces the default of every non-zero Linear with both dims >= 64, in module order.
  if (shape_.ortho_init && !meta) {
    for (Block& b : blocks)
      for (at::Tensor* w : {&b.c_q, &b.c_k, &b.c_v, &b.fc})
        if (w->size(0) >= 64 && w->size(1) >= 64) orthogonal_from(*w, gen);
  }

  // Move to the device. Linear and control weights are fp32 masters; tok_emb is the one parameter
  // the reference stores in the low-precision compute dtype.
  auto place = [&](const at::Tensor& t, at::ScalarType dtype) -> at::Tensor {
    if (!t.defined()) return t;
    at::Tensor leaf = t.to(device_, dtype);
    leaf.set_requires_grad(true);
    return leaf;
  };
  tok_emb_ = place(tok_emb, compute_);
  skip_weights_ = place(skip_weights, at::kFloat);
  skip_gates_ = place(skip_gates, at::kFloat);
  lane_post_ = place(lane_post, at::kFloat);
  lane_resid_ = place(lane_resid, at::kFloat);
  bigram_scale_ = place(bigram_scale, at::kFloat);
  bigram_embed_ = place(bigram_embed, at::kFloat);
  bigram_proj_ = place(bigram_proj, at::kFloat);
  smear_gate_ = place(smear_gate, at::kFloat);
  smear_lambda_ = place(smear_lambda, at::kFloat);
  ve_scale_ = place(ve_scale, at::kFloat);
  ve_embed_ = place(ve_embed, at::kFloat);
  ve_proj_ = place(ve_proj, at::kFloat);
  for (Block& b : blocks) {
    for (at::Tensor* t : {&b.c_q, &b.c_k, &b.c_v, &b.attn_proj, &b.q_gain, &b.fc, &b.mlp_proj, &b.attn_scale,
                          &b.mlp_scale, &b.resid_mix, &b.vr_lambda, &b.attn_gate, &b.ve_scale}) {
      *t = place(*t, at::kFloat);
    }
  }
  blocks_ = std::move(blocks);
  lm_head_ = place(lm_head, at::kFloat);
  index_parameters();
}

// The hook names a weight by its position in parameters(); looked up by tensor identity, so the
// order of parameters() is the one source of the numbering.
void GptModel::index_parameters() {
  param_index_.clear();
  const std::vector<Param> params = parameters();
  for (size_t i = 0; i < params.size(); ++i) param_index_[params[i].tensor.unsafeGetTensorImpl()] = int64_t(i);
}

int64_t GptModel::index_of(const at::Tensor& weight) const {
  const auto it = param_index_.find(weight.unsafeGetTensorImpl());
  TORCH_CHECK(it != param_index_.end(), "gpt: a matmul weight is not among parameters()");
  return it->second;
}

// CastedLinear: the fp32 master weight is cast to the activation dtype at the matmul. No bias.
at::Tensor GptModel::linear(const at::Tensor& x, const at::Tensor& weight) const {
  at::Tensor y = at::linear(x, weight.to(x.scalar_type()));
  if (hook_) {
    const at::Tensor extra = hook_->on_linear(index_of(weight), x);
    if (extra.defined()) y = y + extra.to(y.scalar_type());
  }
  return y;
}

std::vector<Param> GptModel::parameters() const {
  // Order of the reference's named_parameters(): a module's own parameters, then its children's.
  // An optional tensor is listed only when its option is on, so the baseline's list is unchanged.
  std::vector<Param> out;
  auto add = [&](const std::string& name, const at::Tensor& t, ParamRole role) {
    if (t.defined()) out.push_back({name, t, role});
  };
  // An empty [0, D] tensor (num_layers = 1) is left out rather than handed to optimizers and quantizers.
  if (shape_.skip_count() > 0) {
    add("skip_weights", skip_weights_, ParamRole::kScalar);
    add("skip_gates", skip_gates_, ParamRole::kScalar);
  }
  add("parallel_post_lambdas", lane_post_, ParamRole::kScalar);
  add("parallel_resid_lambdas", lane_resid_, ParamRole::kScalar);
  add("smear_lambda", smear_lambda_, ParamRole::kScalar);
  add("tok_emb.weight", tok_emb_, shape_.tie_embeddings ? ParamRole::kTiedEmbedding : ParamRole::kEmbedding);
  add("bigram.scale", bigram_scale_, ParamRole::kScalar);
  add("bigram.embed.weight", bigram_embed_, ParamRole::kEmbedding);  // the token-embedding Adam group
  add("bigram.proj.weight", bigram_proj_, ParamRole::kOther);        // Adam in the record, not Muon
  if (shape_.smear == Smear::kV1) add("smear.gate", smear_gate_, ParamRole::kGate);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    add(p + "attn_scale", b.attn_scale, ParamRole::kScalar);
    add(p + "mlp_scale", b.mlp_scale, ParamRole::kScalar);
    add(p + "resid_mix", b.resid_mix, ParamRole::kScalar);  // 2-D, but a control tensor
    add(p + "attn.q_gain", b.q_gain, ParamRole::kScalar);
    add(p + "attn.vr_lambda", b.vr_lambda, ParamRole::kScalar);
    if (shape_.attn_gate == AttnGate::kDense || shape_.attn_gate == AttnGate::kSparse)
      add(p + "attn.attn_gate_w", b.attn_gate, ParamRole::kGate);
    add(p + "attn.c_q.weight", b.c_q, ParamRole::kMatrix);
    add(p + "attn.c_k.weight", b.c_k, ParamRole::kMatrix);
    add(p + "attn.c_v.weight", b.c_v, ParamRole::kMatrix);
    add(p + "attn.proj.weight", b.attn_proj, ParamRole::kMatrix);
    if (shape_.attn_gate == AttnGate::kOutput) add(p + "attn.attn_gate_proj.weight", b.attn_gate, ParamRole::kGate);
    add(p + "mlp.fc.weight", b.fc, ParamRole::kMatrix);
    add(p + "mlp.proj.weight", b.mlp_proj, ParamRole::kMatrix);
  }
  add("ve_shared.scale", ve_scale_, ParamRole::kScalar);
  add("ve_shared.embed.weight", ve_embed_, ParamRole::kEmbedding);
  add("ve_shared.proj.weight", ve_proj_, ParamRole::kOther);
  for (size_t k = 0; k < shape_.ve_layers.size(); ++k)
    add("ve_layer_scales." + std::to_string(k), blocks_[size_t(shape_.ve_layers[k])].ve_scale, ParamRole::kScalar);
  add("lm_head.weight", lm_head_, ParamRole::kHead);
  if (shape_.smear == Smear::kV2) add("smear_gate.weight", smear_gate_, ParamRole::kGate);
  return out;
}

const GptModel::Rope& GptModel::rope(int64_t seq_len) {
  auto it = rope_cache_.find(seq_len);
  if (it != rope_cache_.end()) return it->second;
  const int64_t rd = shape_.rotary_dims();
  // Longer than training: NTK scaling, base' = base · (T / train)^(r / (r - 2)) over the rotated dims r (§5.1, §5.13).
  double base = shape_.rope_base;
  if (shape_.rope_ntk && shape_.train_seq_len > 0 && seq_len > shape_.train_seq_len)
    base *= std::pow(double(seq_len) / double(shape_.train_seq_len), double(rd) / double(rd - 2));
  // inv_freq = 1 / base^(2i/r), built in fp32 on the CPU as the reference's buffer is, then moved.
  const at::Tensor inv_freq =
      at::reciprocal(at::pow(base, at::arange(0, rd, 2, at::kFloat) / static_cast<double>(rd))).to(device_);
  const at::Tensor t = at::arange(seq_len, at::TensorOptions().dtype(at::kFloat).device(device_));
  const at::Tensor freqs = at::outer(t, inv_freq).view({1, 1, seq_len, rd / 2});  // fp32 angles
  Rope r{freqs.cos().to(compute_), freqs.sin().to(compute_)};
  return rope_cache_.emplace(seq_len, std::move(r)).first->second;
}

at::Tensor GptModel::norm(const at::Tensor& x, int64_t layer) const {
  const at::Tensor y = compat::rms_norm(x);
  return shape_.ln_scale ? y * (1.0 / std::sqrt(static_cast<double>(layer + 1))) : y;
}

at::Tensor GptModel::attention(int64_t layer, const at::Tensor& x, Stream& s, const Rope& r) const {
  const Block& b = blocks_[size_t(layer)];
  const int64_t B = x.size(0), T = x.size(1), D = shape_.model_dim;
  const int64_t H = shape_.num_heads, Hkv = shape_.num_kv_heads, Dh = shape_.head_dim();
  at::Tensor q = linear(x, b.c_q);
  at::Tensor head_gate;  // [B, T, H]
  if (shape_.attn_gate == AttnGate::kHeadwise) {
    head_gate = at::sigmoid(q.narrow(-1, D, H));
    q = q.narrow(-1, 0, D).reshape({B, T, D});
  }
  q = q.view({B, T, H, Dh}).transpose(1, 2);                                // [B, H, T, Dh]
  at::Tensor k = linear(x, b.c_k).view({B, T, Hkv, Dh}).transpose(1, 2);  // [B, Hkv, T, Dh]
  at::Tensor v = linear(x, b.c_v);                                        // [B, T, Hkv·Dh]
  if (b.ve_scale.defined()) v = v + s.ve * like(b.ve_scale, s.ve);
  v = v.view({B, T, Hkv, Dh}).transpose(1, 2);
  if (shape_.value_residual) {
    if (!s.v0.defined()) {
      s.v0 = v;  // the first block's raw values
    } else if (b.vr_lambda.defined()) {
      const at::Tensor lam = like(b.vr_lambda, v);
      v = lam[0] * s.v0 + lam[1] * v;
    }
  }
  // QK-norm, then RoPE, then the per-head gain (the gain after RoPE sets the attention temperature).
  if (shape_.qk_norm) {
    q = compat::rms_norm(q);
    k = compat::rms_norm(k);
  }
  q = apply_rope(q, r.cos, r.sin);
  k = apply_rope(k, r.cos, r.sin);
  q = q * like(b.q_gain, q).view({1, H, 1, 1});
  at::Tensor y = compat::causal_gqa_attention(q, k, v);  // [B, H, T, Dh]
  if (layer >= shape_.num_layers - shape_.xsa_last_n) {
    // XSA: drop each head's component along its token's own normalised value (kv group h / (H/Hkv)).
    const at::Tensor yg = y.reshape({B, Hkv, H / Hkv, T, Dh});
    const at::Tensor vn = (v / v.norm(2, {-1}, true).clamp_min(1e-12)).unsqueeze(2);  // F.normalize
    y = (yg - (yg * vn).sum(-1, true) * vn).reshape({B, H, T, Dh});
  }
  at::Tensor g;  // per-head output gate [B, T, H], from the block's (normalised) attention input
  switch (shape_.attn_gate) {
    case AttnGate::kDense: g = at::sigmoid(linear(x, b.attn_gate)); break;
    case AttnGate::kOutput: g = 2.0 * at::sigmoid(linear(x.narrow(-1, 0, shape_.gate_window), b.attn_gate)); break;
    case AttnGate::kSparse:
      g = at::sigmoid(shape_.attn_gate_scale * linear(x.narrow(-1, 0, shape_.gate_window), b.attn_gate));
      break;
    case AttnGate::kHeadwise: g = head_gate; break;
    case AttnGate::kNone: break;
  }
  if (g.defined()) y = y * g.transpose(1, 2).unsqueeze(-1);
  return linear(y.transpose(1, 2).reshape({B, T, D}), b.attn_proj);
}

at::Tensor GptModel::mlp(const Block& b, const at::Tensor& x) const {
  const at::Tensor h = linear(x, b.fc);
  at::Tensor a;
  switch (shape_.activation) {
    case Activation::kRelu2: a = at::relu(h).square(); break;
    case Activation::kLeakyRelu2: a = at::leaky_relu(h, shape_.leaky_slope).square(); break;
    case Activation::kGelu: a = at::gelu(h); break;
  }
  return linear(a, b.mlp_proj);
}

at::Tensor GptModel::block(int64_t layer, const at::Tensor& x_in, Stream& s, const Rope& r) const {
  const Block& b = blocks_[size_t(layer)];
  // Each block re-mixes in the normalised embedding x0 per channel before its residual updates.
  const at::Tensor mix = like(b.resid_mix, x_in);
  at::Tensor x = mix[0] * x_in + mix[1] * s.x0;
  if (shape_.parallel == Parallel::kGptj && layer >= shape_.parallel_start) {
    // GPT-J: attention and MLP both read the mixed input (both norms are the same weightless RMSNorm).
    const at::Tensor h = norm(x, layer);
    const at::Tensor a = attention(layer, h, s, r);
    return x + like(b.attn_scale, x) * a + like(b.mlp_scale, x) * mlp(b, h);
  }
  x = x + like(b.attn_scale, x) * attention(layer, norm(x, layer), s, r);
  x = x + like(b.mlp_scale, x) * mlp(b, norm(x, layer));
  return x;
}

std::pair<at::Tensor, at::Tensor> GptModel::lanes_block(int64_t layer, const at::Tensor& lane0, const at::Tensor& lane1,
                                                        Stream& s, const Rope& r) const {
  const Block& b = blocks_[size_t(layer)];
  const at::Tensor mix = like(b.resid_mix, lane0);
  const at::Tensor resid = like(lane_resid_[layer], lane0), post = like(lane_post_[layer], lane0);  // [2] [2, 2]
  const at::Tensor attn_read = mix[0] * lane0 + mix[1] * s.x0;
  const at::Tensor a = like(b.attn_scale, lane0) * attention(layer, norm(attn_read, layer), s, r);
  if (shape_.parallel == Parallel::kTwoLaneSeq) {
    // PR #1204: attention writes both lanes, then the MLP reads the updated lane 1 (mixed with x0).
    at::Tensor l0 = resid[0] * lane0 + post[0][0] * a, l1 = resid[0] * lane1 + post[0][1] * a;
    const at::Tensor m = like(b.mlp_scale, l1) * mlp(b, norm(mix[0] * l1 + mix[1] * s.x0, layer));
    return {resid[1] * l0 + post[1][0] * m, resid[1] * l1 + post[1][1] * m};
  }
  // PR #1530: both read the lanes as they were; the MLP reads raw lane 1 (no x0 mix).
  const at::Tensor m = like(b.mlp_scale, lane1) * mlp(b, norm(lane1, layer));
  return {resid[0] * lane0 + post[0][0] * a + post[1][0] * m, resid[1] * lane1 + post[0][1] * a + post[1][1] * m};
}

// U-Net skip i: x + w_i ⊙ pushed, or with gates lerp(w_i ⊙ pushed, x, sigmoid(g_i)).
at::Tensor GptModel::skip(int64_t i, const at::Tensor& x, const at::Tensor& pushed) const {
  if (!skip_gates_.defined()) return x + like(skip_weights_[i], x) * pushed;
  const at::Tensor scaled = like(skip_weights_[i], x) * pushed;
  return at::lerp(scaled, x, at::sigmoid(like(skip_gates_[i], x)));
}

at::Tensor GptModel::embed(const at::Tensor& ids) {
  at::Tensor x = at::embedding(tok_emb_, ids);  // [B, T, D]
  if (bigram_embed_.defined()) {
    at::Tensor h = at::embedding(bigram_embed_, bigram_hash(ids, shape_.bigram_vocab)).to(x.scalar_type());
    if (bigram_proj_.defined()) h = linear(h, bigram_proj_);
    x = x + h * like(bigram_scale_, h);
  }
  const int64_t T = ids.size(1);
  if (shape_.smear == Smear::kV2 && T > 1) {
    // x_t += λ·sigmoid(W x_t[:window])·x_{t-1}, on the raw embedding; never into a BOS token (the fix).
    const at::Tensor cur = x.narrow(1, 1, T - 1);
    at::Tensor g = like(smear_lambda_, x) * at::sigmoid(linear(cur.narrow(-1, 0, shape_.gate_window), smear_gate_));
    if (shape_.smear_bos_fix) g = g.masked_fill(ids.narrow(1, 1, T - 1).eq(shape_.bos_id).unsqueeze(-1), 0.0);
    x = at::cat({x.narrow(1, 0, 1), cur + g * x.narrow(1, 0, T - 1)}, 1);
  }
  x = compat::rms_norm(x);
  if (shape_.smear == Smear::kV1) {
    // x_t = (1 - g) x_t + g x_{t-1}, x_{-1} = 0, g = sigmoid(per-channel gate).
    const at::Tensor g = at::sigmoid(like(smear_gate_, x));
    const at::Tensor prev = at::constant_pad_nd(x.narrow(1, 0, T - 1), {0, 0, 1, 0});
    x = (1 - g) * x + g * prev;
  }
  return x;
}

at::Tensor GptModel::hidden(const at::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 2 && ids.scalar_type() == at::kLong, "gpt: inputs must be int64 [B, T], got ",
              ids.scalar_type(), " ", ids.sizes());
  const Rope& r = rope(ids.size(1));
  at::Tensor x = embed(ids);
  Stream s{x, {}, {}};
  if (ve_embed_.defined()) {  // one lookup per forward, shared by every VE layer
    at::Tensor ve = at::embedding(ve_embed_, ids).to(x.scalar_type());
    if (ve_proj_.defined()) ve = linear(ve, ve_proj_);
    s.ve = ve * like(ve_scale_, ve);
  }

  // U-Net over the virtual layer list: encoder outputs are stacked and fed back LIFO, so the last
  // encoder pairs with the first decoder. A two-lane block pushes (and pops) both lanes.
  const Layout lay = layout(shape_, active_loops_);
  const bool lanes_seq = shape_.parallel == Parallel::kTwoLaneSeq, lanes_time = shape_.parallel == Parallel::kTwoLane;
  std::vector<std::pair<at::Tensor, at::Tensor>> skips;
  at::Tensor lane0, lane1;
  for (int64_t i : lay.encoder) {
    if (lanes_seq && i >= shape_.parallel_start) {
      if (!lane0.defined()) lane0 = lane1 = x;
      std::tie(lane0, lane1) = lanes_block(i, lane0, lane1, s, r);
      skips.emplace_back(lane0, lane1);
    } else {
      x = block(i, x, s, r);
      skips.emplace_back(x, at::Tensor());
    }
  }
  const int64_t skip_count = shape_.skip_count();
  for (size_t k = 0; k < lay.decoder.size(); ++k) {
    const int64_t i = lay.decoder[k];
    const bool pop = int64_t(k) < skip_count && !skips.empty();
    std::pair<at::Tensor, at::Tensor> pushed;
    if (pop) {
      pushed = skips.back();
      skips.pop_back();
    }
    if ((lanes_seq || lanes_time) && i >= shape_.parallel_start) {
      if (!lane0.defined()) lane0 = lane1 = x;
      if (pop && lanes_seq) {  // PR #1204: into both lanes, lane by lane
        lane0 = skip(int64_t(k), lane0, pushed.first);
        lane1 = skip(int64_t(k), lane1, pushed.second.defined() ? pushed.second : pushed.first);
      } else if (pop) {  // PR #1530: into the attention lane only
        lane0 = skip(int64_t(k), lane0, pushed.first);
      }
      std::tie(lane0, lane1) = lanes_block(i, lane0, lane1, s, r);
    } else {
      if (pop) x = skip(int64_t(k), x, pushed.second.defined() ? pushed.second : pushed.first);
      x = block(i, x, s, r);
    }
  }
  if (lane0.defined()) x = 0.5 * (lane0 + lane1);
  return compat::rms_norm(x);
}

at::Tensor GptModel::logits(const at::Tensor& ids) {
  const at::Tensor x = hidden(ids);
  at::Tensor logits = shape_.tie_embeddings ? linear(x, tok_emb_) : linear(x, lm_head_);
  if (shape_.logit_softcap > 0) logits = shape_.logit_softcap * at::tanh(logits / shape_.logit_softcap);
  return logits.to(at::kFloat);  // [B, T, V]
}

at::Tensor GptModel::forward(const at::Tensor& ids, const at::Tensor& targets) {
  TORCH_CHECK(targets.sizes() == ids.sizes() && targets.scalar_type() == at::kLong,
              "gpt: targets must be int64 of the inputs' shape ", ids.sizes(), ", got ",
              targets.scalar_type(), " ", targets.sizes());
  const int64_t B = ids.size(0), T = ids.size(1), V = shape_.vocab_size;
  // Cross entropy on fp32 logits, one value per token: the host does the averaging.
  const at::Tensor nll = at::cross_entropy_loss(logits(ids).view({B * T, V}), targets.reshape({B * T}),
                                                /*weight=*/{}, at::Reduction::None);
  return nll.view({B, T});
}

}  // namespace golf::gpt
