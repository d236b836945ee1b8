// tests/e2e/run_test.cpp: golf-host end to end, as a user runs it: a tiny pipeline to a scored artifact,
// stage swapping on reused training, reruns from the run directory, and the command-line tools.
#include <gtest/gtest.h>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "e2e.h"
#include "plugin_fixture.h"
#include "temp_dir.h"

namespace fs = std::filesystem;

namespace golf::testing {
namespace {

// The post-training and evaluation stages of pipelines/frontier.toml (GPTQ int6 SDClip with int8
// embeddings, byte shuffle + brotli in groups, score-first TTT), shrunk onto the tiny pipeline; then
// each other evaluator on the same weights.
// pipelines/frontier.toml itself, every stage as the record has it, shrunk by --set to a CPU-sized run:
// 64 wide, the corpus instead of the sp8192 shards, 30 steps (the loops switch on at step 11), and an
// EMA decay for 30 steps rather than 4,550 (0.9965 would leave the weights at their initialisation).
TEST(EndToEndTest, FrontierPipelineShrunkRunsOnTheCpuToAScoredArtifact) {
  TempDir dir;
  const std::string corpus = make_corpus(dir);
  const std::string frontier = std::string(GOLF_TEST_SOURCE_DIR) + "/pipelines/frontier.toml";
  const std::string shrink =
      " --set run.device=cpu --set run.train_seconds=0 --set run.eval_seconds=0 --set data.train_shards=''"
      " --set data.val_shards='' --set data.corpus=" + corpus + " --set data.val_docs=4 --set tokenizer.model=''"
      " --set tokenizer.vocab_size=512 --set architecture.vocab_size=512 --set architecture.model_dim=64"
      " --set architecture.num_heads=4 --set architecture.num_kv_heads=2 --set train.seq_len=64"
      " --set train.batch_tokens=2048 --set train.micro_batch_tokens=1024 --set train.iterations=30"
      " --set train.warmup_steps=2 --set quantizer.passthrough_numel=1024 --set quantizer.calibration_batches=4"
      " --set quantizer.calibration_batch_tokens=512 --set quantizer.reserve_seconds=0 --set averaging.decay=0.8";
  Result r = host("run " + frontier + shrink +
                  " --set evaluator.chunk_tokens=2048 --set evaluator.stride=16 --run-dir " + (dir / "run"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto s = summary(dir / "run");
  EXPECT_EQ(s.get<std::string>("status"), "ok");
  EXPECT_EQ(s.get<int>("steps"), 30);
  EXPECT_GT(s.get<double>("calibration_seconds"), 0.0);
  EXPECT_EQ(s.get<int>("compression.byte_shuffle"), 2);
  EXPECT_TRUE(std::isfinite(s.get<double>("val_bpb")));
  EXPECT_LT(s.get<double>("val_bpb_prequant"), s.get<double>("unigram_bpb"));
  EXPECT_NE(r.output.find("adapted after scoring"), std::string::npos) << r.output;
  // quantization.json: every tensor, the matrices int6 with a Hessian-weighted error from calibration.
  const std::string report = slurp(dir / "run/quantization.json");
  EXPECT_NE(report.find("\"name\": \"blocks.0.mlp.fc.weight\", \"role\": \"matrix\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"bits\": 6"), std::string::npos) << report;
  EXPECT_NE(report.find("\"hessian_error\": 0."), std::string::npos) << report;
  EXPECT_NE(report.find("\"name\": \"tok_emb.weight\", \"role\": \"tied_embedding\""), std::string::npos) << report;

  for (const std::string ev : {"sliding", "ttt-lora --set evaluator.context=64 --set evaluator.batch_docs=2"}) {
    Result e = host("run " + frontier + shrink + " --set evaluator.plugin=" + ev + " --reuse-training " + (dir / "run") +
                    " --run-dir " + (dir / ("run-" + ev.substr(0, ev.find(' ')))));
    ASSERT_EQ(e.code, 0) << ev << "\n" << e.output;
  }
  // The same weights and artifact bytes: only the evaluation differs.
  auto sliding = summary(dir / "run-sliding");
  EXPECT_EQ(sliding.get<int64_t>("bytes_model"), s.get<int64_t>("bytes_model"));
  EXPECT_EQ(sliding.get<int64_t>("val_tokens"), s.get<int64_t>("val_tokens"));
}

// Each ablation extends the base and is valid as it stands (on a stand-in corpus: CI has no quickstart data).
TEST(EndToEndTest, EveryAblationPipelineExtendsTheBaseAndValidates) {
  TempDir dir;
  const std::string corpus = make_corpus(dir);
  const fs::path folder = fs::path(GOLF_TEST_SOURCE_DIR) / "pipelines/ablations";
  int n = 0;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    if (e.path().filename() != "base.toml")
      EXPECT_NE(slurp(e.path().string()).find("\nextends = \"base.toml\"\n"), std::string::npos) << e.path();
    Result v = host("validate " + e.path().string() + " --set data.corpus=" + corpus + " --set data.val_docs=4");
    EXPECT_EQ(v.code, 0) << e.path() << "\n" << v.output;
  }
  EXPECT_GE(n, 30);
}

// Without the sp8192 data (and here without a GPU), validate still sizes the record's model.
TEST(EndToEndTest, FrontierValidatesToItsParameterCountWithoutItsData) {
  Result v = host("validate " + std::string(GOLF_TEST_SOURCE_DIR) + "/pipelines/frontier.toml --set data.train_shards=" +
                  "/nonexistent/fineweb_train_*.bin --set tokenizer.model=/nonexistent/fineweb_8192_bpe.model");
  EXPECT_EQ(v.code, 2) << v.output;
  EXPECT_NE(v.output.find("model (gpt): 35944536 parameters"), std::string::npos) << v.output;
  EXPECT_NE(v.output.find("[tokenizer] model: no SentencePiece model file at '/nonexistent/fineweb_8192_bpe.model'"),
            std::string::npos) << v.output;
  EXPECT_NE(v.output.find("cannot run here as it is"), std::string::npos) << v.output;
}

TEST(EndToEndTest, TinyPipelineToAScoredArtifactThenSwapTheCompressor) {
  TempDir dir;
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
  // bytes_code: the sources of the plugins this pipeline uses, as listed here by hand, plus code_files.
  auto source_bytes = [](std::initializer_list<const char*> files) {
    int64_t n = 0;
    for (const char* f : files) n += int64_t(fs::file_size(fs::path(GOLF_TEST_SOURCE_DIR) / "plugins" / f));
    return n;
  };
  const int64_t plugins = source_bytes({"tokenizer/sentencepiece/sentencepiece.cpp", "architecture/gpt/gpt.cpp",
                                        "architecture/gpt/gpt_model.cpp", "architecture/gpt/gpt_model.h",
                                        "optimizer/muon/muon.cpp", "optimizer/torch_adam_state.h", "averaging/averaging.cpp",
                                        "quantizer/int8/int8.cpp", "compressor/zstd/zstd.cpp", "evaluator/bpb/bpb.cpp"});
  EXPECT_EQ(s.get<int64_t>("bytes_code"), plugins + int64_t(fs::file_size(pipeline)));
  EXPECT_EQ(s.get<int64_t>("bytes_total"), s.get<int64_t>("bytes_model") + s.get<int64_t>("bytes_code"));
  for (const char* f : {"pipeline.toml", "log.txt", "metrics.jsonl", "model.pt", "tokenizer/tokenizer.model"})
    EXPECT_TRUE(fs::exists(dir / ("run1/" + std::string(f)))) << f;
  std::ifstream log(dir / "run1/log.txt");
  std::string text((std::istreambuf_iterator<char>(log)), {});
  EXPECT_NE(text.find("plugin [optimizer] muon 1.1.0 "), std::string::npos) << text.substr(0, 2000);
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
  EXPECT_EQ(s2.get<int64_t>("bytes_code") - s.get<int64_t>("bytes_code"),
            source_bytes({"compressor/brotli/brotli.cpp"}) - source_bytes({"compressor/zstd/zstd.cpp"}))
      << "bytes_code follows the compressor swapped in";

  // xz behind the host's byte shuffle and per-group streams: the same score from other bytes, and
  // the compressed bytes of every tensor group reported.
  Result xz = host("run " + pipeline + " --set compressor.plugin=xz --set run.byte_shuffle=2 --set run.compress_groups=auto" +
                   " --run-dir " + (dir / "xz") + " --reuse-training " + (dir / "run1"));
  ASSERT_EQ(xz.code, 0) << xz.output;
  auto sx = summary(dir / "xz");
  EXPECT_DOUBLE_EQ(sx.get<double>("val_bpb"), bpb);
  EXPECT_EQ(sx.get<int>("compression.byte_shuffle"), 2);
  EXPECT_EQ(sx.get<std::string>("compression.compress_groups"), "auto");
  EXPECT_GT(sx.get_child("compression.groups").size(), 3u);
  EXPECT_NE(xz.output.find("compression: group blocks.*."), std::string::npos) << xz.output;

  // The run directory's pipeline.toml reruns the run as it was, from any folder: same weights.
  Result again = host("run " + (dir / "run1/pipeline.toml") + " --run-dir " + (dir / "rerun"));
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(summary(dir / "rerun").get<std::string>("weights_sha256"), s.get<std::string>("weights_sha256"));
  EXPECT_EQ(summary(dir / "rerun").get<int64_t>("bytes_code"), s.get<int64_t>("bytes_code"));

  // Reuse states what it ignores, and a damaged model.pt is named as such.
  Result ignored = host("run " + pipeline + " --set train.iterations=7 --run-dir " + (dir / "run4") + " --reuse-training " +
                        (dir / "run1"));
  EXPECT_EQ(ignored.code, 0) << ignored.output;
  EXPECT_NE(ignored.output.find("--reuse-training ignores [train] iterations: 40 -> 7"), std::string::npos) << ignored.output;
  {
    std::fstream f(dir / "run1/model.pt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3000);
    f.put('\x5a');
  }
  Result damaged = host("run " + pipeline + " --run-dir " + (dir / "run5") + " --reuse-training " + (dir / "run1"));
  EXPECT_EQ(damaged.code, 2);
  EXPECT_NE(damaged.output.find("model.pt: damaged: its sha256 is"), std::string::npos) << damaged.output;
  EXPECT_FALSE(fs::exists(dir / "run5"));

  // A change before training is refused for reuse.
  Result r3 = host("run " + pipeline + " --set architecture.num_layers=3 --run-dir " + (dir / "run3") +
                   " --reuse-training " + (dir / "run1"));
  EXPECT_EQ(r3.code, 2);
  EXPECT_NE(r3.output.find("[architecture] differs"), std::string::npos) << r3.output;
  EXPECT_NE(r3.output.find("[architecture] num_layers: 2 -> 3"), std::string::npos) << r3.output;
  EXPECT_FALSE(fs::exists(dir / "run3"));
}

TEST(EndToEndTest, LimitsAndBadInputsFailClearly) {
  TempDir dir;
  std::string pipeline = tiny_pipeline(dir);
  std::string few = " --set train.iterations=2 --set data.val_docs=4";

  Result over = host("run " + pipeline + few + " --set run.artifact_limit_bytes=1000 --run-dir " + (dir / "over"));
  EXPECT_EQ(over.code, 1);
  EXPECT_NE(over.output.find("artifact over the byte limit"), std::string::npos) << over.output;
  EXPECT_EQ(summary(dir / "over").get<std::string>("status"), "over_limit");
  EXPECT_TRUE(fs::exists(dir / "over/model.golf"));  // kept for inspection

  Result nan = host("run " + pipeline + " --set optimizer.tied_embed_lr=1e30 --set optimizer.matrix_lr=1e30 --run-dir " +
                    (dir / "nan"));
  EXPECT_EQ(nan.code, 1);
  EXPECT_NE(nan.output.find("training loss is"), std::string::npos) << nan.output;
  EXPECT_NE(nan.output.find(" at step "), std::string::npos) << nan.output;

  Result exists = host("run " + pipeline + few + " --run-dir " + (dir / "over"));
  EXPECT_EQ(exists.code, 2);
  EXPECT_NE(exists.output.find("exists and is not empty"), std::string::npos) << exists.output;

}

TEST(EndToEndTest, ReuseTrainingWithATokenizerFileAndShards) {
  TempDir dir;
  Result made = host("run " + tiny_pipeline(dir) + " --set train.iterations=2 --run-dir " + (dir / "made"));
  ASSERT_EQ(made.code, 0) << made.output;
  // The same model, now from shard globs and a .model file, as with the reference's FineWeb data.
  const std::string shards = shard_pipeline(dir, dir / "made");
  Result first = host("run " + shards + " --set train.iterations=3 --run-dir " + (dir / "first"));
  ASSERT_EQ(first.code, 0) << first.output;
  EXPECT_FALSE(fs::exists(dir / "first/tokenizer")) << "a tokenizer file is not copied into the run";
  Result reused = host("run " + shards + " --set compressor.plugin=brotli --run-dir " + (dir / "reused") +
                       " --reuse-training " + (dir / "first"));
  ASSERT_EQ(reused.code, 0) << reused.output;
  EXPECT_DOUBLE_EQ(summary(dir / "reused").get<double>("val_bpb_prequant"), summary(dir / "first").get<double>("val_bpb_prequant"));
  EXPECT_NE(reused.output.find("--reuse-training ignores [train] iterations: 3 -> 40"), std::string::npos) << reused.output;
}

TEST(EndToEndTest, CommandLineTools) {
  Result plugins = host("plugins");
  EXPECT_EQ(plugins.code, 0);
  for (const char* name : {"sentencepiece", "gpt", "muon", "adamw", "none", "ema", "int8", "zstd", "brotli", "xz", "bpb"})
    EXPECT_NE(plugins.output.find(std::string("\n") + name + " "), std::string::npos) << name << "\n" << plugins.output;
  Result muon = host("plugin muon");
  EXPECT_EQ(muon.code, 0);
  EXPECT_NE(muon.output.find("matrix_lr"), std::string::npos);
  EXPECT_NE(muon.output.find("0.04"), std::string::npos);
  EXPECT_EQ(host("plugin muom").code, 2);
  // The markdown form docs/*.md embed (scripts/gen-docs.sh): the keys alone, one row each.
  Result table = host("plugin muon --markdown");
  EXPECT_EQ(table.code, 0);
  EXPECT_EQ(table.output.rfind("| key | type | default | doc |\n| --- | --- | --- | --- |\n", 0), 0u) << table.output;
  EXPECT_NE(table.output.find("| `matrix_lr` | float | `0.04` | "), std::string::npos) << table.output;
  EXPECT_EQ(table.output.find("library:"), std::string::npos) << table.output;
  Result train = host("plugin --host train --markdown");
  EXPECT_EQ(train.code, 0);
  EXPECT_NE(train.output.find("| `iterations` | int | `20000` | "), std::string::npos) << train.output;
  EXPECT_EQ(train.output.find("`seed`"), std::string::npos) << train.output;
  Result all = host("plugin --host");
  EXPECT_EQ(all.code, 0);
  for (const char* t : {"[run] (golf-host)", "[data] (golf-host)", "[train] (golf-host)"})
    EXPECT_NE(all.output.find(t), std::string::npos) << all.output;
  EXPECT_EQ(host("plugin --host optimizer").code, 2);
  EXPECT_EQ(host("frobnicate").code, 2);
  EXPECT_EQ(host("run").code, 2);
  TempDir dir;
  Result v = host("validate " + tiny_pipeline(dir));
  EXPECT_EQ(v.code, 0) << v.output;
  EXPECT_NE(v.output.find("matrix"), std::string::npos) << v.output;
}

TEST(EndToEndTest, DataExportAndStatsWithTheOfficialTokenizer) {
  GOLF_REQUIRE_SHARED_DATA(fineweb, "fineweb_sample");
  TempDir dir;
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
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("a.txt: invalid UTF-8 at byte offset 3"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace golf::testing
