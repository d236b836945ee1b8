// tests/conformance/tokenizer_conformance_test.cpp: what every tokenizer plugin must do once prepared on a real corpus.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "golf/golf.h"
#include "plugin_fixture.h"

namespace {

namespace fs = std::filesystem;
using golf::Tokenizer;
using golf::testing::Instance;

// Configs: a small vocabulary for the built-in sentencepiece (the corpus is small), the plugin's
// defaults for any other.
std::string config(const std::string& plugin) {
  if (plugin == "sentencepiece") return "vocab_size = 512";
  return "";
}

// Real text every checkout has, one document per file: golf's docs, headers and SDK.
std::vector<std::string> corpus() {
  std::vector<fs::path> files;
  const fs::path src = GOLF_TEST_SOURCE_DIR;
  for (const char* dir : {"docs", "host", "sdk/include/golf"})
    for (const auto& e : fs::directory_iterator(src / dir))
      if (e.path().extension() == ".md" || e.path().extension() == ".h") files.push_back(e.path());
  files.push_back(src / "README.md");
  std::sort(files.begin(), files.end());
  std::vector<std::string> docs;
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    docs.push_back(text.str());
  }
  return docs;
}

// ASCII prose with single spaces and no surrounding whitespace: every normalisation leaves it as it
// is, so the byte tables must count exactly its bytes.
const std::vector<std::string> kPlainTexts = {
    "The model is small and the weights are quantized to eight bits.",
    "A plugin declares its keys, and the host checks every table before the run starts.",
    "int64_t n = 42; return n * 2 + 1;",
    "x",
};

// Anything a corpus may hold: non-ASCII, digits, runs of whitespace, control characters.
const std::vector<std::string> kAnyTexts = {
    "", " ", "  leading and trailing  ", "tabs\tand\nnewlines\r\n", "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC",
    "emoji \xF0\x9F\x98\x80 and digits 3.14159 2026", std::string("nul\0inside", 10), "\x01\x02\x7f",
};

struct Prepared {
  std::unique_ptr<Instance<Tokenizer>> tokenizer;
  std::string work_dir;
};

class TokenizerConformance : public ::testing::Test {
 protected:
  static fs::path root() {
    return fs::temp_directory_path() / ("golf-" + std::to_string(::getpid()) + "-TokenizerConformance");
  }
  static void TearDownTestSuite() {
    prepared().clear();
    fs::remove_all(root());
  }
  static std::map<std::string, Prepared>& prepared() {
    static std::map<std::string, Prepared> cache;
    return cache;
  }
  static const std::vector<std::string>& docs() {
    static const std::vector<std::string> d = corpus();
    return d;
  }
  // A fresh instance of `name`, not prepared.
  static std::unique_ptr<Instance<Tokenizer>> make(const std::string& name) {
    return std::make_unique<Instance<Tokenizer>>(golf::testing::make_plugin<Tokenizer>(name, config(name)));
  }
  // `name` prepared on the corpus, once per process; nullptr (with a failure) when prepare() throws.
  static Tokenizer* tokenizer(const std::string& name) {
    auto it = prepared().find(name);
    if (it == prepared().end()) {
      Prepared p{make(name), (root() / name).string()};
      fs::create_directories(p.work_dir);
      try {
        (*p.tokenizer)->prepare(docs(), p.work_dir);
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << ": prepare() on " << docs().size() << " documents threw: " << e.what();
        return nullptr;
      }
      it = prepared().emplace(name, std::move(p)).first;
    }
    return it->second.tokenizer->get();
  }
  static std::vector<std::string> tokenizers() {
    std::vector<std::string> names = golf::testing::conformance_plugins(GOLF_KIND_TOKENIZER);
    EXPECT_FALSE(names.empty()) << "no tokenizer plugin found";
    return names;
  }
};

TEST_F(TokenizerConformance, PreparesOnARealCorpus) {
  for (const std::string& name : tokenizers()) {
    SCOPED_TRACE(name);
    Tokenizer* tok = tokenizer(name);
    if (!tok) continue;
    EXPECT_GT(tok->vocab_size(), 1);
    EXPECT_GE(tok->bos_id(), 0);
    EXPECT_LT(tok->bos_id(), tok->vocab_size());
    EXPECT_FALSE(tok->model_path().empty());
    EXPECT_TRUE(fs::is_regular_file(tok->model_path())) << tok->model_path();
  }
}

TEST_F(TokenizerConformance, EncodesToIdsInRangeWithoutBos) {
  for (const std::string& name : tokenizers()) {
    SCOPED_TRACE(name);
    Tokenizer* tok = tokenizer(name);
    if (!tok) continue;
    const int64_t vocab = tok->vocab_size();
    std::vector<std::string> texts = kAnyTexts;
    texts.insert(texts.end(), kPlainTexts.begin(), kPlainTexts.end());
    texts.insert(texts.end(), docs().begin(), docs().begin() + std::min<size_t>(5, docs().size()));
    for (const std::string& text : texts) {
      SCOPED_TRACE("text: " + text.substr(0, 40));
      const std::vector<int32_t> ids = tok->encode(text);
      for (int32_t id : ids) {
        ASSERT_GE(id, 0);
        ASSERT_LT(id, vocab);
      }
      EXPECT_EQ(std::count(ids.begin(), ids.end(), tok->bos_id()), 0) << "encode() added BOS";
      if (text.empty()) EXPECT_TRUE(ids.empty()) << "the empty text encodes to " << ids.size() << " ids";
      if (!kPlainTexts.empty() && text == kPlainTexts[0]) EXPECT_LT(ids.size(), text.size()) << "no merges learned";
    }
  }
}

TEST_F(TokenizerConformance, ByteTablesCountEveryByteOfPlainText) {
  for (const std::string& name : tokenizers()) {
    SCOPED_TRACE(name);
    Tokenizer* tok = tokenizer(name);
    if (!tok) continue;
    const golf::ByteTables t = tok->byte_tables();
    const size_t vocab = size_t(tok->vocab_size());
    ASSERT_EQ(t.base_bytes.size(), vocab);
    ASSERT_EQ(t.has_leading_space.size(), vocab);
    ASSERT_EQ(t.is_boundary.size(), vocab);
    for (size_t id = 0; id < vocab; ++id) {
      EXPECT_GE(t.base_bytes[id], 0) << "id " << id;
      EXPECT_LE(t.has_leading_space[id], 1) << "id " << id;
      EXPECT_LE(t.is_boundary[id], 1) << "id " << id;
    }
    const size_t bos = size_t(tok->bos_id());
    EXPECT_EQ(t.is_boundary[bos], 1) << "BOS is not a boundary";
    EXPECT_EQ(t.base_bytes[bos], 0) << "BOS counts bytes";
    // BPB's rule, the text following BOS: base_bytes[y] + (has_leading_space[y] && !is_boundary[x]).
    for (const std::string& text : kPlainTexts) {
      SCOPED_TRACE("text: " + text);
      int64_t bytes = 0;
      size_t prev = bos;
      for (int32_t id : tok->encode(text)) {
        bytes += t.base_bytes[id] + (t.has_leading_space[id] && !t.is_boundary[prev]);
        prev = size_t(id);
      }
      EXPECT_EQ(bytes, int64_t(text.size()));
    }
  }
}

// encode() is thread-safe after prepare() (the host encodes documents in parallel).
TEST_F(TokenizerConformance, EncodesFromTwoThreadsAsFromOne) {
  for (const std::string& name : tokenizers()) {
    SCOPED_TRACE(name);
    Tokenizer* tok = tokenizer(name);
    if (!tok) continue;
    std::vector<std::string> texts = docs();
    texts.insert(texts.end(), kAnyTexts.begin(), kAnyTexts.end());
    std::vector<std::vector<int32_t>> serial;
    for (const std::string& text : texts) serial.push_back(tok->encode(text));
    std::vector<std::vector<int32_t>> a(texts.size()), b(texts.size());
    std::string error_a, error_b;
    auto encode_all = [&](std::vector<std::vector<int32_t>>& out, std::string& error, bool reverse) {
      try {
        for (int round = 0; round < 3; ++round)
          for (size_t k = 0; k < texts.size(); ++k) {
            const size_t i = reverse ? texts.size() - 1 - k : k;
            out[i] = tok->encode(texts[i]);
          }
      } catch (const std::exception& e) {
        error = e.what();
      }
    };
    std::thread ta(encode_all, std::ref(a), std::ref(error_a), false);
    std::thread tb(encode_all, std::ref(b), std::ref(error_b), true);
    ta.join();
    tb.join();
    EXPECT_EQ(error_a, "");
    EXPECT_EQ(error_b, "");
    for (size_t i = 0; i < texts.size(); ++i) {
      EXPECT_EQ(a[i], serial[i]) << "text " << i;
      EXPECT_EQ(b[i], serial[i]) << "text " << i;
    }
  }
}

// A second instance prepared in the same work_dir (as --reuse-training does) is the same tokenizer.
TEST_F(TokenizerConformance, ReusesTheModelInItsWorkDir) {
  for (const std::string& name : tokenizers()) {
    SCOPED_TRACE(name);
    Tokenizer* tok = tokenizer(name);
    if (!tok) continue;
    auto again = make(name);
    (*again)->prepare(docs(), prepared().at(name).work_dir);
    EXPECT_EQ((*again)->vocab_size(), tok->vocab_size());
    EXPECT_EQ((*again)->bos_id(), tok->bos_id());
    for (const std::string& text : kPlainTexts) EXPECT_EQ((*again)->encode(text), tok->encode(text)) << text;
    for (const std::string& doc : docs()) ASSERT_EQ((*again)->encode(doc), tok->encode(doc));
  }
}

// Without documents a tokenizer that must train refuses with an exception (never a crash); one that
// loads a model file does not need them.
TEST_F(TokenizerConformance, AnEmptyCorpusThrowsOrIsNotNeeded) {
  for (const std::string& name : tokenizers()) {
    SCOPED_TRACE(name);
    auto fresh = make(name);
    const fs::path dir = root() / (name + "-empty");
    fs::create_directories(dir);
    try {
      (*fresh)->prepare({}, dir.string());
      EXPECT_GT((*fresh)->vocab_size(), 1) << "prepared without documents, but unusable";
    } catch (const std::runtime_error& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
}

}  // namespace
