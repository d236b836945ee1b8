// golf/fingerprint.h: GOLF_BUILD_FINGERPRINT, the golf_fingerprint of the translation unit that uses it.
//
// The host and every plugin evaluate this macro in their own build; equal values mean the C++ stage
// interfaces (at::Tensor, std::string, std::vector) have the same layout on both sides.
// GOLF_BUILD_CUDA is defined by golf's CMake (target golf::sdk) from the LibTorch it found.
#ifndef GOLF_FINGERPRINT_H_
#define GOLF_FINGERPRINT_H_

#include <torch/version.h>

#include "golf/abi.h"

#ifndef GOLF_BUILD_CUDA
#error "GOLF_BUILD_CUDA is undefined: link the golf::sdk CMake target (or golf_add_plugin) to get it"
#endif

#if defined(__clang__)
#define GOLF_COMPILER "clang"
#define GOLF_COMPILER_MAJOR __clang_major__
#elif defined(__GNUC__)
#define GOLF_COMPILER "gcc"
#define GOLF_COMPILER_MAJOR __GNUC__
#else
#error "golf plugins are built with gcc or clang"
#endif

// A golf_fingerprint initializer of constants: usable in a static descriptor, no code runs.
#define GOLF_BUILD_FINGERPRINT                                                         \
  {                                                                                    \
    sizeof(golf_fingerprint), static_cast<uint32_t>(_GLIBCXX_USE_CXX11_ABI),           \
        static_cast<uint32_t>(GOLF_BUILD_CUDA), static_cast<uint32_t>(GOLF_COMPILER_MAJOR), \
        TORCH_VERSION, GOLF_COMPILER                                                   \
  }

#endif  // GOLF_FINGERPRINT_H_
