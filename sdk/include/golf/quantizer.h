// golf/quantizer.h: the quantizer stage: trained weights to a compact stored form and back.
#ifndef GOLF_QUANTIZER_H_
#define GOLF_QUANTIZER_H_

#include <string>
#include <utility>
#include <vector>

#include "golf/stage.h"

namespace golf {

// One model tensor in stored form: the pieces the artifact keeps (e.g. int8 values and fp16
// per-row scales), plus what dequantize() needs to rebuild the original.
struct QuantizedTensor {
  std::string name;                 // the Param's name
  std::string scheme;               // plugin-defined, e.g. "int8_row", "passthrough"
  std::vector<int64_t> shape;       // of the original tensor
  at::ScalarType dtype;             // of the original tensor, restored on load
  std::vector<std::pair<std::string, at::Tensor>> parts;  // contiguous CPU tensors, in stored order
};

class Quantizer : public Stage {
 public:
  using Interface = Quantizer;
  static constexpr golf_kind kKind = GOLF_KIND_QUANTIZER;

  // Identifies the stored layout, e.g. "int8_clean_per_row_v1". Change it whenever the meaning of
  // the parts changes: artifacts record it and are refused by a quantizer with another format.
  virtual std::string format() const = 0;

  // One entry per param, same order. Must not modify the params.
  virtual std::vector<QuantizedTensor> quantize(const std::vector<Param>& params) = 0;

  // The tensor to load into the param `q.name`: shape q.shape, dtype q.dtype, on the CPU.
  // Throws std::runtime_error on parts that do not fit the scheme (a corrupted artifact).
  virtual at::Tensor dequantize(const QuantizedTensor& q) = 0;
};

}  // namespace golf

#endif  // GOLF_QUANTIZER_H_
