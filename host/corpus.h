// host/corpus.h: text corpora (a folder of .txt files or a JSONL file) and their export to shards.
#ifndef GOLF_HOST_CORPUS_H_
#define GOLF_HOST_CORPUS_H_

#include <string>
#include <vector>

#include "golf/context.h"
#include "golf/tokenizer.h"

namespace golf::host {

struct Document {
  std::string name;  // "address.txt" or "docs.jsonl:17": where the document came from
  std::string text;  // valid UTF-8
};

// Reads every document: each *.txt file of a folder (sorted by name) is one document; each line
// of a .jsonl file is one document, its "text" field. Throws InputError naming the file
// (and line) and byte offset of invalid UTF-8, a JSONL line that is not an object with a string
// "text", or an empty corpus.
std::vector<Document> read_corpus(const std::string& path);

// Splits documents into validation (the first `val_docs`, or those whose names are in `val_names`
// when that is non-empty) and training, preserving order; with validation_only, every document is
// validation. Throws InputError when a listed name is absent or when a split would be empty.
void split_corpus(const std::vector<Document>& docs, int64_t val_docs, const std::vector<std::string>& val_names,
                  std::vector<Document>& train, std::vector<Document>& val, bool validation_only = false);

struct ExportStats {
  int64_t train_tokens = 0, val_tokens = 0, train_docs = 0, val_docs = 0;
  std::vector<std::string> train_files, val_files;
};

// The dataset name a corpus's shards are called by: the file or folder name without extension,
// letters, digits, '-' and '_' kept ("data/sotu" -> "sotu", "docs.jsonl" -> "docs").
std::string dataset_name(const std::string& corpus_path);

// Writes NAME_val_%06d.bin and NAME_train_%06d.bin (none when `train` is empty) into `dir`
// (created): each document is BOS followed by its tokens, no EOS, documents concatenated,
// kShardTokens per shard, each file written atomically. Then writes dir/shards.json, which records
// the tokenizer that made them (path and sha256) for later checks. A signal stops it between
// documents (Interrupted), before shards.json is written.
ExportStats export_shards(const Tokenizer& tokenizer, const std::vector<Document>& train,
                          const std::vector<Document>& val, const std::string& dir, const std::string& name);

// A pipeline's [data] corpus read and split: the first `val_docs` documents are validation.
struct CorpusSplit {
  std::string path, name;  // the corpus, and its dataset_name()
  std::vector<Document> train, val;
};
// Reads and splits [data] corpus with val_docs; a bad corpus or split fails that key (ConfigError
// naming file, line and key, with the reader's message).
CorpusSplit read_pipeline_corpus(const Config& data);

// The corpus made ready: the tokenizer prepared on the training split under work_dir/tokenizer,
// both splits exported to work_dir/data under the corpus's name.
ExportStats prepare_corpus(const CorpusSplit& corpus, Tokenizer& tokenizer, const std::string& work_dir, Logger& log);

// Checks that the shards were made with `tokenizer`: where a shard's folder has a shards.json, its
// tokenizer sha256 must equal that of tokenizer.model_path(). Throws InputError naming the
// shard folder and both tokenizers otherwise. Folders without shards.json (e.g. the reference's
// FineWeb shards) are left to the token-id range check made as shards are read (read_shard).
void check_shards_tokenizer(const std::vector<std::string>& shards, const Tokenizer& tokenizer);

// The shards of a pipeline's [data] train_shards and val_shards globs, each matched and checked
// against `tokenizer` (prepared). A missing glob, one that matches nothing, or shards of another
// tokenizer fail that key (Config::fail: a ConfigError naming file, line and key).
struct ShardFiles {
  std::vector<std::string> train, val;
};
ShardFiles pipeline_shards(const Config& data, const Tokenizer& tokenizer);

}  // namespace golf::host

#endif  // GOLF_HOST_CORPUS_H_
