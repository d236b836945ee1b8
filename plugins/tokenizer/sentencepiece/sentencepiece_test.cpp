// Tests for the `sentencepiece` tokenizer: byte tables of the official sp1024 model, training, refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "plugin_fixture.h"

namespace {

namespace fs = std::filesystem;
using golf::Tokenizer;
using golf::testing::make_plugin;

const std::string kSpaceMarker = "\xE2\x96\x81";  // U+2581

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Pieces of a SentencePiece .vocab file ("piece TAB score" per line); the line number is the id.
std::vector<std::string> read_vocab_pieces(const std::string& path) {
  std::vector<std::string> pieces;
  std::istringstream lines(read_text(path));
  for (std::string line; std::getline(lines, line);) pieces.push_back(line.substr(0, line.find('\t')));
  return pieces;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The JSON string literal that starts at line[pos] (a '"'), unescaped to UTF-8.
std::string json_string(const std::string& line, size_t pos) {
  std::string out;
  for (++pos; pos < line.size() && line[pos] != '"'; ++pos) {
    if (line[pos] != '\\') {
      out += line[pos];
      continue;
    }
    const char e = line[++pos];
    if (e == 'n') out += '\n';
    else if (e == 't') out += '\t';
    else if (e == 'r') out += '\r';
    else if (e == 'b') out += '\b';
    else if (e == 'f') out += '\f';
    else if (e != 'u') out += e;  // \" \\ \/
    else {
      uint32_t cp = std::stoul(line.substr(pos + 1, 4), nullptr, 16);
      pos += 4;
      if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair: \uD8xx\uDCxx
        cp = 0x10000 + ((cp - 0xD800) << 10) + (std::stoul(line.substr(pos + 3, 4), nullptr, 16) - 0xDC00);
        pos += 6;
      }
      append_utf8(cp, out);
    }
  }
  return out;
}

// The "text" field of every line of a JSONL file of {"text": "..."} objects.
std::vector<std::string> read_jsonl_texts(const std::string& path) {
  std::vector<std::string> texts;
  std::istringstream lines(read_text(path));
  for (std::string line; std::getline(lines, line);) {
    const size_t key = line.find("\"text\"");
    if (key == std::string::npos) continue;
    texts.push_back(json_string(line, line.find('"', line.find(':', key))));
  }
  return texts;
}

// Bytes of the stream [BOS] + ids under the reference rule, computed here from the tables.
int64_t stream_bytes(const golf::ByteTables& t, int32_t bos, const std::vector<int32_t>& ids) {
  int64_t bytes = 0;
  int32_t prev = bos;
  for (int32_t y : ids) {
    bytes += t.base_bytes[y] + (t.has_leading_space[y] && !t.is_boundary[prev] ? 1 : 0);
    prev = y;
  }
  return bytes;
}

// Documents whose nmt_nfkc normalization keeps their UTF-8 length: every character is printable
// ASCII, '\n' (mapped to one space) or one of a few non-ASCII letters and punctuation that NFKC maps
// to themselves (checked with Python's unicodedata.normalize("NFKC", c) == c); no run of two
// whitespace characters and none at either end (the normalizer collapses and trims those).
bool keeps_length_under_nfkc(const std::string& doc) {
  static const std::vector<std::string> kStable = {"İ", "ı", "Ş", "ş", "Ğ", "ğ", "Ü", "ü", "Ö", "ö", "Ç",
                                                   "ç", "’", "‘", "“", "”", "–", "—"};
  if (doc.empty() || doc.front() == ' ' || doc.front() == '\n' || doc.back() == ' ' || doc.back() == '\n') return false;
  for (size_t i = 0; i < doc.size();) {
    const unsigned char c = doc[i];
    if ((c >= 0x20 && c < 0x7F) || c == '\n') {
      const bool space = c == ' ' || c == '\n';
      if (space && i + 1 < doc.size() && (doc[i + 1] == ' ' || doc[i + 1] == '\n')) return false;
      ++i;
      continue;
    }
    auto it = std::find_if(kStable.begin(), kStable.end(), [&](const std::string& s) { return doc.compare(i, s.size(), s) == 0; });
    if (it == kStable.end()) return false;
    i += it->size();
  }
  return true;
}

// A fresh, empty directory under the test temp dir, named after the running test.
std::string fresh_dir(const std::string& tag = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) / ("golf_sp_" + std::string(info->name()) + tag);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Tiny Shakespeare's first `max_bytes`, split into documents at blank lines.
std::vector<std::string> shakespeare_docs(const std::string& path, size_t max_bytes) {
  const std::string text = read_text(path).substr(0, max_bytes);
  std::vector<std::string> docs;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = std::min(text.find("\n\n", begin), text.size());
    docs.push_back(text.substr(begin, end - begin));
    begin = end + 2;
  }
  return docs;
}

// Decodes ids with the pieces of a .vocab file: "▁" is a space, "<0xHH>" one raw byte.
std::string decode_with_vocab(const std::vector<std::string>& pieces, const std::vector<int32_t>& ids) {
  std::string text;
  for (int32_t id : ids) {
    const std::string& piece = pieces.at(id);
    if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>') {
      text += static_cast<char>(std::stoul(piece.substr(3, 2), nullptr, 16));
      continue;
    }
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, kSpaceMarker.size(), kSpaceMarker) == 0) {
        text += ' ';
        i += kSpaceMarker.size();
      } else {
        text += piece[i++];
      }
    }
  }
  return text;
}

// Expects making the plugin with `toml` to be refused with a message that mentions `needle`. (The
// host may pass the plugin's golf::ConfigError on as another std::runtime_error, so only the message
// is checked.)
void expect_config_error(const std::string& toml, const std::string& needle) {
  try {
    make_plugin<Tokenizer>("sentencepiece", toml);
    ADD_FAILURE() << "accepted: " << toml;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---- The official sp1024 model -------------------------------------------------------------------

TEST(SentencepieceTest, OfficialModelSpecialAndBytePieces) {
  GOLF_REQUIRE_SHARED_DATA(dir, "fineweb_sample");
  auto tok = make_plugin<Tokenizer>("sentencepiece", "model = \"" + dir + "/fineweb_1024_bpe.model\"");
  tok->prepare({}, fresh_dir());
  EXPECT_EQ(tok->vocab_size(), 1024);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_TRUE(fs::equivalent(tok->model_path(), dir + "/fineweb_1024_bpe.model")) << tok->model_path();

  // " İ": the space becomes the standalone "▁" (id 939, issue #897), İ (C4 B0) has no piece and
  // falls back to bytes, and byte b is id b + 4.
  EXPECT_EQ(tok->encode("x \xC4\xB0"), (std::vector<int32_t>{tok->encode("x")[0], 939, 4 + 0xC4, 4 + 0xB0}));

  const golf::ByteTables t = tok->byte_tables();
  ASSERT_EQ(t.base_bytes.size(), 1024u);
  ASSERT_EQ(t.has_leading_space.size(), 1024u);
  ASSERT_EQ(t.is_boundary.size(), 1024u);
  for (int id = 0; id < 4; ++id) {  // <pad> <s> </s> <unk>
    EXPECT_EQ(t.base_bytes[id], 0) << id;
    EXPECT_EQ(t.has_leading_space[id], 0) << id;
    EXPECT_EQ(t.is_boundary[id], 1) << id;
  }
  for (int id = 4; id < 260; ++id) {  // <0x00> .. <0xFF>
    EXPECT_EQ(t.base_bytes[id], 1) << id;
    EXPECT_EQ(t.has_leading_space[id], 0) << id;
    EXPECT_EQ(t.is_boundary[id], 0) << id;
  }
  EXPECT_EQ(t.base_bytes[939], 0);  // "▁" alone: its byte is the leading-space term's
  EXPECT_EQ(t.has_leading_space[939], 1);
}

TEST(SentencepieceTest, OfficialModelMergedPiecesMatchVocabFile) {
  GOLF_REQUIRE_SHARED_DATA(dir, "fineweb_sample");
  auto tok = make_plugin<Tokenizer>("sentencepiece", "model = \"" + dir + "/fineweb_1024_bpe.model\"");
  tok->prepare({}, fresh_dir());
  const golf::ByteTables t = tok->byte_tables();
  const std::vector<std::string> pieces = read_vocab_pieces(dir + "/fineweb_1024_bpe.vocab");
  ASSERT_EQ(pieces.size(), 1024u);
  EXPECT_EQ(pieces[938], kSpaceMarker + "because");
  EXPECT_EQ(t.base_bytes[938], 7);
  EXPECT_EQ(t.has_leading_space[938], 1);
  EXPECT_EQ(pieces[939], kSpaceMarker);

  // Every merged piece: UTF-8 length of the .vocab text without one leading "▁".
  int with_space = 0;
  for (int id = 260; id < 1024; ++id) {
    const bool space = pieces[id].rfind(kSpaceMarker, 0) == 0;
    const int bytes = static_cast<int>(pieces[id].size() - (space ? kSpaceMarker.size() : 0));
    EXPECT_EQ(t.base_bytes[id], bytes) << "id " << id << " '" << pieces[id] << "'";
    EXPECT_EQ(t.has_leading_space[id], space ? 1 : 0) << "id " << id;
    EXPECT_EQ(t.is_boundary[id], 0) << "id " << id;
    with_space += space;
  }
  EXPECT_GT(with_space, 100);  // the check above really covered both kinds of piece
}

TEST(SentencepieceTest, OfficialModelBytesOfRealDocumentsEqualTheirLength) {
  GOLF_REQUIRE_SHARED_DATA(dir, "fineweb_sample");
  auto tok = make_plugin<Tokenizer>("sentencepiece", "model = \"" + dir + "/fineweb_1024_bpe.model\"");
  tok->prepare({}, fresh_dir());
  const golf::ByteTables t = tok->byte_tables();
  const std::vector<std::string> docs = read_jsonl_texts(dir + "/verify_docs.jsonl");
  ASSERT_EQ(docs.size(), 200u);

  // Every sampled document has some non-ASCII text (mostly "İ"), so the pick is the documents whose
  // normalized text keeps its UTF-8 length (see keeps_length_under_nfkc): 51 of the 200, e.g. doc 19,
  // 6,605 bytes whose only non-ASCII character is İ (two byte-fallback tokens, one byte each).
  ASSERT_TRUE(keeps_length_under_nfkc(docs[19]));
  EXPECT_EQ(docs[19].size(), 6605u);
  int checked = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!keeps_length_under_nfkc(docs[i])) continue;
    EXPECT_EQ(stream_bytes(t, tok->bos_id(), tok->encode(docs[i])), static_cast<int64_t>(docs[i].size()))
        << "document " << i;
    ++checked;
  }
  EXPECT_EQ(checked, 51);
}

// ---- Training ------------------------------------------------------------------------------------

TEST(SentencepieceTest, TrainsSmallVocabOnShakespeare) {
  GOLF_REQUIRE_SHARED_DATA(dir, "tinyshakespeare");
  std::vector<std::string> docs = shakespeare_docs(dir + "/input.txt", 300000);
  docs.insert(docs.begin(), {"", "  \n\t", std::string("\0\0", 2)});  // skipped: empty once cleaned
  const std::string work = fresh_dir();
  // 400, not 300: 4 specials + 256 bytes + Shakespeare's ~57 covered characters need 317 already.
  auto tok = make_plugin<Tokenizer>("sentencepiece", "vocab_size = 400");
  tok->prepare(docs, work);

  EXPECT_EQ(tok->model_path(), work + "/tokenizer.model");
  EXPECT_TRUE(fs::is_regular_file(work + "/tokenizer.model"));
  EXPECT_EQ(tok->vocab_size(), 400);
  EXPECT_EQ(tok->bos_id(), 1);
  const golf::ByteTables t = tok->byte_tables();
  ASSERT_EQ(t.base_bytes.size(), 400u);
  ASSERT_EQ(t.has_leading_space.size(), 400u);
  ASSERT_EQ(t.is_boundary.size(), 400u);

  // The trainer's .vocab, written beside the model, is an independent view of the pieces.
  const std::vector<std::string> pieces = read_vocab_pieces(work + "/tokenizer.vocab");
  ASSERT_EQ(pieces.size(), 400u);
  EXPECT_EQ(pieces[0], "<pad>");
  EXPECT_EQ(pieces[1], "<s>");
  EXPECT_EQ(pieces[2], "</s>");
  EXPECT_EQ(pieces[3], "<unk>");
  EXPECT_EQ(pieces[4], "<0x00>");
  EXPECT_EQ(pieces[259], "<0xFF>");
  const auto marker = std::find(pieces.begin(), pieces.end(), kSpaceMarker);
  ASSERT_NE(marker, pieces.end()) << "no standalone U+2581 piece";
  EXPECT_EQ(t.base_bytes[marker - pieces.begin()], 0);
  EXPECT_EQ(t.has_leading_space[marker - pieces.begin()], 1);

  // Round trip; the snowman and "ï" are not in the training text and come back through byte fallback.
  const std::string line = "First Citizen: Before we proceed any further, hear me speak. na\xC3\xAFve \xE2\x98\x83!";
  const std::vector<int32_t> ids = tok->encode(line);
  EXPECT_EQ(decode_with_vocab(pieces, ids), line);
  EXPECT_LT(ids.size() * 10, line.size() * 8);  // merges were learned: well under one token per byte
  EXPECT_EQ(stream_bytes(t, tok->bos_id(), ids), static_cast<int64_t>(line.size()));
}

TEST(SentencepieceTest, TrainsOnOneDocumentLongerThanSentencePiecesDefaultLimit) {
  GOLF_REQUIRE_SHARED_DATA(dir, "tinyshakespeare");
  // 200 KB in one document: with SentencePiece's default max_sentence_length (4192) it would be
  // skipped and training would fail for want of sentences.
  const std::string text = read_text(dir + "/input.txt").substr(0, 200000);
  auto tok = make_plugin<Tokenizer>("sentencepiece", "vocab_size = 400");
  tok->prepare({text}, fresh_dir());
  EXPECT_EQ(tok->vocab_size(), 400);
  EXPECT_LT(tok->encode("the king").size(), 8u);
}

TEST(SentencepieceTest, TrainerFailureIsAnErrorNotACrash) {
  GOLF_REQUIRE_SHARED_DATA(dir, "tinyshakespeare");
  // 300 < 4 + 256 + the ~57 characters that coverage 0.999 requires: SentencePiece returns an error.
  auto tok = make_plugin<Tokenizer>("sentencepiece", "vocab_size = 300");
  try {
    tok->prepare(shakespeare_docs(dir + "/input.txt", 100000), fresh_dir());
    FAIL() << "training with too small a vocabulary succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("training failed"), std::string::npos) << e.what();
  }
}

TEST(SentencepieceTest, EmptyCorpusThrows) {
  auto tok = make_plugin<Tokenizer>("sentencepiece");
  EXPECT_THROW(tok->prepare({}, fresh_dir("_none")), std::runtime_error);
  try {
    tok->prepare({"", " \n ", std::string(3, '\0')}, fresh_dir("_blank"));
    FAIL() << "no exception for a corpus of blank documents";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("empty corpus"), std::string::npos) << e.what();
  }
}

TEST(SentencepieceTest, MaxTrainDocsTakesTheFirstDocuments) {
  // Only the first two documents count, and both are blank.
  auto tok = make_plugin<Tokenizer>("sentencepiece", "max_train_docs = 2");
  const std::vector<std::string> docs = {"", "   ", "plenty of text after the limit", "and more of it"};
  EXPECT_THROW(tok->prepare(docs, fresh_dir()), std::runtime_error);
}

// ---- Refusals ------------------------------------------------------------------------------------

TEST(SentencepieceTest, RefusesModelWithoutStandaloneSpacePiece) {
  GOLF_REQUIRE_SHARED_DATA(dir, "tinyshakespeare");
  // A corpus without whitespace never shows the trainer a "▁", so the model it writes lacks one:
  // a space would then encode as the 3 bytes E2 96 81 (issue #897).
  std::vector<std::string> docs = shakespeare_docs(dir + "/input.txt", 200000);
  for (std::string& doc : docs) {
    doc.erase(std::remove_if(doc.begin(), doc.end(), [](char c) { return c == ' ' || c == '\n'; }), doc.end());
  }
  const std::string work = fresh_dir();
  auto trained = make_plugin<Tokenizer>("sentencepiece", "vocab_size = 400");
  try {
    trained->prepare(docs, work);
    FAIL() << "a model without a standalone U+2581 piece was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(work + "/tokenizer.model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("#897"), std::string::npos) << e.what();
  }

  // The same file, given as `model`, is refused the same way.
  auto loaded = make_plugin<Tokenizer>("sentencepiece", "model = \"" + work + "/tokenizer.model\"");
  EXPECT_THROW(loaded->prepare({}, fresh_dir("_load")), std::runtime_error);
}

TEST(SentencepieceTest, UnreadableModelErrorsNameTheFile) {
  expect_config_error("model = \"/nonexistent/golf/x.model\"", "/nonexistent/golf/x.model");

  const std::string bogus = fresh_dir() + "/bogus.model";
  std::ofstream(bogus) << "this is not a protobuf";
  auto tok = make_plugin<Tokenizer>("sentencepiece", "model = \"" + bogus + "\"");
  try {
    tok->prepare({}, fresh_dir("_work"));
    FAIL() << "a corrupt model was loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bogus), std::string::npos) << e.what();
  }
}

TEST(SentencepieceTest, RejectsBadConfigValues) {
  expect_config_error("vocab_size = 100", "vocab_size");
  expect_config_error("vocab_size = 70000", "vocab_size");
  expect_config_error("character_coverage = 0.0", "character_coverage");
  expect_config_error("character_coverage = 1.5", "character_coverage");
  expect_config_error("max_train_docs = -1", "max_train_docs");
  expect_config_error("threads = 0", "threads");
}

}  // namespace
