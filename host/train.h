// host/train.h: the training loop: wallclock budget, LR warmdown, priming steps, validation, signals.
#ifndef GOLF_HOST_TRAIN_H_
#define GOLF_HOST_TRAIN_H_

#include <functional>
#include <string>

#include "context.h"
#include "distributed.h"
#include "golf/architecture.h"
#include "golf/averaging.h"
#include "golf/optimizer.h"
#include "golf/qat.h"
#include "loader.h"

namespace golf::host {

// [train] and the [run] budget, read once and checked. No defaults here: from() reads every field
// from the tables, whose defaults live in their schemas (host/pipeline.cpp) only. `TrainOptions o{}`
// is all zeros (tests set what they use).
struct TrainOptions {
  int64_t iterations;
  int64_t batch_tokens;        // per optimizer step, all ranks
  int64_t micro_batch_tokens;  // 0 = batch_tokens / world_size
  int64_t seq_len;
  int64_t warmdown_iters;
  double warmdown_frac;        // > 0: warmdown over this last fraction of training, replacing warmdown_iters
  double min_lr_scale;         // floor of the LR scale during the warmdown
  bool time_warmdown;          // false: counted in steps
  int64_t warmup_steps;
  int64_t val_every;
  int64_t log_every;
  double budget_seconds;       // [run] train_seconds; 0 = no cap
  static TrainOptions from(const TableConfig& train, const TableConfig& run, int world_size);
};

// The LR multiplier. With warmdown_frac > 0, the frontier's rule (parameter-golf.md §5.26): progress
// f = elapsed / budget (step / iterations without a time warmdown), 1 before 1 − warmdown_frac, then
// (1 − f) / warmdown_frac. Otherwise the reference's (§4.5): without a time warmdown, linear decay over
// the last warmdown_iters of `iterations`; with one, from the average step time so far. Either way
// never below min_lr_scale once the warmdown has begun.
double lr_scale(const TrainOptions& o, int64_t step, double elapsed_seconds);

struct TrainParts {
  Architecture& model;
  Optimizer& optimizer;
  Averaging* averaging;  // optional
  Qat* qat;              // optional
  TokenLoader& loader;
  std::vector<Param> params;
  Group& group;  // the run's processes: gradients averaged, loss averaged, stop decisions agreed
};

struct TrainResult {
  int64_t steps = 0;
  double seconds = 0;         // training clock, validation excluded
  std::string stop_reason;    // "iterations", "wallclock", "interrupted"
  int signal = 0;             // with "interrupted": the signal, agreed by every rank
  double last_loss = 0;       // the mean over ranks
};

// Trains until iterations, the budget or a signal (host/interrupt.h: the loop stops after the current step). `validate(step)` runs with the clock paused, at step
// 0, every val_every steps and at the end (never when val_every is 0). Throws std::runtime_error on a non-finite loss, naming the step.
// With several ranks (parts.group), each step's stop decision (a signal on any rank, the slowest rank's
// clock) and loss (the mean over ranks, so a NaN anywhere stops every rank) are taken together, and
// the gradients are averaged across ranks before the optimizer's step.
TrainResult train(TrainParts& parts, const TrainOptions& o, RunState& run, RunLog& log, MetricsSink& metrics,
                  const std::function<void(int64_t)>& validate);

}  // namespace golf::host

#endif  // GOLF_HOST_TRAIN_H_
