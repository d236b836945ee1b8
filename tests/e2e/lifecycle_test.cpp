// tests/e2e/lifecycle_test.cpp: a run stopped by SIGINT or SIGTERM in any phase ends at a safe point,
// says where, keeps its trained weights, and never leaves a half-written file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <boost/property_tree/json_parser.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "e2e.h"
#include "plugin_fixture.h"
#include "provenance.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace golf::testing {
namespace {

pid_t spawn(std::vector<std::string> args) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1), dup2(null, 2);
    std::vector<char*> argv = {const_cast<char*>(GOLF_TEST_HOST_BIN)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(GOLF_TEST_HOST_BIN, argv.data());
    _exit(127);
  }
  return pid;
}

// Waits at most `seconds`; kills the child and fails the test if it is still running then.
int wait_for(pid_t pid, double seconds) {
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "golf-host still running " << seconds << " s after the signal";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

// Starts a run of tiny.toml that trains until stopped, and returns once its training has begun.
pid_t start_training(const TempDir& dir, const std::string& run_dir) {
  pid_t pid = spawn({"run", tiny_pipeline(dir), "--set", "train.iterations=100000", "--run-dir", run_dir});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline &&
         !(fs::exists(run_dir + "/metrics.jsonl") && fs::file_size(run_dir + "/metrics.jsonl", ec) > 0))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return pid;
}

// What must hold of a run directory however the run ended: every file whole.
void expect_whole_files(const std::string& run_dir, const std::string& when) {
  if (!fs::exists(run_dir)) return;
  for (const auto& e : fs::recursive_directory_iterator(run_dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << when << ": left " << e.path();
  if (fs::exists(run_dir + "/model.pt") && fs::exists(run_dir + "/model.pt.sha256")) {
    std::ifstream in(run_dir + "/model.pt.sha256");
    std::string recorded;
    in >> recorded;
    EXPECT_EQ(recorded, host::sha256_file(run_dir + "/model.pt")) << when;
  }
}

TEST(LifecycleTest, SigintAndSigtermEndEveryPhaseAtASafePoint) {
  TempDir dir;
  const std::string pipeline = tiny_pipeline(dir);
  std::set<std::string> phases;
  int n = 0;
  // Signals at increasing delays land in the checks, tokenizer training, training, evaluation,
  // quantization or artifact writing; whichever it is, the same things must hold.
  for (int sig : {SIGTERM, SIGINT})
    for (double delay : {0.05, 0.6, 1.2, 2.0, 3.0, 4.0, 5.0}) {
      const std::string run_dir = dir / ("r" + std::to_string(n++));
      const std::string when = (sig == SIGTERM ? "SIGTERM after " : "SIGINT after ") + std::to_string(delay) + " s";
      pid_t pid = spawn({"run", pipeline, "--run-dir", run_dir});
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
      kill(pid, sig);
      int status = wait_for(pid, 60);
      if (WIFSIGNALED(status) && WTERMSIG(status) == sig) {  // before main() installed its handlers
        EXPECT_FALSE(fs::exists(run_dir)) << when << ": killed by the signal after it started";
        continue;
      }
      ASSERT_TRUE(WIFEXITED(status)) << when << ": killed by signal " << WTERMSIG(status);
      const int code = WEXITSTATUS(status);
      expect_whole_files(run_dir, when);
      if (code == 0) continue;  // finished before the signal came
      EXPECT_EQ(code, 128 + sig) << when;
      if (!fs::exists(run_dir)) continue;  // stopped before it created anything
      auto s = summary(run_dir);
      EXPECT_EQ(s.get<std::string>("status"), "interrupted") << when;
      EXPECT_EQ(s.get<std::string>("signal"), sig == SIGTERM ? "SIGTERM" : "SIGINT") << when;
      const std::string phase = s.get<std::string>("stopped_in", "");
      EXPECT_FALSE(phase.empty()) << when;
      phases.insert(phase);
      if (phase == "training" || s.get_optional<int>("steps")) EXPECT_TRUE(fs::exists(run_dir + "/model.pt")) << when;
    }
  std::string seen;
  for (const auto& p : phases) seen += "'" + p + "' ";
  std::cout << "phases interrupted: " << seen << "\n";
}

TEST(LifecycleTest, SigtermInTrainingSavesTheWeightsAndExits143) {
  TempDir dir;
  const std::string run_dir = dir / "run";
  pid_t pid = start_training(dir, run_dir);
  kill(pid, SIGTERM);
  int status = wait_for(pid, 60);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 143);
  auto s = summary(run_dir);
  EXPECT_EQ(s.get<std::string>("status"), "interrupted");
  EXPECT_EQ(s.get<std::string>("stopped_in"), "training");
  EXPECT_EQ(s.get<std::string>("stop_reason"), "interrupted");
  EXPECT_TRUE(fs::exists(run_dir + "/model.pt"));
  EXPECT_EQ(s.get<std::string>("weights_sha256"), host::sha256_file(run_dir + "/model.pt"));
  EXPECT_FALSE(fs::exists(run_dir + "/model.golf"));
  expect_whole_files(run_dir, "SIGTERM in training");
}

TEST(LifecycleTest, ASecondSignalEndsTheRunAtOnce) {
  TempDir dir;
  const std::string run_dir = dir / "run";
  pid_t pid = start_training(dir, run_dir);
  kill(pid, SIGINT);
  kill(pid, SIGTERM);  // long before the first one's safe point is reached
  int status = wait_for(pid, 10);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exited " << WEXITSTATUS(status) << " instead of ending at once";
  EXPECT_TRUE(WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM) << WTERMSIG(status);  // either may come first
  expect_whole_files(run_dir, "second signal");
}

TEST(LifecycleTest, SigtermStopsADataExportWithoutAHalfMadeDataset) {
  GOLF_REQUIRE_SHARED_DATA(fineweb, "fineweb_sample");
  TempDir dir;
  {  // enough documents to take seconds: the sample, many times over
    std::ifstream in(fineweb + "/verify_docs.jsonl");
    const std::string docs((std::istreambuf_iterator<char>(in)), {});
    std::ofstream out(dir / "big.jsonl");
    for (int i = 0; i < 200; ++i) out << docs;
  }
  pid_t pid = spawn({"data", "export", "--input", dir / "big.jsonl", "--tokenizer", fineweb + "/fineweb_1024_bpe.model",
                     "--output", dir / "out", "--val-docs", "10"});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(dir / "out") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGTERM);
  int status = wait_for(pid, 60);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 0) GTEST_SKIP() << "SKIPPED: the export finished before the signal";
  EXPECT_EQ(WEXITSTATUS(status), 143);
  EXPECT_FALSE(fs::exists(dir / "out/shards.json"));
  for (const auto& e : fs::directory_iterator(dir / "out")) ADD_FAILURE() << "left " << e.path();
}

}  // namespace
}  // namespace golf::testing
