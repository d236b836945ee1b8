// host/run.cpp: checks -> run directory -> tokenizer and data -> model -> training -> averaging ->
// evaluation -> quantization -> compression -> artifact -> read back -> final evaluation, with the
// rules checked by the host.
#include "run.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "artifact.h"
#include "calibrate.h"
#include "context.h"
#include "corpus.h"
#include "device.h"
#include "distributed.h"
#include "errors.h"
#include "evaluate.h"
#include "files.h"
#include "golf/golf.h"
#include "interrupt.h"
#include "json.h"
#include "pipeline.h"
#include "preflight.h"
#include "provenance.h"
#include "quant_report.h"
#include "shard.h"
#include "train.h"
#include "weights.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// Cross-entropy of a unigram model (add-one smoothed counts over up to 100M training tokens)
// on the validation targets, in bits per byte: the floor any trained model should clear.
double unigram_bpb(const std::vector<std::string>& train_files, const at::Tensor& val, int64_t vocab, int64_t bytes) {
  std::vector<double> counts(vocab, 1.0);
  double total = vocab;
  int64_t seen = 0;
  for (const auto& f : train_files) {
    const std::vector<uint16_t> tokens = read_shard(f, vocab);
    for (uint16_t t : tokens) counts[t] += 1, total += 1;
    if ((seen += int64_t(tokens.size())) > 100'000'000) break;
  }
  const int64_t* v = val.data_ptr<int64_t>();
  double nats = 0;
  for (int64_t i = 1; i < val.numel(); ++i) nats -= std::log(counts[v[i]] / total);
  return nats / std::log(2.0) / double(bytes);
}

// What every rank must share before they train together: the library files of the pipeline's plugins.
uint64_t plugins_hash(const Pipeline& p) {
  uint64_t h = stable_hash("plugins");
  for (const auto& st : p.stages) {
    h = stable_hash(st.table + "=" + st.plugin->desc.name + "@" + st.plugin->desc.version, h);
    std::ifstream in(st.plugin->library, std::ios::binary);
    h = stable_hash(std::string((std::istreambuf_iterator<char>(in)), {}), h);
  }
  return h;
}

class Run {
 public:
  Run(const RunOptions& o, Pipeline p) : o_(o), p_(std::move(p)) {}
  int go(Registry& registry);

 private:
  void join_ranks();
  void body();
  void enter(const std::string& phase);
  void end_rank(bool failed);
  std::string plugin(const char* table) const { return p_.stage(table)->plugin->desc.name; }
  void prepare_data();
  EvalResult eval(const std::string& label, double budget_seconds = 0);
  Calibration calibrate_for_quantizer(double train_seconds);
  void save_trained_weights();
  void write_summary();

  const RunOptions& o_;
  Pipeline p_;
  Services s_;         // before prepared_: the stages borrow it
  Prepared prepared_;
  Stages& st_ = prepared_.stages;
  std::string dir_, weights_;
  // Rank 0 writes the run directory; another rank works in a private temporary folder (dir_) that
  // goes when it ends, and writes rank-N.log into rank 0's directory (shared_dir_) only on error.
  bool writer_ = true;
  std::string shared_dir_;
  std::string phase_ = "the checks before the run";
  std::vector<std::string> train_files_, val_files_;
  std::vector<Param> params_;
  at::Tensor val_;
  ByteTables tables_;
  EvalStream stream_;
  JsonObject summary_;
  std::string over_budget_;  // set when training plus calibration overran: the run ends over_limit
  std::string status_ = "failed", error_;
};

// A safe point between phases: a signal that arrived during the current phase, on any rank, ends
// the run here on every rank.
void Run::enter(const std::string& phase) {
  if (const int signal = int(s_.group.agree_max({double(interrupt_signal())})[0])) throw Interrupted(signal, phase_);
  phase_ = phase;
}

// Under torchrun: joins the other ranks, then checks that they all run the same pipeline with the
// same plugins. One process: nothing.
void Run::join_ranks() {
  const Launch launch = read_launch();
  if (!launch.launched()) return;
  const std::string backend = pick_backend(*p_.run);
  const double timeout = p_.run->get_float("collective_timeout");
  if (!(timeout > 0)) p_.run->fail("collective_timeout", "must be > 0 seconds");
  s_.group.join(launch, backend, std::chrono::milliseconds(int64_t(timeout * 1000)));
  s_.run.rank_ = launch.rank, s_.run.world_size_ = launch.world_size, s_.run.local_rank_ = launch.local_rank;
  writer_ = launch.rank == 0;
  if (!writer_) s_.log.set_silent();
  s_.log.info("processes: " + std::to_string(launch.world_size) + " ranks over " + backend + ", this is rank " +
              std::to_string(launch.rank) + " (local rank " + std::to_string(launch.local_rank) + ")");
  std::ostringstream resolved;
  resolved << p_.resolved;
  s_.group.check_same(stable_hash(resolved.str()), "pipeline (" + p_.file + " with its --set overrides, as resolved)");
  s_.group.check_same(plugins_hash(p_), "set of plugin libraries (names, versions or library files differ)");
}

// Another rank's private folder goes; its lines reach rank-N.log in the run directory only on error.
void Run::end_rank(bool failed) {
  if (writer_) return;
  if (failed && !shared_dir_.empty()) try {
    fs::create_directories(shared_dir_);  // another node: the same path there
    s_.log.open((fs::path(shared_dir_) / ("rank-" + std::to_string(s_.run.rank_) + ".log")).string());
  } catch (const std::exception&) {
  }
  std::error_code ignored;
  if (!dir_.empty()) fs::remove_all(dir_, ignored);
}

void Run::prepare_data() {
  Tokenizer& tokenizer = *st_.tokenizer;
  if (prepared_.corpus) {  // the tokenizer trains on the training split; both splits become shards
    ExportStats s = at_stage("tokenizer", plugin("tokenizer"), "prepare",
                             [&] { return prepare_corpus(*prepared_.corpus, tokenizer, dir_, s_.log); });
    train_files_ = s.train_files, val_files_ = s.val_files;
    const int64_t vocab = tokenizer.vocab_size();
    check_vocab(p_, *st_.architecture, vocab, "tokenizer " + plugin("tokenizer") + " (trained)");
    val_ = load_val_stream(val_files_, prepared_.train.seq_len, p_.data->get_int("max_val_tokens"), vocab);
  } else {  // checked and loaded before the run directory existed
    train_files_ = prepared_.shards.train, val_files_ = prepared_.shards.val;
    val_ = prepared_.val;
  }
  if (!o_.reuse_training.empty() && fs::is_directory(fs::path(o_.reuse_training) / "tokenizer"))
    fs::copy(fs::path(o_.reuse_training) / "tokenizer", fs::path(dir_) / "tokenizer", fs::copy_options::recursive);
}

EvalResult Run::eval(const std::string& label, double budget_seconds) {
  EvalResult r = at_stage("evaluator", plugin("evaluator"), "evaluate", [&] {
    return evaluate(*st_.evaluator, plugin("evaluator"), *st_.architecture, stream_, budget_seconds, label, s_.log, &s_.group);
  });
  char line[240];
  std::snprintf(line, sizeof line, "%s val_loss %.8f val_bpb %.8f (%lld tokens, %lld bytes, %lld chunks%s, %.1fs)", label.c_str(),
                r.val_loss, r.val_bpb, (long long)r.tokens, (long long)r.bytes, (long long)r.chunks,
                r.adapted ? ", adapted after scoring" : "", r.seconds);
  s_.log.info(line);
  return r;
}

// Runs the calibration the quantizer asks for, on training text only, and checks that training plus
// calibration kept to [run] train_seconds (the reserve came off the training budget up front).
Calibration Run::calibrate_for_quantizer(double train_seconds) {
  const CalibrationRequest req = st_.quantizer->calibration();
  if (req.batches <= 0) return {};
  const TrainOptions& topt = prepared_.train;
  CalibrationText text{train_files_, st_.tokenizer->vocab_size(), topt.seq_len,
                       topt.micro_batch_tokens > 0 ? topt.micro_batch_tokens : topt.batch_tokens / s_.run.world_size_,
                       s_.run.seed_, s_.run.rank_, s_.run.world_size_};
  const auto t0 = std::chrono::steady_clock::now();
  Calibration c = at_stage("architecture", plugin("architecture"), "calibration", [&] {
    return calibrate(*st_.architecture, plugin("architecture"), req, text, s_.run.device_, &s_.group);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summary_.add("calibration_seconds", seconds);
  s_.log.info("calibration: " + std::to_string(req.batches) + " batches of " +
              (req.source == CalibrationSource::kGenerated ? "generated" : "training") + " text, " +
              std::to_string(c.size()) + " matrices, " + std::to_string(seconds) + " s (reserved " +
              std::to_string(req.reserve_seconds) + " s)");
  const double budget = p_.run->get_float("train_seconds");
  if (o_.reuse_training.empty() && budget > 0 && train_seconds + seconds > budget)
    over_budget_ = "training (" + std::to_string(train_seconds) + " s) plus calibration (" + std::to_string(seconds) +
                   " s) ran past [run] train_seconds = " + std::to_string(budget) + ": raise [quantizer] reserve_seconds";
  return c;
}

void Run::save_trained_weights() {
  if (!writer_) return;  // the same weights as rank 0's
  save_weights(weights_, params_);
  summary_.add("weights_sha256", sha256_file(weights_));
}

int Run::go(Registry& registry) {
  join_ranks();
  // Bad input ends here: exit 2, nothing created; on every rank when any rank finds it.
  s_.group.all_or_none([&] { prepared_ = preflight(p_, o_.reuse_training, registry, s_); });

  s_.group.all_or_none([&] {
    if (writer_) dir_ = make_run_dir(o_.run_dir, p_.run->get_string("name"));
    else fs::create_directories(dir_ = (fs::temp_directory_path() / ("golf-rank" + std::to_string(s_.run.rank_) + "-" +
                                                                     std::to_string(::getpid()))).string());
  });
  shared_dir_ = s_.group.share("run_dir", dir_);
  s_.run.run_dir_ = dir_;
  weights_ = (fs::path(dir_) / "model.pt").string();
  if (writer_) {
    std::ostringstream resolved;
    resolved << "# " << fs::absolute(p_.file).string() << ", resolved by golf " << golf_version()
             << ": every default written out, every path absolute; `golf-host run` reruns it\n"
             << p_.resolved << "\n";
    write_file_atomically((fs::path(dir_) / "pipeline.toml").string(), resolved.str());
    s_.log.open((fs::path(dir_) / "log.txt").string());
    s_.metrics.open((fs::path(dir_) / "metrics.jsonl").string());
  }
  summary_.add("name", p_.run->get_string("name"));
  if (s_.run.world_size_ > 1) summary_.add("world_size", int64_t(s_.run.world_size_));
  int exit_code = kExitFailed;
  try {
    body();
    status_ = "ok";
    exit_code = kExitOk;
  } catch (const Interrupted& e) {
    status_ = "interrupted";
    error_ = e.what();
    summary_.add("stopped_in", e.phase());
    summary_.add("signal", signal_name(e.signal()));
    exit_code = e.exit_code();
  } catch (const OverLimit& e) {
    status_ = "over_limit";
    error_ = e.what();
  } catch (const std::exception& e) {
    error_ = user_message(e);
    exit_code = exit_code_for(e);
    if (const auto* se = dynamic_cast<const StageError*>(&e)) s_.log.file_only("plugin error in full: " + se->detail());
  }
  if (!error_.empty()) {
    if (status_ != "interrupted") s_.group.note_failure(exit_code, error_);  // for the other ranks' messages
    const std::string who = s_.run.world_size_ > 1 ? "rank " + std::to_string(s_.run.rank_) + ": " : "";
    std::cerr << (status_ == "interrupted" ? "" : "error: ") << who << error_ << "\n";
    s_.log.file_only("error: " + error_);
  }
  if (writer_) write_summary();
  end_rank(!error_.empty() && status_ != "interrupted");
  return exit_code;
}

void Run::body() {
  write_provenance(s_.log, p_, s_.run.device_.str(), s_.run.seed_);
  s_.log.info("device " + prepared_.device.description + ", compute dtype " + std::string(c10::toString(s_.run.dtype_)));
  // Not "every core" by default: with OpenBLAS running its own threads, more OpenMP threads made a
  // 2-core CPU run 2x slower (docs/performance.md).
  if (int64_t threads = p_.run->get_int("threads"); threads > 0) at::set_num_threads(int(threads));
  s_.log.file_only("cpu threads " + std::to_string(at::get_num_threads()));
  s_.log.info("run directory " + dir_);
  for (const auto& change : prepared_.reuse_ignored)
    s_.log.warn("--reuse-training ignores " + change + " (training is not rerun)");
  at::manual_seed(s_.run.seed_);
  const TrainOptions& topt = prepared_.train;

  enter("tokenizer and data preparation");
  prepare_data();
  if (prepared_.corpus && s_.run.world_size_ > 1)  // each rank trained its own tokenizer: they must agree
    s_.group.check_same(stable_hash(std::string(static_cast<const char*>(val_.data_ptr()), val_.numel() * val_.element_size())),
                        "validation stream (its tokenizer, trained on each rank from the corpus, came out differently)");
  enter("model construction");
  at_stage("architecture", plugin("architecture"), "build", [&] { st_.architecture->build(); });
  params_ = st_.architecture->parameters();
  int64_t n_params = 0;
  for (const auto& prm : params_) n_params += prm.tensor.numel();
  s_.log.info("model: " + std::to_string(n_params) + " parameters in " + std::to_string(params_.size()) + " tensors");
  summary_.add("params", n_params);

  Tokenizer& tokenizer = *st_.tokenizer;
  tables_ = tokenizer.byte_tables();
  if (int64_t(tables_.base_bytes.size()) != tokenizer.vocab_size())
    throw std::runtime_error("tokenizer " + plugin("tokenizer") + " returned byte tables of the wrong size");
  stream_ = EvalStream{val_, &tables_, tokenizer.bos_id(), prepared_.train.seq_len, count_bytes(val_, tables_)};
  s_.log.info("validation: " + std::to_string(val_.numel() - 1) + " targets, " + std::to_string(stream_.bytes) + " bytes");
  double unigram = unigram_bpb(train_files_, val_, tokenizer.vocab_size(), stream_.bytes);
  summary_.add("unigram_bpb", unigram);
  s_.log.info("unigram baseline val_bpb " + std::to_string(unigram));

  st_.optimizer->attach(params_);
  if (st_.averaging) st_.averaging->attach(params_);
  if (st_.qat) st_.qat->attach(params_, *st_.quantizer);
  double train_seconds = 0;
  if (!o_.reuse_training.empty()) {
    enter("loading the reused weights");
    const std::string from = (fs::path(o_.reuse_training) / "model.pt").string();
    load_weights(from, params_);
    fs::copy_file(from, weights_);
    if (fs::exists(from + ".sha256")) fs::copy_file(from + ".sha256", weights_ + ".sha256");
    s_.log.info("reusing the trained weights of " + o_.reuse_training);
    summary_.add("reused_training", o_.reuse_training);
  } else {
    enter("training");
    TokenLoader loader(train_files_, s_.run.rank_, s_.run.world_size_, tokenizer.vocab_size());
    TrainParts parts{*st_.architecture, *st_.optimizer, st_.averaging.get(), st_.qat.get(), loader, params_, s_.group};
    TrainResult tr = train(parts, topt, s_.run, s_.log, s_.metrics, [&](int64_t step) {
      EvalResult r = eval("step " + std::to_string(step));
      s_.metrics.write(step, {{"val_loss", r.val_loss}, {"val_bpb", r.val_bpb}});
    });
    summary_.add("steps", tr.steps);
    summary_.add("train_seconds", tr.seconds);
    train_seconds = tr.seconds;
    if (s_.run.device_.is_cuda()) summary_.add("peak_memory_bytes", peak_memory_bytes(s_.run.device_));
    summary_.add("stop_reason", tr.stop_reason);
    summary_.add("train_loss", tr.last_loss);
    s_.log.info("training stopped (" + tr.stop_reason + ") after " + std::to_string(tr.steps) + " steps in " +
                std::to_string(tr.seconds) + " s");
    if (tr.stop_reason == "interrupted") {  // the weights trained so far are kept, averaged or not
      save_trained_weights();
      s_.log.warn("interrupted: trained weights saved to " + weights_ + "; no evaluation or artifact");
      throw Interrupted(tr.signal, "training");
    }
    phase_ = "weight averaging";  // no safe point before the weights are saved: a signal now waits for it
    if (st_.averaging) at_stage("averaging", plugin("averaging"), "apply", [&] { st_.averaging->apply(); });
    save_trained_weights();
  }

  enter("calibration");
  const Calibration calibration = calibrate_for_quantizer(train_seconds);

  enter("pre-quantization evaluation");
  EvalResult pre = eval("pre-quantization");
  summary_.add("val_loss_prequant", pre.val_loss);
  summary_.add("val_bpb_prequant", pre.val_bpb);

  enter("quantization");
  auto quantized = at_stage("quantizer", plugin("quantizer"), "quantize", [&] { return st_.quantizer->quantize(params_, calibration); });
  if (writer_)
    at_stage("compressor", plugin("compressor"), "compress (per-tensor report)", [&] {
      return write_quant_report((fs::path(dir_) / "quantization.json").string(), params_, quantized, *st_.compressor);
    });
  std::vector<ArtifactStage> made_by;
  for (const char* t : {"architecture", "quantizer", "compressor"})
    made_by.push_back({t, plugin(t), p_.stage(t)->plugin->desc.version});
  enter("compression and artifact writing");
  const std::string artifact = (fs::path(dir_) / "model.golf").string();
  const CompressionOptions compression{uint32_t(p_.run->get_int("byte_shuffle")),
                                       parse_group_mode(p_.run->get_string("compress_groups"))};  // checked in preflight
  ArtifactInfo info = at_stage("compressor", plugin("compressor"), "compress", [&] {
    return write_artifact(artifact, made_by, st_.quantizer->format(), quantized, *st_.compressor, compression);
  });
  summary_.raw("compression", compression_json(info, compression));
  for (const auto& line : compression_lines(info)) s_.log.info(line);
  const CodeBytes& code = prepared_.code;
  int64_t bytes_total = int64_t(info.file_bytes) + code.bytes, limit = p_.run->get_int("artifact_limit_bytes");
  summary_.add("bytes_model", int64_t(info.file_bytes));
  summary_.add("bytes_code", code.bytes);
  summary_.add("bytes_total", bytes_total);
  summary_.add("artifact_limit_bytes", limit);
  summary_.add("bytes_payload_raw", int64_t(info.raw_bytes));
  s_.log.info("artifact " + artifact + ": " + std::to_string(info.file_bytes) + " bytes (payload " +
              std::to_string(info.raw_bytes) + " raw); code " + std::to_string(code.bytes) + " bytes in " +
              std::to_string(code.files.size()) + " files; total " + std::to_string(bytes_total));
  for (const auto& f : code.files) s_.log.file_only("bytes_code: " + f);

  // The score comes from the artifact read back, never from the in-memory weights.
  enter("reading the artifact back");
  ArtifactInfo back;
  auto stored = at_stage("compressor", plugin("compressor"), "decompress",
                         [&] { return read_artifact(artifact, *st_.compressor, &back); });
  if (back.quant_format != st_.quantizer->format())
    throw std::runtime_error(artifact + ": quantized as " + back.quant_format + ", quantizer " + plugin("quantizer") +
                             " reads " + st_.quantizer->format());
  StateDict restored;
  for (const auto& q : stored)
    restored[q.name] = at_stage("quantizer", plugin("quantizer"), "dequantize", [&] { return st_.quantizer->dequantize(q); });
  assign_weights(restored, params_, artifact);
  enter("final evaluation");
  EvalResult fin = eval("final (artifact roundtrip)", p_.run->get_float("eval_seconds"));
  summary_.add("val_loss", fin.val_loss);
  summary_.add("val_bpb", fin.val_bpb);
  summary_.add("val_tokens", fin.tokens);
  summary_.add("val_bytes", fin.bytes);
  summary_.add("eval_seconds", fin.seconds);
  enter("the end of the run");

  if (bytes_total > limit)
    throw OverLimit("artifact over the byte limit: bytes_total " + std::to_string(bytes_total) + " > " + std::to_string(limit) +
                        " ([run] artifact_limit_bytes)");
  if (!over_budget_.empty()) throw OverLimit(over_budget_);
}

void Run::write_summary() {
  JsonObject s = summary_;
  s.add("status", status_);
  if (!error_.empty()) s.add("error", error_);
  s.add("device", s_.run.device_.str());
  s.add("seed", int64_t(s_.run.seed_));
  s.add("golf_version", golf_version());
  s.add("golf_commit", golf_commit());
  JsonObject plugins;
  for (const auto& st : p_.stages) plugins.add(st.table, std::string(st.plugin->desc.name) + "@" + st.plugin->desc.version);
  s.raw("plugins", plugins.str());
  write_file_atomically((fs::path(dir_) / "summary.json").string(), s.str() + "\n");
  s_.log.info("summary: " + (fs::path(dir_) / "summary.json").string() + " (status " + status_ + ")");
}

}  // namespace

int run_pipeline(const RunOptions& o) {
  Registry registry = scan_plugins(o.plugin_dirs);
  Run r(o, load_pipeline(o.pipeline, o.overrides, registry));
  return r.go(registry);
}

}  // namespace golf::host
