// host/compression.cpp: the byte shuffle, tensor group names, and the compress_groups values.
#include "compression.h"

#include <stdexcept>

namespace golf::host {

// A plain loop: libraries' shuffles (blosc's, HDF5's) shuffle whole elements and copy a leftover
// tail unchanged, which is not §5.9's transform for lengths that are not a multiple of the stride.
std::string byte_shuffle(std::string_view bytes, uint32_t stride) {
  if (stride <= 1) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size());
  for (size_t r = 0; r < stride; ++r)
    for (size_t i = r; i < bytes.size(); i += stride) out += bytes[i];
  return out;
}

std::string byte_unshuffle(std::string_view bytes, uint32_t stride) {
  if (stride <= 1) return std::string(bytes);
  std::string out(bytes.size(), '\0');
  size_t at = 0;
  for (size_t r = 0; r < stride; ++r)
    for (size_t i = r; i < out.size(); i += stride) out[i] = bytes[at++];
  return out;
}

std::string tensor_group(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    const std::string part = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    out += numeric ? "*" : part;
    if (dot == std::string::npos) return out;
    out += '.';
    start = dot + 1;
  }
}

const char* group_mode_name(GroupMode mode) {
  switch (mode) {
    case GroupMode::kOff: return "off";
    case GroupMode::kOn: return "on";
    case GroupMode::kAuto: return "auto";
  }
  return "?";
}

GroupMode parse_group_mode(const std::string& name) {
  for (GroupMode m : {GroupMode::kOff, GroupMode::kOn, GroupMode::kAuto})
    if (name == group_mode_name(m)) return m;
  throw std::invalid_argument("must be \"off\", \"on\" or \"auto\", got \"" + name + "\"");
}

}  // namespace golf::host
