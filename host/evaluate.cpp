// host/evaluate.cpp: validation stream loading and checked evaluation.
#include "evaluate.h"

#include <chrono>
#include <cmath>

#include "errors.h"
#include "shard.h"

namespace golf::host {

at::Tensor load_val_stream(const std::vector<std::string>& files, int64_t seq_len, int64_t max_tokens, int64_t vocab) {
  std::vector<int64_t> tokens = read_stream(files, vocab);
  int64_t n = tokens.size();
  if (n < seq_len + 1)
    throw InputError("the validation stream (" + files.front() +
                     (files.size() > 1 ? " and " + std::to_string(files.size() - 1) + " more" : "") + ") has " +
                     std::to_string(n) + " tokens, fewer than [train] seq_len + 1 = " + std::to_string(seq_len + 1));
  int64_t usable = (n - 1) / seq_len * seq_len;
  if (max_tokens > 0) usable = std::min(usable, max_tokens);
  return at::tensor(std::vector<int64_t>(tokens.begin(), tokens.begin() + usable + 1), at::kLong);
}

int64_t count_bytes(const at::Tensor& tokens, const ByteTables& tables) {
  const int64_t* t = tokens.data_ptr<int64_t>();
  const int64_t n = tokens.numel(), vocab = tables.base_bytes.size();
  int64_t bytes = 0;
  for (int64_t i = 1; i < n; ++i) {
    int64_t x = t[i - 1], y = t[i];
    if (x < 0 || y < 0 || x >= vocab || y >= vocab)
      throw std::runtime_error("validation token id " + std::to_string(std::max(x, y)) + " is outside the tokenizer's " +
                               std::to_string(vocab) + " ids: the shards were made with another tokenizer");
    bytes += tables.base_bytes[y] + (tables.has_leading_space[y] && !tables.is_boundary[x]);
  }
  return bytes;
}

EvalResult evaluate(Evaluator& evaluator, const std::string& plugin, Architecture& model, const EvalInput& input,
                    int64_t expected_bytes) {
  auto t0 = std::chrono::steady_clock::now();
  EvalSums sums = evaluator.evaluate(model, input);
  EvalResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t targets = input.tokens.numel() - 1;
  if (sums.targets != targets)
    throw std::runtime_error("evaluator " + plugin + " scored " + std::to_string(sums.targets) + " targets; the stream has " +
                             std::to_string(targets) + " and each must be scored exactly once");
  if (sums.bytes != expected_bytes)
    throw std::runtime_error("evaluator " + plugin + " counted " + std::to_string(sums.bytes) + " bytes; the host counts " +
                             std::to_string(expected_bytes) + " for this stream and tokenizer");
  if (!std::isfinite(sums.loss_sum)) throw std::runtime_error("evaluator " + plugin + " returned a non-finite loss");
  r.tokens = targets;
  r.bytes = expected_bytes;
  r.val_loss = sums.loss_sum / double(targets);
  r.val_bpb = r.val_loss / std::log(2.0) * double(targets) / double(expected_bytes);
  return r;
}

}  // namespace golf::host
