// host/corpus.cpp: corpus reading with UTF-8 checks, train/val split, export to shards.
#include "corpus.h"

#include <boost/locale/utf.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "shard.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// Offset of the first invalid UTF-8 sequence, or npos.
size_t invalid_utf8_at(const std::string& s) {
  using utf = boost::locale::utf::utf_traits<char>;
  const char* begin = s.data();
  const char* p = begin;
  const char* end = begin + s.size();
  while (p != end) {
    const char* start = p;
    auto c = utf::decode(p, end);
    if (c == boost::locale::utf::illegal || c == boost::locale::utf::incomplete) return size_t(start - begin);
  }
  return std::string::npos;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void check_utf8(const std::string& text, const std::string& where) {
  size_t bad = invalid_utf8_at(text);
  if (bad != std::string::npos)
    throw std::runtime_error(where + ": invalid UTF-8 at byte offset " + std::to_string(bad));
}

std::vector<Document> read_jsonl(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot read");
  std::vector<Document> docs;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = path.string() + ":" + std::to_string(n);
    check_utf8(line, where);
    boost::property_tree::ptree tree;
    try {
      std::istringstream s(line);
      boost::property_tree::read_json(s, tree);
    } catch (const std::exception& e) {
      throw std::runtime_error(where + ": not a JSON object (" + std::string(e.what()) + ")");
    }
    auto text = tree.get_child_optional("text");
    if (!text || !text->empty()) throw std::runtime_error(where + ": no string field \"text\"");
    docs.push_back({path.filename().string() + ":" + std::to_string(n), text->data()});
  }
  return docs;
}

}  // namespace

std::vector<Document> read_corpus(const std::string& path) {
  std::vector<Document> docs;
  if (fs::is_directory(path)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file() && e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string text = slurp(f);
      check_utf8(text, f.string());
      docs.push_back({f.filename().string(), std::move(text)});
    }
  } else if (fs::is_regular_file(path) && fs::path(path).extension() == ".jsonl") {
    docs = read_jsonl(path);
  } else if (fs::is_regular_file(path)) {
    throw std::runtime_error(path + ": a corpus is a folder of .txt files or a .jsonl file");
  } else {
    throw std::runtime_error(path + ": corpus not found");
  }
  bool any_text = std::any_of(docs.begin(), docs.end(), [](const Document& d) {
    return d.text.find_first_not_of(" \t\r\n") != std::string::npos;
  });
  if (!any_text) throw std::runtime_error(path + ": empty corpus (no document has any text)");
  return docs;
}

void split_corpus(const std::vector<Document>& docs, int64_t val_docs, const std::vector<std::string>& val_names,
                  std::vector<Document>& train, std::vector<Document>& val) {
  train.clear();
  val.clear();
  if (!val_names.empty()) {
    for (const auto& name : val_names)
      if (std::none_of(docs.begin(), docs.end(), [&](const Document& d) { return d.name == name; }))
        throw std::runtime_error("validation document '" + name + "' is not in the corpus");
    for (const auto& d : docs)
      (std::find(val_names.begin(), val_names.end(), d.name) != val_names.end() ? val : train).push_back(d);
  } else {
    if (val_docs <= 0 || val_docs >= int64_t(docs.size()))
      throw std::runtime_error("val_docs must be between 1 and " + std::to_string(docs.size() - 1) +
                               " for a corpus of " + std::to_string(docs.size()) + " documents");
    val.assign(docs.begin(), docs.begin() + val_docs);
    train.assign(docs.begin() + val_docs, docs.end());
  }
  if (train.empty() || val.empty()) throw std::runtime_error("the train/validation split leaves one side empty");
}

ExportStats export_shards(const Tokenizer& tokenizer, const std::vector<Document>& train,
                          const std::vector<Document>& val, const std::string& dir) {
  if (tokenizer.vocab_size() > 65536)
    throw std::runtime_error("tokenizer vocabulary " + std::to_string(tokenizer.vocab_size()) +
                             " does not fit the uint16 shard format");
  fs::create_directories(dir);
  ExportStats stats;
  auto write_split = [&](const std::vector<Document>& docs, const std::string& split, int64_t& count,
                         std::vector<std::string>& files) {
    std::vector<uint16_t> buffer;
    auto flush = [&] {
      char name[64];
      std::snprintf(name, sizeof name, "fineweb_%s_%06zu.bin", split.c_str(), files.size());
      files.push_back((fs::path(dir) / name).string());
      write_shard(files.back(), buffer);
      buffer.clear();
    };
    for (const auto& d : docs) {
      std::vector<int32_t> ids = tokenizer.encode(d.text);
      ids.insert(ids.begin(), tokenizer.bos_id());
      for (int32_t id : ids) {
        buffer.push_back(static_cast<uint16_t>(id));
        if (int64_t(buffer.size()) == kShardTokens) flush();
      }
      count += ids.size();
    }
    if (!buffer.empty() || files.empty()) flush();
  };
  write_split(val, "val", stats.val_tokens, stats.val_files);
  write_split(train, "train", stats.train_tokens, stats.train_files);
  stats.val_docs = val.size();
  stats.train_docs = train.size();
  return stats;
}

}  // namespace golf::host
