// The `ttt-lora` evaluator: document-level LoRA test-time training and phased global SGD (parameter-golf.md §5.29).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../sequence_sgd.h"
#include "golf/golf.h"

namespace {

// Documents go through the lanes in groups (the host's plan); every lane has its own adapters on
// every matmul the architecture reports, A [lanes, rank, in] and B [lanes, out, rank], adding
// (x Aᵀ) Bᵀ · alpha/rank to the matmul's output. Per chunk of a document: score with the current
// adapters, then one AdamW step on that chunk's mean CE. A group starts from B = 0, A re-initialised
// and a fresh optimizer. A is drawn once per evaluation, from the run's seed, and every document starts
// from that draw, so a document's scores depend on nothing but the document (not on its group, its
// lane or the documents beside it); the reference draws each document's A afresh.
class TttLoraEvaluator final : public golf::Evaluator, public golf::LinearHook {
 public:
  explicit TttLoraEvaluator(golf::PluginContext& ctx) : ctx_(ctx) {
    const golf::Config& c = ctx.config();
    lanes_ = golf::get_int_in(c, "batch_docs", 1, 4096);
    context_ = golf::get_int_in(c, "context", 1, int64_t(1) << 20);
    chunk_tokens_ = golf::get_int_in(c, "chunk_tokens", 1, context_);  // a chunk fits in its own window
    rank_ = golf::get_int_in(c, "rank", 1, 1 << 14);
    scale_ = golf::get_nonnegative(c, "alpha") / double(rank_);
    adamw_options_ = torch::optim::AdamWOptions(golf::get_nonnegative(c, "lr"))
                         .betas({golf::get_unit_interval(c, "beta1"), golf::get_unit_interval(c, "beta2")})
                         .eps(golf::get_nonnegative(c, "eps"))
                         .weight_decay(golf::get_nonnegative(c, "weight_decay"));
    phases_ = golf::get_int_in(c, "phases", 0, 1000);
    phase_docs_ = golf::get_int_in(c, "phase_docs", 1, int64_t(1) << 40);
    if (phases_ > phase_docs_) c.fail("phases", "must be <= phase_docs (" + std::to_string(phase_docs_) + ")");
    phase_lr_ = golf::get_nonnegative(c, "phase_lr");
    phase_momentum_ = golf::get_unit_interval(c, "phase_momentum");
    phase_chunk_tokens_ = golf::get_int_in(c, "phase_chunk_tokens", 1, int64_t(1) << 30);
    phase_.epochs = golf::get_int_in(c, "phase_epochs", 1, 1000);
    phase_.micro_batch_seqs = golf::get_int_in(c, "phase_micro_batch_seqs", 1, int64_t(1) << 16);
    phase_.grad_clip = golf::get_nonnegative(c, "phase_grad_clip");
  }

  golf::EvalPlan begin(golf::Architecture& model, const golf::EvalSetup& setup) override {
    device_ = ctx_.run().device();
    phase_.seq_len = setup.seq_len;
    // Past the training length an architecture may scale RoPE by the forward's length (NTK): then
    // every forward is `context` long, so a document's scores do not depend on its group's lengths.
    fixed_length_ = context_ > setup.seq_len ? context_ : 0;
    params_ = model.parameters();
    slots_.clear();
    adapters_.clear();
    prefix_.clear();
    lane_tokens_.assign(lanes_, {});
    docs_scored_ = group_docs_ = group_finished_ = phases_done_ = 0;
    if (!model.set_linear_hook(this))
      throw std::runtime_error("ttt-lora: the architecture does not report its matmuls (Architecture::set_linear_hook), "
                               "so there is nothing to put adapters on");
    try {  // one forward of one token finds the matmuls, in forward order
      at::NoGradGuard no_grad;
      mode_ = Mode::kFind;
      const at::Tensor one = at::zeros({1, 1}, at::TensorOptions().dtype(at::kLong).device(device_));
      model.forward(one, one);
      mode_ = Mode::kOff;
      if (slots_.empty()) throw std::runtime_error("ttt-lora: the architecture reported no matmuls to its linear hook");
    } catch (...) {
      mode_ = Mode::kOff;
      model.set_linear_hook(nullptr);
      throw;
    }
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(ctx_.run().seed());
    for (Slot& s : slots_) {
      const double bound = 1.0 / std::sqrt(double(s.in));  // U(±1/√in), nn.Linear's init
      s.a_init = at::empty({rank_, s.in}, at::kFloat).uniform_(-bound, bound, gen).to(device_);
      adapters_.insert(adapters_.end(), {s.a, s.b});
    }
    golf::EvalPlan plan;
    plan.chunk_tokens = chunk_tokens_;
    plan.history_tokens = context_;
    plan.documents = true;
    plan.lanes = lanes_;
    plan.adapts = true;
    return plan;
  }

  std::vector<at::Tensor> score(golf::Architecture& model, const std::vector<golf::EvalChunk>& batch) override {
    if (std::all_of(batch.begin(), batch.end(), [](const golf::EvalChunk& c) { return c.segment_start; }))
      start_group(batch.size());
    const Rows rows = rows_of(batch);
    const at::Tensor nll = forward(model, rows);
    std::vector<at::Tensor> out;
    for (size_t j = 0; j < batch.size(); ++j) out.push_back(nll[j].narrow(0, rows.offset[j], rows.count[j]));
    return out;
  }

  void adapt(golf::Architecture& model, const std::vector<golf::EvalChunk>& batch) override {
    if (phases_done_ < phases_) keep_scored_tokens(batch);
    // One AdamW step on the mean CE of each document's chunk; a document's last chunk has no
    // following chunk to help, as in the reference.
    if (!std::all_of(batch.begin(), batch.end(), [](const golf::EvalChunk& c) { return c.segment_end; })) {
      const Rows rows = rows_of(batch);
      const at::Tensor nll = forward(model, rows);
      at::Tensor loss = at::zeros({}, nll.options());
      for (size_t j = 0; j < batch.size(); ++j)
        if (!batch[j].segment_end) loss = loss + nll[j].narrow(0, rows.offset[j], rows.count[j]).mean();
      // Gradients for the adapters alone: the base weights get no .grad.
      const std::vector<at::Tensor> grads = torch::autograd::grad({loss}, adapters_, {}, false, false, true);
      for (size_t i = 0; i < adapters_.size(); ++i)
        adapters_[i].mutable_grad() = grads[i].defined() ? grads[i] : at::zeros_like(adapters_[i]);
      adamw_->step();
      for (at::Tensor& t : adapters_) t.mutable_grad() = at::Tensor();
    }
    for (const golf::EvalChunk& c : batch) group_finished_ += c.segment_end;
    if (group_finished_ == group_docs_) end_group(model);
  }

  void end(golf::Architecture& model) override {
    mode_ = Mode::kOff;
    model.set_linear_hook(nullptr);
    slots_.clear();
    adapters_.clear();
    adamw_.reset();
    prefix_.clear();
    lane_tokens_.clear();
  }

  at::Tensor on_linear(int64_t param, const at::Tensor& x) override {
    if (mode_ == Mode::kOff) return {};
    if (mode_ == Mode::kFind) {
      if (param < 0 || param >= int64_t(params_.size()) || params_[param].tensor.dim() != 2 ||
          params_[param].tensor.size(1) != x.size(-1))
        throw std::runtime_error("ttt-lora: the linear hook reported parameter " + std::to_string(param) +
                                 ", which is not a 2-D [out, in] matrix for an input of width " + std::to_string(x.size(-1)));
      const int64_t in = x.size(-1), out = params_[param].tensor.size(0);
      const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(device_);
      slots_.push_back({param, in, out, at::zeros({lanes_, rank_, in}, f32).requires_grad_(),
                        at::zeros({lanes_, out, rank_}, f32).requires_grad_(), at::Tensor()});
      return {};
    }
    if (next_slot_ >= slots_.size() || slots_[next_slot_].param != param)
      throw std::runtime_error("ttt-lora: the architecture's matmuls differ from those it reported at the start (parameter " +
                               std::to_string(param) + ")");
    const Slot& s = slots_[next_slot_++];
    const int64_t rows = lanes_of_rows_.size(0);
    if (x.size(0) != rows)
      throw std::runtime_error("ttt-lora: the input of " + params_[param].name + "'s matmul is not [batch, ..., in]");
    // Rows are lanes; rows 0..n-1 holding lanes 0..n-1 (the usual case) need no copy of the adapters.
    const at::Tensor a = lanes_in_order_ ? s.a.narrow(0, 0, rows) : s.a.index_select(0, lanes_of_rows_);
    const at::Tensor b = lanes_in_order_ ? s.b.narrow(0, 0, rows) : s.b.index_select(0, lanes_of_rows_);
    const at::Tensor xr = x.reshape({rows, -1, s.in});
    const at::Tensor y = at::matmul(at::matmul(xr, a.to(x.scalar_type()).transpose(1, 2)), b.to(x.scalar_type()).transpose(1, 2));
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = s.out;
    return (y * scale_).reshape(sizes);
  }

 private:
  enum class Mode { kOff, kFind, kOn };
  struct Slot {  // one use of a matrix in the forward, in order
    int64_t param, in, out;
    at::Tensor a, b;  // [lanes, rank, in], [lanes, out, rank], fp32
    at::Tensor a_init;  // [rank, in]: every document's A at its start
  };
  // A batch as one forward: row j holds chunk j's window, the document's tokens
  // [max(document start, end - 1 - context), end - 1) predicting the next ones, right-padded.
  struct Rows {
    at::Tensor x, y, lanes;
    std::vector<int64_t> offset, count;  // where chunk j's targets sit in row j
    bool in_order = true;
  };

  Rows rows_of(const std::vector<golf::EvalChunk>& batch) const {
    Rows r;
    std::vector<int64_t> lanes, starts, lengths;
    int64_t longest = 0;
    for (const golf::EvalChunk& c : batch) {
      const int64_t start = std::max(c.first, c.end - 1 - context_), length = c.end - 1 - start;
      starts.push_back(start), lengths.push_back(length), lanes.push_back(c.lane);
      r.offset.push_back(length - (c.end - c.begin)), r.count.push_back(c.end - c.begin);
      r.in_order = r.in_order && c.lane == int64_t(lanes.size()) - 1;
      longest = std::max(longest, length);
    }
    const int64_t n = batch.size(), T = fixed_length_ > 0 ? fixed_length_ : longest;
    at::Tensor x = at::zeros({n, T}, at::kLong), y = at::zeros({n, T}, at::kLong);
    for (int64_t j = 0; j < n; ++j) {
      const golf::EvalChunk& c = batch[j];
      const at::Tensor tokens = c.tokens.contiguous();
      const int64_t* t = tokens.data_ptr<int64_t>() + (starts[j] - c.first);
      std::memcpy(x.data_ptr<int64_t>() + j * T, t, lengths[j] * sizeof(int64_t));
      std::memcpy(y.data_ptr<int64_t>() + j * T, t + 1, lengths[j] * sizeof(int64_t));
    }
    r.x = x.to(device_), r.y = y.to(device_);
    r.lanes = at::tensor(lanes, at::kLong).to(device_);
    return r;
  }

  // The per-token NLL [rows, T] with the adapters on.
  at::Tensor forward(golf::Architecture& model, const Rows& rows) {
    struct On {  // the adapters are on for this forward only, however it ends
      TttLoraEvaluator& e;
      ~On() { e.mode_ = Mode::kOff; }
    } on{*this};
    mode_ = Mode::kOn;
    next_slot_ = 0;
    lanes_of_rows_ = rows.lanes;
    lanes_in_order_ = rows.in_order;
    const at::Tensor nll = model.forward(rows.x, rows.y);
    if (next_slot_ != slots_.size())
      throw std::runtime_error("ttt-lora: the architecture reported " + std::to_string(next_slot_) + " matmuls, " +
                               std::to_string(slots_.size()) + " at the start");
    if (nll.dim() != 2 || nll.size(0) != rows.x.size(0) || nll.size(1) != rows.x.size(1))
      throw std::runtime_error("ttt-lora: the model's forward returned a tensor of the wrong shape");
    return nll;
  }

  // A new group of documents: B = 0, A at its initial draw, a fresh AdamW.
  void start_group(int64_t docs) {
    at::NoGradGuard no_grad;
    for (Slot& s : slots_) {
      s.a.copy_(s.a_init.expand_as(s.a));
      s.b.zero_();
    }
    adamw_ = std::make_unique<torch::optim::AdamW>(adapters_, adamw_options_);
    group_docs_ = docs;
    group_finished_ = 0;
  }

  // Scored tokens, kept for the phases: the stream from its first token, document after document.
  void keep_scored_tokens(const std::vector<golf::EvalChunk>& batch) {
    for (const golf::EvalChunk& c : batch) {
      const at::Tensor tokens = c.tokens.contiguous();
      const int64_t* t = tokens.data_ptr<int64_t>();
      std::vector<int64_t>& kept = lane_tokens_[c.lane];
      if (c.segment == 0 && c.segment_start) kept.push_back(t[0]);  // the stream's first token
      kept.insert(kept.end(), t + (c.begin - c.first), t + (c.end - c.first));
    }
  }

  // Every document of the group is scored. Past a phase boundary, SGD on the base model over every
  // document scored so far, before the next group.
  void end_group(golf::Architecture& model) {
    docs_scored_ += group_docs_;
    group_docs_ = group_finished_ = 0;
    if (phases_done_ >= phases_) return;
    for (std::vector<int64_t>& kept : lane_tokens_) {  // lanes hold the group's documents in stream order
      prefix_.insert(prefix_.end(), kept.begin(), kept.end());
      kept.clear();
    }
    int64_t due = phases_done_;
    while (due < phases_ && docs_scored_ >= phase_docs_ * (due + 1) / phases_) ++due;
    if (due == phases_done_) return;
    ctx_.log().info("ttt-lora: phase " + std::to_string(due) + " of " + std::to_string(phases_) +
                    ": global SGD over the " + std::to_string(docs_scored_) + " documents scored (" +
                    std::to_string(prefix_.size() - 1) + " targets)");
    const std::vector<at::Tensor> params = golf::eval::tensors_of(model);
    const std::unique_ptr<torch::optim::SGD> sgd = golf::eval::make_sgd(params, phase_lr_, phase_momentum_);
    golf::eval::train_chunked(model, *sgd, params, at::tensor(prefix_, at::kLong), phase_chunk_tokens_, phase_lr_, phase_,
                              device_);
    phases_done_ = due;
    if (phases_done_ == phases_) prefix_ = {};
  }

  golf::PluginContext& ctx_;
  int64_t lanes_ = 1, context_ = 1, chunk_tokens_ = 1, rank_ = 1;
  double scale_ = 1;
  torch::optim::AdamWOptions adamw_options_;
  int64_t phases_ = 0, phase_docs_ = 1, phase_chunk_tokens_ = 1;
  double phase_lr_ = 0, phase_momentum_ = 0;
  golf::eval::SequenceTraining phase_;

  at::Device device_ = at::kCPU;
  int64_t fixed_length_ = 0;
  std::vector<golf::Param> params_;
  std::vector<Slot> slots_;
  std::vector<at::Tensor> adapters_;  // a and b of every slot, for the optimizer
  std::unique_ptr<torch::optim::AdamW> adamw_;
  Mode mode_ = Mode::kOff;
  size_t next_slot_ = 0;
  at::Tensor lanes_of_rows_;
  bool lanes_in_order_ = true;
  int64_t docs_scored_ = 0, group_docs_ = 0, group_finished_ = 0, phases_done_ = 0;
  std::vector<std::vector<int64_t>> lane_tokens_;  // this group's scored tokens, per lane
  std::vector<int64_t> prefix_;                    // every earlier group's
};

const golf_config_key kConfig[] = {
    {"batch_docs", GOLF_TYPE_INT, "64", "documents adapted side by side (lanes); a group of them starts with fresh adapters"},
    {"chunk_tokens", GOLF_TYPE_INT, "48", "targets per chunk: scored, then one adapter step on them (<= context)"},
    {"context", GOLF_TYPE_INT, "2048", "a chunk's forward: at most `context` of its document's tokens, the inputs up to its last target's"},
    {"rank", GOLF_TYPE_INT, "96", "LoRA rank"},
    {"alpha", GOLF_TYPE_FLOAT, "144.0", "LoRA output scale alpha / rank"},
    {"lr", GOLF_TYPE_FLOAT, "1e-4", "adapter AdamW learning rate"},
    {"beta1", GOLF_TYPE_FLOAT, "0.0", "adapter AdamW beta1"},
    {"beta2", GOLF_TYPE_FLOAT, "0.999", "adapter AdamW beta2"},
    {"eps", GOLF_TYPE_FLOAT, "1e-10", "adapter AdamW epsilon"},
    {"weight_decay", GOLF_TYPE_FLOAT, "0.5", "adapter AdamW decoupled weight decay"},
    {"phases", GOLF_TYPE_INT, "0", "global SGD phases on the base model over the scored documents; 0 = none (reference: 3)"},
    {"phase_docs", GOLF_TYPE_INT, "2000", "documents in the phased prefix: phase k runs once k·phase_docs/phases are scored"},
    {"phase_lr", GOLF_TYPE_FLOAT, "0.001", "phase SGD learning rate, cosine over the phase's chunks"},
    {"phase_momentum", GOLF_TYPE_FLOAT, "0.9", "phase SGD momentum (a fresh optimizer per phase)"},
    {"phase_epochs", GOLF_TYPE_INT, "1", "passes over each phase chunk's sequences"},
    {"phase_chunk_tokens", GOLF_TYPE_INT, "32768", "phase targets per chunk (the cosine's unit)"},
    {"phase_micro_batch_seqs", GOLF_TYPE_INT, "32", "phase sequences of [train] seq_len per SGD step"},
    {"phase_grad_clip", GOLF_TYPE_FLOAT, "1.0", "phase clip_grad_norm_ over all parameters; 0 = none"},
};

}  // namespace

GOLF_PLUGINS(golf::plugin<TttLoraEvaluator>("ttt-lora", "2.0.0",
                                            "score-first test-time training: per-document batched LoRA, optional phased global SGD",
                                            kConfig))
