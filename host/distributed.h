// host/distributed.h: the run's processes: torchrun's environment, the c10d process group, and the
// decisions every rank must take together.
#ifndef GOLF_HOST_DISTRIBUTED_H_
#define GOLF_HOST_DISTRIBUTED_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "errors.h"
#include "golf/collectives.h"
#include "golf/stage.h"

namespace golf::host {

// What torchrun (or any launcher that sets the same variables) says about this process.
struct Launch {
  int rank = 0, local_rank = 0, world_size = 1;
  std::string master_addr;
  int master_port = 0;
  // Where rank 0 hosts golf's store: MASTER_PORT, or MASTER_PORT + 1 when torchrun's own store
  // holds MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True: LibTorch 1.13's store client does not
  // speak torch 2.x's store protocol, so golf never shares torchrun's). GOLF_STORE_PORT overrides.
  int store_port = 0;
  bool launched() const { return world_size > 1; }
};

// Reads RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE and
// GOLF_STORE_PORT. Without WORLD_SIZE (or with WORLD_SIZE=1): one process, rank 0. Throws InputError
// naming the variable and its value when one is malformed or missing beside WORLD_SIZE > 1.
Launch read_launch();

// The backend [run] backend names for `device` ("cpu", "cuda", "cuda:N"): "auto" is nccl on CUDA and
// gloo on the CPU. Throws ConfigError (through `run.fail`) naming [run] backend when the value is
// unknown or this build lacks it (nccl in a CPU-only build, gloo where LibTorch's gloo headers were
// missing at build time).
std::string pick_backend(const TableConfig& run);

// The run's processes as golf::Collectives, plus what only the host uses. Made as one process; join()
// makes it the group torchrun launched. Thread rule: the run's main thread only.
class Group final : public Collectives {
 public:
  Group();
  ~Group() override;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  // Connects to the other ranks: rank 0 hosts a c10d::TCPStore at MASTER_ADDR:store_port, every rank
  // makes the process group of `backend` ("gloo" or "nccl") over it. Every collective, and the wait
  // for the others here, gives up after `timeout` with an error. REQUIRES: launch.launched(); called once.
  // Throws std::runtime_error naming the address and port when the ranks cannot meet.
  void join(const Launch& launch, const std::string& backend, std::chrono::milliseconds timeout);
  bool joined() const;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void all_reduce(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) override;
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) override;
  void broadcast(at::Tensor& tensor, int root = 0) override;
  void barrier() override;

  // Averages the parameters' gradients across ranks: bucketed (up to 32 MiB a bucket, by dtype),
  // one all-reduce each. Parameters without a gradient are left alone (every rank must agree on which).
  void average_gradients(const std::vector<Param>& params);

  // A decision every rank takes together: the maximum over ranks of each value (signals, flags, clocks).
  std::vector<double> agree_max(const std::vector<double>& values);
  // The sum over ranks of each value, in float64 (evaluation's sums, calibration's counts).
  std::vector<double> sum(const std::vector<double>& values);

  // Rank 0's `value` on every rank (through the store; `key` names it). A single process returns it.
  std::string share(const std::string& key, const std::string& value);

  // Stops, on every rank, unless every rank gave the same `value` (a hash of what `what` names):
  // throws InputError naming the ranks that differ from rank 0 and `what`.
  void check_same(uint64_t value, const std::string& what);

  // Tells the other ranks why this one is ending and with which exit code (the store keeps it for their
  // messages). Never throws.
  void note_failure(int exit_code, const std::string& message) noexcept;

  // Runs `fn` on every rank; when it throws on any rank, throws on every rank: the failing rank its own
  // exception, the others a copy of its message and exit code naming it (PeerFailed). REQUIRES: every
  // rank calls it at the same point.
  template <class Fn>
  void all_or_none(Fn&& fn);

 private:
  void agree_on_failure(const std::exception* mine);
  [[noreturn]] void lost(const std::exception& e);  // a collective failed: say which rank, if one told
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_ = 1;
};

template <class Fn>
void Group::all_or_none(Fn&& fn) {
  if (world_ == 1) return (void)fn();
  try {
    fn();
  } catch (const std::exception& e) {
    agree_on_failure(&e);
    throw;
  }
  agree_on_failure(nullptr);
}

// FNV-1a, 64 bits: the same value on every machine (std::hash promises no such thing).
uint64_t stable_hash(const std::string& text, uint64_t seed = 1469598103934665603ull);

}  // namespace golf::host

#endif  // GOLF_HOST_DISTRIBUTED_H_
