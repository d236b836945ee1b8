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
  EXPECT_NE(error_of(dir.write("a.jsonl", "{\"txt\": \"x\"}\n")).find("a.jsonl:1: no field \"text\""), std::string::npos);
  EXPECT_NE(error_of(dir.write("b.jsonl", "{broken\n")).find("b.jsonl:1: not JSON"), std::string::npos);
  EXPECT_NE(error_of(dir.write("c.jsonl", "[1, 2]\n")).find("c.jsonl:1: a JSONL line must be an object"), std::string::npos);
  // A "text" that is not a string is refused by its JSON type, never read as its digits or as "".
  for (const char* value : {"5", "-1.5e3", "null", "true", "[\"a\"]", "{\"t\": \"a\"}"}) {
    const std::string e = error_of(dir.write("t.jsonl", "{\"text\": \"fine\"}\n{\"text\": " + std::string(value) + "}\n"));
    EXPECT_NE(e.find("t.jsonl:2: field \"text\" is "), std::string::npos) << value << ": " << e;
    EXPECT_NE(e.find(", not a string"), std::string::npos) << value << ": " << e;
  }
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
  split_corpus(docs, 0, {}, train, val, /*validation_only=*/true);
  EXPECT_EQ(val.size(), 3u);
  EXPECT_TRUE(train.empty());
}

}  // namespace
}  // namespace golf::host
