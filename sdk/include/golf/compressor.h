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

  virtual std::string compress(std::string_view raw) = 0;
  // Inverse of compress. Throws std::runtime_error when `packed` is not a valid stream of this
  // compressor or does not decode to exactly `raw_size` bytes. Never crashes on garbage.
  virtual std::string decompress(std::string_view packed, std::size_t raw_size) = 0;
};

}  // namespace golf

#endif  // GOLF_COMPRESSOR_H_
