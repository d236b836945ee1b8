// host/corpus.cpp: corpus reading with UTF-8 checks, train/val split, export to shards.
#include "corpus.h"

#include <boost/locale/utf.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "errors.h"
#include "files.h"
#include "interrupt.h"
#include "json.h"
#include "provenance.h"
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

void check_utf8(const std::string& text, const std::string& where) {
  size_t bad = invalid_utf8_at(text);
  if (bad != std::string::npos)
    throw InputError(where + ": invalid UTF-8 at byte offset " + std::to_string(bad));
}

std::vector<Document> read_jsonl(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot read");
  std::vector<Document> docs;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = path.string() + ":" + std::to_string(n);
    check_utf8(line, where);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where + ": not JSON (" + std::string(e.what()) + ")");
    }
    if (!doc.is_object()) throw InputError(where + ": a JSONL line must be an object with a string field \"text\"");
    auto text = doc.find("text");
    if (text == doc.end()) throw InputError(where + ": no field \"text\"");
    if (!text->is_string())
      throw InputError(where + ": field \"text\" is " + std::string(text->type_name()) + ", not a string");
    docs.push_back({path.filename().string() + ":" + std::to_string(n), text->get<std::string>()});
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
      std::string text = read_file(f.string(), uint64_t(1) << 32);  // a document over 4 GiB is not one
      check_utf8(text, f.string());
      docs.push_back({f.filename().string(), std::move(text)});
    }
  } else if (fs::is_regular_file(path) && fs::path(path).extension() == ".jsonl") {
    docs = read_jsonl(path);
  } else if (fs::is_regular_file(path)) {
    throw InputError(path + ": a corpus is a folder of .txt files or a .jsonl file");
  } else {
    throw InputError(path + ": corpus not found");
  }
  bool any_text = std::any_of(docs.begin(), docs.end(), [](const Document& d) {
    return d.text.find_first_not_of(" \t\r\n") != std::string::npos;
  });
  if (!any_text) throw InputError(path + ": empty corpus (no document has any text)");
  return docs;
}

void split_corpus(const std::vector<Document>& docs, int64_t val_docs, const std::vector<std::string>& val_names,
                  std::vector<Document>& train, std::vector<Document>& val, bool validation_only) {
  train.clear();
  val.clear();
  if (validation_only) {
    val = docs;
    return;
  }
  if (!val_names.empty()) {
    for (const auto& name : val_names)
      if (std::none_of(docs.begin(), docs.end(), [&](const Document& d) { return d.name == name; }))
        throw InputError("validation document '" + name + "' is not in the corpus");
    for (const auto& d : docs)
      (std::find(val_names.begin(), val_names.end(), d.name) != val_names.end() ? val : train).push_back(d);
  } else {
    if (val_docs <= 0 || val_docs >= int64_t(docs.size()))
      throw InputError("val_docs must be between 1 and " + std::to_string(docs.size() - 1) +
                               " for a corpus of " + std::to_string(docs.size()) + " documents");
    val.assign(docs.begin(), docs.begin() + val_docs);
    train.assign(docs.begin() + val_docs, docs.end());
  }
  if (train.empty() || val.empty()) throw InputError("the train/validation split leaves one side empty");
}

std::string dataset_name(const std::string& corpus_path) {
  fs::path p = fs::path(corpus_path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string name;
  for (char c : p.stem().string())
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') name += c;
  return name.empty() ? "corpus" : name;
}

ExportStats export_shards(const Tokenizer& tokenizer, const std::vector<Document>& train,
                          const std::vector<Document>& val, const std::string& dir, const std::string& name) {
  if (tokenizer.vocab_size() > 65536)
    throw InputError("tokenizer vocabulary " + std::to_string(tokenizer.vocab_size()) +
                             " does not fit the uint16 shard format");
  fs::create_directories(dir);
  ExportStats stats;
  auto write_split = [&](const std::vector<Document>& docs, const std::string& split, int64_t& count,
                         std::vector<std::string>& files) {
    std::vector<uint16_t> buffer;
    auto flush = [&] {
      char file[32];
      std::snprintf(file, sizeof file, "_%s_%06zu.bin", split.c_str(), files.size());
      files.push_back((fs::path(dir) / (name + file)).string());
      write_shard(files.back(), buffer);
      buffer.clear();
    };
    for (const auto& d : docs) {
      check_interrupt("the export of " + name + "_" + split + " shards");
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
  if (!train.empty()) write_split(train, "train", stats.train_tokens, stats.train_files);
  stats.val_docs = val.size();
  stats.train_docs = train.size();
  JsonObject record;
  record.add("dataset", name);
  record.add("tokenizer", fs::absolute(tokenizer.model_path()).string());
  record.add("tokenizer_sha256", sha256_file(tokenizer.model_path()));
  record.add("vocab_size", tokenizer.vocab_size());
  record.add("val_docs", stats.val_docs);
  record.add("val_tokens", stats.val_tokens);
  record.add("train_docs", stats.train_docs);
  record.add("train_tokens", stats.train_tokens);
  write_file_atomically((fs::path(dir) / "shards.json").string(), record.str() + "\n");
  return stats;
}

CorpusSplit read_pipeline_corpus(const Config& data) {
  CorpusSplit c;
  const std::string corpus = data.get_string("corpus");
  try {
    std::vector<Document> docs = read_corpus(corpus);
    split_corpus(docs, data.get_int("val_docs"), {}, c.train, c.val);
  } catch (const InputError& e) {
    data.fail(fs::exists(corpus) ? "val_docs" : "corpus", e.what());
  }
  c.name = dataset_name(corpus);
  c.path = corpus;
  return c;
}

ExportStats prepare_corpus(const CorpusSplit& corpus, Tokenizer& tokenizer, const std::string& work_dir, Logger& log) {
  log.info("corpus " + corpus.path + ": " + std::to_string(corpus.train.size()) + " training and " +
           std::to_string(corpus.val.size()) + " validation documents");
  std::vector<std::string> train_docs;
  for (auto& d : corpus.train) train_docs.push_back(d.text);
  tokenizer.prepare(train_docs, (fs::path(work_dir) / "tokenizer").string());
  check_interrupt("tokenizer training");
  ExportStats s = export_shards(tokenizer, corpus.train, corpus.val, (fs::path(work_dir) / "data").string(), corpus.name);
  log.info("exported " + std::to_string(s.train_tokens) + " training and " + std::to_string(s.val_tokens) + " validation tokens");
  return s;
}

ShardFiles pipeline_shards(const Config& data, const Tokenizer& tokenizer) {
  ShardFiles f;
  for (auto [key, files] : {std::pair{"train_shards", &f.train}, std::pair{"val_shards", &f.val}}) {
    const std::string glob = data.get_string(key);
    if (glob.empty()) data.fail(key, "[data] needs corpus, or both train_shards and val_shards");
    try {
      *files = glob_shards(glob);
      check_shards_tokenizer(*files, tokenizer);
    } catch (const std::runtime_error& e) {
      data.fail(key, e.what());
    }
  }
  return f;
}

void check_shards_tokenizer(const std::vector<std::string>& shards, const Tokenizer& tokenizer) {
  std::set<fs::path> dirs;
  for (const auto& s : shards) dirs.insert(fs::absolute(s).parent_path());
  std::string mine;
  for (const auto& d : dirs) {
    const fs::path record = d / "shards.json";
    if (!fs::exists(record)) continue;
    boost::property_tree::ptree t;
    try {
      boost::property_tree::read_json(record.string(), t);
    } catch (const std::exception& e) {
      throw InputError(record.string() + ": unreadable shard record (" + e.what() + ")");
    }
    if (mine.empty()) mine = sha256_file(tokenizer.model_path());
    const std::string theirs = t.get<std::string>("tokenizer_sha256", "");
    if (theirs != mine)
      throw InputError("the shards in " + d.string() + " were made with the tokenizer " +
                               t.get<std::string>("tokenizer", "?") + " (sha256 " + theirs + "), not with " +
                               tokenizer.model_path() + " (sha256 " + mine + "); use the tokenizer that made them");
  }
}

}  // namespace golf::host
