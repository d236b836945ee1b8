// host/train.cpp: the training loop.
#include "train.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "device.h"
#include "interrupt.h"

namespace golf::host {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Snapshot {
  std::vector<at::Tensor> weights;
  StateDict optimizer, averaging;
  TokenLoader::Position position;
};

Snapshot snapshot(TrainParts& p) {
  Snapshot s;
  at::NoGradGuard no_grad;
  for (const auto& prm : p.params) s.weights.push_back(prm.tensor.detach().clone());
  p.optimizer.save_state(s.optimizer);
  if (p.averaging) p.averaging->save_state(s.averaging);
  s.position = p.loader.position();
  return s;
}

void restore(TrainParts& p, const Snapshot& s) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < p.params.size(); ++i) p.params[i].tensor.copy_(s.weights[i]);
  p.optimizer.load_state(s.optimizer);
  if (p.averaging) p.averaging->load_state(s.averaging);
  p.loader.seek(s.position);
}

void zero_grads(const std::vector<Param>& params) {
  for (const auto& p : params)
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = at::Tensor();
}

// One optimizer step: micro-batches, backward, QAT hooks, optimizer, averaging. Returns the mean loss.
double step_once(TrainParts& p, const TrainOptions& o, const RunState& run, const StepInfo& info) {
  const int64_t local = o.batch_tokens / run.world_size_;
  const int64_t micro = o.micro_batch_tokens > 0 ? o.micro_batch_tokens : local;
  const int64_t n_micro = local / micro;
  at::Tensor loss_sum;  // stays on the device: one read per step, not one sync per micro-batch
  for (int64_t m = 0; m < n_micro; ++m) {
    auto [x, y] = p.loader.next(micro, o.seq_len);
    x = x.to(run.device_), y = y.to(run.device_);
    if (p.qat) p.qat->before_forward(info);
    at::Tensor loss = p.model.forward(x, y).mean();
    (loss / double(n_micro)).backward();
    if (p.qat) p.qat->after_backward(info);
    at::Tensor detached = loss.detach().to(at::kDouble);
    loss_sum = loss_sum.defined() ? loss_sum + detached : detached;
  }
  p.group.average_gradients(p.params);
  if (p.group.world_size() > 1) p.group.all_reduce(loss_sum, ReduceOp::kAverage);
  double loss = loss_sum.item<double>() / n_micro;
  if (!std::isfinite(loss))
    throw std::runtime_error("training loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at step " +
                             std::to_string(info.step) + "; stopping (lower the learning rates or check the data)");
  p.optimizer.step(info);
  zero_grads(p.params);
  if (p.averaging) p.averaging->update(info);
  return loss;
}

std::string human(double seconds) {
  char buf[32];
  if (!std::isfinite(seconds)) return "?";
  if (seconds < 90) std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  else std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(seconds / 60), std::fmod(seconds, 60));
  return buf;
}

}  // namespace

TrainOptions TrainOptions::from(const TableConfig& train, const TableConfig& run, int world_size) {
  TrainOptions o{};
  o.iterations = train.get_int("iterations");
  o.batch_tokens = train.get_int("batch_tokens");
  o.micro_batch_tokens = train.get_int("micro_batch_tokens");
  o.seq_len = train.get_int("seq_len");
  o.warmdown_iters = train.get_int("warmdown_iters");
  o.warmdown_frac = train.get_float("warmdown_frac");
  o.min_lr_scale = train.get_float("min_lr_scale");
  o.warmup_steps = train.get_int("warmup_steps");
  o.val_every = train.get_int("val_every");
  o.log_every = train.get_int("log_every");
  o.budget_seconds = run.get_float("train_seconds");
  std::string wd = train.get_string("warmdown");
  if (wd != "auto" && wd != "time" && wd != "steps") train.fail("warmdown", "must be \"auto\", \"time\" or \"steps\"");
  if (wd == "time" && o.budget_seconds <= 0) train.fail("warmdown", "\"time\" needs [run] train_seconds > 0");
  o.time_warmdown = wd == "time" || (wd == "auto" && o.budget_seconds > 0);
  if (o.iterations <= 0) train.fail("iterations", "must be positive");
  if (o.seq_len <= 0) train.fail("seq_len", "must be positive");
  if (o.batch_tokens <= 0 || o.batch_tokens % (int64_t(world_size) * o.seq_len))
    train.fail("batch_tokens", "must be a positive multiple of seq_len x world size");
  int64_t local = o.batch_tokens / world_size;
  if (o.micro_batch_tokens < 0 || (o.micro_batch_tokens && (local % o.micro_batch_tokens || o.micro_batch_tokens % o.seq_len)))
    train.fail("micro_batch_tokens", "must divide batch_tokens per rank and be a multiple of seq_len");
  if (o.warmdown_iters < 0 || o.warmup_steps < 0 || o.val_every < 0 || o.log_every <= 0)
    train.fail(o.log_every <= 0 ? "log_every" : "warmdown_iters", "must not be negative (log_every positive)");
  if (o.budget_seconds < 0) run.fail("train_seconds", "must not be negative");
  if (!(o.warmdown_frac >= 0 && o.warmdown_frac <= 1)) train.fail("warmdown_frac", "must be in [0, 1]");
  if (o.warmdown_frac > 0 && o.warmdown_iters > 0 && train.is_set("warmdown_iters"))
    train.fail("warmdown_frac", "replaces warmdown_iters, which this pipeline sets to " + std::to_string(o.warmdown_iters) +
                                    "; set warmdown_iters = 0 with it");
  if (!(o.min_lr_scale >= 0 && o.min_lr_scale < 1)) train.fail("min_lr_scale", "must be in [0, 1)");
  return o;
}

namespace {

double warmdown_scale(const TrainOptions& o, int64_t step, double elapsed) {
  if (o.warmdown_frac > 0) {
    const double f = o.time_warmdown ? elapsed / o.budget_seconds : double(step) / double(o.iterations);
    return f < 1 - o.warmdown_frac ? 1.0 : std::max((1 - f) / o.warmdown_frac, 0.0);
  }
  if (o.warmdown_iters <= 0) return 1.0;
  if (!o.time_warmdown) {
    int64_t start = std::max<int64_t>(o.iterations - o.warmdown_iters, 0);
    return step >= start && step < o.iterations ? std::max(double(o.iterations - step) / o.warmdown_iters, 0.0) : 1.0;
  }
  double step_s = elapsed / std::max<int64_t>(step, 1);
  double warmdown_s = o.warmdown_iters * step_s;
  double remaining = std::max(o.budget_seconds - elapsed, 0.0);
  return remaining <= warmdown_s ? remaining / std::max(warmdown_s, 1e-9) : 1.0;
}

}  // namespace

double lr_scale(const TrainOptions& o, int64_t step, double elapsed) {
  return std::max(warmdown_scale(o, step, elapsed), o.min_lr_scale);
}

TrainResult train(TrainParts& p, const TrainOptions& o, RunState& run, RunLog& log, MetricsSink& metrics,
                  const std::function<void(int64_t)>& validate) {
  p.model.set_training(true);
  run.progress_ = 0;
  if (o.warmup_steps > 0) {  // priming (allocations, kernel choice) that never trains the model
    Snapshot s = snapshot(p);
    for (int64_t i = 0; i < o.warmup_steps; ++i) step_once(p, o, run, {i, 1.0, 0.0});
    restore(p, s);
    log.info("warm-up: " + std::to_string(o.warmup_steps) + " priming steps run and rolled back");
  }
  const bool tty = ::isatty(STDERR_FILENO);
  TrainResult r;
  double elapsed = 0;
  int64_t step = 0;
  synchronize(run.device_);
  auto t0 = Clock::now();
  for (;;) {
    // Every rank decides alike: a signal on any rank stops them all, the slowest clock sets the pace.
    const std::vector<double> agreed = p.group.agree_max({double(interrupt_signal()), elapsed + seconds_since(t0)});
    const int signal = int(agreed[0]);
    double now = agreed[1];
    bool done = step >= o.iterations || (o.budget_seconds > 0 && now >= o.budget_seconds) || signal;
    // The curve's points; without val_every the run's pre-quantization evaluation is the last point.
    bool validating = o.val_every > 0 && (step % o.val_every == 0 || done) && !signal;
    if (validating || done) {  // close the clock's segment; validation time is not training time
      synchronize(run.device_);
      elapsed = std::max(elapsed + seconds_since(t0), now);  // the agreed clock, never behind this rank's
      now = elapsed;
      t0 = Clock::now();
    }
    if (validating) {
      if (tty) std::cerr << "\n";
      validate(step);
      p.model.set_training(true);
      t0 = Clock::now();
    }
    if (done) {
      r.stop_reason = signal ? "interrupted" : step >= o.iterations ? "iterations" : "wallclock";
      r.signal = signal;
      break;
    }
    StepInfo info{step, lr_scale(o, step, now), 0.0};
    run.elapsed_ = now;
    info.progress = run.progress_ =
        std::max(double(step) / o.iterations, o.budget_seconds > 0 ? now / o.budget_seconds : 0.0);
    r.last_loss = step_once(p, o, run, info);
    ++step;
    synchronize(run.device_);
    double t = elapsed + seconds_since(t0);
    run.elapsed_ = t;
    double tok_s = double(step) * o.batch_tokens / std::max(t, 1e-9);
    if (step % o.log_every == 0 || step == o.iterations) {
      metrics.write(step, {{"train_loss", r.last_loss}, {"lr_scale", info.lr_scale}, {"tokens_per_s", tok_s}, {"elapsed", t}});
      char line[160];
      std::snprintf(line, sizeof line, "step %lld train_loss %.4f lr_scale %.3f tokens/s %.0f elapsed %.1fs",
                    (long long)step, r.last_loss, info.lr_scale, tok_s, t);
      if (tty) log.file_only(line);
      else log.info(line);
    }
    if (tty) {
      double eta = o.budget_seconds > 0 ? o.budget_seconds - t : (o.iterations - step) * t / step;
      std::fprintf(stderr, "\rstep %lld/%lld  loss %.4f  %.0f tok/s  %s/%s  ETA %s   ", (long long)step,
                   (long long)o.iterations, r.last_loss, tok_s, human(t).c_str(),
                   o.budget_seconds > 0 ? human(o.budget_seconds).c_str() : "-", human(std::max(eta, 0.0)).c_str());
    }
  }
  if (tty) std::cerr << "\n";  // end the progress line
  r.steps = step;
  run.progress_ = 1;  // training is over: what follows sees finished weights
  r.seconds = elapsed;
  run.elapsed_ = elapsed;
  return r;
}

}  // namespace golf::host
