// host/corpus.h: text corpora (a folder of .txt files or a JSONL file) and their export to shards.
#ifndef GOLF_HOST_CORPUS_H_
#define GOLF_HOST_CORPUS_H_

#include <string>
#include <vector>

#include "golf/tokenizer.h"

namespace golf::host {

struct Document {
  std::string name;  // "address.txt" or "docs.jsonl:17": where the document came from
  std::string text;  // valid UTF-8
};

// Reads every document: each *.txt file of a folder (sorted by name) is one document; each line
// of a .jsonl file is one document, its "text" field. Throws std::runtime_error naming the file
// (and line) and byte offset of invalid UTF-8, a JSONL line without a string "text", or an empty corpus.
std::vector<Document> read_corpus(const std::string& path);

// Splits documents into validation (the first `val_docs`, or those whose names are in `val_names`
// when that is non-empty) and training, preserving order. Throws when a listed name is absent or
// when either split would be empty.
void split_corpus(const std::vector<Document>& docs, int64_t val_docs, const std::vector<std::string>& val_names,
                  std::vector<Document>& train, std::vector<Document>& val);

struct ExportStats {
  int64_t train_tokens = 0, val_tokens = 0, train_docs = 0, val_docs = 0;
  std::vector<std::string> train_files, val_files;
};

// Writes fineweb_train_%06d.bin and fineweb_val_%06d.bin into `dir` (created): each document is
// BOS followed by its tokens, no EOS, documents concatenated, kShardTokens per shard.
ExportStats export_shards(const Tokenizer& tokenizer, const std::vector<Document>& train,
                          const std::vector<Document>& val, const std::string& dir);

}  // namespace golf::host

#endif  // GOLF_HOST_CORPUS_H_
