// tests/e2e/run_test.cpp: golf-host end to end, as a user runs it: a tiny pipeline to a scored artifact,
// stage swapping on reused training, and each bad input ending with a message and a non-zero exit.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "plugin_fixture.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace golf {
namespace {

struct Result {
  int code;
  std::string output;
};

Result host(const std::string& args) {
  std::string cmd = std::string(GOLF_TEST_HOST_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

boost::property_tree::ptree summary(const std::string& run_dir) {
  boost::property_tree::ptree t;
  boost::property_tree::read_json(run_dir + "/summary.json", t);
  return t;
}

// A corpus of real text that every checkout has: golf's own sources, one document per file.
std::string make_corpus(const testing::TempDir& dir) {
  int n = 0;
  for (const char* sub : {"host", "sdk/include/golf"})
    for (const auto& e : fs::directory_iterator(fs::path(GOLF_TEST_SOURCE_DIR) / sub)) {
      std::ifstream in(e.path());
      dir.write("corpus/" + std::to_string(1000 + n++) + ".txt", std::string((std::istreambuf_iterator<char>(in)), {}));
    }
  return dir / "corpus";
}

std::string tiny_pipeline(const testing::TempDir& dir, const std::string& extra = "") {
  std::string corpus = make_corpus(dir);
  return dir.write("tiny.toml", R"([run]
name = "tiny"
train_seconds = 0.0
eval_seconds = 0.0
code_files = "tiny.toml"
[data]
corpus = ")" + corpus + R"("
val_docs = 4
[train]
seq_len = 64
batch_tokens = 2048
iterations = 40
warmdown_iters = 10
log_every = 5
[tokenizer]
plugin = "sentencepiece"
vocab_size = 512
[architecture]
plugin = "gpt"
vocab_size = 512
num_layers = 2
model_dim = 64
num_heads = 4
num_kv_heads = 2
[optimizer]
plugin = "muon"
[averaging]
plugin = "ema"
decay = 0.9
[quantizer]
plugin = "int8"
[compressor]
plugin = "zstd"
[evaluator]
plugin = "bpb"
)" + extra);
}

TEST(EndToEndTest, TinyPipelineToAScoredArtifactThenSwapTheCompressor) {
  testing::TempDir dir;
  std::string pipeline = tiny_pipeline(dir);
  Result r = host("run " + pipeline + " --run-dir " + (dir / "run1"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary(dir / "run1");
  EXPECT_EQ(s.get<std::string>("status"), "ok");
  EXPECT_EQ(s.get<int>("steps"), 40);
  double bpb = s.get<double>("val_bpb"), pre = s.get<double>("val_bpb_prequant"), unigram = s.get<double>("unigram_bpb");
  EXPECT_TRUE(std::isfinite(bpb) && bpb > 0);
  EXPECT_LT(pre, unigram) << "40 steps of training should beat a unigram model";
  EXPECT_NEAR(bpb, pre, 0.05) << "int8 costs little";
  EXPECT_EQ(s.get<int64_t>("bytes_model"), int64_t(fs::file_size(dir / "run1/model.golf")));
  EXPECT_EQ(s.get<int64_t>("bytes_code"), int64_t(fs::file_size(pipeline)));
  EXPECT_EQ(s.get<int64_t>("bytes_total"), s.get<int64_t>("bytes_model") + s.get<int64_t>("bytes_code"));
  for (const char* f : {"pipeline.toml", "log.txt", "metrics.jsonl", "model.pt", "tokenizer/tokenizer.model"})
    EXPECT_TRUE(fs::exists(dir / ("run1/" + std::string(f)))) << f;
  std::ifstream log(dir / "run1/log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(text.find("plugin [optimizer] muon 1.0.0 "), std::string::npos) << text.substr(0, 2000);
  EXPECT_NE(text.find(" sha256 "), std::string::npos);

  // Swapping the compressor reuses the weights: same pre-quantization score, no training.
  Result r2 = host("run " + pipeline + " --set compressor.plugin=brotli --run-dir " + (dir / "run2") +
                   " --reuse-training " + (dir / "run1"));
  ASSERT_EQ(r2.code, 0) << r2.output;
  auto s2 = summary(dir / "run2");
  EXPECT_DOUBLE_EQ(s2.get<double>("val_bpb_prequant"), pre);
  EXPECT_DOUBLE_EQ(s2.get<double>("val_bpb"), bpb);  // same quantized values, another byte stream
  EXPECT_NE(s2.get<int64_t>("bytes_model"), s.get<int64_t>("bytes_model"));
  EXPECT_FALSE(s2.get_optional<int>("steps"));

  // A change before training is refused for reuse.
  Result r3 = host("run " + pipeline + " --set architecture.num_layers=3 --run-dir " + (dir / "run3") +
                   " --reuse-training " + (dir / "run1"));
  EXPECT_EQ(r3.code, 1);
  EXPECT_NE(r3.output.find("[architecture] differs"), std::string::npos) << r3.output;
}

TEST(EndToEndTest, LimitsAndBadInputsFailClearly) {
  testing::TempDir dir;
  std::string pipeline = tiny_pipeline(dir);
  std::string few = " --set train.iterations=2 --set data.val_docs=4";

  Result over = host("run " + pipeline + few + " --set run.artifact_limit_bytes=1000 --run-dir " + (dir / "over"));
  EXPECT_EQ(over.code, 1);
  EXPECT_NE(over.output.find("artifact over the byte limit"), std::string::npos) << over.output;
  EXPECT_EQ(summary(dir / "over").get<std::string>("status"), "over_limit");
  EXPECT_TRUE(fs::exists(dir / "over/model.golf"));  // kept for inspection

  Result vocab = host("run " + pipeline + few + " --set architecture.vocab_size=256 --run-dir " + (dir / "vocab"));
  EXPECT_EQ(vocab.code, 1);
  EXPECT_NE(vocab.output.find("has 512 ids but [architecture] vocab_size is 256"), std::string::npos) << vocab.output;

  Result nan = host("run " + pipeline + " --set optimizer.tied_embed_lr=1e30 --set optimizer.matrix_lr=1e30 --run-dir " +
                    (dir / "nan"));
  EXPECT_EQ(nan.code, 1);
  EXPECT_NE(nan.output.find("training loss is"), std::string::npos) << nan.output;
  EXPECT_NE(nan.output.find(" at step "), std::string::npos) << nan.output;

  Result cuda = host("run " + pipeline + few + " --set run.device=cuda --run-dir " + (dir / "cuda"));
  EXPECT_NE(cuda.code, 0);
  EXPECT_NE(cuda.output.find("[run] device"), std::string::npos) << cuda.output;

  Result exists = host("run " + pipeline + few + " --run-dir " + (dir / "over"));
  EXPECT_EQ(exists.code, 1);
  EXPECT_NE(exists.output.find("exists and is not empty"), std::string::npos) << exists.output;

  Result invalid = host("run " + pipeline + " --set optimizer.lrr=1");
  EXPECT_EQ(invalid.code, 2);
  EXPECT_NE(invalid.output.find("unknown key 'lrr'"), std::string::npos);

  Result missing = host("run " + pipeline + few + " --set data.corpus=nowhere --run-dir " + (dir / "missing"));
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("corpus not found"), std::string::npos) << missing.output;
}

TEST(EndToEndTest, SigintStopsTrainingAndKeepsTheWeights) {
  testing::TempDir dir;
  std::string pipeline = tiny_pipeline(dir);
  std::string run_dir = dir / "int";
  pid_t pid = fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1), dup2(null, 2);
    execl(GOLF_TEST_HOST_BIN, GOLF_TEST_HOST_BIN, "run", pipeline.c_str(), "--set", "train.iterations=100000",
          "--run-dir", run_dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for the first metrics line (training has started), bounded.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::exists(run_dir + "/metrics.jsonl") && fs::file_size(run_dir + "/metrics.jsonl", ec) > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_TRUE(fs::exists(run_dir + "/model.pt"));
  EXPECT_EQ(summary(run_dir).get<std::string>("status"), "interrupted");
}

TEST(EndToEndTest, CommandLineTools) {
  Result plugins = host("plugins");
  EXPECT_EQ(plugins.code, 0);
  for (const char* name : {"sentencepiece", "gpt", "muon", "adamw", "none", "ema", "int8", "zstd", "brotli", "bpb"})
    EXPECT_NE(plugins.output.find(std::string("\n") + name + " "), std::string::npos) << name << "\n" << plugins.output;
  Result muon = host("plugin muon");
  EXPECT_EQ(muon.code, 0);
  EXPECT_NE(muon.output.find("matrix_lr"), std::string::npos);
  EXPECT_NE(muon.output.find("0.04"), std::string::npos);
  EXPECT_EQ(host("plugin muom").code, 2);
  EXPECT_EQ(host("frobnicate").code, 2);
  EXPECT_EQ(host("run").code, 2);
  testing::TempDir dir;
  Result v = host("validate " + tiny_pipeline(dir));
  EXPECT_EQ(v.code, 0) << v.output;
  EXPECT_NE(v.output.find("matrix"), std::string::npos) << v.output;
}

TEST(EndToEndTest, DataExportAndStatsWithTheOfficialTokenizer) {
  GOLF_REQUIRE_SHARED_DATA(fineweb, "fineweb_sample");
  testing::TempDir dir;
  std::string model = fineweb + "/fineweb_1024_bpe.model";
  Result e = host("data export --input " + fineweb + "/verify_docs.jsonl --tokenizer " + model + " --output " +
                  (dir / "out") + " --val-docs 10 --name fineweb");
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_NE(e.output.find("10 validation documents"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("190 training documents"), std::string::npos) << e.output;
  Result st = host("data stats " + (dir / "out/fineweb_val_000000.bin") + " --tokenizer " + model);
  ASSERT_EQ(st.code, 0) << st.output;
  EXPECT_NE(st.output.find("documents        10 (BOS tokens)"), std::string::npos) << st.output;
  // Tokens in the shard, read independently from its header.
  std::ifstream in(dir / "out/fineweb_val_000000.bin", std::ios::binary);
  int32_t header[3];
  in.read(reinterpret_cast<char*>(header), sizeof header);
  EXPECT_NE(st.output.find("tokens           " + std::to_string(header[2]) + "\n"), std::string::npos) << st.output;

  dir.write("bad/a.txt", std::string("ok \xFF", 4));
  Result bad = host("data export --input " + (dir / "bad") + " --tokenizer " + model + " --output " + (dir / "x") +
                    " --val-docs 1");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("a.txt: invalid UTF-8 at byte offset 3"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace golf
