// The `sentencepiece` tokenizer: loads a SentencePiece .model or trains a BPE one like the reference.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "golf/golf.h"

namespace {

namespace fs = std::filesystem;

// U+2581, SentencePiece's word-boundary marker (the space that starts a piece).
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

// 4 special ids + 256 byte-fallback pieces; shards store ids as uint16 (reference §2.1).
constexpr int64_t kMinVocab = 4 + 256 + 1;
constexpr int64_t kMaxVocab = 65536;

// SentencePiece's own limit on sentence length, used when the corpus has only short documents.
constexpr int64_t kDefaultMaxSentenceLength = 4192;

// The reference strips documents with Python's str.strip(); this covers its ASCII whitespace
// (0x1C-0x1F included). Unicode spaces it also strips are trimmed by nmt_nfkc normalization anyway.
bool is_ascii_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f');
}

// `value` with every digit of the trainer's float field (std::to_string keeps only six decimals).
std::string exact_decimal(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", value);
  return text;
}

// A document as the reference feeds it to the trainer, minus the '\0' -> ' ' replacement (which does
// not change lengths): stripped of surrounding whitespace. '\0' counts as whitespace since it becomes one.
std::string_view stripped(std::string_view doc) {
  auto space = [](char c) { return c == '\0' || is_ascii_space(c); };
  size_t begin = 0, end = doc.size();
  while (begin < end && space(doc[begin])) ++begin;
  while (end > begin && space(doc[end - 1])) --end;
  return doc.substr(begin, end - begin);
}

// Feeds the non-empty stripped documents to the trainer, one document per sentence, with '\0'
// replaced by a space. The views point into the caller's documents, which outlive training.
class DocIterator final : public sentencepiece::SentenceIterator {
 public:
  explicit DocIterator(const std::vector<std::string_view>& docs) : docs_(docs) { load(); }
  bool done() const override { return index_ >= docs_.size(); }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (done()) return;
    current_.assign(docs_[index_]);
    std::replace(current_.begin(), current_.end(), '\0', ' ');
  }

  const std::vector<std::string_view>& docs_;
  size_t index_ = 0;
  std::string current_;
};

class SentencePieceTokenizer final : public golf::Tokenizer {
 public:
  explicit SentencePieceTokenizer(golf::PluginContext& ctx) : ctx_(ctx) {
    const golf::Config& config = ctx.config();
    // An unset or empty `model` means "train"; only a real path is loaded.
    if (config.is_set("model")) model_ = config.get_string("model");
    if (!model_.empty() && !fs::is_regular_file(model_)) {
      config.fail("model", "no SentencePiece model file at '" + model_ + "'");
    }
    vocab_size_ = config.get_int("vocab_size");
    if (vocab_size_ < kMinVocab || vocab_size_ > kMaxVocab) {
      config.fail("vocab_size", "must be in [" + std::to_string(kMinVocab) + ", " + std::to_string(kMaxVocab) +
                                    "]: 4 special ids and 256 byte pieces come first, and shards store uint16 ids");
    }
    character_coverage_ = config.get_float("character_coverage");
    if (!(character_coverage_ > 0.0 && character_coverage_ <= 1.0)) {
      config.fail("character_coverage", "must be in (0, 1]");
    }
    max_train_docs_ = config.get_int("max_train_docs");
    if (max_train_docs_ < 0) config.fail("max_train_docs", "must be >= 0 (0 means every document)");
    threads_ = config.get_int("threads");
    if (threads_ < 1 || threads_ > 1024) config.fail("threads", "must be in [1, 1024]");
  }

  void prepare(const std::vector<std::string>& training_docs, const std::string& work_dir) override {
    std::string path = model_;
    if (path.empty()) {
      path = (fs::path(work_dir) / "tokenizer.model").string();
      // A model already in work_dir is this plugin's own from an earlier run (--reuse-training copies it).
      if (!fs::exists(path)) {
        if (training_docs.empty())
          ctx_.config().fail("model", "no model file is given, and there is no corpus to train one on ([data] "
                                      "corpus); name the .model file that made the shards");
        train(training_docs, path);
      }
    }
    load(path);
    model_path_ = path;
    ctx_.log().info("sentencepiece: " + path + ", vocab " + std::to_string(vocab_size()));
  }

  int64_t vocab_size() const override { return processor_.GetPieceSize(); }
  int32_t bos_id() const override { return processor_.bos_id(); }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int> ids;
    auto status = processor_.Encode({text.data(), text.size()}, &ids);
    if (!status.ok()) throw std::runtime_error(std::string("sentencepiece: encode failed: ") + status.message());
    return std::vector<int32_t>(ids.begin(), ids.end());
  }

  // Reference §3 (build_sentencepiece_luts), one entry per id.
  golf::ByteTables byte_tables() const override {
    const int n = processor_.GetPieceSize();
    golf::ByteTables tables;
    tables.base_bytes.assign(n, 0);
    tables.has_leading_space.assign(n, 0);
    tables.is_boundary.assign(n, 1);
    for (int id = 0; id < n; ++id) {
      if (processor_.IsControl(id) || processor_.IsUnknown(id) || processor_.IsUnused(id)) continue;
      tables.is_boundary[id] = 0;
      if (processor_.IsByte(id)) {
        tables.base_bytes[id] = 1;  // one raw byte, never the 3-byte U+FFFD its decode would give
        continue;
      }
      std::string_view piece = processor_.IdToPiece(id);
      if (piece.substr(0, kSpaceMarker.size()) == kSpaceMarker) {
        tables.has_leading_space[id] = 1;  // the space byte is added per position, not here
        piece.remove_prefix(kSpaceMarker.size());
      }
      tables.base_bytes[id] = static_cast<int16_t>(piece.size());
    }
    return tables;
  }

  std::string model_path() const override { return model_path_; }

 private:
  // Trains a BPE model with the reference settings (§2.6) and writes it to `path` (a .model file).
  void train(const std::vector<std::string>& training_docs, const std::string& path) {
    size_t limit = training_docs.size();
    if (max_train_docs_ > 0) limit = std::min(limit, static_cast<size_t>(max_train_docs_));
    std::vector<std::string_view> docs;
    int64_t longest = 0, total = 0;
    for (size_t i = 0; i < limit; ++i) {
      std::string_view doc = stripped(training_docs[i]);
      if (doc.empty()) continue;
      docs.push_back(doc);
      longest = std::max<int64_t>(longest, doc.size());
      total += doc.size();
    }
    if (docs.empty()) {
      throw std::runtime_error("sentencepiece: cannot train a tokenizer on an empty corpus (" +
                               std::to_string(limit) + " documents, none with text)");
    }
    fs::create_directories(fs::path(path).parent_path());
    ctx_.log().info("sentencepiece: training BPE, vocab " + std::to_string(vocab_size_) + ", on " +
                    std::to_string(docs.size()) + " documents (" + std::to_string(total) + " bytes)");

    // Each document is one sentence, as in the reference. SentencePiece skips sentences longer than
    // max_sentence_length (4192 bytes by default), so it is raised to the longest document: nothing
    // is dropped. (A document over INT_MAX bytes cannot be a sentence at all; it is refused below.)
    if (longest > INT_MAX) throw std::runtime_error("sentencepiece: a training document exceeds 2 GiB");
    const int64_t max_sentence_length = std::max(longest, kDefaultMaxSentenceLength);
    const std::unordered_map<std::string, std::string> args = {
        {"model_prefix", fs::path(path).replace_extension().string()},  // writes .model and .vocab
        {"model_type", "bpe"},
        {"vocab_size", std::to_string(vocab_size_)},
        {"character_coverage", exact_decimal(character_coverage_)},
        {"byte_fallback", "true"},
        {"split_digits", "true"},
        {"normalization_rule_name", "nmt_nfkc"},
        {"add_dummy_prefix", "false"},
        {"pad_id", "0"},
        {"bos_id", "1"},
        {"eos_id", "2"},
        {"unk_id", "3"},
        {"hard_vocab_limit", "false"},
        {"max_sentence_length", std::to_string(max_sentence_length)},
        {"num_threads", std::to_string(threads_)},
        // Errors only. SentencePiece writes to std::cerr directly: its INFO lines would flood the
        // terminal, and a library loaded with RTLD_DEEPBIND (as the host loads plugins) may bind to an
        // uninitialised std::cerr and crash on any line. Its warnings concern limits set above anyway.
        {"minloglevel", "2"},
    };
    DocIterator iterator(docs);
    auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator);
    if (!status.ok()) throw std::runtime_error(std::string("sentencepiece: training failed: ") + status.message());
  }

  // Loads `path` and refuses models that BPB cannot count correctly.
  void load(const std::string& path) {
    auto status = processor_.Load(path);
    if (!status.ok()) {
      throw std::runtime_error("sentencepiece: cannot load model '" + path + "': " + status.message());
    }
    if (processor_.PieceToId(std::string(kSpaceMarker)) == processor_.unk_id()) {
      throw std::runtime_error(
          "sentencepiece: model '" + path + "' has no standalone \"\xE2\x96\x81\" (U+2581) piece, so every space "
          "would be encoded as 3 byte-fallback tokens counted as 3 bytes: BPB would over-count spaces and come "
          "out too low (parameter-golf issue #897)");
    }
    if (processor_.bos_id() < 0) {
      throw std::runtime_error("sentencepiece: model '" + path + "' has no BOS piece; documents need one");
    }
  }

  golf::PluginContext& ctx_;
  std::string model_;       // the `model` option: a file to load, or empty to train
  std::string model_path_;  // the file loaded by prepare()
  int64_t vocab_size_ = 0;
  double character_coverage_ = 0;
  int64_t max_train_docs_ = 0;
  int64_t threads_ = 0;
  sentencepiece::SentencePieceProcessor processor_;
};

const golf_config_key kConfig[] = {
    {"model", GOLF_TYPE_PATH, "\"\"", "SentencePiece .model file to load; empty: train one on the corpus"},
    {"vocab_size", GOLF_TYPE_INT, "1024", "vocabulary size when training"},
    {"character_coverage", GOLF_TYPE_FLOAT, "0.999", "share of characters covered by pieces when training"},
    {"max_train_docs", GOLF_TYPE_INT, "0", "train on the first N documents only; 0 = all"},
    {"threads", GOLF_TYPE_INT, "2", "trainer threads"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<SentencePieceTokenizer>("sentencepiece", "1.0.0",
                                                  "SentencePiece BPE tokenizer (reference sp<V> settings)", kConfig))
