// golf/quantizer.h: the quantizer stage: trained weights to a compact stored form and back, calibrated or not.
#ifndef GOLF_QUANTIZER_H_
#define GOLF_QUANTIZER_H_

#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "golf/stage.h"

namespace golf {

// What the quantizer says about one tensor, for the run directory's quantization.json. Not stored in
// the artifact.
struct QuantReport {
  int bits = 0;               // width of the stored values; 16 or 32 for passthrough
  std::string scales;         // how scales were chosen: "rowmax", "percentile", "sdclip k=12.85", ...
  double rel_error = std::numeric_limits<double>::quiet_NaN();      // ‖W − Ŵ‖_F / ‖W‖_F
  double hessian_error = std::numeric_limits<double>::quiet_NaN();  // tr((W − Ŵ) H (W − Ŵ)ᵀ) / tr(W H Wᵀ), when calibrated
};

// One model tensor in stored form: the pieces the artifact keeps (e.g. int8 values and fp16
// per-row scales), plus what dequantize() needs to rebuild the original.
struct QuantizedTensor {
  std::string name;                 // the Param's name
  std::string scheme;               // plugin-defined, e.g. "int8_row", "passthrough"
  std::vector<int64_t> shape;       // of the original tensor
  at::ScalarType dtype;             // of the original tensor, restored on load
  std::vector<std::pair<std::string, at::Tensor>> parts;  // contiguous CPU tensors, in stored order
  QuantReport report;               // for the run directory only
};

// Where calibration text comes from. Never validation text: the host cannot be asked for it.
enum class CalibrationSource {
  kTrain,      // batches from the training shards, read by a fresh loader from the start
  kGenerated,  // sequences the model samples itself (first token uniform, seeded)
};

// What a quantizer asks the host to run before quantize(). batches == 0: no calibration.
struct CalibrationRequest {
  int64_t batches = 0;
  int64_t batch_tokens = 0;     // tokens per batch (sequences of the training seq_len); 0: the training micro-batch
  CalibrationSource source = CalibrationSource::kTrain;
  double temperature = 0.8;     // kGenerated: sampling temperature
  double reserve_seconds = 0;   // subtracted from the training budget up front, so training plus
                                // calibration stays within [run] train_seconds (the rules count both)
};

// Input statistics of one matrix parameter's matmuls over the calibration batches.
struct LinearStats {
  at::Tensor xtx;       // float32 CPU [in, in]: Σ xᵀx over every row of every use, divided by `batches`
  int64_t rows = 0;     // rows of x summed over all batches (tokens × uses)
  int64_t batches = 0;  // calibration batches: the mean square of input c is xtx[c][c] · batches / rows
};

// By parameter name; holds exactly the parameters the architecture reported through its LinearHook.
// Empty when the quantizer asked for no calibration. Owned by the host; borrowed by quantize().
using Calibration = std::map<std::string, LinearStats>;

class Quantizer : public Stage {
 public:
  using Interface = Quantizer;
  static constexpr golf_kind kKind = GOLF_KIND_QUANTIZER;

  // Identifies the stored layout, e.g. "int8_clean_per_row_v1"; non-empty, fixed for a given config.
  // Change it whenever the meaning of the parts changes: artifacts record it and are refused by a
  // quantizer with another format. Never throws.
  virtual std::string format() const = 0;

  // The calibration this quantizer needs, from its own config; called during the checks before a
  // run, before quantize(). A request with batches > 0 needs an architecture whose
  // set_linear_hook() returns true (the host refuses the pipeline otherwise). Never throws.
  // Default: none.
  virtual CalibrationRequest calibration() const { return {}; }

  // One entry per param, same order, name, shape and dtype; parts are contiguous CPU tensors the
  // entry owns. Must not modify the params (borrowed for the call). `calibration` holds what
  // calibration() asked for (empty otherwise). The tensors may live on any device, of any role, rank
  // and floating or integer dtype. Throws std::runtime_error on a tensor it cannot store.
  virtual std::vector<QuantizedTensor> quantize(const std::vector<Param>& params, const Calibration& calibration) = 0;

  // The tensor to load into the param `q.name`: shape q.shape, dtype q.dtype, on the CPU, finite.
  // REQUIRES nothing of `q`: it may come from a damaged or foreign artifact. Throws
  // std::runtime_error on parts, a shape or a scheme that do not fit (never crashes on them).
  virtual at::Tensor dequantize(const QuantizedTensor& q) = 0;

  // Quantize-dequantize of `weight` (the current value of `param`, same shape, any device and dtype)
  // on the exact grid quantize() would use for that param without calibration, for quantization-aware
  // training. Returns a new tensor like `weight` (shape, dtype, device); not differentiable (QAT uses
  // a straight-through estimator). Changes neither `param` nor `weight`. Called from a QAT stage, on
  // the training thread, possibly every micro-step: keep it cheap.
  virtual at::Tensor fake_quantize(const Param& param, const at::Tensor& weight) = 0;
};

}  // namespace golf

#endif  // GOLF_QUANTIZER_H_
