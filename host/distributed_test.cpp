// host/distributed_test.cpp: torchrun's environment read, and a Group of two ranks (threads over Gloo).
#include "distributed.h"

#include <gtest/gtest.h>
#include <stdlib.h>


#include <functional>
#include <optional>

#include "ranks.h"

namespace golf::host {
namespace {

// Sets environment variables for one test and restores them after.
class Env {
 public:
  Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
                          "GOLF_STORE_PORT"}) {
      const char* old = getenv(v);
      saved_.emplace_back(v, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(v);
    }
    for (const auto& [k, v] : vars) setenv(k, v, 1);
  }
  ~Env() {
    for (const auto& [k, v] : saved_) v ? (void)setenv(k.c_str(), v->c_str(), 1) : (void)unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(LaunchTest, WithoutTorchrunOneProcess) {
  Env env({});
  const Launch l = read_launch();
  EXPECT_EQ(l.world_size, 1);
  EXPECT_EQ(l.rank, 0);
  EXPECT_FALSE(l.launched());
}

TEST(LaunchTest, ReadsTorchrunsVariables) {
  Env env({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}});
  const Launch l = read_launch();
  EXPECT_EQ(l.world_size, 4);
  EXPECT_EQ(l.rank, 3);
  EXPECT_EQ(l.local_rank, 1);
  EXPECT_EQ(l.master_addr, "10.0.0.1");
  EXPECT_EQ(l.store_port, 29500);
}

TEST(LaunchTest, BesideTorchrunsStoreTheNextPort) {
  {
    Env env({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "localhost"}, {"MASTER_PORT", "29500"},
             {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
    EXPECT_EQ(read_launch().store_port, 29501);
  }
  Env env({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "localhost"}, {"MASTER_PORT", "29500"},
           {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"GOLF_STORE_PORT", "31000"}});
  EXPECT_EQ(read_launch().store_port, 31000);
}

TEST(LaunchTest, BadVariablesNamed) {
  {
    Env env({{"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "localhost"}, {"MASTER_PORT", "29500"}});
    EXPECT_NE(error_of([] { read_launch(); }).find("RANK is not set"), std::string::npos);
  }
  {
    Env env({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "localhost"}, {"MASTER_PORT", "29500"}});
    EXPECT_NE(error_of([] { read_launch(); }).find("RANK=2: must be an integer in [0, 1]"), std::string::npos);
  }
  {
    Env env({{"WORLD_SIZE", "two"}});
    EXPECT_NE(error_of([] { read_launch(); }).find("WORLD_SIZE=two"), std::string::npos);
  }
  Env env({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_RANK", "0"}, {"MASTER_PORT", "29500"}});
  EXPECT_NE(error_of([] { read_launch(); }).find("MASTER_ADDR is not set"), std::string::npos);
}

TEST(GroupTest, OneProcessChangesNothing) {
  Group g;
  at::Tensor t = at::arange(4, at::kFloat);
  const at::Tensor before = t.clone();
  g.all_reduce(t, ReduceOp::kAverage);
  g.broadcast(t, 0);
  g.barrier();
  EXPECT_TRUE(at::equal(t, before));
  EXPECT_EQ(g.all_gather(t).size(), 1u);
  EXPECT_EQ(g.agree_max({1.5, 2}), (std::vector<double>{1.5, 2}));
  EXPECT_EQ(g.share("k", "v"), "v");
  g.check_same(42, "anything");
  EXPECT_THROW(g.all_or_none([] { throw InputError("bad"); }), InputError);
}

#if GOLF_HAVE_GLOO
// Two ranks as threads of this process, each with its own Group.
template <class Fn>
void two_ranks(Fn fn) {
  testing::run_ranks(2, [&fn](const Launch& l) {
    Group g;
    g.join(l, "gloo", std::chrono::seconds(30));
    fn(g);
  });
}

TEST(GroupTest, TwoRanksOverGloo) {
  two_ranks([](Group& g) {
    at::Tensor t = at::full({3}, double(g.rank() + 1), at::kDouble);
    g.all_reduce(t, ReduceOp::kAverage);
    EXPECT_TRUE(at::allclose(t, at::full({3}, 1.5, at::kDouble)));
    EXPECT_EQ(g.agree_max({double(g.rank()), 7.0 - g.rank()}), (std::vector<double>{1, 7}));
    EXPECT_EQ(g.sum({1.0})[0], 2.0);
    const std::vector<at::Tensor> all = g.all_gather(at::full({1}, g.rank(), at::kLong));
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].item<int64_t>(), 1);
    at::Tensor b = at::full({2}, float(g.rank()), at::kFloat);
    g.broadcast(b, 1);
    EXPECT_EQ(b[0].item<float>(), 1.0f);
    EXPECT_EQ(g.share("dir", g.rank() == 0 ? "runs/x" : "ignored"), "runs/x");

    // Gradients averaged, in buckets, parameters without one left alone.
    at::Tensor w = at::zeros({2, 2}, at::kFloat).requires_grad_();
    at::Tensor v = at::zeros({2}, at::kFloat).requires_grad_();
    (w.sum() * float(g.rank() + 1)).backward();
    g.average_gradients({Param{"w", w, ParamRole::kMatrix}, Param{"v", v, ParamRole::kScalar}});
    EXPECT_TRUE(at::allclose(w.grad(), at::full({2, 2}, 1.5f)));
    EXPECT_FALSE(v.grad().defined());

    // A failure on one rank ends both: the other rank hears which and why, with its exit code.
    try {
      g.all_or_none([&] {
        if (g.rank() == 1) throw InputError("shard missing");
      });
      ADD_FAILURE() << "all_or_none returned";
    } catch (const PeerFailed& e) {
      EXPECT_EQ(g.rank(), 0);
      EXPECT_EQ(std::string(e.what()), "rank 1 failed: shard missing");
      EXPECT_EQ(e.exit_code(), 2);
    } catch (const InputError& e) {
      EXPECT_EQ(g.rank(), 1);
    }
    EXPECT_NE(error_of([&] { g.check_same(uint64_t(g.rank()), "pipeline"); }).find("rank 1 runs a different pipeline"),
              std::string::npos);
  });
}
#endif

}  // namespace
}  // namespace golf::host
