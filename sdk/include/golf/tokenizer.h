// golf/tokenizer.h: the tokenizer stage: text to token ids, and the byte tables BPB divides by.
#ifndef GOLF_TOKENIZER_H_
#define GOLF_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "golf/stage.h"

namespace golf {

// Per-token byte accounting for BPB (reference: build_sentencepiece_luts). Each vector has
// vocab_size() entries. For a scored target y with previous token x the byte count is
//   base_bytes[y] + (has_leading_space[y] && !is_boundary[x]),
// so the tokens of a text that follows BOS count exactly its (normalised) UTF-8 bytes. The flags are
// 0 or 1, base_bytes >= 0, and bos_id() is a boundary of 0 bytes.
struct ByteTables {
  std::vector<int16_t> base_bytes;        // UTF-8 bytes of the piece without its leading space
  std::vector<uint8_t> has_leading_space;  // piece begins with the word-boundary marker
  std::vector<uint8_t> is_boundary;        // control/unknown/unused ids (BOS...): 0 bytes, no space
};

class Tokenizer : public Stage {
 public:
  using Interface = Tokenizer;
  static constexpr golf_kind kKind = GOLF_KIND_TOKENIZER;

  // Called once, before any other method. `training_docs` are the training split's documents
  // (empty when the pipeline has no corpus; borrowed for the call); a tokenizer that trains uses them
  // and writes its model under `work_dir` (an existing folder the host keeps), one that loads a model
  // file ignores them. When `work_dir` already holds the model a training tokenizer writes (a
  // --reuse-training run copies the earlier run's tokenizer folder there), load it instead of
  // training: the result is the same tokenizer. Throws std::runtime_error (golf::ConfigError when a
  // key is to blame) when it must train and no document has text, or when the model cannot be read.
  virtual void prepare(const std::vector<std::string>& training_docs, const std::string& work_dir) = 0;

  // The number of ids, > 1. REQUIRES (here and below): prepare() returned. Never throws.
  virtual int64_t vocab_size() const = 0;
  // The id that starts every document in the shards, in [0, vocab_size()). Never throws.
  virtual int32_t bos_id() const = 0;
  // Token ids of `text` (any bytes, empty included: empty gives none) without BOS/EOS, each in
  // [0, vocab_size()); deterministic. Thread-safe after prepare(): the one method the host may call
  // from several threads at once. Throws std::runtime_error when the library fails.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // A new copy of the tables (above), vocab_size() entries each. Never throws.
  virtual ByteTables byte_tables() const = 0;
  // The file that defines this tokenizer (recorded in the run log and summary): an existing file.
  virtual std::string model_path() const = 0;
};

}  // namespace golf

#endif  // GOLF_TOKENIZER_H_
