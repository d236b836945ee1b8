// gpt_model.cpp: initialisation and forward pass of the baseline GPT (reference §4.2; §9 items 7, 8, 10-12).
#include "gpt_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>

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

// Control tensors (scales, gains, mixes) stay fp32 and are cast to the activation dtype at use.
at::Tensor like(const at::Tensor& control, const at::Tensor& x) { return control.to(x.scalar_type()); }

// RoPE, rotate-half layout: halves (x1, x2) -> (x1 cos + x2 sin, -x1 sin + x2 cos), i.e. rotation by -θ.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor x1 = x.narrow(-1, 0, half);
  const at::Tensor x2 = x.narrow(-1, half, half);
  return at::cat({x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos}, -1);
}

}  // namespace

GptModel::GptModel(const GptShape& shape, at::Device device, at::ScalarType compute, uint64_t seed)
    : shape_(shape), device_(device), compute_(compute) {
  init(seed);
}

void GptModel::init(uint64_t seed) {
  const int64_t V = shape_.vocab_size, D = shape_.model_dim, H = shape_.num_heads;
  const int64_t KV = shape_.kv_dim(), F = shape_.hidden();

  // A private CPU generator: the weights depend on the seed alone (not on the device or on whatever
  // else used the global generator), and the draws come in the reference's module-construction order,
  // so a seed gives the same stream of draws as torch.manual_seed(seed) followed by GPT(...).
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  // Drawn on the CPU, or only shaped on the meta device (the host sizes a model there before allocating).
  const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(device_.is_meta() ? at::kMeta : at::kCPU);

  at::Tensor tok_emb = at::empty({V, D}, f32).normal_(0.0, 1.0, gen);  // nn.Embedding default
  at::Tensor skip_weights = at::ones({shape_.skip_count(), D}, f32);
  std::vector<Block> blocks;
  for (int64_t i = 0; i < shape_.num_layers; ++i) {
    Block b;
    b.c_q = linear_weight(D, D, gen, f32);
    b.c_k = linear_weight(KV, D, gen, f32);
    b.c_v = linear_weight(KV, D, gen, f32);
    b.attn_proj = zero_linear_weight(D, D, gen, f32);
    b.q_gain = at::full({H}, shape_.qk_gain_init, f32);
    b.fc = linear_weight(F, D, gen, f32);
    b.mlp_proj = zero_linear_weight(D, F, gen, f32);
    b.attn_scale = at::ones({D}, f32);
    b.mlp_scale = at::ones({D}, f32);
    b.resid_mix = at::stack({at::ones({D}, f32), at::zeros({D}, f32)});
    blocks.push_back(b);
  }
  at::Tensor lm_head;
  if (!shape_.tie_embeddings) lm_head = zero_linear_weight(V, D, gen, f32);
  // Only the tied embedding is re-drawn with the small std; an untied one keeps N(0, 1), as in the reference.
  if (shape_.tie_embeddings) tok_emb.normal_(0.0, shape_.tied_embed_init_std, gen);

  // Move to the device. Linear and control weights are fp32 masters; tok_emb is the one parameter
  // the reference stores in the low-precision compute dtype.
  auto place = [&](const at::Tensor& t, at::ScalarType dtype) -> at::Tensor {
    at::Tensor leaf = t.to(device_, dtype);
    leaf.set_requires_grad(true);
    return leaf;
  };
  tok_emb_ = place(tok_emb, compute_);
  skip_weights_ = place(skip_weights, at::kFloat);
  for (Block& b : blocks) {
    for (at::Tensor* t : {&b.c_q, &b.c_k, &b.c_v, &b.attn_proj, &b.q_gain, &b.fc, &b.mlp_proj,
                          &b.attn_scale, &b.mlp_scale, &b.resid_mix}) {
      *t = place(*t, at::kFloat);
    }
  }
  blocks_ = std::move(blocks);
  if (lm_head.defined()) lm_head_ = place(lm_head, at::kFloat);
  // Indices in parameters()' order, for the hook.
  tok_emb_index_ = shape_.skip_count() > 0 ? 1 : 0;
  for (size_t i = 0; i < blocks_.size(); ++i) blocks_[i].first_matrix = tok_emb_index_ + 1 + 10 * int64_t(i) + 4;
  lm_head_index_ = tok_emb_index_ + 1 + 10 * shape_.num_layers;
}

// CastedLinear: the fp32 master weight is cast to the activation dtype at the matmul. No bias.
at::Tensor GptModel::linear(const at::Tensor& x, const at::Tensor& weight, int64_t param) const {
  at::Tensor y = at::linear(x, weight.to(x.scalar_type()));
  if (hook_) {
    const at::Tensor extra = hook_->on_linear(param, x);
    if (extra.defined()) y = y + extra.to(y.scalar_type());
  }
  return y;
}

std::vector<Param> GptModel::parameters() const {
  // Order of the reference's named_parameters(): a module's own parameters, then its children's.
  std::vector<Param> out;
  // An empty [0, D] tensor (num_layers = 1) is left out rather than handed to optimizers and quantizers.
  if (shape_.skip_count() > 0) out.push_back({"skip_weights", skip_weights_, ParamRole::kScalar});
  out.push_back({"tok_emb.weight", tok_emb_, shape_.tie_embeddings ? ParamRole::kTiedEmbedding : ParamRole::kEmbedding});
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    out.push_back({p + "attn_scale", b.attn_scale, ParamRole::kScalar});
    out.push_back({p + "mlp_scale", b.mlp_scale, ParamRole::kScalar});
    out.push_back({p + "resid_mix", b.resid_mix, ParamRole::kScalar});  // 2-D, but a control tensor
    out.push_back({p + "attn.q_gain", b.q_gain, ParamRole::kScalar});
    out.push_back({p + "attn.c_q.weight", b.c_q, ParamRole::kMatrix});
    out.push_back({p + "attn.c_k.weight", b.c_k, ParamRole::kMatrix});
    out.push_back({p + "attn.c_v.weight", b.c_v, ParamRole::kMatrix});
    out.push_back({p + "attn.proj.weight", b.attn_proj, ParamRole::kMatrix});
    out.push_back({p + "mlp.fc.weight", b.fc, ParamRole::kMatrix});
    out.push_back({p + "mlp.proj.weight", b.mlp_proj, ParamRole::kMatrix});
  }
  if (lm_head_.defined()) out.push_back({"lm_head.weight", lm_head_, ParamRole::kHead});
  return out;
}

const GptModel::Rope& GptModel::rope(int64_t seq_len) {
  auto it = rope_cache_.find(seq_len);
  if (it != rope_cache_.end()) return it->second;
  const int64_t Dh = shape_.head_dim();
  // Longer than training: NTK scaling, base' = base · (T / train)^(d / (d - 2)) (reference §5.1).
  double base = shape_.rope_base;
  if (shape_.rope_ntk && shape_.train_seq_len > 0 && seq_len > shape_.train_seq_len)
    base *= std::pow(double(seq_len) / double(shape_.train_seq_len), double(Dh) / double(Dh - 2));
  // inv_freq = 1 / base^(2i/Dh), built in fp32 on the CPU as the reference's buffer is, then moved.
  const at::Tensor inv_freq =
      at::reciprocal(at::pow(base, at::arange(0, Dh, 2, at::kFloat) / static_cast<double>(Dh)))
          .to(device_);
  const at::Tensor t = at::arange(seq_len, at::TensorOptions().dtype(at::kFloat).device(device_));
  const at::Tensor freqs = at::outer(t, inv_freq).view({1, 1, seq_len, Dh / 2});  // fp32 angles
  Rope r{freqs.cos().to(compute_), freqs.sin().to(compute_)};
  return rope_cache_.emplace(seq_len, std::move(r)).first->second;
}

at::Tensor GptModel::attention(const Block& b, const at::Tensor& x, const Rope& r) const {
  const int64_t B = x.size(0), T = x.size(1), D = shape_.model_dim;
  const int64_t H = shape_.num_heads, Hkv = shape_.num_kv_heads, Dh = shape_.head_dim();
  const int64_t m = b.first_matrix;
  at::Tensor q = linear(x, b.c_q, m).view({B, T, H, Dh}).transpose(1, 2);  // [B, H, T, Dh]
  at::Tensor k = linear(x, b.c_k, m + 1).view({B, T, Hkv, Dh}).transpose(1, 2);  // [B, Hkv, T, Dh]
  at::Tensor v = linear(x, b.c_v, m + 2).view({B, T, Hkv, Dh}).transpose(1, 2);
  // QK-norm, then RoPE, then the per-head gain (the gain after RoPE sets the attention temperature).
  q = apply_rope(compat::rms_norm(q), r.cos, r.sin);
  k = apply_rope(compat::rms_norm(k), r.cos, r.sin);
  q = q * like(b.q_gain, q).view({1, H, 1, 1});
  const at::Tensor y = compat::causal_gqa_attention(q, k, v);  // [B, H, T, Dh]
  return linear(y.transpose(1, 2).reshape({B, T, D}), b.attn_proj, m + 3);
}

at::Tensor GptModel::mlp(const Block& b, const at::Tensor& x) const {
  return linear(at::relu(linear(x, b.fc, b.first_matrix + 4)).square(), b.mlp_proj, b.first_matrix + 5);  // relu²
}

at::Tensor GptModel::block(const Block& b, const at::Tensor& x_in, const at::Tensor& x0,
                           const Rope& r) const {
  // Each block re-mixes in the normalised embedding x0 per channel before its residual updates.
  const at::Tensor mix = like(b.resid_mix, x_in);
  at::Tensor x = mix[0] * x_in + mix[1] * x0;
  x = x + like(b.attn_scale, x) * attention(b, compat::rms_norm(x), r);
  x = x + like(b.mlp_scale, x) * mlp(b, compat::rms_norm(x));
  return x;
}

at::Tensor GptModel::hidden(const at::Tensor& ids) {
  TORCH_CHECK(ids.dim() == 2 && ids.scalar_type() == at::kLong, "gpt: inputs must be int64 [B, T], got ",
              ids.scalar_type(), " ", ids.sizes());
  const Rope& r = rope(ids.size(1));
  at::Tensor x = compat::rms_norm(at::embedding(tok_emb_, ids));  // [B, T, D]
  const at::Tensor x0 = x;

  // U-Net: encoder outputs are stacked and fed back LIFO, so the last encoder pairs with the first decoder.
  std::vector<at::Tensor> skips;
  const int64_t encoders = shape_.encoder_layers();
  for (int64_t i = 0; i < encoders; ++i) {
    x = block(blocks_[i], x, x0, r);
    skips.push_back(x);
  }
  for (int64_t i = 0; i < shape_.decoder_layers(); ++i) {
    if (!skips.empty()) {
      x = x + like(skip_weights_[i], x) * skips.back();
      skips.pop_back();
    }
    x = block(blocks_[encoders + i], x, x0, r);
  }
  return compat::rms_norm(x);
}

at::Tensor GptModel::logits(const at::Tensor& ids) {
  const at::Tensor x = hidden(ids);
  at::Tensor logits = shape_.tie_embeddings ? linear(x, tok_emb_, tok_emb_index_) : linear(x, lm_head_, lm_head_index_);
  return (shape_.logit_softcap * at::tanh(logits / shape_.logit_softcap)).to(at::kFloat);  // [B, T, V]
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
