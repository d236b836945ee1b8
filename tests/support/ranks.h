// tests/support/ranks.h: several ranks of one run as threads of the test process, over Gloo on the loopback.
#ifndef GOLF_TESTS_RANKS_H_
#define GOLF_TESTS_RANKS_H_

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <vector>

#include "distributed.h"
#include "plugin_fixture.h"

namespace golf::testing {

// Runs fn(launch) on `world` threads at once, one per rank, and returns when all have; rethrows the
// first rank's exception. Each call takes a fresh port (the process id and a counter pick it), so tests
// of one binary running side by side do not meet each other. REQUIRES: GOLF_HAVE_GLOO.
template <class Fn>
void run_ranks(int world, Fn fn) {
  static std::atomic<int> calls{0};
  const int port = 20000 + int(::getpid() % 1000) * 20 + calls++ % 20;
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; ++r)
    ranks.push_back(std::async(std::launch::async, [&fn, r, world, port] {
      host::Launch l;
      l.rank = l.local_rank = r;
      l.world_size = world;
      l.master_addr = "127.0.0.1";
      l.master_port = l.store_port = port;
      fn(l);
    }));
  for (auto& f : ranks) f.get();
}

// Makes `stage` run as the rank `l` says: its group (PluginContext::collectives()) joins the others and
// its run info reports the rank and world size. REQUIRES: called once per instance, on every rank.
template <class Kind>
host::Group& join(Instance<Kind>& stage, const host::Launch& l) {
  auto& group = dynamic_cast<host::Group&>(stage.context().collectives());
  group.join(l, "gloo", std::chrono::seconds(60));
  stage.run().rank_ = l.rank;
  stage.run().local_rank_ = l.local_rank;
  stage.run().world_size_ = l.world_size;
  return group;
}

}  // namespace golf::testing

#endif  // GOLF_TESTS_RANKS_H_
