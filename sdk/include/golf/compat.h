// golf/compat.h: the few ops whose LibTorch API differs between 1.13 (Debian) and 2.x, behind one name.
#ifndef GOLF_COMPAT_H_
#define GOLF_COMPAT_H_

#include <ATen/ATen.h>
#include <torch/version.h>

#include <limits>
#include <optional>
#include <tuple>

#define GOLF_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace golf::compat {

// RMSNorm over the last dimension without a weight, as F.rms_norm(x, (x.size(-1),)) with eps=None:
// 16-bit inputs are computed in float32 with eps = float32's machine epsilon and cast back; float32
// and float64 use their own epsilon. (16-bit sums and a bf16 epsilon of 2^-7 would shrink normalised
// activations by several percent.) REQUIRES: x is floating point with at least one dimension.
// Returns a new tensor of x's shape, dtype and device (differentiable); x is unchanged. Throws
// c10::Error (a std::exception) on other input. Thread-safe.
inline at::Tensor rms_norm(const at::Tensor& x) {
#if GOLF_TORCH_AT_LEAST(2, 4)
  return at::rms_norm(x, {x.size(-1)});
#else
  const bool half = x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
  const at::Tensor xf = half ? x.to(at::kFloat) : x;
  const double eps = xf.scalar_type() == at::kDouble ? std::numeric_limits<double>::epsilon()
                                                     : double(std::numeric_limits<float>::epsilon());
  const at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return half ? y.to(x.scalar_type()) : y;
#endif
}

// Causal attention with grouped KV heads: q [B, H, T, D], k and v [B, Hkv, T, D], H % Hkv == 0;
// query head h reads kv head h / (H / Hkv). Scale 1/sqrt(D). Returns a new [B, H, T, D] tensor
// (differentiable) in q's dtype, on q's device; position t attends to positions <= t only. REQUIRES:
// q, k and v share dtype and device, and B, T, D agree. Throws c10::Error (a std::exception) on
// mismatched shapes. Thread-safe.
inline at::Tensor causal_gqa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t group = q.size(1) / k.size(1);
#if GOLF_TORCH_AT_LEAST(2, 5)
  // enable_gqa reads the shared kv heads in place instead of materialising H / Hkv copies.
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true,
                                          /*scale=*/std::nullopt, /*enable_gqa=*/group > 1);
#else
  at::Tensor kk = group == 1 ? k : k.repeat_interleave(group, 1);
  at::Tensor vv = group == 1 ? v : v.repeat_interleave(group, 1);
#if GOLF_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, kk, vv, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true);
#else
  // 1.13 has SDPA's private forerunner: the same result, fewer full-size temporaries than spelling it out.
  return std::get<0>(at::_scaled_dot_product_attention(q, kk, vv, /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                                       /*need_attn_weights=*/false, /*is_causal=*/true));
#endif
#endif
}

}  // namespace golf::compat

#endif  // GOLF_COMPAT_H_
