// host/distributed.cpp: torchrun's environment, c10d's store and process group, and agreement between ranks.
#include "distributed.h"

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#if GOLF_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if GOLF_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace golf::host {
namespace {

// LibTorch 2.x split process groups into a ProcessGroup and its Backends; Gloo's and NCCL's classes
// are Backends there and ProcessGroups in 1.13, with the same collective methods.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int env_int(const char* name, int lo, int hi, bool required) {
  const std::string v = env(name);
  if (v.empty()) {
    if (required) throw InputError(std::string(name) + " is not set, but WORLD_SIZE is " + env("WORLD_SIZE") +
                                   ": launch golf-host with torchrun (docs/distributed.md), which sets it");
    return lo;
  }
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < lo || n > hi)
    throw InputError(std::string(name) + "=" + v + ": must be an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "]");
  return int(n);
}

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

uint64_t stable_hash(const std::string& text, uint64_t h) {
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

Launch read_launch() {
  Launch l;
  l.world_size = env_int("WORLD_SIZE", 1, 1 << 20, false);
  if (l.world_size == 1) return l;
  l.rank = env_int("RANK", 0, l.world_size - 1, true);
  l.local_rank = env_int("LOCAL_RANK", 0, l.world_size - 1, true);
  l.master_addr = env("MASTER_ADDR");
  if (l.master_addr.empty()) env_int("MASTER_ADDR", 0, 0, true);  // names the variable
  l.master_port = env_int("MASTER_PORT", 1, 65535, true);
  const bool agent_store = env("TORCHELASTIC_USE_AGENT_STORE") == "True";
  l.store_port = !env("GOLF_STORE_PORT").empty() ? env_int("GOLF_STORE_PORT", 1, 65535, true)
                 : agent_store                   ? l.master_port + 1
                                                 : l.master_port;
  if (l.store_port > 65535) throw InputError("MASTER_PORT=" + std::to_string(l.master_port) + ": golf's store takes the next port, " +
                                             "which is past 65535; set GOLF_STORE_PORT");
  return l;
}

std::string pick_backend(const TableConfig& run) {
  const std::string b = run.get_string("backend"), device = run.get_string("device");
  const bool cuda = device.rfind("cuda", 0) == 0;
  if (b != "auto" && b != "gloo" && b != "nccl") run.fail("backend", "must be \"auto\", \"gloo\" or \"nccl\", got \"" + b + "\"");
  const std::string chosen = b == "auto" ? (cuda ? "nccl" : "gloo") : b;
  if (chosen == "nccl" && !cuda) run.fail("backend", "nccl runs on CUDA devices only; [run] device is \"" + device + "\": use gloo");
#if !GOLF_HAVE_NCCL
  if (chosen == "nccl")
    run.fail("backend", "nccl is not in this build of golf (a CPU-only LibTorch, or NCCL's headers were missing at build "
                        "time); build with scripts/build.sh --torch pip, or use gloo");
#endif
#if !GOLF_HAVE_GLOO
  if (chosen == "gloo")
    run.fail("backend", "gloo is not in this build of golf (gloo's headers were missing at build time: install libgloo-dev "
                        "and rebuild)" + std::string(cuda ? ", or use nccl" : ""));
#endif
  return chosen;
}

struct Group::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Backend> pg;
  at::Device device = at::Device(at::kCPU);  // where the host's own small tensors go (CUDA for nccl)
  std::chrono::milliseconds timeout{0};
};

Group::Group() : impl_(std::make_unique<Impl>()) {}
Group::~Group() = default;
bool Group::joined() const { return bool(impl_->pg); }

void Group::join(const Launch& l, const std::string& backend, std::chrono::milliseconds timeout) {
  if (joined()) throw std::logic_error("Group::join called twice");
  const std::string where = l.master_addr + ":" + std::to_string(l.store_port);
  try {
    c10d::TCPStoreOptions o;
    o.port = uint16_t(l.store_port);
    o.isServer = l.rank == 0;
    o.numWorkers = size_t(l.world_size);
    o.waitWorkers = true;
    o.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(l.master_addr, o);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(l.rank) + " of " + std::to_string(l.world_size) +
                             ": the ranks did not meet at golf's store " + where + " (rank 0 hosts it" +
                             (l.rank == 0 ? "; is the port taken? set GOLF_STORE_PORT" : "") + "): " + first_line(e.what()));
  }
  impl_->timeout = timeout;
  try {
    if (backend == "gloo") {
#if GOLF_HAVE_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      const std::string iface = env("GLOO_SOCKET_IFNAME");
      opts->devices.push_back(iface.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                            : c10d::ProcessGroupGloo::createDeviceForInterface(iface));
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, l.rank, l.world_size, opts);
#endif
    } else if (backend == "nccl") {
#if GOLF_HAVE_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      impl_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, l.rank, l.world_size, opts);
      impl_->device = at::Device(at::kCUDA, l.local_rank);
#endif
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(l.rank) + ": the " + backend + " process group of " +
                             std::to_string(l.world_size) + " ranks did not form: " + first_line(e.what()));
  }
  if (!impl_->pg) throw std::logic_error("backend " + backend + " is not in this build (pick_backend lets it through)");
  rank_ = l.rank;
  world_ = l.world_size;
}

void Group::lost(const std::exception& e) {
  for (int r = 0; r < world_; ++r) {
    if (r == rank_) continue;
    try {
      const std::string key = "golf/failed/" + std::to_string(r);
      if (!impl_->store->check({key})) continue;
      const std::string said = text(impl_->store->get(key));
      const size_t nl = said.find('\n');
      throw PeerFailed("rank " + std::to_string(r) + " failed: " + said.substr(nl + 1), std::atoi(said.substr(0, nl).c_str()));
    } catch (const PeerFailed&) {
      throw;
    } catch (const std::exception&) {  // the store went with rank 0: nothing more to learn
      break;
    }
  }
  throw std::runtime_error("rank " + std::to_string(rank_) + " lost contact with the other ranks (one ended, was killed, or " +
                           "did not answer within [run] collective_timeout = " + std::to_string(impl_->timeout.count() / 1000) +
                           " s): " + first_line(e.what()));
}

namespace {

c10d::ReduceOp c10d_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
    case ReduceOp::kMin: return c10d::ReduceOp::MIN;
    case ReduceOp::kSum:
    case ReduceOp::kAverage: return c10d::ReduceOp::SUM;  // divided after: gloo has no AVG
  }
  throw std::invalid_argument("unknown golf::ReduceOp " + std::to_string(int(op)));
}

}  // namespace

void Group::all_reduce(at::Tensor& t, ReduceOp op) {
  if (world_ == 1) return;
  if (!t.is_contiguous()) throw std::invalid_argument("Collectives::all_reduce needs a contiguous tensor");
  try {
    std::vector<at::Tensor> ts{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d_op(op);
    impl_->pg->allreduce(ts, o)->wait();
  } catch (const std::exception& e) {
    lost(e);
  }
  if (op == ReduceOp::kAverage) t.div_(world_);
}

std::vector<at::Tensor> Group::all_gather(const at::Tensor& t) {
  if (world_ == 1) return {t};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < world_; ++r) out[0].push_back(at::empty_like(t, at::MemoryFormat::Contiguous));
  try {
    std::vector<at::Tensor> in{t.contiguous()};
    impl_->pg->allgather(out, in, c10d::AllgatherOptions())->wait();
  } catch (const std::exception& e) {
    lost(e);
  }
  return out[0];
}

void Group::broadcast(at::Tensor& t, int root) {
  if (root < 0 || root >= world_) throw std::invalid_argument("Collectives::broadcast: root " + std::to_string(root) + " is not a rank");
  if (world_ == 1) return;
  if (!t.is_contiguous()) throw std::invalid_argument("Collectives::broadcast needs a contiguous tensor");
  try {
    std::vector<at::Tensor> ts{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->pg->broadcast(ts, o)->wait();
  } catch (const std::exception& e) {
    lost(e);
  }
}

void Group::barrier() {
  if (world_ == 1) return;
  // An all-reduce of one value: Gloo's and NCCL's barriers differ in what they need (device ids).
  at::Tensor one = at::ones({1}, at::TensorOptions(at::kFloat).device(impl_->device));
  all_reduce(one);
}

void Group::average_gradients(const std::vector<Param>& params) {
  if (world_ == 1) return;
  constexpr int64_t kBucketBytes = int64_t(32) << 20;
  std::vector<at::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    std::vector<at::Tensor> flat_parts;
    for (const auto& g : bucket) flat_parts.push_back(g.reshape({-1}));
    at::Tensor flat = at::cat(flat_parts);
    all_reduce(flat, ReduceOp::kAverage);
    int64_t at = 0;
    for (auto& g : bucket) {
      g.copy_(flat.narrow(0, at, g.numel()).view(g.sizes()));
      at += g.numel();
    }
    bucket.clear();
    bytes = 0;
  };
  // Buckets hold one dtype and device; parameters keep their order, the same on every rank.
  for (const auto& p : params) {
    at::Tensor g = p.tensor.grad();
    if (!g.defined()) continue;
    if (!bucket.empty() && (bucket.front().scalar_type() != g.scalar_type() || bucket.front().device() != g.device() ||
                            bytes + g.numel() * int64_t(g.element_size()) > kBucketBytes))
      flush();
    bucket.push_back(g);
    bytes += g.numel() * int64_t(g.element_size());
  }
  flush();
}

namespace {

// Host values through a collective, on the backend's device (NCCL reduces CUDA tensors only).
std::vector<double> reduce_values(Group& g, at::Device device, const std::vector<double>& values, ReduceOp op) {
  if (g.world_size() == 1 || values.empty()) return values;
  at::Tensor t = at::tensor(values, at::kDouble).to(device);
  g.all_reduce(t, op);
  t = t.cpu();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

}  // namespace

std::vector<double> Group::agree_max(const std::vector<double>& values) {
  return reduce_values(*this, impl_->device, values, ReduceOp::kMax);
}

std::vector<double> Group::sum(const std::vector<double>& values) {
  return reduce_values(*this, impl_->device, values, ReduceOp::kSum);
}

std::string Group::share(const std::string& key, const std::string& value) {
  if (world_ == 1) return value;
  try {
    if (rank_ == 0) {
      impl_->store->set("golf/share/" + key, bytes(value));
      return value;
    }
    return text(impl_->store->get("golf/share/" + key));
  } catch (const std::exception& e) {
    lost(e);
  }
}

void Group::check_same(uint64_t value, const std::string& what) {
  if (world_ == 1) return;
  int64_t v;
  static_assert(sizeof v == sizeof value);
  std::memcpy(&v, &value, sizeof v);
  const std::vector<at::Tensor> all = all_gather(at::tensor({v}, at::kLong).to(impl_->device));
  std::string differ;
  const int64_t first = all[0].item<int64_t>();
  for (int r = 1; r < world_; ++r)
    if (all[r].item<int64_t>() != first) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw InputError("rank" + std::string(differ.find(',') == std::string::npos ? " " : "s ") + differ + " run" +
                     (differ.find(',') == std::string::npos ? "s" : "") + " a different " + what + " from rank 0's: every " +
                     "rank must run the same pipeline file, overrides and plugin libraries");
}

void Group::note_failure(int exit_code, const std::string& message) noexcept {
  if (world_ == 1 || !impl_->store) return;
  try {
    impl_->store->set("golf/failed/" + std::to_string(rank_), bytes(std::to_string(exit_code) + "\n" + message));
  } catch (...) {
  }
}

void Group::agree_on_failure(const std::exception* mine) {
  if (mine) note_failure(exit_code_for(*mine), user_message(*mine));
  at::Tensor first = at::tensor({double(mine ? rank_ : world_)}, at::kDouble).to(impl_->device);
  all_reduce(first, ReduceOp::kMin);
  const int r = int(first.cpu().item<double>());
  if (r == world_ || mine) return;
  std::string said;
  try {
    said = text(impl_->store->get("golf/failed/" + std::to_string(r)));
  } catch (const std::exception& e) {
    lost(e);
  }
  const size_t nl = said.find('\n');
  throw PeerFailed("rank " + std::to_string(r) + " failed: " + said.substr(nl + 1), std::atoi(said.substr(0, nl).c_str()));
}

}  // namespace golf::host
