// host/evaluate.cpp: validation stream loading and the host-driven evaluation loop.
#include "evaluate.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>

#include "context.h"
#include "distributed.h"
#include "errors.h"
#include "interrupt.h"
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

int64_t count_bytes(const at::Tensor& tokens, const ByteTables& tables, int64_t begin, int64_t end) {
  const int64_t* t = tokens.data_ptr<int64_t>();
  const int64_t vocab = tables.base_bytes.size();
  if (end < 0) end = tokens.numel();
  int64_t bytes = 0;
  for (int64_t i = std::max<int64_t>(begin, 1); i < end; ++i) {
    int64_t x = t[i - 1], y = t[i];
    if (x < 0 || y < 0 || x >= vocab || y >= vocab)
      throw std::runtime_error("validation token id " + std::to_string(std::max(x, y)) + " is outside the tokenizer's " +
                               std::to_string(vocab) + " ids: the shards were made with another tokenizer");
    bytes += tables.base_bytes[y] + (tables.has_leading_space[y] && !tables.is_boundary[x]);
  }
  return bytes;
}

std::vector<Segment> segments(const at::Tensor& tokens, int32_t bos) {
  const int64_t n = tokens.numel();
  if (bos < 0) return {{0, 1, n}};
  const int64_t* t = tokens.data_ptr<int64_t>();
  std::vector<int64_t> starts{0};
  for (int64_t i = 1; i < n; ++i)
    if (t[i] == bos) starts.push_back(i);
  std::vector<Segment> out;
  for (size_t k = 0; k < starts.size(); ++k) {
    // A document predicts the next document's BOS, so its targets run to that BOS inclusive.
    const int64_t end = k + 1 < starts.size() ? starts[k + 1] + 1 : n;
    if (end > starts[k] + 1) out.push_back({starts[k], starts[k] + 1, end});
  }
  return out;
}

namespace {

// Copies of the model's parameters and the evaluator's state, put back when the evaluation ends,
// however it ends: adaptation never reaches the weights that are trained, saved or quantized.
class Snapshot {
 public:
  Snapshot(Architecture& model, Evaluator& evaluator) : evaluator_(evaluator), params_(model.parameters()) {
    at::NoGradGuard no_grad;
    for (const Param& p : params_) copies_.push_back(p.tensor.detach().clone());
    evaluator_.save_state(state_);
  }
  ~Snapshot() {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      params_[i].tensor.copy_(copies_[i]);
      if (params_[i].tensor.grad().defined()) params_[i].tensor.mutable_grad() = at::Tensor();
    }
    try {
      evaluator_.load_state(state_);
    } catch (...) {  // a destructor must not throw; the evaluator's next begin() starts afresh
    }
  }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  Evaluator& evaluator_;
  std::vector<Param> params_;
  std::vector<at::Tensor> copies_;
  StateDict state_;
};

void check_plan(const EvalPlan& plan, const std::string& plugin) {
  auto bad = [&](const std::string& what) { throw std::runtime_error("evaluator " + plugin + ": plan " + what); };
  if (plan.chunk_tokens < 1) bad("chunk_tokens must be >= 1, got " + std::to_string(plan.chunk_tokens));
  if (plan.history_tokens < 1) bad("history_tokens must be >= 1 (a target's own input), got " + std::to_string(plan.history_tokens));
  if (plan.lanes < 1) bad("lanes must be >= 1, got " + std::to_string(plan.lanes));
  if (plan.lanes > 1 && !plan.documents) bad("lanes > 1 needs documents = true");
}

// Restores training mode when the evaluation ends.
struct TrainingModeScope {
  Architecture& model;
  ~TrainingModeScope() { model.set_training(true); }
};

}  // namespace

EvalResult evaluate(Evaluator& evaluator, const std::string& plugin, Architecture& model, const EvalStream& stream,
                    double budget_seconds, const std::string& label, Logger& log, Group* group) {
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  const at::Tensor& tokens = stream.tokens;
  const std::string who = "evaluator " + plugin;
  if (tokens.dim() != 1 || tokens.scalar_type() != at::kLong || tokens.numel() < 2)
    throw std::runtime_error("the validation stream must be 1-D int64 with at least 2 tokens (1 target)");

  Snapshot snapshot(model, evaluator);
  TrainingModeScope mode{model};
  const EvalSetup setup{stream.tables, stream.bos_id, stream.seq_len, tokens.numel()};
  const EvalPlan plan = evaluator.begin(model, setup);
  check_plan(plan, plugin);
  struct Ender {  // end() also when the evaluation stops early
    Evaluator& e;
    Architecture& m;
    ~Ender() {
      try {
        e.end(m);
      } catch (...) {
      }
    }
  } ender{evaluator, model};

  const std::vector<Segment> segs = segments(tokens, plan.documents ? stream.bos_id : -1);
  const std::vector<Param> params = model.parameters();
  const int64_t total_targets = tokens.numel() - 1;

  // Lanes take documents in stream order, a group of `lanes` documents at a time; the next group
  // starts when every document of the current one is scored (the reference's TTT batches, §5.29).
  struct Lane {
    int64_t segment = -1, next = 0;  // next target to score
  };
  std::vector<Lane> lanes(plan.lanes);
  size_t next_segment = 0;
  auto refill = [&](Lane& l) {
    if (next_segment < segs.size()) l = {int64_t(next_segment), segs[next_segment].begin}, ++next_segment;
    else l.segment = -1;
  };

  // Across ranks, rank r scores batches r, r + world, ... and the float64 sums are added at the end. An
  // evaluator that adapts carries its state through the whole stream, so there every rank scores it all.
  const int world = group ? group->world_size() : 1, rank = group ? group->rank() : 0;
  const bool split = world > 1 && !plan.adapts;
  int64_t batch_index = 0, covered = 0;  // covered: targets of every batch so far, whoever scored them

  double loss_sum = 0;
  int64_t targets = 0, bytes = 0, chunks = 0, next_report = 1;
  // Each chunk's NLL comes to the CPU once; the batch's sum is read once.
  while (true) {
    if (std::all_of(lanes.begin(), lanes.end(), [](const Lane& l) { return l.segment < 0; }))
      for (Lane& l : lanes) refill(l);
    std::vector<EvalChunk> batch;
    for (size_t i = 0; i < lanes.size(); ++i) {
      Lane& l = lanes[i];
      if (l.segment < 0) continue;
      const Segment& s = segs[l.segment];
      EvalChunk c;
      c.begin = l.next;
      c.end = std::min(s.end, c.begin + plan.chunk_tokens);
      c.first = std::max(s.first, c.begin - plan.history_tokens);
      c.tokens = tokens.narrow(0, c.first, c.end - c.first).clone();  // a copy: the stream itself is never lent
      c.segment = l.segment;
      c.lane = int64_t(i);
      c.segment_start = c.begin == s.begin;
      c.segment_end = c.end == s.end;
      batch.push_back(std::move(c));
    }
    if (batch.empty()) break;
    double spent = seconds();
    if (world > 1) {  // every rank stops at the same batch: a signal on any, the slowest clock
      const std::vector<double> agreed = group->agree_max({double(interrupt_signal()), spent});
      if (agreed[0] != 0) throw Interrupted(int(agreed[0]), label);
      spent = agreed[1];
      if (budget_seconds > 0 && spent > budget_seconds)
        throw OverLimit(label + " stopped after " + std::to_string(spent) + " s with " + std::to_string(covered) + " of " +
                        std::to_string(total_targets) + " targets scored: over [run] eval_seconds = " + std::to_string(budget_seconds));
    } else {
      check_interrupt(label);
    }
    for (const EvalChunk& c : batch) covered += c.end - c.begin;
    if (split && batch_index++ % world != rank) {
      for (const EvalChunk& c : batch) {
        Lane& l = lanes[c.lane];
        l.next = c.end;
        if (c.segment_end) l.segment = -1;
      }
      continue;
    }

    std::vector<int64_t> versions;
    for (const Param& p : params) versions.push_back(p.tensor._version());
    std::vector<at::Tensor> nll;
    {
      at::NoGradGuard no_grad;
      model.set_training(false);
      nll = evaluator.score(model, batch);
    }
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].tensor._version() != versions[i])
        throw std::runtime_error(who + " changed parameter " + params[i].name + " while scoring positions [" +
                                 std::to_string(batch.front().begin) + ", " + std::to_string(batch.front().end) +
                                 "): a model may adapt only on tokens already scored, in adapt()");
    if (nll.size() != batch.size())
      throw std::runtime_error(who + " returned " + std::to_string(nll.size()) + " score tensors for a batch of " +
                               std::to_string(batch.size()) + " chunks");
    at::Tensor batch_sum = at::zeros({}, at::kDouble), batch_min = at::zeros({}, at::kDouble);
    for (size_t i = 0; i < batch.size(); ++i) {
      const EvalChunk& c = batch[i];
      if (!nll[i].defined() || nll[i].numel() != c.end - c.begin)
        throw std::runtime_error(who + " returned " + std::to_string(nll[i].defined() ? nll[i].numel() : 0) +
                                 " values for the " + std::to_string(c.end - c.begin) + " targets at positions [" +
                                 std::to_string(c.begin) + ", " + std::to_string(c.end) +
                                 "): every target is scored exactly once, no more, no fewer");
      const at::Tensor v = nll[i].detach().reshape({-1}).to(at::kDouble).cpu();
      batch_sum += v.sum();
      batch_min = at::minimum(batch_min, v.min());
      bytes += count_bytes(tokens, *stream.tables, c.begin, c.end);
      targets += c.end - c.begin;
    }
    const double sum = batch_sum.item<double>();
    if (!std::isfinite(sum)) throw std::runtime_error(who + " returned a non-finite NLL at positions from " + std::to_string(batch.front().begin));
    if (batch_min.item<double>() < -1e-4)
      throw std::runtime_error(who + " returned a negative NLL at positions from " + std::to_string(batch.front().begin) +
                               ": not a normalised distribution");
    loss_sum += sum;
    chunks += int64_t(batch.size());

    if (plan.adapts) {
      at::AutoGradMode grad(true);
      model.set_training(true);
      evaluator.adapt(model, batch);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Lane& l = lanes[batch[i].lane];
      l.next = batch[i].end;
      if (batch[i].segment_end) l.segment = -1;
    }

    if (world == 1) spent = seconds();
    while (next_report < 4 && 4 * covered >= next_report * total_targets) {
      char line[160];
      std::snprintf(line, sizeof line, "%s: %lld%% scored in %.1fs, ETA %.1fs", label.c_str(), (long long)(25 * next_report),
                    spent, spent * double(4 - next_report) / double(next_report));
      log.info(line);
      ++next_report;
    }
    if (budget_seconds > 0 && spent > budget_seconds && covered < total_targets)
      throw OverLimit(label + " stopped after " + std::to_string(spent) + " s with " + std::to_string(covered) + " of " +
                      std::to_string(total_targets) + " targets scored: over [run] eval_seconds = " + std::to_string(budget_seconds));
  }

  if (split) {
    const std::vector<double> v = group->sum({loss_sum, double(targets), double(bytes), double(chunks)});
    loss_sum = v[0], targets = int64_t(v[1]), bytes = int64_t(v[2]), chunks = int64_t(v[3]);
  }
  // The loop covers every target once by construction; these guard the construction itself.
  if (targets != total_targets || bytes != stream.bytes)
    throw std::logic_error("evaluation covered " + std::to_string(targets) + " targets and " + std::to_string(bytes) +
                           " bytes of " + std::to_string(total_targets) + " and " + std::to_string(stream.bytes));
  EvalResult r;
  r.seconds = seconds();
  r.tokens = targets;
  r.bytes = bytes;
  r.chunks = chunks;
  r.adapted = plan.adapts;
  r.val_loss = loss_sum / double(targets);
  r.val_bpb = r.val_loss / std::log(2.0) * double(targets) / double(bytes);
  return r;
}

}  // namespace golf::host
