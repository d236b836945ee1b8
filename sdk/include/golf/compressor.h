// golf/compressor.h: the compressor stage: the serialized quantized weights to the bytes that count.
#ifndef GOLF_COMPRESSOR_H_
#define GOLF_COMPRESSOR_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "golf/stage.h"

namespace golf {

class Compressor : public Stage {
 public:
  using Interface = Compressor;
  static constexpr golf_kind kKind = GOLF_KIND_COMPRESSOR;

  // The bytes that count towards bytes_model, for `raw` (any bytes, empty included; borrowed for the
  // call). Deterministic for a given config. Throws std::runtime_error only when the library fails.
  virtual std::string compress(std::string_view raw) = 0;
  // Inverse of compress: returns exactly the `raw` that gave `packed`. Throws std::runtime_error when
  // `packed` is not a valid stream of this compressor or does not decode to exactly `raw_size` bytes
  // (`packed` may come from a damaged or foreign file). Never crashes on garbage, and never
  // allocates much more than `raw_size` for it.
  virtual std::string decompress(std::string_view packed, std::size_t raw_size) = 0;
};

}  // namespace golf

#endif  // GOLF_COMPRESSOR_H_
