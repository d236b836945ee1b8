// host/device.h: the compute device: what this build links, device checks, synchronisation, memory.
#ifndef GOLF_HOST_DEVICE_H_
#define GOLF_HOST_DEVICE_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "golf/context.h"

namespace golf::host {

// One line on the LibTorch this binary runs with: version, CUDA on or off, and in a CUDA build the
// CUDA runtime and driver versions and the GPUs visible. For `--version` and the run log.
std::string torch_summary();

// The device and compute dtype a run asked for, checked against this build and this machine.
struct ComputeDevice {
  at::Device device = at::Device(at::kCPU);
  at::ScalarType dtype = at::kFloat;
  std::string description;  // e.g. "cpu" or "cuda:0 (NVIDIA H100 80GB HBM3, 79.1 GiB)"
};

// `device`: "cpu", "cuda" or "cuda:N"; `dtype`: "auto" (bfloat16 on CUDA, float32 on CPU),
// "float32" or "bfloat16". Throws std::invalid_argument whose what() says why (a CPU-only build, no
// GPU visible, an index past the GPUs present, an unknown name); the caller names the key.
ComputeDevice resolve_device(const std::string& device, const std::string& dtype);
at::ScalarType resolve_dtype(const std::string& dtype, const at::Device& device);  // same rules for dtype alone

// resolve_device on a pipeline's [run] table (keys device and dtype); a bad value is a ConfigError
// naming the file, line and key.
ComputeDevice compute_device(const Config& run);

// Waits for work queued on `device` (a no-op on the CPU), so a clock read afterwards is honest.
void synchronize(const at::Device& device);

// Total memory of `device`: the GPU's, or the machine's physical memory for the CPU; 0 when unknown.
int64_t device_memory_bytes(const at::Device& device);

// Peak bytes allocated by LibTorch on `device` since the start; 0 on the CPU.
int64_t peak_memory_bytes(const at::Device& device);

}  // namespace golf::host

#endif  // GOLF_HOST_DEVICE_H_
