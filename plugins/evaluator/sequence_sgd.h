// plugins/evaluator/sequence_sgd.h: full-model SGD over scored tokens cut into training-length sequences (§5.28), for `ttt-sgd` and `ttt-lora`'s phases.
#ifndef GOLF_PLUGINS_EVALUATOR_SEQUENCE_SGD_H_
#define GOLF_PLUGINS_EVALUATOR_SEQUENCE_SGD_H_

#include <ATen/ATen.h>
#include <torch/types.h>  // clip_grad.h uses torch::Tensor without including it
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "golf/golf.h"

namespace golf::eval {

// The reference's cosine over chunks, lr·0.5·(1 + cos(π·c/(C−1))); a lone chunk keeps lr.
inline double cosine_lr(double lr, int64_t c, int64_t chunks) {
  return chunks > 1 ? lr * 0.5 * (1.0 + std::cos(M_PI * double(c) / double(chunks - 1))) : lr;
}

// The model's parameters as LibTorch's optimizers take them.
inline std::vector<at::Tensor> tensors_of(Architecture& model) {
  std::vector<at::Tensor> out;
  for (const Param& p : model.parameters()) out.push_back(p.tensor);
  return out;
}

inline std::unique_ptr<torch::optim::SGD> make_sgd(const std::vector<at::Tensor>& params, double lr, double momentum) {
  return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(lr).momentum(momentum));
}

// How one pass of training runs.
struct SequenceTraining {
  int64_t seq_len = 1, epochs = 1, micro_batch_seqs = 1;
  double grad_clip = 0;  // 0: no clipping
};

// Trains on `tokens` (int64 CPU, n + 1 consecutive stream tokens, so n targets) viewed as
// floor(n / seq_len) sequences, as the reference trains on a chunk: `epochs` passes in micro-batches
// of micro_batch_seqs sequences, each the mean CE, clip_grad_norm_, one step of `sgd` at the lr it
// holds. A remainder shorter than seq_len is not trained on, as in the reference.
inline void train_sequences(Architecture& model, torch::optim::SGD& sgd, const std::vector<at::Tensor>& params,
                            const at::Tensor& tokens, const SequenceTraining& how, at::Device device) {
  const int64_t seqs = (tokens.numel() - 1) / how.seq_len;
  if (seqs == 0) return;
  const at::Tensor x = tokens.narrow(0, 0, seqs * how.seq_len).view({seqs, how.seq_len}).to(device);
  const at::Tensor y = tokens.narrow(0, 1, seqs * how.seq_len).view({seqs, how.seq_len}).to(device);
  for (int64_t epoch = 0; epoch < how.epochs; ++epoch) {
    for (int64_t i = 0; i < seqs; i += how.micro_batch_seqs) {
      const int64_t b = std::min(how.micro_batch_seqs, seqs - i);
      sgd.zero_grad();
      model.forward(x.narrow(0, i, b), y.narrow(0, i, b)).mean().backward();
      if (how.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, how.grad_clip);
      sgd.step();
    }
  }
  sgd.zero_grad();
}

// One pass over a run of n + 1 tokens in chunks of chunk_tokens targets, the lr cosine over the chunks
// (the phased global SGD of §5.29).
inline void train_chunked(Architecture& model, torch::optim::SGD& sgd, const std::vector<at::Tensor>& params,
                          const at::Tensor& tokens, int64_t chunk_tokens, double lr, const SequenceTraining& how,
                          at::Device device) {
  const int64_t n = tokens.numel() - 1, chunks = (n + chunk_tokens - 1) / chunk_tokens;
  for (int64_t c = 0; c < chunks; ++c) {
    sgd.param_groups()[0].options().set_lr(cosine_lr(lr, c, chunks));
    const int64_t begin = c * chunk_tokens, end = std::min(n, begin + chunk_tokens);
    train_sequences(model, sgd, params, tokens.narrow(0, begin, end - begin + 1), how, device);
  }
}

}  // namespace golf::eval

#endif  // GOLF_PLUGINS_EVALUATOR_SEQUENCE_SGD_H_
