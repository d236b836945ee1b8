// host/quant_report.cpp: per-tensor quantization report for the run directory.
#include "quant_report.h"

#include "files.h"
#include "json.h"

namespace golf::host {

int64_t write_quant_report(const std::string& path, const std::vector<Param>& params,
                           const std::vector<QuantizedTensor>& quantized, Compressor& compressor) {
  std::string out = "[\n";
  int64_t total = 0;
  for (size_t i = 0; i < quantized.size(); ++i) {
    const QuantizedTensor& q = quantized[i];
    std::string stored;
    for (const auto& [part, t] : q.parts) {
      const at::Tensor c = t.contiguous();
      stored.append(static_cast<const char*>(c.data_ptr()), size_t(c.numel()) * c.element_size());
    }
    const int64_t packed = int64_t(compressor.compress(stored).size());
    total += packed;
    JsonObject o;
    o.add("name", q.name);
    o.add("role", role_name(params.at(i).role));
    std::string shape = "[";
    for (size_t d = 0; d < q.shape.size(); ++d) shape += (d ? ", " : "") + std::to_string(q.shape[d]);
    o.raw("shape", shape + "]");
    o.add("scheme", q.scheme);
    o.add("bits", q.report.bits);
    o.add("scales", q.report.scales);
    o.add("rel_error", q.report.rel_error);
    o.add("hessian_error", q.report.hessian_error);
    o.add("stored_bytes", int64_t(stored.size()));
    o.add("compressed_bytes_alone", packed);
    out += "  " + o.str() + (i + 1 < quantized.size() ? ",\n" : "\n");
  }
  write_file_atomically(path, out + "]\n");
  return total;
}

}  // namespace golf::host
