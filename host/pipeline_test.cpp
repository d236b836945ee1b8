// host/pipeline_test.cpp: extends, --set and every validation error with its file and line.
#include "pipeline.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace golf::host {
namespace {

const char* kMinimal = R"([run]
name = "t"
[data]
corpus = "corpus"
val_docs = 1
[tokenizer]
plugin = "sentencepiece"
vocab_size = 512
[architecture]
plugin = "gpt"
num_layers = 2
[optimizer]
plugin = "muon"
matrix_lr = 0.02
[quantizer]
plugin = "int8"
[compressor]
plugin = "zstd"
[evaluator]
plugin = "bpb"
)";

class PipelineTest : public ::testing::Test {
 protected:
  // One scan for the suite: each probes every plugin in a child process, which valgrind makes slow.
  static void SetUpTestSuite() { registry.scan({GOLF_TEST_PLUGIN_DIR}); }
  std::string errors(const std::string& file, const std::vector<std::string>& sets = {}) {
    try {
      load_pipeline(file, sets, registry);
    } catch (const PipelineError& e) {
      return e.what();
    }
    return "";
  }
  static inline Registry registry;
  testing::TempDir dir;
};

TEST_F(PipelineTest, MinimalIsValidAndPathsResolveAgainstTheFile) {
  Pipeline p = load_pipeline(dir.write("p.toml", kMinimal), {}, registry);
  EXPECT_EQ(p.stages.size(), 6u);
  EXPECT_EQ(p.data->get_string("corpus"), dir / "corpus");
  EXPECT_EQ(p.stage("optimizer")->config.get_float("matrix_lr"), 0.02);
  EXPECT_EQ(p.run->get_int("artifact_limit_bytes"), 16000000);  // default
  EXPECT_EQ(p.stage("averaging"), nullptr);
}

TEST_F(PipelineTest, ExtendsMergesKeysAndAnotherPluginReplacesTheTable) {
  dir.write("base.toml", kMinimal);
  auto child = dir.write("sub/child.toml",
                         "extends = \"../base.toml\"\n[optimizer]\nplugin = \"adamw\"\nlr = 0.003\n[run]\nseed = 7\n");
  Pipeline p = load_pipeline(child, {"architecture.num_layers=3", "run.name=cli"}, registry);
  EXPECT_EQ(p.run->get_int("seed"), 7);
  EXPECT_EQ(p.run->get_string("name"), "cli");
  EXPECT_EQ(p.stage("architecture")->config.get_int("num_layers"), 3);
  EXPECT_EQ(std::string(p.stage("optimizer")->plugin->desc.name), "adamw");
  EXPECT_FALSE(p.stage("optimizer")->config.table().contains("matrix_lr"));  // muon's key did not leak
  EXPECT_EQ(p.data->get_string("corpus"), dir / "corpus");                   // relative to base.toml
}

TEST_F(PipelineTest, SetOfAnotherPluginDropsTheFilesKeysForTheOldOne) {
  const std::string file = dir.write("p.toml", kMinimal);
  // muon's matrix_lr would be an unknown key for adamw; an earlier --set of the same stage stays.
  Pipeline p = load_pipeline(file, {"optimizer.weight_decay=0.5", "optimizer.plugin=adamw"}, registry);
  EXPECT_EQ(std::string(p.stage("optimizer")->plugin->desc.name), "adamw");
  EXPECT_FALSE(p.stage("optimizer")->config.table().contains("matrix_lr"));
  EXPECT_DOUBLE_EQ(p.stage("optimizer")->config.get_float("weight_decay"), 0.5);
  // The same plugin named again keeps the file's keys.
  Pipeline same = load_pipeline(file, {"optimizer.plugin=muon"}, registry);
  EXPECT_DOUBLE_EQ(same.stage("optimizer")->config.get_float("matrix_lr"), 0.02);
}

TEST_F(PipelineTest, ErrorsNameFileLineAndKey) {
  std::string bad = std::string(kMinimal) + "[optimizer2]\nx = 1\n";
  bad.replace(bad.find("matrix_lr"), 9, "matrix_lrr");
  bad.replace(bad.find("num_layers = 2"), 14, "num_layers = \"two\"");
  auto file = dir.write("bad.toml", bad);
  std::string e = errors(file);
  EXPECT_NE(e.find(file + ":14: unknown key 'matrix_lrr' in [optimizer] (plugin muon); did you mean 'matrix_lr'?"),
            std::string::npos) << e;
  EXPECT_NE(e.find(file + ":11: [architecture] num_layers must be an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown table [optimizer2]; did you mean [optimizer]?"), std::string::npos) << e;
}

TEST_F(PipelineTest, PluginProblems) {
  std::string wrong = kMinimal;
  wrong.replace(wrong.find("plugin = \"muon\""), 15, "plugin = \"zstd\"");
  std::string e = errors(dir.write("w.toml", wrong));
  EXPECT_NE(e.find("plugin 'zstd' is a compressor, but this stage needs an optimizer"), std::string::npos) << e;
  std::string unknown = kMinimal;
  unknown.replace(unknown.find("plugin = \"muon\""), 15, "plugin = \"muonn\"");
  e = errors(dir.write("u.toml", unknown));
  EXPECT_NE(e.find("unknown plugin 'muonn'; did you mean 'muon'?"), std::string::npos) << e;
  dir.write("libnot.so", "garbage");
  std::string path = kMinimal;
  path.replace(path.find("plugin = \"muon\""), 15, "plugin = \"libnot.so\"");
  e = errors(dir.write("p.toml", path));
  EXPECT_NE(e.find("cannot be loaded as a shared library"), std::string::npos) << e;
}

TEST_F(PipelineTest, MalformedTomlMissingStagesCyclesAndBadSet) {
  auto f = dir.write("m.toml", "[run]\nname = \n");
  EXPECT_NE(errors(f).find(f + ":2:"), std::string::npos);
  EXPECT_NE(errors(f).find("malformed TOML"), std::string::npos);
  std::string e = errors(dir.write("empty.toml", ""));
  EXPECT_NE(e.find("missing table [tokenizer]"), std::string::npos) << e;
  EXPECT_NE(e.find("missing table [evaluator]"), std::string::npos) << e;
  dir.write("a.toml", "extends = \"b.toml\"\n");
  dir.write("b.toml", "extends = \"a.toml\"\n");
  EXPECT_NE(errors(dir / "a.toml").find("cycle"), std::string::npos);
  auto ok = dir.write("ok.toml", kMinimal);
  EXPECT_NE(errors(ok, {"nodot=1"}).find("expected stage.key=value"), std::string::npos);
  EXPECT_NE(errors(ok, {"run.seed=abc"}).find("--set run.seed=abc: [run] seed must be an integer"), std::string::npos);
  EXPECT_NE(errors(dir / "absent.toml").find("pipeline file not found"), std::string::npos);
}

}  // namespace
}  // namespace golf::host
