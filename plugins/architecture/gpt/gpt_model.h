// gpt_model.h: the Parameter Golf baseline GPT (reference §4.1-4.2) in plain ATen tensors: weights, init, forward.
#ifndef GOLF_PLUGINS_ARCHITECTURE_GPT_GPT_MODEL_H_
#define GOLF_PLUGINS_ARCHITECTURE_GPT_GPT_MODEL_H_

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "golf/architecture.h"
#include "golf/stage.h"

namespace golf::gpt {

// The model's hyperparameters, already validated (see gpt.cpp). Sizes below use these names:
//   B = batch, T = sequence length, V = vocab_size, D = model_dim, H = num_heads, Hkv = num_kv_heads,
//   Dh = head_dim = D / H, F = hidden = mlp_mult * D.
struct GptShape {
  int64_t vocab_size;        // V, e.g. 1024
  int64_t num_layers;        // e.g. 9
  int64_t model_dim;         // D, e.g. 512
  int64_t num_heads;         // H, e.g. 8
  int64_t num_kv_heads;      // Hkv, e.g. 4; H % Hkv == 0
  int64_t mlp_mult;          // e.g. 2
  bool tie_embeddings;       // output head = tok_emb^T
  double tied_embed_init_std;  // std of tok_emb at init when tied
  double rope_base;          // e.g. 10000
  double logit_softcap;      // e.g. 30
  double qk_gain_init;       // e.g. 1.5
  bool rope_ntk = true;      // NTK-scale the RoPE base for sequences longer than train_seq_len
  int64_t train_seq_len = 0; // the host's [train] seq_len; 0: unknown (no NTK scaling)

  int64_t head_dim() const { return model_dim / num_heads; }
  int64_t kv_dim() const { return num_kv_heads * head_dim(); }
  int64_t hidden() const { return mlp_mult * model_dim; }
  // U-Net halves: the first num_layers/2 blocks push skips, the rest pop them (LIFO).
  int64_t encoder_layers() const { return num_layers / 2; }
  int64_t decoder_layers() const { return num_layers - encoder_layers(); }
  int64_t skip_count() const { return std::min(encoder_layers(), decoder_layers()); }
};

class GptModel {
 public:
  // Creates and initialises every parameter on `device` from `seed`. `compute` is the matmul dtype:
  // kFloat runs everything in fp32; a 16-bit type keeps linear and control weights fp32 (cast at use)
  // and stores tok_emb in that type, as the reference does.
  GptModel(const GptShape& shape, at::Device device, at::ScalarType compute, uint64_t seed);

  // Every parameter, in the reference's named_parameters() order, with the reference's names.
  std::vector<Param> parameters() const;

  // Per-token NLL, float32 [B, T], for ids and targets int64 [B, T].
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& targets);

  // Softcapped logits, float32 [B, T, V], for ids int64 [B, T].
  at::Tensor logits(const at::Tensor& ids);

  // Every matmul with a parameter as its weight reports to `hook` (not owned; may be null).
  void set_hook(LinearHook* hook) { hook_ = hook; }

 private:
  struct Block {
    at::Tensor c_q, c_k, c_v, attn_proj, q_gain;  // attention: [D,D] [Dh*Hkv,D] [Dh*Hkv,D] [D,D] [H]
    at::Tensor fc, mlp_proj;                      // MLP: [F,D] [D,F]
    at::Tensor attn_scale, mlp_scale, resid_mix;  // control: [D] [D] [2,D]
    int64_t first_matrix = 0;  // parameters() index of c_q; c_k, c_v, proj, fc, mlp proj follow it
  };
  struct Rope {
    at::Tensor cos, sin;  // [1, 1, T, Dh/2] in the compute dtype
  };

  void init(uint64_t seed);
  // x · Wᵀ for the parameter at index `param`, plus the hook's addition when one is installed.
  at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, int64_t param) const;
  at::Tensor hidden(const at::Tensor& ids);  // the final norm's output [B, T, D]
  const Rope& rope(int64_t seq_len);
  at::Tensor block(const Block& b, const at::Tensor& x, const at::Tensor& x0, const Rope& rope) const;
  at::Tensor attention(const Block& b, const at::Tensor& x, const Rope& rope) const;
  at::Tensor mlp(const Block& b, const at::Tensor& x) const;

  GptShape shape_;
  at::Device device_;
  at::ScalarType compute_;

  at::Tensor tok_emb_;       // [V, D]; fp32, or the compute dtype when that is 16-bit
  std::vector<Block> blocks_;
  at::Tensor skip_weights_;  // [skip_count, D]
  at::Tensor lm_head_;       // [V, D], untied only
  std::map<int64_t, Rope> rope_cache_;  // keyed by T: tables are built once per sequence length
  LinearHook* hook_ = nullptr;
  int64_t tok_emb_index_ = 0, lm_head_index_ = 0;  // parameters() indices
};

}  // namespace golf::gpt

#endif  // GOLF_PLUGINS_ARCHITECTURE_GPT_GPT_MODEL_H_
