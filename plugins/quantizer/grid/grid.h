// plugins/quantizer/grid/grid.h: the stored format, RTN grid, LQER and shared keys of the rtn, gptq and awq quantizers.
//
// Format "golf_grid_v1" (docs/quantization.md): "passthrough" {data}, or a scheme naming the layout,
// "int<b>[_g<group>][_hi<b>x<width>][_awq][_lqer<r>]", with parts q int8 [rows, cols], scale fp16
// [rows, G], then as named hi_start int32 [K] + hi_scale fp16 [rows, K]; col_scale fp16 [cols];
// lqer_a int8 [rows, r], lqer_a_scale fp16 [], lqer_b int8 [r, cols], lqer_b_scale fp16 [ceil(r·cols/64)].
// W = (q · scale) / col_scale + (lqer_a · sA)(lqer_b · sB). A tensor of rank != 2 is the matrix
// [product of the leading dims, last dim]; 1-D and 0-D tensors are one row.
#ifndef GOLF_QUANTIZER_GRID_H_
#define GOLF_QUANTIZER_GRID_H_

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "golf/plugin.h"
#include "golf/quantizer.h"

namespace grid {

enum class Scales { kRowMax, kPercentile, kSdClip };

// How one tensor is stored.
struct Spec {
  int bits = 0;                                   // 2..8 on the grid; 0: passthrough
  at::ScalarType keep = at::ScalarType::Undefined;  // passthrough: stored dtype (Undefined: as-is)
  Scales scales = Scales::kSdClip;
  double k = 0;                                   // SDClip multiplier
  int64_t group = 0;                              // columns per scale; 0: per row
};

// The stored layout of one grid tensor, and its scheme name.
struct Layout {
  int bits = 0;
  int64_t group = 0;
  int hi_bits = 0;        // AWQ-lite groups; 0: none
  int64_t hi_width = 0;
  bool awq = false;       // per-column scales
  int64_t lqer = 0;       // LQER rank; 0: none
  std::string scheme() const;
};

// One grid tensor as 2-D pieces (any device until packed).
struct Encoded {
  Layout layout;
  at::Tensor q, scale, hi_start, hi_scale, col_scale, lqer_a, lqer_a_scale, lqer_b, lqer_b_scale;
  std::string how;  // the report's scales text
};

// AWQ-lite groups of one matrix: sorted first columns.
using HiGroups = std::vector<int64_t>;

// Per-element steps and per-column ranges of a matrix on its grid.
struct Steps {
  at::Tensor S;           // fp32 [rows, cols]
  at::Tensor R;           // fp32 [cols]
  std::vector<double> r;  // R on the host (the GPTQ loop reads it per column)
};

// Rounds w to its grid: int8 values for the steps.
using Solver = std::function<at::Tensor(const at::Tensor& w, const Steps& steps)>;
at::Tensor round_to_nearest(const at::Tensor& w, const Steps& steps);

// The matrix view of a tensor, fp32 on its device (see the format above).
at::Tensor as_matrix(const at::Tensor& t);

// Scales as stored: fp16, clamped to [2^-14, 65504] so a stored scale is always finite and positive.
at::Tensor fp16_scale(const at::Tensor& s);

// Encodes w [rows, cols] per `spec` with `hi` groups at hi_bits/hi_width, rounding with `solve`.
// Percentile scales try every candidate and keep the lowest whole-matrix MSE (§5.3, as its code does).
Encoded encode(const at::Tensor& w, const Spec& spec, const HiGroups& hi, int hi_bits, int64_t hi_width,
               const Solver& solve);

// fp32 [rows, cols] that `e` stands for, on e.q's device.
at::Tensor decode(const Encoded& e);

// Adds the rank-r LQER correction of w − decode(e) (§5.7, asymmetric packing).
void add_lqer(Encoded& e, const at::Tensor& w, int64_t rank);

// tr(E H Eᵀ) / tr(W H Wᵀ) for E = w − what, H = xtx.
double hessian_error(const at::Tensor& w, const at::Tensor& what, const at::Tensor& xtx);

// Per-input-channel RMS from calibration stats: sqrt(diag(xᵀx) / rows).
at::Tensor act_rms(const golf::LinearStats& s);

// The base of the three quantizers: shared keys, passthrough, the stored format, fake_quantize,
// AWQ-lite group selection, LQER and the reports. A subclass rounds calibrated matrices its way.
class GridQuantizer : public golf::Quantizer {
 public:
  GridQuantizer(golf::PluginContext& ctx, bool calibrated);
  std::string format() const override { return "golf_grid_v1"; }
  golf::CalibrationRequest calibration() const override { return request_; }
  std::vector<golf::QuantizedTensor> quantize(const std::vector<golf::Param>& params,
                                              const golf::Calibration& calibration) override;
  at::Tensor dequantize(const golf::QuantizedTensor& q) override;
  at::Tensor fake_quantize(const golf::Param& param, const at::Tensor& weight) override;

 protected:
  // Encodes matrix w with calibration stats whose xtx is [cols, cols]. Default: RTN.
  virtual Encoded encode_calibrated(const at::Tensor& w, const Spec& spec, const HiGroups& hi,
                                    const golf::LinearStats& stats);
  int hi_bits_ = 0;
  int64_t hi_width_ = 0;

 private:
  Spec spec(const golf::Param& p) const;
  struct Override {
    std::string glob;
    int bits = 0;  // 0: passthrough as `keep`
    double k = 0;  // > 0: SDClip with this k
    at::ScalarType keep = at::ScalarType::Undefined;
  };
  std::map<std::string, HiGroups> pick_hi_groups(const std::vector<golf::Param>& params,
                                                 const golf::Calibration& calibration) const;
  int matrix_bits_, embedding_bits_, head_bits_, gate_bits_;
  double matrix_k_, embedding_k_;
  Scales scales_;
  int64_t group_, passthrough_numel_, lqer_rank_, lqer_top_, hi_groups_ = 0;
  std::vector<Override> overrides_;
  golf::CalibrationRequest request_;
};

}  // namespace grid

// Keys of every grid quantizer; defaults live here only.
#define GRID_KEYS                                                                                                   \
  {"matrix_bits", GOLF_TYPE_INT, "6", "width (2..8) of kMatrix and kOther tensors"},                             \
      {"embedding_bits", GOLF_TYPE_INT, "8", "width of input embeddings and the tied embedding"},                  \
      {"head_bits", GOLF_TYPE_INT, "8", "width of an untied output head"},                                         \
      {"gate_bits", GOLF_TYPE_INT, "8", "width of gate matrices (rowmax scales, any size: §5.8)"},                 \
      {"matrix_k", GOLF_TYPE_FLOAT, "12.85", "SDClip k of matrices and kOther tensors"},                          \
      {"embedding_k", GOLF_TYPE_FLOAT, "20.0", "SDClip k of embeddings and heads"},                                \
      {"scales", GOLF_TYPE_STRING, "\"sdclip\"", "\"rowmax\", \"percentile\" (GPTQ-lite search) or \"sdclip\""}, \
      {"group_size", GOLF_TYPE_INT, "0", "columns per scale; 0: one scale per row"},                               \
      {"passthrough_numel", GOLF_TYPE_INT, "65536", "float tensors this small stay fp16 (kScalar: always, fp32)"}, \
      {"overrides", GOLF_TYPE_STRING, "\"\"", "\"glob=bits[:k]\" or \"glob=fp16|fp32\", comma-separated; last match wins"}, \
      {"lqer_rank", GOLF_TYPE_INT, "0", "LQER correction rank; 0: off"},                                            \
      {"lqer_top", GOLF_TYPE_INT, "3", "LQER corrects this many tensors, the largest by ||W - Q·s||_F"}

// Keys of the calibrated ones (gptq, awq).
#define GRID_CALIBRATION_KEYS                                                                                      \
  {"calibration_batches", GOLF_TYPE_INT, "64", "calibration batches; 0: none (everything RTN)"},                  \
      {"calibration_source", GOLF_TYPE_STRING, "\"train\"", "\"train\" (training shards) or \"generated\""},        \
      {"calibration_batch_tokens", GOLF_TYPE_INT, "0", "tokens per calibration batch; 0: the training micro-batch"}, \
      {"reserve_seconds", GOLF_TYPE_FLOAT, "12.0", "taken off the training budget for calibration"},                 \
      {"awq_lite_groups", GOLF_TYPE_INT, "0", "AWQ-lite: top-K column groups (all matrices) at awq_lite_bits; 0: off"}, \
      {"awq_lite_group_size", GOLF_TYPE_INT, "64", "AWQ-lite: columns per group"},                                  \
      {"awq_lite_bits", GOLF_TYPE_INT, "8", "AWQ-lite: width of the chosen groups"}

#endif  // GOLF_QUANTIZER_GRID_H_
