// host/device.cpp: device facts and checks; the CUDA parts compile only in a CUDA-enabled build.
#include "device.h"

#include <torch/version.h>

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#if GOLF_BUILD_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace golf::host {
namespace {

#if GOLF_BUILD_CUDA
std::string cuda_version(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

int visible_gpus() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;  // no driver or no GPU: zero, not an error
}
#endif

}  // namespace

std::string torch_summary() {
  std::string s = "LibTorch " TORCH_VERSION;
#if GOLF_BUILD_CUDA
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  s += ", CUDA on (runtime " + cuda_version(runtime) + ", driver " + (driver ? cuda_version(driver) : "none") + ", " +
       std::to_string(visible_gpus()) + " GPUs visible)";
#else
  s += ", CUDA off (CPU-only build)";
#endif
  return s;
}

at::ScalarType resolve_dtype(const std::string& dtype, const at::Device& device) {
  if (dtype == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (dtype == "float32") return at::kFloat;
  if (dtype == "bfloat16") return at::kBFloat16;
  throw std::invalid_argument("must be \"auto\", \"float32\" or \"bfloat16\", got \"" + dtype + "\"");
}

ComputeDevice resolve_device(const std::string& device, const std::string& dtype) {
  ComputeDevice d;
  if (device != "cpu") {
    if (device != "cuda" && device.rfind("cuda:", 0) != 0)
      throw std::invalid_argument("must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + device + "\"");
#if GOLF_BUILD_CUDA
    int64_t index = 0;
    if (device.size() > 5) {
      size_t used = 0;
      try {
        index = std::stoll(device.substr(5), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != device.size() - 5 || index < 0) throw std::invalid_argument("\"" + device + "\" is not cuda:N with N >= 0");
    }
    const int gpus = visible_gpus();
    if (gpus == 0) throw std::invalid_argument("no CUDA GPU is visible on this machine (" + torch_summary() + ")");
    if (index >= gpus)
      throw std::invalid_argument("asks for GPU " + std::to_string(index) + ", but " + std::to_string(gpus) + " are visible");
    d.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
    c10::cuda::set_device(d.device.index());
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, int(index));
    char desc[256];
    std::snprintf(desc, sizeof desc, "cuda:%lld (%s, %.1f GiB, compute capability %d.%d)", (long long)index, prop.name,
                  double(prop.totalGlobalMem) / (1 << 30), prop.major, prop.minor);
    d.description = desc;
#else
    throw std::invalid_argument("this golf-host was built against a CPU-only LibTorch (" + torch_summary() +
                                "); build golf against a CUDA-enabled LibTorch (docs/gpu.md)");
#endif
  } else {
    d.description = "cpu";
  }
  d.dtype = resolve_dtype(dtype, d.device);
  return d;
}

ComputeDevice compute_device(const Config& run) {
  const std::string device = run.get_string("device"), dtype = run.get_string("dtype");
  try {
    resolve_dtype(dtype, at::Device(at::kCPU));
  } catch (const std::invalid_argument& e) {
    run.fail("dtype", e.what());
  }
  try {
    return resolve_device(device, dtype);
  } catch (const std::invalid_argument& e) {
    run.fail("device", e.what());
  }
}

void synchronize(const at::Device& device) {
#if GOLF_BUILD_CUDA
  if (device.is_cuda()) c10::cuda::device_synchronize();
#else
  (void)device;
#endif
}

int64_t device_memory_bytes(const at::Device& device) {
#if GOLF_BUILD_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    return cudaGetDeviceProperties(&prop, device.index() < 0 ? 0 : device.index()) == cudaSuccess
               ? int64_t(prop.totalGlobalMem)
               : 0;
  }
#endif
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? int64_t(pages) * page : 0;
}

int64_t peak_memory_bytes(const at::Device& device) {
#if GOLF_BUILD_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }
#else
  (void)device;
#endif
  return 0;
}

}  // namespace golf::host
