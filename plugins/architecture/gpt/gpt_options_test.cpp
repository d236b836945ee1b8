// gpt_options_test.cpp: tests of the gpt architecture's frontier options (reference §5.12-5.23), each against its math.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>
#include <utility>
#include <map>
#include <string>
#include <vector>

#include "golf/golf.h"
#include "gpt_test_util.h"
#include "plugin_fixture.h"

namespace {

using golf::Architecture;
using golf::Param;
using golf::ParamRole;
using golf::testing::Instance;
using golf::testing::make_plugin;
using golf::testing::gpt::built;
using golf::testing::gpt::by_name;
using golf::testing::gpt::random_ids;
using golf::testing::gpt::randomize;

// Recorded from the pre-options code (see DefaultOutputIsPinnedToThePreOptionsCode).
const double kPinnedBaseline[4] = {6.943565369, 6.988108635, 7.009562016, 7.069833755};
const double kPinnedSmall[4] = {-0.237092331, 1.060767412, 0.737088621, 0.869560242};

const std::string kSmall =
    "vocab_size = 64\nnum_layers = 4\nmodel_dim = 32\nnum_heads = 4\nnum_kv_heads = 2\n";

int64_t index_of(Architecture& gpt, const std::string& name) {
  const std::vector<Param> params = gpt.parameters();
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].name == name) return int64_t(i);
  ADD_FAILURE() << "no parameter " << name;
  return -1;
}

// Records every reported matmul: which parameter, and a copy of its input.
class Recorder final : public golf::LinearHook {
 public:
  at::Tensor on_linear(int64_t param, const at::Tensor& x) override {
    calls.push_back({param, x.detach().clone()});
    return {};
  }
  // The input of the n-th use of parameter `param`.
  at::Tensor input(int64_t param, size_t n = 0) const {
    for (const auto& [p, x] : calls)
      if (p == param && n-- == 0) return x;
    ADD_FAILURE() << "parameter " << param << " was not used";
    return {};
  }
  std::vector<std::pair<int64_t, at::Tensor>> calls;
};

// The physical layers a forward visits, in order, read from the c_q uses the hook sees.
std::vector<int64_t> visited_layers(Architecture& gpt, int64_t L, const at::Tensor& ids) {
  std::map<int64_t, int64_t> layer_of;
  for (int64_t i = 0; i < L; ++i) layer_of[index_of(gpt, "blocks." + std::to_string(i) + ".attn.c_q.weight")] = i;
  Recorder rec;
  gpt.set_linear_hook(&rec);
  {
    at::NoGradGuard no_grad;
    gpt.forward(ids, ids);
  }
  gpt.set_linear_hook(nullptr);
  std::vector<int64_t> out;
  for (const auto& call : rec.calls)
    if (layer_of.count(call.first)) out.push_back(layer_of[call.first]);
  return out;
}

// -------------------------------------------------------------------------------------------------
// An independent float64 forward with the options, written plainly (a loop over heads, explicit layer
// lists), from the reference's formulas; it shares no code with the plugin.
struct Opt {
  int64_t V = 64, L = 4, D = 32, H = 4, Hkv = 2;
  double mlp_mult = 2, softcap = 30, slope = 0.5, gate_scale = 1.0;
  std::string activation = "relu2", smear = "off", parallel = "none", attn_gate = "none";
  bool qk_norm = true, ln_scale = false, skip_gates = false, value_residual = false, bos_fix = true;
  int64_t rope_dims = 0, xsa = 0, bigram = 0, bigram_dim = 32, loops = 0, loop_start = 0, loop_end = 0;
  int64_t parallel_start = 0, ve_dim = 8, window = 12, bos = 1;
  std::vector<int64_t> ve_layers;

  std::string toml() const {
    std::string ve;
    for (size_t i = 0; i < ve_layers.size(); ++i) ve += (i ? "," : "") + std::to_string(ve_layers[i]);
    return "vocab_size = " + std::to_string(V) + "\nnum_layers = " + std::to_string(L) + "\nmodel_dim = " +
           std::to_string(D) + "\nnum_heads = " + std::to_string(H) + "\nnum_kv_heads = " + std::to_string(Hkv) +
           "\nmlp_mult = " + std::to_string(mlp_mult) + "\nlogit_softcap = " + std::to_string(softcap) +
           "\nleaky_slope = " + std::to_string(slope) + "\nattn_gate_scale = " + std::to_string(gate_scale) +
           "\nactivation = \"" + activation + "\"\nsmear_gate = \"" + smear + "\"\nparallel_residual = \"" +
           parallel + "\"\nattn_gate = \"" + attn_gate + "\"\nqk_norm = " + (qk_norm ? "true" : "false") +
           "\nln_scale = " + (ln_scale ? "true" : "false") + "\nskip_gates = " + (skip_gates ? "true" : "false") +
           "\nvalue_residual = " + (value_residual ? "true" : "false") +
           "\nsmear_bos_fix = " + (bos_fix ? "true" : "false") + "\nrope_dims = " + std::to_string(rope_dims) +
           "\nxsa_last_n = " + std::to_string(xsa) + "\nbigram_vocab = " + std::to_string(bigram) +
           "\nbigram_dim = " + std::to_string(bigram_dim) + "\nnum_loops = " + std::to_string(loops) +
           "\nloop_start = " + std::to_string(loop_start) + "\nloop_end = " + std::to_string(loop_end) +
           "\nparallel_start = " + std::to_string(parallel_start) + "\nve_dim = " + std::to_string(ve_dim) +
           "\nve_layers = \"" + ve + "\"\ngate_window = " + std::to_string(window) + "\nbos_id = " +
           std::to_string(bos) + "\n";
  }
};

// The bucket of the bigram ending at position t, one token pair at a time, in wrapping int32.
int64_t bigram_bucket(int64_t cur, int64_t prev, int64_t buckets) {
  const int32_t a = static_cast<int32_t>(static_cast<uint32_t>(36313u * uint32_t(cur)));
  const int32_t b = static_cast<int32_t>(static_cast<uint32_t>(27191u * uint32_t(prev)));
  const int64_t m = buckets - 1, r = int64_t(a ^ b) % m;
  return r < 0 ? r + m : r;
}

at::Tensor reference_nll(const std::map<std::string, at::Tensor>& w, const Opt& c, const at::Tensor& ids,
                         const at::Tensor& targets) {
  const int64_t B = ids.size(0), T = ids.size(1), D = c.D, H = c.H, Dh = c.D / c.H, group = c.H / c.Hkv;
  const int64_t R = c.rope_dims ? c.rope_dims : Dh;
  auto W = [&](const std::string& name) { return w.at(name).detach().to(at::kDouble); };
  auto has = [&](const std::string& name) { return w.count(name) > 0; };
  const double eps = std::numeric_limits<float>::epsilon();
  auto rms = [&](const at::Tensor& t) { return t / at::sqrt(t.pow(2).mean({-1}, true) + eps); };
  auto lin = [](const at::Tensor& t, const at::Tensor& weight) { return at::matmul(t, weight.t()); };
  auto sig = [](const at::Tensor& t) { return 1.0 / (1.0 + at::exp(-t)); };

  // Rotary: pair i of the first R dims (dims i and i + R/2) turns by p * base^(-2i/R); the rest pass.
  const at::Tensor pos = at::arange(T, at::kDouble).unsqueeze(1);
  const at::Tensor pair = at::arange(R / 2, at::kDouble).unsqueeze(0);
  const at::Tensor theta = pos * at::pow(10000.0, -2.0 * pair / static_cast<double>(R));
  const at::Tensor cos = theta.cos(), sin = theta.sin();
  auto rotate = [&](const at::Tensor& t) {  // [B, T, Dh]
    const at::Tensor a = t.slice(-1, 0, R / 2), b = t.slice(-1, R / 2, R), rest = t.slice(-1, R, Dh);
    return at::cat({a * cos + b * sin, b * cos - a * sin, rest}, -1);
  };
  const at::Tensor future = at::ones({T, T}, at::kBool).triu(1);

  // Embedding, bigram, smear.
  const at::Tensor emb = W("tok_emb.weight");
  at::Tensor x = emb.index_select(0, ids.reshape(-1)).view({B, T, D});
  if (c.bigram > 0) {
    at::Tensor bucket = at::empty({B, T}, at::kLong);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        bucket[b][t] = t == 0 ? c.bigram - 1
                              : bigram_bucket(ids[b][t].item<int64_t>(), ids[b][t - 1].item<int64_t>(), c.bigram);
    at::Tensor h = W("bigram.embed.weight").index_select(0, bucket.reshape(-1)).view({B, T, -1});
    if (has("bigram.proj.weight")) h = lin(h, W("bigram.proj.weight"));
    x = x + W("bigram.scale") * h;
  }
  if (c.smear == "v2") {
    std::vector<at::Tensor> rows{x.select(1, 0)};
    for (int64_t t = 1; t < T; ++t) {
      at::Tensor g = W("smear_lambda") * sig(lin(x.select(1, t).slice(-1, 0, c.window), W("smear_gate.weight")));
      if (c.bos_fix) g = g * (ids.select(1, t) != c.bos).to(at::kDouble).unsqueeze(-1);
      rows.push_back(x.select(1, t) + g * x.select(1, t - 1));
    }
    x = at::stack(rows, 1);
  }
  x = rms(x);
  if (c.smear == "v1") {
    const at::Tensor g = sig(W("smear.gate"));
    const at::Tensor prev = at::cat({at::zeros({B, 1, D}, at::kDouble), x.slice(1, 0, T - 1)}, 1);
    x = (1 - g) * x + g * prev;
  }
  const at::Tensor x0 = x;
  at::Tensor ve;
  if (!c.ve_layers.empty()) {
    ve = W("ve_shared.embed.weight").index_select(0, ids.reshape(-1)).view({B, T, -1});
    if (has("ve_shared.proj.weight")) ve = lin(ve, W("ve_shared.proj.weight"));
    ve = ve * W("ve_shared.scale");
  }
  at::Tensor v0;

  auto norm = [&](const at::Tensor& t, int64_t layer) {
    return c.ln_scale ? rms(t) / std::sqrt(double(layer + 1)) : rms(t);
  };
  auto attn = [&](int64_t layer, const at::Tensor& h) {
    const std::string p = "blocks." + std::to_string(layer) + ".";
    const at::Tensor qfull = lin(h, W(p + "attn.c_q.weight"));
    const at::Tensor q = qfull.slice(-1, 0, D).reshape({B, T, H, Dh});
    const at::Tensor k = lin(h, W(p + "attn.c_k.weight")).view({B, T, c.Hkv, Dh});
    at::Tensor vflat = lin(h, W(p + "attn.c_v.weight"));
    for (size_t j = 0; j < c.ve_layers.size(); ++j)
      if (c.ve_layers[j] == layer) vflat = vflat + ve * W("ve_layer_scales." + std::to_string(j));
    at::Tensor v = vflat.view({B, T, c.Hkv, Dh});
    if (c.value_residual) {
      if (!v0.defined()) v0 = v;
      else if (has(p + "attn.vr_lambda")) v = W(p + "attn.vr_lambda")[0] * v0 + W(p + "attn.vr_lambda")[1] * v;
    }
    const at::Tensor gain = W(p + "attn.q_gain");
    std::vector<at::Tensor> heads;
    for (int64_t head = 0; head < H; ++head) {
      const int64_t kv = head / group;
      at::Tensor qh = q.select(2, head), kh = k.select(2, kv);
      if (c.qk_norm) qh = rms(qh), kh = rms(kh);
      qh = rotate(qh) * gain[head];
      kh = rotate(kh);
      at::Tensor scores = at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(double(Dh));
      scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
      at::Tensor y = at::matmul(at::softmax(scores, -1), v.select(2, kv));  // [B, T, Dh]
      if (layer >= c.L - c.xsa) {
        const at::Tensor vs = v.select(2, kv), vn = vs / vs.norm(2, {-1}, true);
        y = y - (y * vn).sum(-1, true) * vn;
      }
      if (c.attn_gate == "dense") y = y * sig(lin(h, W(p + "attn.attn_gate_w"))).select(-1, head).unsqueeze(-1);
      if (c.attn_gate == "output")
        y = y * 2.0 * sig(lin(h.slice(-1, 0, c.window), W(p + "attn.attn_gate_proj.weight"))).select(-1, head).unsqueeze(-1);
      if (c.attn_gate == "sparse")
        y = y * sig(c.gate_scale * lin(h.slice(-1, 0, c.window), W(p + "attn.attn_gate_w"))).select(-1, head).unsqueeze(-1);
      if (c.attn_gate == "headwise") y = y * sig(qfull.select(-1, D + head)).unsqueeze(-1);
      heads.push_back(y);
    }
    return lin(at::cat(heads, -1), W(p + "attn.proj.weight"));
  };
  auto mlp = [&](int64_t layer, const at::Tensor& h) {
    const std::string p = "blocks." + std::to_string(layer) + ".";
    const at::Tensor u = lin(h, W(p + "mlp.fc.weight"));
    at::Tensor a;
    if (c.activation == "relu2") a = at::relu(u) * at::relu(u);
    if (c.activation == "leaky_relu2") a = at::where(u > 0, u, c.slope * u).pow(2);
    if (c.activation == "gelu") a = 0.5 * u * (1 + at::erf(u / std::sqrt(2.0)));
    return lin(a, W(p + "mlp.proj.weight"));
  };
  auto block = [&](int64_t layer, at::Tensor x_in) {
    const std::string p = "blocks." + std::to_string(layer) + ".";
    const at::Tensor mix = W(p + "resid_mix");
    at::Tensor h = mix[0] * x_in + mix[1] * x0;
    if (c.parallel == "gptj" && layer >= c.parallel_start)
      return h + W(p + "attn_scale") * attn(layer, norm(h, layer)) + W(p + "mlp_scale") * mlp(layer, norm(h, layer));
    h = h + W(p + "attn_scale") * attn(layer, norm(h, layer));
    return h + W(p + "mlp_scale") * mlp(layer, norm(h, layer));
  };
  auto lanes = [&](int64_t layer, at::Tensor l0, at::Tensor l1) {
    const std::string p = "blocks." + std::to_string(layer) + ".";
    const at::Tensor mix = W(p + "resid_mix"), post = W("parallel_post_lambdas")[layer],
                     resid = W("parallel_resid_lambdas")[layer];
    const at::Tensor a = W(p + "attn_scale") * attn(layer, norm(mix[0] * l0 + mix[1] * x0, layer));
    if (c.parallel == "two_lane_seq") {
      l0 = resid[0] * l0 + post[0][0] * a;
      l1 = resid[0] * l1 + post[0][1] * a;
      const at::Tensor m = W(p + "mlp_scale") * mlp(layer, norm(mix[0] * l1 + mix[1] * x0, layer));
      return std::make_pair(resid[1] * l0 + post[1][0] * m, resid[1] * l1 + post[1][1] * m);
    }
    const at::Tensor m = W(p + "mlp_scale") * mlp(layer, norm(l1, layer));
    return std::make_pair(resid[0] * l0 + post[0][0] * a + post[1][0] * m, resid[1] * l1 + post[0][1] * a + post[1][1] * m);
  };
  auto skip = [&](int64_t i, const at::Tensor& to, const at::Tensor& pushed) {
    const at::Tensor s = W("skip_weights")[i] * pushed;
    if (!c.skip_gates) return to + s;
    const at::Tensor g = sig(W("skip_gates")[i]);
    return s + g * (to - s);
  };

  // The virtual layer list, all loops on; encoder = first half.
  std::vector<int64_t> all;
  for (int64_t i = 0; i < c.L; ++i) {
    all.push_back(i);
    if (c.loops > 0 && i == c.loop_end)
      for (int64_t pass = 0; pass < c.loops; ++pass)
        for (int64_t j = c.loop_start; j <= c.loop_end; ++j) all.push_back(j);
  }
  const size_t enc = all.size() / 2, skips_n = std::min(enc, all.size() - enc);
  const bool two = c.parallel == "two_lane_seq" || c.parallel == "two_lane";
  std::vector<std::pair<at::Tensor, at::Tensor>> stack;
  at::Tensor l0, l1;
  for (size_t v = 0; v < all.size(); ++v) {
    const int64_t i = all[v];
    const bool decoder = v >= enc;
    const bool in_lanes = two && i >= c.parallel_start && (decoder || c.parallel == "two_lane_seq");
    std::pair<at::Tensor, at::Tensor> pushed;
    const bool pop = decoder && v - enc < skips_n && !stack.empty();
    if (pop) pushed = stack.back(), stack.pop_back();
    if (in_lanes) {
      if (!l0.defined()) l0 = l1 = x;
      if (pop) {
        l0 = skip(int64_t(v - enc), l0, pushed.first);
        if (c.parallel == "two_lane_seq") l1 = skip(int64_t(v - enc), l1, pushed.second.defined() ? pushed.second : pushed.first);
      }
      std::tie(l0, l1) = lanes(i, l0, l1);
      if (!decoder) stack.emplace_back(l0, l1);
    } else {
      if (pop) x = skip(int64_t(v - enc), x, pushed.second.defined() ? pushed.second : pushed.first);
      x = block(i, x);
      if (!decoder) stack.emplace_back(x, at::Tensor());
    }
  }
  if (l0.defined()) x = 0.5 * (l0 + l1);
  at::Tensor logits = lin(rms(x), has("lm_head.weight") ? W("lm_head.weight") : emb);
  if (c.softcap > 0) logits = c.softcap * at::tanh(logits / c.softcap);
  return -at::log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
}

// -------------------------------------------------------------------------------------------------
// The default model, pinned: numbers recorded from the code before any option existed (commit 733208e).

TEST(GptOptionsTest, DefaultOutputIsPinnedToThePreOptionsCode) {
  {
    Instance<Architecture> gpt = built("");  // the 9-layer baseline at its real init, seed 1337
    const at::Tensor x = random_ids(1, 32, 1024, 3), y = random_ids(1, 32, 1024, 4);
    at::NoGradGuard no_grad;
    const at::Tensor nll = gpt->forward(x, y);
    const double got[] = {nll.mean().item<double>(), nll[0][0].item<double>(), nll[0][17].item<double>(),
                          nll[0][31].item<double>()};
    std::printf("pinned baseline: %.9f %.9f %.9f %.9f\n", got[0], got[1], got[2], got[3]);
    const double want[] = {kPinnedBaseline[0], kPinnedBaseline[1], kPinnedBaseline[2], kPinnedBaseline[3]};
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  }
  {
    Instance<Architecture> gpt = built(kSmall + "tie_embeddings = false\nmlp_mult = 3\n");
    randomize(*gpt, 11);  // every path carries signal
    const at::Tensor x = random_ids(2, 12, 64, 5);
    at::NoGradGuard no_grad;
    const at::Tensor logits = gpt->logits(x);
    const double got[] = {logits[0][0][0].item<double>(), logits[0][5][17].item<double>(),
                          logits[1][11][63].item<double>(), logits.abs().mean().item<double>()};
    std::printf("pinned small: %.9f %.9f %.9f %.9f\n", got[0], got[1], got[2], got[3]);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], kPinnedSmall[i], 1e-6) << i;
  }
}

// Each option alone (and a few together) against the independent float64 forward, weights random.
TEST(GptOptionsTest, EachOptionMatchesTheIndependentReference) {
  std::vector<std::pair<std::string, Opt>> cases;
  auto with = [&](const std::string& name, auto set) {
    Opt o;
    set(o);
    cases.emplace_back(name, o);
  };
  with("baseline", [](Opt&) {});
  with("mlp_mult 2.5, leaky_relu2 0.3", [](Opt& o) { o.mlp_mult = 2.5, o.activation = "leaky_relu2", o.slope = 0.3; });
  with("gelu, no qk_norm, no softcap", [](Opt& o) { o.activation = "gelu", o.qk_norm = false, o.softcap = 0; });
  with("partial rope 4", [](Opt& o) { o.rope_dims = 4; });
  with("ln_scale", [](Opt& o) { o.ln_scale = true; });
  with("xsa last 2", [](Opt& o) { o.xsa = 2; });
  with("xsa all, one kv head", [](Opt& o) { o.xsa = 4, o.Hkv = 1; });
  with("smear v1", [](Opt& o) { o.smear = "v1"; });
  with("smear v2 with BOS fix", [](Opt& o) { o.smear = "v2", o.bos = 3; });
  with("smear v2 without BOS fix", [](Opt& o) { o.smear = "v2", o.bos = 3, o.bos_fix = false; });
  with("bigram, no projection", [](Opt& o) { o.bigram = 16; });
  with("bigram with projection", [](Opt& o) { o.bigram = 16, o.bigram_dim = 8; });
  with("value embeddings", [](Opt& o) { o.ve_layers = {2, 3}; });
  with("value residual", [](Opt& o) { o.value_residual = true; });
  with("skip gates", [](Opt& o) { o.skip_gates = true; });
  with("loops 1..2 x2", [](Opt& o) { o.L = 5, o.loops = 2, o.loop_start = 1, o.loop_end = 2; });
  with("loops from 0, value residual", [](Opt& o) { o.loops = 1, o.loop_end = 1, o.value_residual = true; });
  with("gptj from 1", [](Opt& o) { o.parallel = "gptj", o.parallel_start = 1; });
  with("two_lane_seq from 1", [](Opt& o) { o.parallel = "two_lane_seq", o.parallel_start = 1, o.skip_gates = true; });
  with("two_lane from 2", [](Opt& o) { o.parallel = "two_lane", o.parallel_start = 2, o.skip_gates = true; });
  with("dense gate", [](Opt& o) { o.attn_gate = "dense"; });
  with("output gate", [](Opt& o) { o.attn_gate = "output"; });
  with("sparse gate 0.5", [](Opt& o) { o.attn_gate = "sparse", o.gate_scale = 0.5; });
  with("headwise gate with xsa", [](Opt& o) { o.attn_gate = "headwise", o.xsa = 4; });
  with("PR #1493 shape", [](Opt& o) {
    o.L = 7, o.rope_dims = 4, o.ln_scale = true, o.xsa = 7, o.skip_gates = true, o.loops = 2, o.loop_start = 2,
    o.loop_end = 3, o.parallel = "gptj", o.parallel_start = 5, o.activation = "leaky_relu2", o.mlp_mult = 4;
  });
  for (const auto& [name, c] : cases) {
    SCOPED_TRACE(name);
    Instance<Architecture> gpt = built(c.toml());
    randomize(*gpt, 11);
    const auto w = by_name(*gpt);
    const at::Tensor x = random_ids(3, 10, c.V, 101), y = random_ids(3, 10, c.V, 102);
    at::NoGradGuard no_grad;
    const at::Tensor got = gpt->forward(x, y);
    const at::Tensor want = reference_nll(w, c, x, y);
    EXPECT_LT((got.to(at::kDouble) - want).abs().max().item<double>(), 2e-5);
    EXPECT_GT(want.std().item<double>(), 0.1);
  }
}

// §5.13: only the first rope_dims of each head rotate. One layer, one head: with the rows of c_q and c_k
// that feed the rotated dims zeroed, attention is position-free, so the last token's output does not
// change when the earlier tokens are permuted; with the pass-through rows zeroed instead, it does.
TEST(GptOptionsTest, PartialRopeLeavesTheDimsPastRopeDimsPositionFree) {
  Opt o;
  o.L = 1, o.H = 1, o.Hkv = 1, o.D = 8, o.rope_dims = 4, o.window = 4;
  const at::Tensor ids = at::tensor({3L, 9L, 14L, 27L, 5L}, at::kLong).view({1, 5});
  const at::Tensor permuted = at::tensor({14L, 3L, 27L, 9L, 5L}, at::kLong).view({1, 5});
  auto last_change = [&](int64_t zero_from, int64_t zero_rows) {
    Instance<Architecture> gpt = built(o.toml());
    randomize(*gpt, 3);
    at::NoGradGuard no_grad;
    auto w = by_name(*gpt);
    w.at("blocks.0.attn.c_q.weight").narrow(0, zero_from, zero_rows).zero_();
    w.at("blocks.0.attn.c_k.weight").narrow(0, zero_from, zero_rows).zero_();
    const at::Tensor a = gpt->logits(ids).select(1, 4), b = gpt->logits(permuted).select(1, 4);
    return (a - b).abs().max().item<double>();
  };
  EXPECT_LT(last_change(0, 4), 1e-5) << "dims 4..7 carry no position";
  EXPECT_GT(last_change(4, 4), 1e-3) << "dims 0..3 do";
}

// §5.12: after XSA each head's output (the input of attn.proj) is orthogonal to its token's own value.
TEST(GptOptionsTest, XsaOutputIsOrthogonalToTheTokensOwnValue) {
  Opt o;
  o.xsa = 1;  // the last layer only
  Instance<Architecture> gpt = built(o.toml());
  randomize(*gpt, 4);
  Recorder rec;
  gpt->set_linear_hook(&rec);
  at::NoGradGuard no_grad;
  gpt->forward(random_ids(2, 9, 64, 1), random_ids(2, 9, 64, 2));
  const int64_t Dh = 8, group = 2;
  for (int64_t layer : {2, 3}) {
    const std::string p = "blocks." + std::to_string(layer) + ".attn.";
    const at::Tensor h = rec.input(index_of(*gpt, p + "c_v.weight"));
    const at::Tensor v = at::linear(h, by_name(*gpt).at(p + "c_v.weight")).view({2, 9, 2, Dh});
    const at::Tensor y = rec.input(index_of(*gpt, p + "proj.weight")).view({2, 9, 4, Dh});
    // Position 0 attends only to itself, so its output is its own value: XSA leaves (rounding) zero.
    double worst = 0;
    for (int64_t head = 0; head < 4; ++head) {
      const at::Tensor vs = v.select(2, head / group).slice(1, 1), yh = y.select(2, head).slice(1, 1);
      const at::Tensor cosine = (yh * vs).sum(-1) / (yh.norm(2, {-1}) * vs.norm(2, {-1}));
      worst = std::max(worst, cosine.abs().max().item<double>());
    }
    const double first = y.select(1, 0).abs().max().item<double>();
    if (layer == 3) {
      EXPECT_LT(worst, 1e-5) << "XSA layer";
      EXPECT_LT(first, 1e-5) << "XSA layer, position 0";
    } else {
      EXPECT_GT(worst, 1e-2) << "a layer without XSA keeps its component";
      EXPECT_GT(first, 1e-2);
    }
  }
}

// §5.13: ln_scale multiplies block i's norm outputs by 1/sqrt(i + 1): the rms of c_q's and fc's inputs.
TEST(GptOptionsTest, LnScaleScalesNormOutputsByThePhysicalLayer) {
  Instance<Architecture> gpt = built(kSmall + "ln_scale = true\n");
  randomize(*gpt, 5);
  Recorder rec;
  gpt->set_linear_hook(&rec);
  at::NoGradGuard no_grad;
  gpt->forward(random_ids(2, 7, 64, 1), random_ids(2, 7, 64, 2));
  for (int64_t i = 0; i < 4; ++i) {
    for (const char* w : {".attn.c_q.weight", ".mlp.fc.weight"}) {
      const at::Tensor x = rec.input(index_of(*gpt, "blocks." + std::to_string(i) + w));
      const at::Tensor rms = x.pow(2).mean(-1).sqrt();
      EXPECT_LT((rms - 1.0 / std::sqrt(double(i + 1))).abs().max().item<double>(), 1e-4) << i << w;
    }
  }
}

// §5.15: the MLP's down projection sees leaky_relu(fc x, slope)².
TEST(GptOptionsTest, LeakyReluSquaredIsTheMlpActivation) {
  Instance<Architecture> gpt = built(kSmall + "activation = \"leaky_relu2\"\nleaky_slope = 0.25\n");
  randomize(*gpt, 6);
  Recorder rec;
  gpt->set_linear_hook(&rec);
  at::NoGradGuard no_grad;
  gpt->forward(random_ids(1, 5, 64, 1), random_ids(1, 5, 64, 2));
  const at::Tensor u = at::linear(rec.input(index_of(*gpt, "blocks.1.mlp.fc.weight")), by_name(*gpt).at("blocks.1.mlp.fc.weight"));
  const at::Tensor want = at::where(u > 0, u, 0.25 * u).pow(2);
  EXPECT_TRUE(at::allclose(rec.input(index_of(*gpt, "blocks.1.mlp.proj.weight")), want, 1e-5, 1e-6));
  EXPECT_GT((u < 0).sum().item<int64_t>(), 0);
}

// §5.17: the buckets, against hand-computed values, through a one-hot bigram table (bigram_dim = model_dim,
// tok_emb zero): layer 0's attention input is then sqrt(D)·e_bucket.
TEST(GptOptionsTest, BigramHashBucketsMatchHandComputedValues) {
  Instance<Architecture> gpt =
      built("vocab_size = 65536\nnum_layers = 2\nmodel_dim = 32\nnum_heads = 4\nnum_kv_heads = 2\nbigram_vocab = 32\nbigram_dim = 32\n");
  {
    at::NoGradGuard no_grad;
    auto w = by_name(*gpt);
    w.at("tok_emb.weight").zero_();
    w.at("bigram.embed.weight").copy_(at::eye(32));
  }
  // ((36313 cur) XOR (27191 prev)) mod 31 in int32 (60000 · 36313 wraps), position 0 -> 31.
  const at::Tensor ids = at::tensor({5L, 7L, 60000L, 59999L, 1L}, at::kLong).view({1, 5});
  const std::vector<int64_t> want = {31, 28, 30, 29, 13};
  Recorder rec;
  gpt->set_linear_hook(&rec);
  at::NoGradGuard no_grad;
  gpt->forward(ids, ids);
  const at::Tensor x = rec.input(index_of(*gpt, "blocks.0.attn.c_q.weight"))[0];  // [5, 32]
  for (int64_t t = 0; t < 5; ++t) {
    EXPECT_EQ(x[t].argmax().item<int64_t>(), want[size_t(t)]) << t;
    EXPECT_NEAR(x[t].max().item<double>(), std::sqrt(32.0), 1e-2) << t;
  }
}

// §5.16 v1: x_t = (1 - g) x_t + g x_{t-1} after rms_norm, g = sigmoid(0) = 0.5 at init.
TEST(GptOptionsTest, SmearGateV1HalvesIntoThePreviousTokenAtInit) {
  Instance<Architecture> gpt = built(kSmall + "smear_gate = \"v1\"\n");
  const at::Tensor ids = random_ids(1, 6, 64, 3);
  Recorder rec;
  gpt->set_linear_hook(&rec);
  at::NoGradGuard no_grad;
  gpt->forward(ids, ids);
  const at::Tensor e = by_name(*gpt).at("tok_emb.weight").index_select(0, ids[0]);
  const at::Tensor n = e / (e.pow(2).mean(-1, true) + std::numeric_limits<float>::epsilon()).sqrt();
  const at::Tensor want = 0.5 * n + 0.5 * at::cat({at::zeros({1, 32}), n.slice(0, 0, 5)}, 0);
  const at::Tensor h = rec.input(index_of(*gpt, "blocks.0.attn.c_q.weight"))[0];  // rms_norm(x0)
  const at::Tensor got_dir = h / h.norm(2, {-1}, true), want_dir = want / want.norm(2, {-1}, true);
  EXPECT_LT((got_dir - want_dir).abs().max().item<double>(), 1e-5);
}

// §5.16 v2: identity at init; with λ = 1, W = 0: x_t = e_t + 0.5 e_{t-1}, except where x_t is BOS.
TEST(GptOptionsTest, SmearGateV2FormulaAndBosMask) {
  for (bool fix : {true, false}) {
    SCOPED_TRACE(fix ? "bos fix" : "no bos fix");
    Instance<Architecture> gpt = built(kSmall + "smear_gate = \"v2\"\nbos_id = 1\nsmear_bos_fix = " + (fix ? "true" : "false"));
    const at::Tensor ids = at::tensor({9L, 4L, 1L, 6L, 1L, 2L}, at::kLong).view({1, 6});
    auto first_input = [&]() {
      Recorder rec;
      gpt->set_linear_hook(&rec);
      at::NoGradGuard no_grad;
      gpt->forward(ids, ids);
      gpt->set_linear_hook(nullptr);
      return rec.input(index_of(*gpt, "blocks.0.attn.c_q.weight"))[0];
    };
    const at::Tensor e = by_name(*gpt).at("tok_emb.weight").index_select(0, ids[0]);
    auto rms = [](const at::Tensor& t) { return t / (t.pow(2).mean(-1, true) + std::numeric_limits<float>::epsilon()).sqrt(); };
    EXPECT_LT((first_input() - rms(rms(e))).abs().max().item<double>(), 1e-5) << "identity at init";
    {
      at::NoGradGuard no_grad;
      by_name(*gpt).at("smear_lambda").fill_(1.0);
    }
    std::vector<at::Tensor> rows{e[0]};
    for (int64_t t = 1; t < 6; ++t) {
      const bool bos = ids[0][t].item<int64_t>() == 1;
      rows.push_back(fix && bos ? e[t] : e[t] + 0.5 * e[t - 1]);
    }
    EXPECT_LT((first_input() - rms(rms(at::stack(rows)))).abs().max().item<double>(), 1e-5);
  }
}

// §5.23: at init the output gate is the identity (2·sigmoid(0)) and the sparse gate halves (sigmoid(0)).
TEST(GptOptionsTest, AttentionGatesAtInit) {
  Instance<Architecture> plain = built(kSmall);
  randomize(*plain, 8);
  const auto base = by_name(*plain);
  const at::Tensor ids = random_ids(2, 7, 64, 1);
  auto proj_input = [&](Architecture& gpt) {
    Recorder rec;
    gpt.set_linear_hook(&rec);
    at::NoGradGuard no_grad;
    gpt.forward(ids, ids);
    gpt.set_linear_hook(nullptr);
    return rec.input(index_of(gpt, "blocks.0.attn.proj.weight"));
  };
  const at::Tensor want = proj_input(*plain);
  for (const char* kind : {"output", "sparse"}) {
    Instance<Architecture> gated = built(kSmall + "attn_gate = \"" + kind + "\"\n");
    {
      at::NoGradGuard no_grad;
      for (const auto& [name, t] : by_name(*gated))
        if (base.count(name)) t.copy_(base.at(name));  // the same weights; the gate keeps its init
    }
    const double factor = std::string(kind) == "output" ? 1.0 : 0.5;
    EXPECT_TRUE(at::allclose(proj_input(*gated), factor * want, 1e-5, 1e-6)) << kind;
  }
  // Dense: W ~ N(0, std²), so the gate is ≈ 0.5 with a small spread; headwise adds H rows to c_q.
  Instance<Architecture> dense = built(kSmall + "attn_gate = \"dense\"\nattn_gate_init_std = 0.005\n");
  EXPECT_NEAR(by_name(*dense).at("blocks.0.attn.attn_gate_w").std().item<double>(), 0.005, 0.001);
  Instance<Architecture> headwise = built(kSmall + "attn_gate = \"headwise\"\n");
  EXPECT_EQ(by_name(*headwise).at("blocks.0.attn.c_q.weight").sizes().vec(), (std::vector<int64_t>{36, 32}));
}

// §5.19: orthogonal init gives W Wᵀ = I (rows <= cols) or Wᵀ W = I for every non-zero Linear >= 64 x 64.
TEST(GptOptionsTest, OrthogonalInitIsOrthogonalAndSeeded) {
  const std::string toml = "vocab_size = 64\nnum_layers = 2\nmodel_dim = 64\nnum_heads = 2\nnum_kv_heads = 1\northo_init = true\n";
  Instance<Architecture> a = built(toml), b = built(toml);
  for (const Param& p : a->parameters()) {
    if (p.role != ParamRole::kMatrix || p.tensor.abs().max().item<float>() == 0) continue;
    if (p.tensor.size(0) < 64 || p.tensor.size(1) < 64) continue;  // c_k, c_v [32, 64]: the default init
    const at::Tensor w = p.tensor.detach();
    const at::Tensor gram = w.size(0) <= w.size(1) ? at::matmul(w, w.t()) : at::matmul(w.t(), w);
    EXPECT_LT((gram - at::eye(gram.size(0))).abs().max().item<double>(), 1e-4) << p.name;
  }
  const auto wa = by_name(*a), wb = by_name(*b);
  for (const auto& [name, t] : wa) EXPECT_TRUE(at::equal(t, wb.at(name))) << name;
}

// §5.21 / §5.32: the PR #1493 layout, its skip count and the loop schedule.
TEST(GptOptionsTest, LoopLayoutOfPr1493AndTheSchedule) {
  const std::string toml = "vocab_size = 64\nnum_layers = 11\nmodel_dim = 32\nnum_heads = 4\nnum_kv_heads = 2\n"
                           "num_loops = 2\nloop_start = 3\nloop_end = 5\nloop_at = 0.35\nskip_gates = true\n";
  Instance<Architecture> gpt = make_plugin<Architecture>("gpt", toml);
  auto* run_log = dynamic_cast<golf::host::RunLog*>(&gpt.context().log());
  ASSERT_NE(run_log, nullptr);
  run_log->set_quiet(false);  // the fixture's log is quiet; its info lines go to stderr when not
  ::testing::internal::CaptureStderr();
  gpt->build();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("encoder [0,1,2,3,4,5,3,4] decoder [5,3,4,5,6,7,8,9,10]"), std::string::npos) << log;
  EXPECT_EQ(by_name(*gpt).at("skip_weights").size(0), 8);  // min(8, 9), allocated from the start
  const at::Tensor ids = random_ids(1, 4, 64, 1);
  const std::vector<int64_t> looped = {0, 1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(visited_layers(*gpt, 11, ids), looped) << "evaluation: every loop";
  gpt->set_training(true);
  gpt.run().progress_ = 0.34;
  EXPECT_EQ(visited_layers(*gpt, 11, ids), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  gpt.run().progress_ = 0.35;
  EXPECT_EQ(visited_layers(*gpt, 11, ids), looped);
  gpt->set_training(false);  // a validation during training scores the model as it trains
  gpt.run().progress_ = 0.34;
  EXPECT_EQ(visited_layers(*gpt, 11, ids), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));

  // Progressive (#1412): the second loop from loop_at + loop_step.
  Instance<Architecture> prog = built(toml + "loop_step = 0.15\n");
  prog->set_training(true);
  prog.run().progress_ = 0.4;
  EXPECT_EQ(visited_layers(*prog, 11, ids), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10}));
  prog.run().progress_ = 0.5;
  EXPECT_EQ(visited_layers(*prog, 11, ids), looped);
}

// §5.32: the PR #1493 model has 35,944,536 parameters; sized on the meta device.
TEST(GptOptionsTest, Pr1493ConfigurationHasTheRecordParameterCount) {
  Instance<Architecture> gpt = make_plugin<Architecture>(
      "gpt", "vocab_size = 8192\nnum_layers = 11\nmodel_dim = 512\nnum_heads = 8\nnum_kv_heads = 4\nmlp_mult = 4\n"
             "tie_embeddings = true\nrope_dims = 16\nln_scale = true\nqk_gain_init = 5.25\nxsa_last_n = 11\n"
             "skip_gates = true\nnum_loops = 2\nloop_start = 3\nloop_end = 5\nloop_at = 0.35\n"
             "parallel_residual = \"gptj\"\nparallel_start = 7\nactivation = \"leaky_relu2\"\n");
  gpt.run().device_ = at::kMeta;
  gpt->build();
  int64_t total = 0;
  std::map<ParamRole, int64_t> by_role;
  for (const Param& p : gpt->parameters()) {
    EXPECT_TRUE(p.tensor.is_meta()) << p.name;
    total += p.tensor.numel();
    by_role[p.role] += p.tensor.numel();
  }
  EXPECT_EQ(total, 35'944'536);
  EXPECT_EQ(total, 11 * 2'885'640 + 8192 * 512 + 8 * 512 + 8 * 512);
  EXPECT_EQ(by_role[ParamRole::kTiedEmbedding], 8192 * 512);
}

// Every option at once (three compositions, small dims): forward and backward on the CPU, every
// gradient finite and reaching every parameter.
TEST(GptOptionsTest, AllOptionsTogetherTrainEveryParameter) {
  const std::string common =
      "vocab_size = 64\nnum_layers = 5\nmodel_dim = 64\nnum_heads = 4\nnum_kv_heads = 2\nmlp_mult = 2.5\n"
      "tie_embeddings = false\nrope_dims = 8\nln_scale = true\nxsa_last_n = 5\nbigram_vocab = 32\nbigram_dim = 16\n"
      "ve_layers = \"3,4\"\nve_dim = 8\nvalue_residual = true\northo_init = true\nskip_gates = true\n"
      "num_loops = 1\nloop_start = 1\nloop_end = 2\nqk_gain_init = 5.25\n";
  const std::vector<std::string> variants = {
      "logit_softcap = 20\nactivation = \"leaky_relu2\"\nsmear_gate = \"v2\"\nparallel_residual = \"two_lane\"\nparallel_start = 3\nattn_gate = \"sparse\"\n",
      "activation = \"gelu\"\nsmear_gate = \"v1\"\nparallel_residual = \"two_lane_seq\"\nparallel_start = 3\nattn_gate = \"dense\"\n",
      "smear_gate = \"v2\"\nparallel_residual = \"gptj\"\nparallel_start = 2\nattn_gate = \"headwise\"\nqk_norm = false\n",
      "parallel_residual = \"gptj\"\nattn_gate = \"output\"\nlogit_softcap = 0\n",
  };
  for (const std::string& v : variants) {
    SCOPED_TRACE(v);
    Instance<Architecture> gpt = built(common + v);
    randomize(*gpt, 5);
    gpt->set_training(true);
    gpt.run().progress_ = 0.9;
    const at::Tensor nll = gpt->forward(random_ids(2, 10, 64, 8), random_ids(2, 10, 64, 9));
    EXPECT_TRUE(at::isfinite(nll).all().item<bool>());
    nll.mean().backward();
    for (const Param& p : gpt->parameters()) {
      ASSERT_TRUE(p.tensor.grad().defined()) << p.name;
      EXPECT_TRUE(at::isfinite(p.tensor.grad()).all().item<bool>()) << p.name;
      EXPECT_GT(p.tensor.grad().abs().max().item<double>(), 0.0) << p.name;
    }
  }
}

// Every 2-D parameter used as a matmul weight is reported to the hook under its parameters() index.
TEST(GptOptionsTest, HookSeesEveryMatmulWeightWithItsIndex) {
  Instance<Architecture> gpt = built(kSmall + "bigram_vocab = 16\nbigram_dim = 8\nve_layers = \"1\"\nsmear_gate = \"v2\"\n"
                                     "attn_gate = \"output\"\ntie_embeddings = false\n");
  Recorder rec;
  gpt->set_linear_hook(&rec);
  at::NoGradGuard no_grad;
  gpt->forward(random_ids(1, 5, 64, 1), random_ids(1, 5, 64, 2));
  const std::vector<Param> params = gpt->parameters();
  std::map<int64_t, int> seen;
  for (const auto& call : rec.calls) {
    ASSERT_LT(call.first, int64_t(params.size()));
    EXPECT_EQ(call.second.size(-1), params[size_t(call.first)].tensor.size(1)) << params[size_t(call.first)].name;
    ++seen[call.first];
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const bool matmul = params[i].tensor.dim() == 2 && params[i].role != ParamRole::kScalar &&
                        params[i].role != ParamRole::kEmbedding;
    EXPECT_EQ(seen.count(int64_t(i)) > 0, matmul) << params[i].name;
  }
}

TEST(GptOptionsTest, RejectsBadOptionsNamingTheKey) {
  auto rejected = [](const std::string& toml, const std::string& key) {
    SCOPED_TRACE(toml);
    golf::testing::expect_rejected<Architecture>("gpt", toml, key);
  };
  rejected("num_layers = 6\nnum_loops = 1\nloop_start = 2\nloop_end = 6", "loop_end");
  rejected("num_layers = 6\nnum_loops = 1\nloop_start = 4\nloop_end = 3", "loop_start");
  rejected("rope_dims = 7", "rope_dims");
  rejected("rope_dims = 66", "rope_dims");
  rejected("rope_dims = 2", "rope_dims");
  rejected("xsa_last_n = 10", "xsa_last_n");
  rejected("ve_layers = \"3,9\"", "ve_layers");
  rejected("ve_layers = \"3,x\"", "ve_layers");
  rejected("ve_layers = \"3,3\"", "ve_layers");
  rejected("activation = \"swish\"", "activation");
  rejected("smear_gate = \"v3\"", "smear_gate");
  rejected("parallel_residual = \"lanes\"", "parallel_residual");
  rejected("attn_gate = \"elementwise\"", "attn_gate");
  rejected("parallel_residual = \"gptj\"\nparallel_start = 9", "parallel_start");
  rejected("num_layers = 11\nnum_loops = 2\nloop_start = 3\nloop_end = 5\nparallel_residual = \"two_lane_seq\"\nparallel_start = 4",
           "parallel_start");
  rejected("gate_window = 600", "gate_window");
  rejected("bigram_vocab = 1", "bigram_vocab");
  rejected("mlp_mult = 0", "mlp_mult");
  rejected("logit_softcap = -1", "logit_softcap");
  rejected("loop_at = 1.5", "loop_at");
  rejected("bos_id = 5000", "bos_id");
}

}  // namespace
