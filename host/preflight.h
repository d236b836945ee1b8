// host/preflight.h: every check `run` makes before it creates anything; `validate` is these checks alone.
#ifndef GOLF_HOST_PREFLIGHT_H_
#define GOLF_HOST_PREFLIGHT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "code_bytes.h"
#include "context.h"
#include "corpus.h"
#include "device.h"
#include "golf/golf.h"
#include "pipeline.h"
#include "train.h"

namespace golf::host {

// One pipeline's stage instances. Optional stages ([averaging], [qat]) are null when absent.
struct Stages {
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Architecture> architecture;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Averaging> averaging;
  std::unique_ptr<Qat> qat;
  std::unique_ptr<Quantizer> quantizer;
  std::unique_ptr<Compressor> compressor;
  std::unique_ptr<Evaluator> evaluator;
};

// Makes every stage of `p` with `services` (Services::make), so each plugin's constructor checks
// its own values. The stages borrow `services`, which must outlive them. With `unavailable`, a
// tokenizer whose constructor refuses the pipeline (its model file is missing) is reported there and
// left null instead of thrown.
Stages make_stages(const Pipeline& p, Services& services, std::vector<std::string>* unavailable = nullptr);

// The model's size, read from its parameter list after building it on the meta device (shapes, no
// memory), and a lower bound on what training it needs: weights and gradients, plus the input of
// every matrix multiply and the float32 logits of one micro-batch.
struct ModelSize {
  bool known = false;         // false when the architecture cannot be built on the meta device
  std::string why_unknown;
  int64_t params = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> roles;  // role -> (tensors, parameters)
  int64_t state_bytes = 0;       // weights and gradients
  int64_t activation_bytes = 0;  // one micro-batch, lower bound
  int64_t device_bytes = 0;      // the device's memory; 0 when unknown
};

// What the checks found, handed to the run so it does not redo them.
struct Prepared {
  Stages stages;
  TrainOptions train{};
  ComputeDevice device;
  std::optional<CorpusSplit> corpus;   // a corpus pipeline's documents, read and split
  ShardFiles shards;                   // a shard pipeline's files (its tokenizer is prepared)
  at::Tensor val;                      // a shard pipeline's validation stream, ids checked
  ModelSize size;
  CodeBytes code;
  std::vector<std::string> reuse_ignored;  // with --reuse-training: the changes it ignores
};

// Every check a run makes before its first step, in order: [run], [data] and [train] values (ranges,
// batch divisibility, budgets and limits); the device and dtype against this build and machine;
// every plugin's constructor; the tokenizer file; the corpus (read and split) or the shard globs
// (matched, headers read, made with this tokenizer, validation ids in range and long enough);
// tokenizer and architecture vocabularies; the model's memory against the device's; the code
// manifests behind bytes_code; and with `reuse_training` (a run directory, or ""), that directory's
// pipeline, tokenizer and checksummed weights. Creates nothing on disk.
// Throws ConfigError, InputError or PipelineError (exit 2) naming what and where.
// With `unavailable` (validate's mode), what this machine lacks is appended there instead of thrown,
// and the checks go on: a device it cannot use (they continue on the CPU) and the data (tokenizer
// file, shards or corpus: the checks that need them are skipped), so the model's size is still known.
// Sets the seed, device, dtype and budget of `services.run`.
// REQUIRES: make_stages has not been called on `services`.
Prepared preflight(const Pipeline& p, const std::string& reuse_training, Registry& registry, Services& services,
                   std::vector<std::string>* unavailable = nullptr);

// Fails [architecture] vocab_size (a ConfigError) when the tokenizer's `tokenizer_vocab` ids do not fit
// `model`'s vocabulary; `what` names the tokenizer in the message.
void check_vocab(const Pipeline& p, const Architecture& model, int64_t tokenizer_vocab, const std::string& what);

// "1.5 GiB", for messages.
std::string gib(int64_t bytes);

}  // namespace golf::host

#endif  // GOLF_HOST_PREFLIGHT_H_
