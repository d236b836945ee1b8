// plugins/quantizer/int8/int8.cpp: the baseline's int8 quantizer (reference §4.8): per-row int8 + fp16 scales.
//
// Schemes, chosen per tensor as quantize_state_dict_int8 does:
//   "passthrough" {data}: non-float tensors as-is; float tensors with numel <= passthrough_max_numel,
//                 fp32 for control tensors (role kScalar), fp16 for other fp32/bf16 ones;
//   "int8_row"    {q int8 [rows, cols], scale fp16 [rows]}: larger 2-D float tensors;
//   "int8_tensor" {q int8 (original shape), scale fp32 []}: larger float tensors of any other rank.
#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "golf/plugin.h"
#include "golf/quantizer.h"

namespace {

using golf::QuantizedTensor;

constexpr double kQmax = 127.0;

[[noreturn]] void corrupted(const QuantizedTensor& q, const std::string& why) {
  throw std::runtime_error("int8 quantizer: tensor '" + q.name + "' (scheme '" + q.scheme + "'): " + why);
}

at::Tensor to_cpu(const at::Tensor& t) { return t.detach().to(at::kCPU).contiguous(); }

// Per row: clip = quantile(|w|, q); scale = max(clip/127, 1/127); q = round(clamp(w, ±clip)/scale).
// The division uses the fp32 scale and the stored scale is its fp16 rounding, as in the reference.
void quantize_rows(const at::Tensor& w, double clip_q, QuantizedTensor& out) {
  at::Tensor t32 = w.detach().to(at::kFloat);
  at::Tensor clip = at::quantile(t32.abs(), clip_q, /*dim=*/1, /*keepdim=*/true);
  at::Tensor clipped = at::maximum(at::minimum(t32, clip), -clip);
  at::Tensor scale = (clip / kQmax).clamp_min(1.0 / kQmax);
  at::Tensor q = at::clamp(at::round(clipped / scale), -kQmax, kQmax).to(at::kChar);
  out.scheme = "int8_row";
  out.parts = {{"q", to_cpu(q)}, {"scale", to_cpu(scale.squeeze(1).to(at::kHalf))}};
}

// One scale for the whole tensor. The reference uses clip/127 here without the 1/127 floor, and 1.0
// when the clip is 0 (the code of §4.8, which the prose summary glosses as "the same way").
void quantize_tensor(const at::Tensor& w, double clip_q, QuantizedTensor& out) {
  at::Tensor t32 = w.detach().to(at::kFloat);
  const double clip = at::quantile(t32.abs().flatten(), clip_q).item<double>();
  const double scale = clip > 0 ? clip / kQmax : 1.0;
  at::Tensor scale_t = at::scalar_tensor(scale, t32.options());  // fp32, as stored
  at::Tensor q = at::clamp(at::round(at::clamp(t32, -clip, clip) / scale_t), -kQmax, kQmax).to(at::kChar);
  out.scheme = "int8_tensor";
  out.parts = {{"q", to_cpu(q)}, {"scale", to_cpu(scale_t)}};
}

void pass_through(const at::Tensor& w, bool keep_fp32, QuantizedTensor& out) {
  at::Tensor data = w;
  if (w.is_floating_point()) {
    if (keep_fp32) {
      data = w.to(at::kFloat);
    } else if (w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16) {
      data = w.to(at::kHalf);
    }
  }
  out.scheme = "passthrough";
  out.parts = {{"data", to_cpu(data).clone()}};  // a copy even when nothing converted: never alias a param
}

// The part named `name` at position `index`, which must exist, be defined and have `dtype`.
const at::Tensor& part(const QuantizedTensor& q, size_t index, const char* name, at::ScalarType dtype) {
  if (q.parts.size() <= index || q.parts[index].first != name) corrupted(q, std::string("missing part '") + name + "'");
  const at::Tensor& t = q.parts[index].second;
  if (!t.defined()) corrupted(q, std::string("part '") + name + "' is empty");
  if (t.scalar_type() != dtype) corrupted(q, std::string("part '") + name + "' has dtype " + at::toString(t.scalar_type()));
  return t;
}

void expect_shape(const QuantizedTensor& q, const at::Tensor& t, at::IntArrayRef shape, const char* name) {
  if (t.sizes() != shape) corrupted(q, std::string("part '") + name + "' has the wrong shape");
}

void expect_part_count(const QuantizedTensor& q, size_t n) {
  if (q.parts.size() != n) corrupted(q, "expected " + std::to_string(n) + " parts, found " + std::to_string(q.parts.size()));
}

// Scales are positive and finite by construction; anything else is a damaged artifact.
void expect_valid_scales(const QuantizedTensor& q, const at::Tensor& scale) {
  at::Tensor s = scale.to(at::kFloat);
  if (s.numel() > 0 && !(at::isfinite(s).all().item<bool>() && (s > 0).all().item<bool>())) {
    corrupted(q, "scales must be finite and positive");
  }
}

at::Tensor dequantize_passthrough(const QuantizedTensor& q) {
  expect_part_count(q, 1);
  if (q.parts[0].first != "data" || !q.parts[0].second.defined()) corrupted(q, "missing part 'data'");
  const at::Tensor& data = q.parts[0].second;
  const bool float_ok = at::isFloatingType(q.dtype) && data.is_floating_point();
  if (!float_ok && data.scalar_type() != q.dtype) corrupted(q, "part 'data' has dtype " + std::string(at::toString(data.scalar_type())));
  expect_shape(q, data, q.shape, "data");
  return data.to(at::kCPU).to(q.dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

at::Tensor dequantize_rows(const QuantizedTensor& q) {
  expect_part_count(q, 2);
  if (q.shape.size() != 2) corrupted(q, "int8_row needs a 2-D shape");
  const at::Tensor& values = part(q, 0, "q", at::kChar);
  const at::Tensor& scale = part(q, 1, "scale", at::kHalf);
  expect_shape(q, values, q.shape, "q");
  expect_shape(q, scale, {q.shape[0]}, "scale");
  expect_valid_scales(q, scale);
  return (values.to(at::kCPU, at::kFloat) * scale.to(at::kCPU, at::kFloat).unsqueeze(1)).to(q.dtype).contiguous();
}

at::Tensor dequantize_tensor(const QuantizedTensor& q) {
  expect_part_count(q, 2);
  const at::Tensor& values = part(q, 0, "q", at::kChar);
  const at::Tensor& scale = part(q, 1, "scale", at::kFloat);
  expect_shape(q, values, q.shape, "q");
  if (scale.dim() != 0) corrupted(q, "part 'scale' must be a 0-D tensor");
  expect_valid_scales(q, scale);
  return (values.to(at::kCPU, at::kFloat) * scale.to(at::kCPU)).to(q.dtype).contiguous();
}

class Int8Quantizer final : public golf::Quantizer {
 public:
  explicit Int8Quantizer(golf::PluginContext& ctx) {
    const golf::Config& c = ctx.config();
    clip_quantile_ = c.get_float("clip_quantile");
    if (!(clip_quantile_ > 0 && clip_quantile_ <= 1)) c.fail("clip_quantile", "must be in (0, 1]");
    passthrough_max_numel_ = c.get_int("passthrough_max_numel");
    if (passthrough_max_numel_ < 0) c.fail("passthrough_max_numel", "must be >= 0");
  }

  std::string format() const override { return "int8_clean_per_row_v1"; }

  std::vector<QuantizedTensor> quantize(const std::vector<golf::Param>& params, const golf::Calibration&) override {
    at::NoGradGuard no_grad;
    std::vector<QuantizedTensor> out;
    out.reserve(params.size());
    for (const golf::Param& p : params) {
      out.push_back(quantize_one(p));
      QuantizedTensor& q = out.back();
      q.report.bits = q.scheme == "passthrough" ? int(q.parts[0].second.element_size() * 8) : 8;
      q.report.scales = q.scheme == "passthrough" ? "none" : "clip quantile " + std::to_string(clip_quantile_);
      if (p.tensor.is_floating_point()) {
        const at::Tensor w = p.tensor.detach().to(at::kCPU, at::kDouble);
        const double norm = w.norm().item<double>();
        q.report.rel_error = norm > 0 ? (dequantize(q).to(at::kDouble) - w).norm().item<double>() / norm : 0.0;
      }
    }
    return out;
  }

  at::Tensor fake_quantize(const golf::Param& param, const at::Tensor& weight) override {
    at::NoGradGuard no_grad;
    const golf::Param p{param.name, weight.detach(), param.role};
    return dequantize(quantize_one(p)).to(weight.device(), weight.scalar_type());
  }

  at::Tensor dequantize(const QuantizedTensor& q) override {
    for (int64_t d : q.shape) {
      if (d < 0) corrupted(q, "negative dimension in shape");
    }
    if (q.scheme == "passthrough") return dequantize_passthrough(q);
    if (!at::isFloatingType(q.dtype)) corrupted(q, "a quantized tensor must have a float dtype");
    if (q.scheme == "int8_row") return dequantize_rows(q);
    if (q.scheme == "int8_tensor") return dequantize_tensor(q);
    corrupted(q, "unknown scheme");
  }

 private:
  QuantizedTensor quantize_one(const golf::Param& p) const {
    const at::Tensor& w = p.tensor;
    QuantizedTensor q{p.name, "", w.sizes().vec(), w.scalar_type(), {}, {}};
    if (!w.is_floating_point() || w.numel() <= passthrough_max_numel_) {
      pass_through(w, p.role == golf::ParamRole::kScalar, q);
    } else if (w.dim() == 2) {
      quantize_rows(w, clip_quantile_, q);
    } else {
      quantize_tensor(w, clip_quantile_, q);
    }
    return q;
  }

  double clip_quantile_;
  int64_t passthrough_max_numel_;
};

const golf_config_key kInt8Config[] = {
    {"clip_quantile", GOLF_TYPE_FLOAT, "0.9999984", "quantile of |w| (per row) where values are clipped"},
    {"passthrough_max_numel", GOLF_TYPE_INT, "65536", "float tensors this small are stored unquantized (fp16/fp32)"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<Int8Quantizer>("int8", "2.0.0", "per-row int8 with fp16 scales (the baseline's format)",
                                         kInt8Config))
