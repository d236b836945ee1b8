// host/corpus_test.cpp: corpora read in order, bad UTF-8 and bad JSONL are reported where they are.
#include "corpus.h"

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace golf::host {
namespace {

std::string error_of(const std::string& path) {
  try {
    read_corpus(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(CorpusTest, FolderOfTextFilesInNameOrder) {
  testing::TempDir dir;
  dir.write("c/b.txt", "second");
  dir.write("c/a.txt", "first \xE2\x96\x81 ok");
  dir.write("c/skip.md", "not a document");
  auto docs = read_corpus(dir / "c");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].name, "a.txt");
  EXPECT_EQ(docs[1].text, "second");
}

TEST(CorpusTest, JsonlTextFieldWithEscapes) {
  testing::TempDir dir;
  auto p = dir.write("d.jsonl", "{\"text\": \"caf\\u00e9\\nline\", \"id\": 3}\n\n{\"text\": \"two\"}\n");
  auto docs = read_corpus(p);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "caf\xC3\xA9\nline");
  EXPECT_EQ(docs[1].name, "d.jsonl:3");
}

TEST(CorpusTest, InvalidUtf8NamesFileAndOffset) {
  testing::TempDir dir;
  dir.write("c/a.txt", "good");
  dir.write("c/b.txt", std::string("abc\xC3(", 5));
  auto e = error_of(dir / "c");
  EXPECT_NE(e.find("b.txt: invalid UTF-8 at byte offset 3"), std::string::npos) << e;
}

TEST(CorpusTest, BadJsonlAndEmptyCorpus) {
  testing::TempDir dir;
  EXPECT_NE(error_of(dir.write("a.jsonl", "{\"txt\": \"x\"}\n")).find("a.jsonl:1: no string field \"text\""), std::string::npos);
  EXPECT_NE(error_of(dir.write("b.jsonl", "{broken\n")).find("b.jsonl:1: not a JSON object"), std::string::npos);
  dir.write("e/a.txt", "  \n");
  EXPECT_NE(error_of(dir / "e").find("empty corpus"), std::string::npos);
  EXPECT_NE(error_of(dir / "nope").find("corpus not found"), std::string::npos);
}

TEST(CorpusTest, SplitFirstNOrByName) {
  std::vector<Document> docs = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  std::vector<Document> train, val;
  split_corpus(docs, 1, {}, train, val);
  ASSERT_EQ(val.size(), 1u);
  EXPECT_EQ(val[0].name, "a");
  split_corpus(docs, 0, {"c"}, train, val);
  EXPECT_EQ(val[0].name, "c");
  EXPECT_EQ(train.size(), 2u);
  EXPECT_THROW(split_corpus(docs, 0, {"zz"}, train, val), std::runtime_error);
  EXPECT_THROW(split_corpus(docs, 3, {}, train, val), std::runtime_error);
}

}  // namespace
}  // namespace golf::host
