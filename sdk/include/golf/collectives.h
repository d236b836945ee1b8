// golf/collectives.h: collectives across the run's processes, for plugins, without c10d types.
//
// A run launched by torchrun has world_size() processes, one per device; the host reaches them through
// LibTorch's c10d (NCCL on CUDA, Gloo on the CPU) and lends this interface to every stage
// (PluginContext::collectives()). In a run of one process every call returns at once and leaves its
// tensor as it was, so a plugin may call them unconditionally.
//
// Rules, as for any collective: every rank calls the same methods in the same order with tensors of
// the same shape, dtype and device kind (the run's device); a rank that skips one leaves the others
// waiting until the host's timeout ([run] collective_timeout), which ends the run with an error.
// Call them from the thread that called into the plugin. A failure (a rank that ended, a timeout)
// throws std::runtime_error naming what happened.
#ifndef GOLF_COLLECTIVES_H_
#define GOLF_COLLECTIVES_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace golf {

// How all_reduce combines the ranks' values. Values are ABI: append only.
enum class ReduceOp : int32_t { kSum = 0, kMax = 1, kMin = 2, kAverage = 3 };

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;        // 0 .. world_size() - 1; the same as RunInfo::rank()
  virtual int world_size() const = 0;  // 1 in a run of one process
  // Combines `tensor` across ranks in place; every rank ends with the same values. REQUIRES: contiguous.
  virtual void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) = 0;
  // Every rank's `tensor`, in rank order (element r is rank r's); a single process gets {tensor}.
  virtual std::vector<at::Tensor> all_gather(const at::Tensor& tensor) = 0;
  // Overwrites `tensor` with rank `root`'s, in place. REQUIRES: contiguous, 0 <= root < world_size().
  virtual void broadcast(at::Tensor& tensor, int root = 0) = 0;
  // Returns once every rank has called it.
  virtual void barrier() = 0;
};

}  // namespace golf

#endif  // GOLF_COLLECTIVES_H_
