// host/quant_report.h: quantization.json, what the quantizer did to each tensor and what each costs compressed.
#ifndef GOLF_HOST_QUANT_REPORT_H_
#define GOLF_HOST_QUANT_REPORT_H_

#include <string>
#include <vector>

#include "golf/compressor.h"
#include "golf/quantizer.h"

namespace golf::host {

// Writes `path` (atomically): one JSON object per tensor, in parameter order, with its role, shape,
// scheme, bits, scale choice, reconstruction errors (QuantReport) and its stored bytes, raw and
// compressed alone by `compressor` (a per-tensor estimate: the artifact compresses tensors together).
// Returns the total of the compressed estimates. REQUIRES: quantized[i] is params[i]'s.
int64_t write_quant_report(const std::string& path, const std::vector<Param>& params,
                           const std::vector<QuantizedTensor>& quantized, Compressor& compressor);

}  // namespace golf::host

#endif  // GOLF_HOST_QUANT_REPORT_H_
