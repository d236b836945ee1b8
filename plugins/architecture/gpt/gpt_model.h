// gpt_model.h: the Parameter Golf GPT (reference §4.1-4.2) and its frontier options (§5.12-5.23) in plain ATen tensors.
#ifndef GOLF_PLUGINS_ARCHITECTURE_GPT_GPT_MODEL_H_
#define GOLF_PLUGINS_ARCHITECTURE_GPT_GPT_MODEL_H_

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "golf/architecture.h"
#include "golf/stage.h"

namespace golf::gpt {

enum class Activation { kRelu2, kLeakyRelu2, kGelu };
enum class Smear { kOff, kV1, kV2 };
enum class Parallel { kNone, kGptj, kTwoLaneSeq, kTwoLane };
enum class AttnGate { kNone, kDense, kOutput, kSparse, kHeadwise };

// The model's hyperparameters, already validated (see gpt.cpp). Sizes below use these names:
//   B = batch, T = sequence length, V = vocab_size, D = model_dim, H = num_heads, Hkv = num_kv_heads,
//   Dh = head_dim = D / H, F = hidden = int(mlp_mult * D).
// The first eleven fields are the baseline's; every later one defaults to "off" (the baseline model).
struct GptShape {
  int64_t vocab_size;        // V, e.g. 1024
  int64_t num_layers;        // e.g. 9
  int64_t model_dim;         // D, e.g. 512
  int64_t num_heads;         // H, e.g. 8
  int64_t num_kv_heads;      // Hkv, e.g. 4; H % Hkv == 0
  double mlp_mult;           // e.g. 2; hidden = int(mlp_mult * D), truncated as Python's int() does
  bool tie_embeddings;       // output head = tok_emb^T
  double tied_embed_init_std;  // std of tok_emb at init when tied
  double rope_base;          // e.g. 10000
  double logit_softcap;      // e.g. 30; 0 = no softcap
  double qk_gain_init;       // e.g. 1.5
  bool rope_ntk = true;      // NTK-scale the RoPE base for sequences longer than train_seq_len
  int64_t train_seq_len = 0; // the host's [train] seq_len; 0: unknown (no NTK scaling)

  Activation activation = Activation::kRelu2;
  double leaky_slope = 0.5;
  bool qk_norm = true;
  int64_t rope_dims = 0;     // rotated dims per head; 0 = all of Dh
  bool ln_scale = false;     // norm outputs x 1/sqrt(physical layer + 1)
  int64_t xsa_last_n = 0;    // XSA on the last N physical layers
  Smear smear = Smear::kOff;
  bool smear_bos_fix = true; // v2: no smear into a BOS token
  int64_t bos_id = 1;
  int64_t gate_window = 12;  // leading dims of x feeding SmearGate v2 and the output/sparse attention gates
  int64_t bigram_vocab = 0;  // 0 = no BigramHash
  int64_t bigram_dim = 128;
  std::vector<int64_t> ve_layers;  // physical layers that add the value embedding
  int64_t ve_dim = 128;
  bool value_residual = false;
  bool ortho_init = false;
  bool skip_gates = false;
  int64_t num_loops = 0;     // extra passes over [loop_start, loop_end]; 0 = no looping
  int64_t loop_start = 0, loop_end = 0;
  Parallel parallel = Parallel::kNone;
  int64_t parallel_start = 0;  // first physical layer with parallel residuals
  AttnGate attn_gate = AttnGate::kNone;
  double attn_gate_scale = 1.0;     // sparse gate: sigmoid(scale * W x[:window])
  double attn_gate_init_std = 0.01; // dense gate: W ~ N(0, std^2)

  int64_t head_dim() const { return model_dim / num_heads; }
  int64_t kv_dim() const { return num_kv_heads * head_dim(); }
  int64_t hidden() const { return static_cast<int64_t>(mlp_mult * static_cast<double>(model_dim)); }
  int64_t rotary_dims() const { return rope_dims > 0 ? rope_dims : head_dim(); }
  // U-Net halves without looping: the first num_layers/2 blocks push skips, the rest pop them (LIFO).
  int64_t encoder_layers() const { return num_layers / 2; }
  int64_t decoder_layers() const { return num_layers - encoder_layers(); }
  // Skip tensors are sized for the full-loop layout from the start (reference §5.21).
  int64_t skip_count() const;
  bool uses_ve(int64_t layer) const { return std::find(ve_layers.begin(), ve_layers.end(), layer) != ve_layers.end(); }
};

// The virtual layer list with `loops` extra passes over [loop_start, loop_end] (reference §5.21, PR #1394):
// physical indices, encoder = the first half (rounded down), decoder = the rest.
struct Layout {
  std::vector<int64_t> encoder, decoder;
};
Layout layout(const GptShape& shape, int64_t loops);

// BigramHash bucket of every position (reference §5.17): position 0 -> V_b - 1, position t ->
// ((36313 cur) XOR (27191 prev)) mod (V_b - 1), in int32 arithmetic as the record. ids int64 [B, T].
at::Tensor bigram_hash(const at::Tensor& ids, int64_t bigram_vocab);

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

  // How many of the num_loops extra passes the next forward makes (0..num_loops; default all).
  void set_active_loops(int64_t loops) { active_loops_ = std::clamp<int64_t>(loops, 0, shape_.num_loops); }

 private:
  struct Block {
    at::Tensor c_q, c_k, c_v, attn_proj, q_gain;  // attention: [D(+H),D] [Dh*Hkv,D] [Dh*Hkv,D] [D,D] [H]
    at::Tensor fc, mlp_proj;                      // MLP: [F,D] [D,F]
    at::Tensor attn_scale, mlp_scale, resid_mix;  // control: [D] [D] [2,D]
    at::Tensor vr_lambda;                         // value residual [2], when on (not layer 0)
    at::Tensor attn_gate;                         // dense [H,D], output/sparse [H,window], when on
    at::Tensor ve_scale;                          // [1], when this layer adds the value embedding
  };
  struct Rope {
    at::Tensor cos, sin;  // [1, 1, T, rotary_dims/2] in the compute dtype
  };
  // What a pass through the stack carries besides x: x0, the value-residual source, the VE output.
  struct Stream {
    at::Tensor x0, v0, ve;
  };

  void init(uint64_t seed);
  void index_parameters();
  int64_t index_of(const at::Tensor& weight) const;
  // x · Wᵀ for a parameter W, plus the hook's addition when one is installed.
  at::Tensor linear(const at::Tensor& x, const at::Tensor& weight) const;
  at::Tensor embed(const at::Tensor& ids);   // x0: the normalised (bigram-added, smeared) embedding
  at::Tensor hidden(const at::Tensor& ids);  // the final norm's output [B, T, D]
  const Rope& rope(int64_t seq_len);
  at::Tensor norm(const at::Tensor& x, int64_t layer) const;  // rms_norm, times the LN scale when on
  at::Tensor block(int64_t layer, const at::Tensor& x, Stream& s, const Rope& rope) const;
  std::pair<at::Tensor, at::Tensor> lanes_block(int64_t layer, const at::Tensor& lane0, const at::Tensor& lane1,
                                                Stream& s, const Rope& rope) const;
  at::Tensor attention(int64_t layer, const at::Tensor& x, Stream& s, const Rope& rope) const;
  at::Tensor mlp(const Block& b, const at::Tensor& x) const;
  at::Tensor skip(int64_t i, const at::Tensor& x, const at::Tensor& pushed) const;

  GptShape shape_;
  at::Device device_;
  at::ScalarType compute_;
  int64_t active_loops_ = 0;

  at::Tensor tok_emb_;       // [V, D]; fp32, or the compute dtype when that is 16-bit
  std::vector<Block> blocks_;
  at::Tensor skip_weights_;  // [skip_count, D]
  at::Tensor skip_gates_;    // [skip_count, D], when on
  at::Tensor lane_post_, lane_resid_;  // two-lane parallel residuals: [L, 2, 2] and [L, 2]
  at::Tensor bigram_scale_, bigram_embed_, bigram_proj_;  // [] [V_b, d_b] [D, d_b] (no proj when d_b = D)
  at::Tensor smear_gate_, smear_lambda_;  // v1: gate [D]; v2: gate [1, window], lambda [1]
  at::Tensor ve_scale_, ve_embed_, ve_proj_;  // [] [V, ve_dim] [kv, ve_dim] (no proj when ve_dim = kv)
  at::Tensor lm_head_;       // [V, D], untied only
  std::map<int64_t, Rope> rope_cache_;  // keyed by T: tables are built once per sequence length
  LinearHook* hook_ = nullptr;
  std::unordered_map<const void*, int64_t> param_index_;  // TensorImpl -> parameters() index, for the hook
};

}  // namespace golf::gpt

#endif  // GOLF_PLUGINS_ARCHITECTURE_GPT_GPT_MODEL_H_
