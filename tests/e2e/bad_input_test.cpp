// tests/e2e/bad_input_test.cpp: every class of bad input ends with exit 2 and a message naming what and
// where; `validate` refuses exactly what `run` refuses, and `run` refuses it before creating anything.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "e2e.h"
#include "plugin_fixture.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace golf::testing {
namespace {

struct Case {
  std::string pipeline;  // "tiny" (a corpus), "shards" (a .model tokenizer and shard globs)
  std::string args;      // appended to the command line
  std::string expect;    // a part of the message that names what and where
};

// The line of golf-host's output that carries the error.
std::string error_line(const std::string& output) {
  size_t at = output.find("error: ");
  return at == std::string::npos ? "" : output.substr(at, output.find('\n', at) - at);
}

void expect_clean_message(const Result& r, const std::string& what) {
  EXPECT_EQ(r.output.find("frame #"), std::string::npos) << what << ": LibTorch stack frames\n" << r.output;
  EXPECT_EQ(r.output.find("Exception raised from"), std::string::npos) << what << "\n" << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << what << "\n" << r.output;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tiny = tiny_pipeline(dir);
    // A finished run gives a tokenizer file, shards made with it, and weights to reuse.
    Result r = host("run " + tiny + " --set train.iterations=2 --run-dir " + (dir / "done"));
    ASSERT_EQ(r.code, 0) << r.output;
    shards = shard_pipeline(dir, dir / "done", dir / "val/corpus_val_*.bin");
    fs::create_directories(dir / "val");
    fs::copy(dir / "done/data/corpus_val_000000.bin", dir / "val/corpus_val_000000.bin");
    fs::copy(dir / "done/data/shards.json", dir / "val/shards.json");
  }
  std::string file(const Case& c) { return c.pipeline == "tiny" ? tiny : shards; }

  TempDir dir;
  std::string tiny, shards;
};

TEST_F(BadInputTest, ValidateAndRunRefuseTheSameInputsBeforeCreatingAnything) {
  const std::string done = dir / "done";
  // A validation shard with one id past the 512-id vocabulary, one cut short, and a record naming
  // another tokenizer.
  std::string shard = slurp(dir / "val/corpus_val_000000.bin");
  std::string bad_id = shard;
  bad_id[1024 + 2 * 7] = char(0x00), bad_id[1024 + 2 * 7 + 1] = char(0x40);  // id 16384 at token 7
  dir.write("badid/corpus_val_000000.bin", bad_id);
  dir.write("short/corpus_val_000000.bin", shard.substr(0, shard.size() - 3));
  dir.write("other/corpus_val_000000.bin", shard);
  dir.write("other/shards.json", "{\"tokenizer\": \"/elsewhere.model\", \"tokenizer_sha256\": \"00ff\"}");
  dir.write("nomodel/pipeline.toml", slurp(done + "/pipeline.toml"));
  dir.write("broken.toml", "[run\nname = 1\n");
  dir.write("cycle.toml", "extends = \"cycle.toml\"\n");

  const std::vector<Case> cases = {
      // Numbers: NaN, infinities, negative budgets and limits, values that overflow their use.
      {"tiny", "--set run.train_seconds=nan", "[run] train_seconds must be a finite number, got nan"},
      {"tiny", "--set run.eval_seconds=inf", "[run] eval_seconds must be a finite number, got an infinity"},
      {"tiny", "--set run.train_seconds=-inf", "[run] train_seconds must be a finite number"},
      {"tiny", "--set optimizer.matrix_lr=nan", "[optimizer] matrix_lr must be a finite number"},
      {"tiny", "--set architecture.rope_base=inf", "[architecture] rope_base must be a finite number"},
      {"tiny", "--set run.train_seconds=-1", "[run] train_seconds: must be a finite number >= 0"},
      {"tiny", "--set run.eval_seconds=-0.5", "[run] eval_seconds: must be a finite number >= 0"},
      {"tiny", "--set run.artifact_limit_bytes=-5", "[run] artifact_limit_bytes: must be in [1, "},
      {"tiny", "--set run.threads=3000000000", "[run] threads: must be in [0, 4096], got 3000000000"},
      {"tiny", "--set run.threads=-1", "[run] threads: must be in [0, 4096]"},
      {"tiny", "--set run.byte_shuffle=1", "[run] byte_shuffle: must be 0 (off) or a stride in 2..16, got 1"},
      {"tiny", "--set run.byte_shuffle=17", "[run] byte_shuffle: must be 0 (off) or a stride in 2..16, got 17"},
      {"tiny", "--set run.compress_groups=yes", "[run] compress_groups: must be \"off\", \"on\" or \"auto\", got \"yes\""},
      {"tiny", "--set run.seed=-3", "[run] seed: must be >= 0"},
      {"tiny", "--set data.max_val_tokens=-1", "[data] max_val_tokens: must be in [0, "},
      {"tiny", "--set train.iterations=99999999999999999999", "--set train.iterations=99999999999999999999: Error while parsing"},
      {"tiny", "--set train.iterations=1e3", "[train] iterations must be an integer"},
      {"tiny", "--set architecture.num_layers=5000", "[architecture] num_layers: must be in [1, 1024], got 5000"},
      {"tiny", "--set evaluator.batch_tokens=0", "[evaluator] batch_tokens: must be in [1, "},
      // [train]: ranges and divisibility.
      {"tiny", "--set train.batch_tokens=2000", "[train] batch_tokens: must be a positive multiple of seq_len"},
      {"tiny", "--set train.micro_batch_tokens=1000", "[train] micro_batch_tokens: must divide batch_tokens"},
      {"tiny", "--set train.seq_len=0", "[train] seq_len: must be positive"},
      {"tiny", "--set train.iterations=0", "[train] iterations: must be positive"},
      {"tiny", "--set train.log_every=0", "[train] log_every"},
      {"tiny", "--set train.warmdown=sideways", "[train] warmdown: must be \"auto\", \"time\" or \"steps\""},
      {"tiny", "--set train.warmdown=time", "[train] warmdown: \"time\" needs [run] train_seconds > 0"},
      // The device and dtype against this build and machine.
      {"tiny", "--set run.device=cuda", "[run] device: "},
      {"tiny", "--set run.device=tpu", "[run] device: must be \"cpu\", \"cuda\" or \"cuda:N\""},
      {"tiny", "--set run.dtype=float16", "[run] dtype: must be \"auto\", \"float32\" or \"bfloat16\""},
      {"tiny", "--set run.name=../elsewhere", "[run] name: must be letters, digits"},
      {"tiny", "--set run.code_files=nothing*", "[run] code_files: '"},
      // [data]: the corpus and its split, the shard globs and what they hold.
      {"tiny", "--set data.corpus=nowhere", "[data] corpus: "},
      {"tiny", "--set data.val_docs=0", "[data] val_docs: must be >= 1 with a corpus"},
      {"tiny", "--set data.val_docs=100000", "[data] val_docs: val_docs must be between 1 and"},
      {"tiny", "--set data.val_shards=x", "[data] corpus: give either corpus or the shard globs"},
      {"shards", "--set data.train_shards=nothing*.bin", "[data] train_shards: "},
      {"shards", "--set data.val_shards=" + (dir / "badid/*.bin"), "corpus_val_000000.bin: token 7 (of "},
      {"shards", "--set data.val_shards=" + (dir / "short/*.bin"), "corpus_val_000000.bin: corrupted shard"},
      {"shards", "--set data.val_shards=" + (dir / "other/*.bin"), "were made with the tokenizer /elsewhere.model"},
      {"shards", "--set data.val_docs=3", "[data] val_docs: applies to a corpus"},
      {"shards", "--set tokenizer.model=''", "[tokenizer] model: no model file is given"},
      {"shards", "--set tokenizer.model=missing.model", "[tokenizer] model: no SentencePiece model file at"},
      {"shards", "--set architecture.vocab_size=300", "[architecture] vocab_size: tokenizer sentencepiece"},
      // Each plugin's own checks, and sizes that cannot fit in memory.
      {"tiny", "--set architecture.vocab_size=256", "[architecture] vocab_size: [tokenizer] vocab_size = 512 gives 512 ids"},
      {"tiny", "--set architecture.num_heads=3", "[architecture] num_heads: must divide model_dim"},
      {"tiny", "--set optimizer.momentum=1.5", "[optimizer] momentum: must be in [0, 1)"},
      {"tiny", "--set compressor.level=99", "[compressor] level: must be in 1..22"},
      {"tiny", "--set architecture.model_dim=65536", "[architecture] model_dim: "},
      {"tiny", "--set train.batch_tokens=1099511627776", "[train] batch_tokens: a micro-batch of 1099511627776 tokens needs"},
      {"tiny", "--set optimizer.lrr=1", "unknown key 'lrr' in [optimizer] (plugin muon)"},
      {"tiny", "--set optimizer.plugin=muom", "unknown plugin 'muom'; did you mean 'muon'?"},
      {"tiny", "--set optimizer.plugin=gpt", "plugin 'gpt' is an architecture, but this stage needs an optimizer"},
      // --set syntax, and pipeline files.
      {"tiny", "--set garbage", "--set garbage: expected stage.key=value"},
      {"tiny", "--set nodot=1", "--set nodot=1: expected stage.key=value"},
      {"tiny", "--set train.x.y=1", "--set train.x.y=1:"},
      {dir / "missing.toml", "", "missing.toml: pipeline file not found"},
      {dir / "broken.toml", "", "broken.toml:1:"},
      {dir / "cycle.toml", "", "cycle.toml: `extends` cycle"},
      // --reuse-training: the directory, its pipeline and weights.
      {"tiny", "--reuse-training " + (dir / "nowhere"), "--reuse-training " + (dir / "nowhere") + ": no such run directory"},
      {"tiny", "--reuse-training " + (dir / "nomodel"), ": has no model.pt"},
      {"tiny", "--reuse-training " + done + " --set architecture.num_layers=3", "[architecture] num_layers: 2 -> 3"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string pipeline = c.pipeline == "tiny" || c.pipeline == "shards" ? file(c) : c.pipeline;
    const std::string what = c.pipeline + " " + c.args;
    Result v = host("validate " + pipeline + " " + c.args);
    EXPECT_EQ(v.code, 2) << what << "\n" << v.output;
    EXPECT_NE(v.output.find(c.expect), std::string::npos) << what << ": expected \"" << c.expect << "\"\n" << v.output;
    expect_clean_message(v, what);
    const std::string run_dir = dir / ("run" + std::to_string(n++));
    Result r = host("run " + pipeline + " " + c.args + " --run-dir " + run_dir);
    EXPECT_EQ(r.code, 2) << what << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << what << ": expected \"" << c.expect << "\"\n" << r.output;
    EXPECT_EQ(error_line(r.output), error_line(v.output)) << what;
    EXPECT_FALSE(fs::exists(run_dir)) << what << ": run created its directory for an input it refuses";
    expect_clean_message(r, what);
  }
  // The same pipelines are valid, and run, without the bad value.
  EXPECT_EQ(host("validate " + shards).code, 0);
}

TEST_F(BadInputTest, DataToolsRefuseBadDataAndExportValidationOnly) {
  const std::string model = dir / "done/tokenizer/tokenizer.model";
  {  // a valid shard header with no tokens
    int32_t header[256] = {20240520, 1, 0};
    std::ofstream(dir / "empty.bin", std::ios::binary).write(reinterpret_cast<char*>(header), sizeof header);
  }
  Result empty = host("data stats " + (dir / "empty.bin") + " --tokenizer " + model);
  EXPECT_EQ(empty.code, 2);
  EXPECT_NE(empty.output.find("empty.bin: empty shard"), std::string::npos) << empty.output;
  Result junk = host("data stats " + dir.write("junk.bin", "not a shard") + " --tokenizer " + model);
  EXPECT_EQ(junk.code, 2);
  EXPECT_NE(junk.output.find("junk.bin: not a shard"), std::string::npos) << junk.output;
  Result notok = host("data stats " + (dir / "empty.bin") + " --tokenizer " + (dir / "nope.model"));
  EXPECT_EQ(notok.code, 2);
  EXPECT_NE(notok.output.find("--tokenizer " + (dir / "nope.model") + ": no such file"), std::string::npos) << notok.output;

  const std::string jsonl = dir.write("docs.jsonl", "{\"text\": \"one document\"}\n{\"text\": 42}\n");
  Result number = host("data export --input " + jsonl + " --tokenizer " + model + " --output " + (dir / "x") + " --val-docs 1");
  EXPECT_EQ(number.code, 2);
  EXPECT_NE(number.output.find("docs.jsonl:2: field \"text\" is number, not a string"), std::string::npos) << number.output;
  EXPECT_FALSE(fs::exists(dir / "x"));

  const std::string good = dir.write("good.jsonl", "{\"text\": \"one document\"}\n{\"text\": \"and another\"}\n");
  Result val_only = host("data export --input " + good + " --tokenizer " + model + " --output " + (dir / "v") + " --val-only");
  ASSERT_EQ(val_only.code, 0) << val_only.output;
  EXPECT_NE(val_only.output.find("2 validation documents"), std::string::npos) << val_only.output;
  EXPECT_TRUE(fs::exists(dir / "v/good_val_000000.bin"));
  EXPECT_FALSE(fs::exists(dir / "v/good_train_000000.bin"));
  EXPECT_NE(slurp(dir / "v/shards.json").find("\"train_docs\": 0"), std::string::npos);
  EXPECT_EQ(host("data export --input " + good + " --tokenizer " + model + " --output " + (dir / "w") +
                 " --val-only --val-docs 1").code, 2);
}

TEST(CommandLineTest, EverySubcommandHasHelpAndRefusesForeignOptions) {
  for (const char* c : {"run", "validate", "plugins", "plugin", "data export", "data stats", "export", "import", "score"}) {
    Result r = host(std::string(c) + " --help");
    EXPECT_EQ(r.code, 0) << c << "\n" << r.output;
    EXPECT_NE(r.output.find(std::string("usage: golf-host ") + c), std::string::npos) << c << "\n" << r.output;
  }
  EXPECT_EQ(host("data --help").code, 0);
  Result foreign = host("plugins --run-dir x");
  EXPECT_EQ(foreign.code, 2);
  EXPECT_NE(foreign.output.find("--run-dir does not apply to `plugins`"), std::string::npos) << foreign.output;
  Result unknown = host("run x.toml --frobnicate");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.output.find("frobnicate"), std::string::npos) << unknown.output;
}

}  // namespace
}  // namespace golf::testing
