// host/calibrate.h: runs the model on calibration text and collects each matrix's input statistics for a quantizer.
#ifndef GOLF_HOST_CALIBRATE_H_
#define GOLF_HOST_CALIBRATE_H_

#include <string>
#include <vector>

#include "golf/architecture.h"
#include "golf/quantizer.h"

namespace golf::host {

// Where calibration text may come from: the training shards only. The validation stream is not a
// parameter here, so no calibration can read it.
struct CalibrationText {
  std::vector<std::string> train_files;  // read by a fresh loader from the first token
  int64_t vocab = 0;
  int64_t seq_len = 0;                   // [train] seq_len
  int64_t default_batch_tokens = 0;      // the training micro-batch, for request.batch_tokens == 0
  uint64_t seed = 0;                     // for generated text
  int rank = 0, world_size = 1;
};

// With `group` of several ranks, each rank reads its own slice of the training text (text.rank) and
// the sums are added across ranks: Σ xᵀx / (batches × world) over batches × world batches. Generated
// text is the same on every rank (one seed), so nothing is added.
class Group;
// Runs `model` over request.batches batches of calibration text with a LinearHook installed and returns
// Σ xᵀx / batches (float32, CPU) per reported matrix parameter. Generated text is sampled from
// model.logits() at request.temperature, the first token uniform, from `text.seed`. Returns an empty
// Calibration when request.batches == 0. Throws std::runtime_error when the architecture does not
// report its matmuls (set_linear_hook returns false), naming `architecture`.
Calibration calibrate(Architecture& model, const std::string& architecture, const CalibrationRequest& request,
                      const CalibrationText& text, at::Device device, Group* group = nullptr);

}  // namespace golf::host

#endif  // GOLF_HOST_CALIBRATE_H_
