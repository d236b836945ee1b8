// plugins/quantizer/grid/grid.cpp: scales, RTN, LQER, parts and their checks, and the base grid quantizer.
#include "grid.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace grid {
namespace {

using golf::Param;
using golf::ParamRole;
using golf::QuantizedTensor;

const std::vector<double> kPercentiles = {0.999, 0.9995, 0.9999, 0.99999, 1.0};  // §5.3's candidates
constexpr int64_t kLqerGroup = 64;                                               // §5.7: B's groups
constexpr int64_t kMaxCount = int64_t(1) << 40;  // bound on numbers parsed from a scheme

double range(int bits) { return double((1 << (bits - 1)) - 1); }

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The clip of each row of w: its max |w|, a quantile of |w|, or k·std (unbiased, as torch's default).
// A single column has no std and takes its max; so does a row too long for at::quantile (2^24).
at::Tensor clip_of(const at::Tensor& w, const Spec& spec, double p) {
  if (spec.scales == Scales::kSdClip && w.size(1) > 1) return w.std({1}, /*unbiased=*/true, /*keepdim=*/false) * spec.k;
  if (spec.scales == Scales::kPercentile && p < 1 && w.size(1) <= (int64_t(1) << 24)) return at::quantile(w.abs(), p, 1);
  return w.abs().amax(1);
}

// Step = clip / R with the reference's floors: rowmax 1e-12 (§5.2), percentile 1/R (§5.3's code),
// SDClip 1e-10 (§5.5).
at::Tensor step_of(const at::Tensor& clip, double R, Scales scales) {
  const double floor = scales == Scales::kPercentile ? 1 / R : scales == Scales::kRowMax ? 1e-12 : 1e-10;
  return fp16_scale((clip / R).clamp_min(floor));
}

// Per-column ranges of a layout: R, and the finer range in AWQ-lite columns.
std::vector<double> ranges_of(const Layout& l, const at::Tensor& hi_start, int64_t cols) {
  std::vector<double> r(size_t(cols), range(l.bits));
  if (l.hi_bits) {
    const at::Tensor starts = hi_start.to(at::kCPU, at::kLong);
    for (int64_t j = 0; j < starts.numel(); ++j) {
      const int64_t c0 = starts[j].item<int64_t>();
      std::fill(r.begin() + c0, r.begin() + std::min(cols, c0 + l.hi_width), range(l.hi_bits));
    }
  }
  return r;
}

// Per-element steps, fp32 [rows, cols], of e's stored scales.
at::Tensor expand_steps(const Encoded& e, int64_t cols) {
  const at::Tensor s = e.scale.to(at::kFloat);
  at::Tensor S = e.layout.group ? s.repeat_interleave(e.layout.group, 1).narrow(1, 0, cols).contiguous()
                                : s.expand({s.size(0), cols}).contiguous();
  if (e.layout.hi_bits) {
    const at::Tensor starts = e.hi_start.to(at::kCPU, at::kLong);
    for (int64_t j = 0; j < starts.numel(); ++j) {
      const int64_t c0 = starts[j].item<int64_t>(), n = std::min(e.layout.hi_width, cols - c0);
      S.narrow(1, c0, n).copy_(e.hi_scale.select(1, j).to(at::kFloat).unsqueeze(1).expand({S.size(0), n}));
    }
  }
  return S;
}

// The layout, scales and steps of w on its grid for percentile p.
std::pair<Encoded, Steps> grid_for(const at::Tensor& w, const Spec& spec, const HiGroups& hi, int hi_bits,
                                   int64_t hi_width, double p) {
  const int64_t cols = w.size(1);
  Encoded e;
  e.layout.bits = spec.bits;
  e.layout.group = spec.group > 0 && spec.group < cols ? spec.group : 0;
  const int64_t group = e.layout.group ? e.layout.group : cols;
  std::vector<at::Tensor> clips;
  for (int64_t c0 = 0; c0 < cols; c0 += group) clips.push_back(clip_of(w.narrow(1, c0, std::min(group, cols - c0)), spec, p));
  const at::Tensor clip = at::stack(clips, 1);
  e.scale = step_of(clip, range(spec.bits), spec.scales);
  if (!hi.empty()) {
    // An AWQ-lite group keeps the clip of the scale group holding its first column, at the finer range.
    e.layout.hi_bits = hi_bits;
    e.layout.hi_width = hi_width;
    e.hi_start = at::tensor(std::vector<int32_t>(hi.begin(), hi.end()), at::kInt);
    std::vector<int64_t> g;
    for (int64_t c0 : hi) g.push_back(c0 / group);
    e.hi_scale = step_of(clip.index_select(1, at::tensor(g, at::kLong).to(clip.device())), range(hi_bits), spec.scales);
  }
  Steps st;
  st.S = expand_steps(e, cols);
  st.r = ranges_of(e.layout, e.hi_start, cols);
  st.R = at::tensor(st.r, at::kDouble).to(w.device(), at::kFloat);
  return {std::move(e), std::move(st)};
}

at::Tensor to_cpu(const at::Tensor& t) { return t.detach().to(at::kCPU).contiguous(); }

[[noreturn]] void corrupted(const QuantizedTensor& q, const std::string& why) {
  throw std::runtime_error("golf_grid_v1: tensor '" + q.name + "' (scheme '" + q.scheme + "'): " + why);
}

// Reads `tag` and the digits after it at p, advancing p; false (p unmoved) unless p starts so.
bool field(const char*& p, const char* tag, long long& v) {
  const size_t n = std::strlen(tag);
  if (std::strncmp(p, tag, n) != 0 || !std::isdigit(static_cast<unsigned char>(p[n]))) return false;
  char* end = nullptr;
  v = std::strtoll(p + n, &end, 10);  // saturates on overflow, then fails the range checks
  p = end;
  return true;
}

// The layout `scheme` names; false unless it is exactly Layout::scheme() of an allowed layout.
bool parse(const std::string& scheme, Layout& l) {
  const char* p = scheme.c_str();
  long long bits = 0, group = 0, hi = 0, width = 0, lqer = 0;
  if (!field(p, "int", bits)) return false;
  field(p, "_g", group);
  if (field(p, "_hi", hi) && !field(p, "x", width)) return false;
  if (std::strncmp(p, "_awq", 4) == 0) l.awq = true, p += 4;
  field(p, "_lqer", lqer);
  const auto in = [](long long v, long long lo, long long hi) { return v >= lo && v <= hi; };
  if (*p || !in(bits, 2, 8) || !in(group, 0, kMaxCount) || !in(hi, 0, 8) || !in(width, 0, kMaxCount) || !in(lqer, 0, 1 << 16))
    return false;
  l.bits = int(bits), l.group = group, l.hi_bits = int(hi), l.hi_width = width, l.lqer = lqer;
  return l.scheme() == scheme && (!l.hi_bits || (l.hi_bits >= 2 && l.hi_width >= 1));  // canonical: no "int06", "_g0"
}

using Field = std::pair<const char*, at::Tensor Encoded::*>;

// The parts of a layout, in stored order.
std::vector<Field> fields(const Layout& l) {
  std::vector<Field> f = {{"q", &Encoded::q}, {"scale", &Encoded::scale}};
  if (l.hi_bits) f.insert(f.end(), {{"hi_start", &Encoded::hi_start}, {"hi_scale", &Encoded::hi_scale}});
  if (l.awq) f.push_back({"col_scale", &Encoded::col_scale});
  if (l.lqer)
    f.insert(f.end(), {{"lqer_a", &Encoded::lqer_a}, {"lqer_a_scale", &Encoded::lqer_a_scale},
                       {"lqer_b", &Encoded::lqer_b}, {"lqer_b_scale", &Encoded::lqer_b_scale}});
  return f;
}

// Rows and columns of the matrix view of q.shape, refusing negative or overflowing dimensions.
std::pair<int64_t, int64_t> matrix_dims(const QuantizedTensor& q) {
  if (q.shape.empty()) return {1, 1};
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < q.shape.size(); ++i) {
    if (q.shape[i] < 0 || __builtin_mul_overflow(rows, q.shape[i], &rows)) corrupted(q, "impossible shape");
  }
  if (q.shape.back() < 0) corrupted(q, "negative dimension in shape");
  return {rows, q.shape.back()};
}

void expect(const QuantizedTensor& q, const at::Tensor& t, const char* name, at::ScalarType dtype, at::IntArrayRef shape) {
  if (t.scalar_type() != dtype) corrupted(q, std::string("part '") + name + "' has dtype " + at::toString(t.scalar_type()));
  if (t.sizes() != shape) corrupted(q, std::string("part '") + name + "' has the wrong shape");
}

void expect_scales(const QuantizedTensor& q, const at::Tensor& s, const char* name, at::IntArrayRef shape) {
  expect(q, s, name, at::kHalf, shape);
  const at::Tensor f = s.to(at::kFloat);
  if (f.numel() && !(at::isfinite(f).all().item<bool>() && (f > 0).all().item<bool>()))
    corrupted(q, std::string("part '") + name + "' must hold finite positive scales");
}

void expect_values(const QuantizedTensor& q, const at::Tensor& v, const char* name, const at::Tensor& lo, const at::Tensor& hi) {
  const at::Tensor f = v.to(at::kFloat);
  if (f.numel() && ((f < lo).any().item<bool>() || (f > hi).any().item<bool>()))
    corrupted(q, std::string("part '") + name + "' holds values outside its range");
}

at::Tensor scalar(double v) { return at::scalar_tensor(v, at::kFloat); }

double rel_error(const at::Tensor& w, const at::Tensor& what) {
  const double norm = w.norm().item<double>();
  return norm > 0 ? (w - what).norm().item<double>() / norm : 0.0;
}

// The parts of q as an Encoded, every shape, dtype, range and scale checked.
Encoded unpack(const QuantizedTensor& q) {
  Encoded e;
  if (!parse(q.scheme, e.layout)) corrupted(q, "unknown scheme");
  if (!at::isFloatingType(q.dtype)) corrupted(q, "a quantized tensor must have a float dtype");
  const Layout& l = e.layout;
  const std::vector<Field> f = fields(l);
  if (q.parts.size() != f.size())
    corrupted(q, "expected " + std::to_string(f.size()) + " parts, found " + std::to_string(q.parts.size()));
  for (size_t i = 0; i < f.size(); ++i) {
    if (q.parts[i].first != f[i].first || !q.parts[i].second.defined()) corrupted(q, std::string("missing part '") + f[i].first + "'");
    e.*f[i].second = q.parts[i].second.to(at::kCPU);
  }
  const auto [rows, cols] = matrix_dims(q);
  expect(q, e.q, "q", at::kChar, {rows, cols});
  if (l.group >= cols) corrupted(q, "group size " + std::to_string(l.group) + " not below the column count");
  expect_scales(q, e.scale, "scale", {rows, l.group ? (cols + l.group - 1) / l.group : 1});
  if (l.hi_bits) {
    if (e.hi_start.dim() != 1) corrupted(q, "part 'hi_start' must be 1-D");
    expect(q, e.hi_start, "hi_start", at::kInt, {e.hi_start.numel()});
    const auto starts = e.hi_start.accessor<int32_t, 1>();
    int64_t next = 0;
    for (int64_t j = 0; j < starts.size(0); ++j) {
      const int64_t c0 = starts[j];
      if (c0 < next || c0 >= cols || c0 % l.hi_width) corrupted(q, "bad AWQ-lite group start " + std::to_string(c0));
      next = c0 + l.hi_width;
    }
    expect_scales(q, e.hi_scale, "hi_scale", {rows, e.hi_start.numel()});
  }
  const at::Tensor R = at::tensor(ranges_of(l, e.hi_start, cols), at::kDouble).to(at::kFloat);
  expect_values(q, e.q, "q", -R, R);
  if (l.awq) expect_scales(q, e.col_scale, "col_scale", {cols});
  if (l.lqer) {
    expect(q, e.lqer_a, "lqer_a", at::kChar, {rows, l.lqer});
    expect_values(q, e.lqer_a, "lqer_a", scalar(-2), scalar(1));
    expect_scales(q, e.lqer_a_scale, "lqer_a_scale", {});
    expect(q, e.lqer_b, "lqer_b", at::kChar, {l.lqer, cols});
    expect_values(q, e.lqer_b, "lqer_b", scalar(-8), scalar(7));
    expect_scales(q, e.lqer_b_scale, "lqer_b_scale", {(l.lqer * cols + kLqerGroup - 1) / kLqerGroup});
  }
  return e;
}

// Non-float tensors as they are; float ones converted to `keep` (a copy even when nothing converts).
void pass_through(const at::Tensor& w, at::ScalarType keep, QuantizedTensor& out) {
  at::Tensor data = w.detach();
  if (keep != at::ScalarType::Undefined) data = data.to(keep);
  out.scheme = "passthrough";
  out.parts = {{"data", to_cpu(data).clone()}};
}

at::Tensor dequantize_passthrough(const QuantizedTensor& q) {
  if (q.parts.size() != 1) corrupted(q, "expected 1 part, found " + std::to_string(q.parts.size()));
  if (q.parts[0].first != "data" || !q.parts[0].second.defined()) corrupted(q, "missing part 'data'");
  const at::Tensor& data = q.parts[0].second;
  if (!(at::isFloatingType(q.dtype) && data.is_floating_point()) && data.scalar_type() != q.dtype)
    corrupted(q, "part 'data' has dtype " + std::string(at::toString(data.scalar_type())));
  if (data.sizes() != at::IntArrayRef(q.shape)) corrupted(q, "part 'data' has the wrong shape");
  return data.to(at::kCPU).to(q.dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

// B's per-element steps: one scale per 64 entries of the flattened B.
at::Tensor lqer_b_steps(const at::Tensor& sb, int64_t n) {
  return sb.to(at::kFloat).repeat_interleave(kLqerGroup).narrow(0, 0, n);
}

at::Tensor lqer_product(const Encoded& e) {
  const at::Tensor a = e.lqer_a.to(at::kFloat) * e.lqer_a_scale.to(at::kFloat);
  const at::Tensor b = e.lqer_b.to(at::kFloat).flatten() * lqer_b_steps(e.lqer_b_scale, e.lqer_b.numel());
  return a.matmul(b.view(e.lqer_b.sizes()));
}

Scales parse_scales(const golf::Config& c) {
  const std::string s = c.get_string("scales");
  if (s == "rowmax") return Scales::kRowMax;
  if (s == "percentile") return Scales::kPercentile;
  if (s != "sdclip") c.fail("scales", "must be \"rowmax\", \"percentile\" or \"sdclip\", not \"" + s + "\"");
  return Scales::kSdClip;
}

double positive(const golf::Config& c, const std::string& key) {
  const double v = c.get_float(key);
  if (!(v > 0) || !std::isfinite(v)) c.fail(key, "must be a finite number > 0");
  return v;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string scales_text(const Spec& s) {
  return s.scales == Scales::kSdClip ? "sdclip k=" + num(s.k) : s.scales == Scales::kRowMax ? "rowmax" : "percentile";
}

// The matrix stats of `name` when they fit a [rows, cols] view, else null.
const golf::LinearStats* stats_for(const golf::Calibration& c, const std::string& name, int64_t cols) {
  const auto it = c.find(name);
  if (it == c.end() || !it->second.xtx.defined() || it->second.xtx.sizes() != at::IntArrayRef({cols, cols})) return nullptr;
  return &it->second;
}

}  // namespace

at::Tensor fp16_scale(const at::Tensor& s) { return s.to(at::kFloat).clamp(6.103515625e-05, 65504.0).to(at::kHalf); }

std::string Layout::scheme() const {
  std::string s = "int" + std::to_string(bits);
  if (group) s += "_g" + std::to_string(group);
  if (hi_bits) s += "_hi" + std::to_string(hi_bits) + "x" + std::to_string(hi_width);
  if (awq) s += "_awq";
  if (lqer) s += "_lqer" + std::to_string(lqer);
  return s;
}

at::Tensor round_to_nearest(const at::Tensor& w, const Steps& st) {
  return at::maximum(at::minimum(at::round(w / st.S), st.R), -st.R).to(at::kChar);
}

at::Tensor as_matrix(const at::Tensor& t) {
  const at::Tensor f = t.detach().to(at::kFloat);
  return f.dim() < 2 ? f.reshape({1, f.numel()}) : f.flatten(0, -2);
}

Encoded encode(const at::Tensor& w, const Spec& spec, const HiGroups& hi, int hi_bits, int64_t hi_width,
               const Solver& solve) {
  const bool search = spec.scales == Scales::kPercentile;
  Encoded best;
  double best_mse = std::numeric_limits<double>::infinity();
  for (double p : search ? kPercentiles : std::vector<double>{1.0}) {
    auto [e, st] = grid_for(w, spec, hi, hi_bits, hi_width, p);
    e.q = solve(w, st);
    e.how = search ? "percentile p=" + num(p) : scales_text(spec);
    if (!search) return e;
    const double mse = (w - e.q.to(at::kFloat) * st.S).pow(2).mean().item<double>();
    if (!(mse >= best_mse)) best_mse = mse, best = std::move(e);  // the first candidate even when NaN
  }
  return best;
}

at::Tensor decode(const Encoded& e) {
  at::Tensor w = e.q.to(at::kFloat) * expand_steps(e, e.q.size(1));
  if (e.layout.awq) w = w / e.col_scale.to(at::kFloat);
  if (e.layout.lqer) w = w + lqer_product(e);
  return w;
}

void add_lqer(Encoded& e, const at::Tensor& w, int64_t rank) {
  const at::Tensor err = w - decode(e);
  const int64_t r = std::min({rank, w.size(0), w.size(1)});
  auto [U, S, Vh] = at::linalg_svd(err, /*full_matrices=*/false);
  const at::Tensor a = U.narrow(1, 0, r) * S.narrow(0, 0, r);
  const at::Tensor b = Vh.narrow(0, 0, r).flatten();
  Encoded c = e;
  c.layout.lqer = r;
  // A: int2 per matrix in [-2, 1], sA = max|A|/1.5; B: int4 in groups of 64 in [-8, 7], sB = max|group|/7.5.
  c.lqer_a_scale = fp16_scale(a.abs().max() / 1.5);
  c.lqer_a = at::clamp(at::round(a / c.lqer_a_scale.to(at::kFloat)), -2, 1).to(at::kChar);
  const int64_t n = b.numel(), groups = (n + kLqerGroup - 1) / kLqerGroup;
  const at::Tensor padded = at::constant_pad_nd(b, {0, groups * kLqerGroup - n});
  c.lqer_b_scale = fp16_scale(padded.view({groups, kLqerGroup}).abs().amax(1) / 7.5);
  c.lqer_b = at::clamp(at::round(b / lqer_b_steps(c.lqer_b_scale, n)), -8, 7).to(at::kChar).view({r, w.size(1)});
  // Quantizing A and B could in principle cost more than the correction gains: keep it only when it helps.
  if ((w - decode(c)).norm().item<double>() < err.norm().item<double>()) {
    c.how += ", lqer r=" + std::to_string(r);
    e = std::move(c);
  }
}

double hessian_error(const at::Tensor& w, const at::Tensor& what, const at::Tensor& xtx) {
  const at::Tensor H = xtx.to(w.device(), at::kDouble), W = w.to(at::kDouble), E = W - what.to(at::kDouble);
  const double whole = (W.matmul(H) * W).sum().item<double>();
  return whole > 0 ? (E.matmul(H) * E).sum().item<double>() / whole : 0.0;
}

at::Tensor act_rms(const golf::LinearStats& s) {
  const double batches = double(std::max<int64_t>(s.batches, 1));  // xtx is a per-batch mean
  return at::sqrt(s.xtx.diagonal().to(at::kFloat).clamp_min(0) * batches / double(std::max<int64_t>(s.rows, 1)));
}

GridQuantizer::GridQuantizer(golf::PluginContext& ctx, bool calibrated) {
  const golf::Config& c = ctx.config();
  matrix_bits_ = int(golf::get_int_in(c, "matrix_bits", 2, 8));
  embedding_bits_ = int(golf::get_int_in(c, "embedding_bits", 2, 8));
  head_bits_ = int(golf::get_int_in(c, "head_bits", 2, 8));
  gate_bits_ = int(golf::get_int_in(c, "gate_bits", 2, 8));
  matrix_k_ = positive(c, "matrix_k");
  embedding_k_ = positive(c, "embedding_k");
  scales_ = parse_scales(c);
  group_ = golf::get_int_in(c, "group_size", 0, int64_t(1) << 30);
  passthrough_numel_ = golf::get_int_in(c, "passthrough_numel", 0, std::numeric_limits<int64_t>::max());
  lqer_rank_ = golf::get_int_in(c, "lqer_rank", 0, 1024);
  lqer_top_ = golf::get_int_in(c, "lqer_top", 0, 1 << 20);
  std::istringstream entries(c.get_string("overrides"));
  for (std::string raw; std::getline(entries, raw, ',');) {
    const std::string entry = trim(raw);
    if (entry.empty()) continue;
    const auto bad = [&](const std::string& why) { c.fail("overrides", "entry '" + entry + "': " + why); };
    const size_t eq = entry.rfind('=');
    Override o;
    if (eq == std::string::npos || (o.glob = trim(entry.substr(0, eq))).empty()) bad("expected glob=bits[:k], glob=fp16 or glob=fp32");
    const std::string v = trim(entry.substr(eq + 1));
    if (v == "fp16" || v == "fp32") {
      o.keep = v == "fp16" ? at::kHalf : at::kFloat;
    } else {
      char* end = nullptr;
      const long bits = std::strtol(v.c_str(), &end, 10);
      if (end == v.c_str() || bits < 2 || bits > 8) bad("bits must be 2..8 (or fp16, fp32)");
      if (*end == ':') {
        const char* k = end + 1;
        o.k = std::strtod(k, &end);
        if (end == k || !(o.k > 0) || !std::isfinite(o.k)) bad("k must be a finite number > 0");
      }
      if (*end) bad("unexpected '" + std::string(end) + "'");
      o.bits = int(bits);
    }
    overrides_.push_back(o);
  }
  if (!calibrated) return;
  request_.batches = golf::get_int_in(c, "calibration_batches", 0, 1 << 20);
  request_.batch_tokens = golf::get_int_in(c, "calibration_batch_tokens", 0, int64_t(1) << 40);
  request_.reserve_seconds = golf::get_nonnegative(c, "reserve_seconds");
  const std::string source = c.get_string("calibration_source");
  if (source != "train" && source != "generated")
    c.fail("calibration_source", "must be \"train\" or \"generated\", not \"" + source + "\"");
  request_.source = source == "train" ? golf::CalibrationSource::kTrain : golf::CalibrationSource::kGenerated;
  hi_groups_ = golf::get_int_in(c, "awq_lite_groups", 0, 1 << 20);
  hi_width_ = golf::get_int_in(c, "awq_lite_group_size", 1, 1 << 20);
  hi_bits_ = int(golf::get_int_in(c, "awq_lite_bits", 2, 8));
}

Spec GridQuantizer::spec(const Param& p) const {
  const at::Tensor& t = p.tensor;
  Spec s;
  if (!t.is_floating_point() || t.numel() == 0) return s;  // stored as it is
  s.scales = scales_;
  s.group = group_;
  s.k = matrix_k_;
  switch (p.role) {
    case ParamRole::kMatrix:
    case ParamRole::kOther: s.bits = matrix_bits_; break;
    case ParamRole::kEmbedding:
    case ParamRole::kTiedEmbedding: s.bits = embedding_bits_, s.k = embedding_k_; break;
    case ParamRole::kHead: s.bits = head_bits_, s.k = embedding_k_; break;
    case ParamRole::kGate: s.bits = gate_bits_, s.scales = Scales::kRowMax; break;  // §5.8: int8 rowmax, however small
    case ParamRole::kScalar: s.keep = at::kFloat; break;  // control tensors stay fp32, as int8 keeps them
  }
  if (s.bits && p.role != ParamRole::kGate && t.numel() <= passthrough_numel_) s.bits = 0;
  if (!s.bits && s.keep == at::ScalarType::Undefined && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16))
    s.keep = at::kHalf;
  for (auto o = overrides_.rbegin(); o != overrides_.rend(); ++o) {
    if (fnmatch(o->glob.c_str(), p.name.c_str(), 0) != 0) continue;
    s.bits = o->bits;
    s.keep = o->keep;
    if (o->k > 0) s.scales = Scales::kSdClip, s.k = o->k;
    break;
  }
  return s;
}

Encoded GridQuantizer::encode_calibrated(const at::Tensor& w, const Spec& spec, const HiGroups& hi, const golf::LinearStats&) {
  return encode(w, spec, hi, hi_bits_, hi_width_, round_to_nearest);
}

// AWQ-lite (§5.6): every awq_lite_group_size-column group of every calibrated matrix narrower than
// awq_lite_bits, scored Σ_c act_rms_c · mean|W[:, c]|; the top K over the whole model.
std::map<std::string, HiGroups> GridQuantizer::pick_hi_groups(const std::vector<Param>& params,
                                                              const golf::Calibration& calibration) const {
  struct Candidate {
    double score;
    const std::string* name;
    int64_t start;
  };
  if (!hi_groups_ || calibration.empty()) return {};
  std::vector<Candidate> all;
  for (const Param& p : params) {
    const Spec s = spec(p);
    if (!s.bits || s.bits >= hi_bits_) continue;
    const at::Tensor w = as_matrix(p.tensor);
    const golf::LinearStats* st = stats_for(calibration, p.name, w.size(1));
    if (!st) continue;
    const at::Tensor col = act_rms(*st).to(w.device()) * w.abs().mean(0);
    const int64_t groups = (col.numel() + hi_width_ - 1) / hi_width_;
    const at::Tensor score = at::constant_pad_nd(col, {0, groups * hi_width_ - col.numel()})
                                 .view({groups, hi_width_}).sum(1).to(at::kCPU, at::kDouble);
    for (int64_t g = 0; g < groups; ++g) all.push_back({score[g].item<double>(), &p.name, g * hi_width_});
  }
  const size_t k = std::min(all.size(), size_t(hi_groups_));
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::map<std::string, HiGroups> out;
  for (size_t i = 0; i < k; ++i) out[*all[i].name].push_back(all[i].start);
  for (auto& [name, starts] : out) std::sort(starts.begin(), starts.end());
  return out;
}

std::vector<QuantizedTensor> GridQuantizer::quantize(const std::vector<Param>& params, const golf::Calibration& calibration) {
  at::NoGradGuard no_grad;
  const std::map<std::string, HiGroups> hi = pick_hi_groups(params, calibration);
  std::vector<QuantizedTensor> out;
  std::vector<Encoded> enc(params.size());
  std::vector<at::Tensor> mats(params.size());
  std::vector<const golf::LinearStats*> stats(params.size(), nullptr);
  std::vector<std::pair<double, size_t>> errors;  // ‖W − Ŵ‖_F of grid tensors, for LQER
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    const Spec s = spec(p);
    out.push_back({p.name, "", p.tensor.sizes().vec(), p.tensor.scalar_type(), {}, {}});
    QuantizedTensor& q = out.back();
    q.report.bits = s.bits;
    if (!s.bits) {
      pass_through(p.tensor, s.keep, q);
      q.report.bits = int(q.parts[0].second.element_size() * 8);
      q.report.scales = "none";
      if (p.tensor.is_floating_point() && p.tensor.numel()) q.report.rel_error = rel_error(as_matrix(p.tensor).cpu(), as_matrix(dequantize(q)));
      continue;
    }
    mats[i] = as_matrix(p.tensor);
    stats[i] = stats_for(calibration, p.name, mats[i].size(1));
    if (stats[i]) {
      const auto h = hi.find(p.name);
      enc[i] = encode_calibrated(mats[i], s, h == hi.end() ? HiGroups{} : h->second, *stats[i]);
      if (enc[i].layout.hi_bits)
        enc[i].how += ", awq-lite int" + std::to_string(hi_bits_) + " groups=" + std::to_string(enc[i].hi_start.numel());
    } else {
      enc[i] = encode(mats[i], s, {}, 0, 0, round_to_nearest);
      if (request_.batches > 0) enc[i].how += ", rtn (no calibration stats)";
    }
    if (lqer_rank_ > 0) errors.push_back({(mats[i] - decode(enc[i])).norm().item<double>(), i});
  }
  std::sort(errors.rbegin(), errors.rend());
  for (size_t j = 0; j < errors.size() && j < size_t(lqer_top_); ++j) add_lqer(enc[errors[j].second], mats[errors[j].second], lqer_rank_);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!mats[i].defined()) continue;  // passed through
    QuantizedTensor& q = out[i];
    const at::Tensor& w = mats[i];
    const Encoded& e = enc[i];
    q.scheme = e.layout.scheme();
    for (const Field& f : fields(e.layout)) q.parts.emplace_back(f.first, to_cpu(e.*f.second));
    q.report.scales = e.how;
    const at::Tensor what = decode(e).to(q.dtype).to(at::kFloat);
    q.report.rel_error = rel_error(w, what);
    if (stats[i]) q.report.hessian_error = hessian_error(w, what, stats[i]->xtx);
  }
  return out;
}

at::Tensor GridQuantizer::dequantize(const QuantizedTensor& q) {
  for (int64_t d : q.shape) {
    if (d < 0) corrupted(q, "negative dimension in shape");
  }
  if (q.scheme == "passthrough") return dequantize_passthrough(q);
  return decode(unpack(q)).reshape(q.shape).to(q.dtype).contiguous();
}

at::Tensor GridQuantizer::fake_quantize(const Param& param, const at::Tensor& weight) {
  at::NoGradGuard no_grad;
  const Spec s = spec({param.name, weight, param.role});
  if (!s.bits) {
    const at::Tensor stored = s.keep == at::ScalarType::Undefined ? weight.detach() : weight.detach().to(s.keep);
    return stored.to(weight.device(), weight.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
  }
  return decode(encode(as_matrix(weight), s, {}, 0, 0, round_to_nearest)).reshape(weight.sizes()).to(weight.scalar_type());
}

}  // namespace grid
