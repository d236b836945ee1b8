// host/calibrate.cpp: calibration batches through the model with a LinearHook summing xᵀx per matrix.
#include "calibrate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <map>

#include "distributed.h"
#include "interrupt.h"
#include "loader.h"

namespace golf::host {
namespace {

// Sums xᵀx (float32, on the model's device) for every parameter the architecture reports.
class XtxHook final : public LinearHook {
 public:
  at::Tensor on_linear(int64_t param, const at::Tensor& x) override {
    const at::Tensor rows = x.detach().reshape({-1, x.size(-1)}).to(at::kFloat);
    Sum& s = sums_[param];
    if (!s.xtx.defined()) s.xtx = at::zeros({rows.size(1), rows.size(1)}, rows.options());
    s.xtx.addmm_(rows.t(), rows);
    s.rows += rows.size(0);
    return {};
  }
  struct Sum {
    at::Tensor xtx;
    int64_t rows = 0;
  };
  std::map<int64_t, Sum> sums_;
};

// Removes the hook however calibration ends.
struct HookScope {
  Architecture& model;
  ~HookScope() { model.set_linear_hook(nullptr); }
};

// `rows` sequences of `seq_len` tokens sampled from the model itself.
at::Tensor generate(Architecture& model, int64_t rows, int64_t seq_len, int64_t vocab, double temperature,
                    at::Generator& gen, at::Device device) {
  at::Tensor seq = at::randint(vocab, {rows, 1}, gen, at::kLong).to(device);
  for (int64_t t = 1; t < seq_len; ++t) {
    check_interrupt("calibration (generating text)");
    const at::Tensor last = model.logits(seq).select(1, t - 1).to(at::kFloat);
    const at::Tensor probs = at::softmax(last / temperature, -1).cpu();
    seq = at::cat({seq, at::multinomial(probs, 1, /*replacement=*/true, gen).to(device)}, 1);
  }
  return seq;
}

}  // namespace

Calibration calibrate(Architecture& model, const std::string& architecture, const CalibrationRequest& request,
                      const CalibrationText& text, at::Device device, Group* group) {
  if (request.batches <= 0) return {};
  XtxHook hook;
  if (!model.set_linear_hook(&hook))
    throw std::runtime_error("architecture " + architecture + " does not report its matmuls (set_linear_hook), "
                             "which this quantizer's calibration needs");
  HookScope scope{model};
  at::NoGradGuard no_grad;
  model.set_training(false);
  const int64_t batch_tokens = request.batch_tokens > 0 ? request.batch_tokens : text.default_batch_tokens;
  const int64_t rows = std::max<int64_t>(1, batch_tokens / text.seq_len);
  TokenLoader loader(text.train_files, text.rank, text.world_size, text.vocab);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(text.seed);
  for (int64_t b = 0; b < request.batches; ++b) {
    check_interrupt("calibration");
    at::Tensor x = request.source == CalibrationSource::kGenerated
                       ? generate(model, rows, text.seq_len, text.vocab, request.temperature, gen, device)
                       : loader.next(rows * text.seq_len, text.seq_len).first.to(device);
    model.logits(x);
  }
  model.set_training(true);
  const std::vector<Param> params = model.parameters();
  int64_t batches = request.batches;
  if (group && group->world_size() > 1 && request.source != CalibrationSource::kGenerated) {
    for (auto& [index, sum] : hook.sums_) {  // the same parameters, in the same order, on every rank
      group->all_reduce(sum.xtx, ReduceOp::kSum);
      sum.rows = int64_t(group->sum({double(sum.rows)})[0]);
    }
    batches *= group->world_size();
  }
  Calibration out;
  for (auto& [index, sum] : hook.sums_) {
    if (index < 0 || index >= int64_t(params.size()))
      throw std::runtime_error("architecture " + architecture + " reported a matmul of parameter " + std::to_string(index) +
                               ", outside its " + std::to_string(params.size()) + " parameters");
    out[params[index].name] = {(sum.xtx / double(batches)).cpu(), sum.rows, batches};
  }
  return out;
}

}  // namespace golf::host
