// tests/e2e/e2e.cpp: golf-host as a subprocess, and the small real pipelines the end-to-end tests run.
#include "e2e.h"

#include <sys/wait.h>

#include <boost/property_tree/json_parser.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace golf::testing {

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

std::string make_corpus(const TempDir& dir) {
  int n = 0;
  for (const char* sub : {"host", "sdk/include/golf"})
    for (const auto& e : fs::directory_iterator(fs::path(GOLF_TEST_SOURCE_DIR) / sub)) {
      std::ifstream in(e.path());
      dir.write("corpus/" + std::to_string(1000 + n++) + ".txt", std::string((std::istreambuf_iterator<char>(in)), {}));
    }
  return dir / "corpus";
}

std::string tiny_pipeline(const TempDir& dir, const std::string& extra) {
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

std::string shard_pipeline(const TempDir& dir, const std::string& made_run, const std::string& val_glob) {
  const std::string made = (fs::path(made_run) / "data").string();
  return dir.write("shards.toml", "extends = \"tiny.toml\"\n[data]\ncorpus = \"\"\nval_docs = 0\n"
                                  "train_shards = \"" + made + "/corpus_train_*.bin\"\n"
                                  "val_shards = \"" + (val_glob.empty() ? made + "/corpus_val_*.bin" : val_glob) + "\"\n"
                                  "[tokenizer]\nmodel = \"" + made_run + "/tokenizer/tokenizer.model\"\n");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace golf::testing
