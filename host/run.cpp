// host/run.cpp: tokenizer -> data -> model -> training -> averaging -> evaluation -> quantization ->
// compression -> artifact -> read back -> final evaluation, with the rules checked by the host.
#include "run.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <glob.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "artifact.h"
#include "context.h"
#include "corpus.h"
#include "device.h"
#include "evaluate.h"
#include "golf/golf.h"
#include "json.h"
#include "pipeline.h"
#include "provenance.h"
#include "shard.h"
#include "train.h"
#include "weights.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// A run ending because a budget or limit was exceeded (as opposed to an error).
struct LimitExceeded : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string table_text(const toml::table& root, const std::string& key) {
  std::ostringstream s;
  if (const auto* t = root.get_as<toml::table>(key)) s << *t;
  return s.str();
}

int64_t code_bytes(const std::string& globs, const std::string& pipeline_file, std::vector<std::string>& files) {
  int64_t total = 0;
  std::stringstream list(globs);
  fs::path base = fs::path(pipeline_file).parent_path();
  for (std::string pattern; std::getline(list, pattern, ',');) {
    pattern.erase(0, pattern.find_first_not_of(' '));
    pattern.erase(pattern.find_last_not_of(' ') + 1);
    if (pattern.empty()) continue;
    fs::path full = fs::path(pattern).is_absolute() ? fs::path(pattern) : base / pattern;
    glob_t g{};
    if (::glob(full.c_str(), 0, nullptr, &g) != 0) {
      ::globfree(&g);
      throw std::runtime_error("[run] code_files: '" + pattern + "' matches no file (relative to " + base.string() + ")");
    }
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      total += fs::file_size(g.gl_pathv[i]);
      files.emplace_back(g.gl_pathv[i]);
    }
    ::globfree(&g);
  }
  return total;
}

// Cross-entropy of a unigram model (add-one smoothed counts over up to 100M training tokens)
// on the validation targets, in bits per byte: the floor any trained model should clear.
double unigram_bpb(const std::vector<std::string>& train_files, const at::Tensor& val, int64_t vocab, int64_t bytes) {
  std::vector<double> counts(vocab, 1.0);
  double total = vocab;
  int64_t seen = 0;
  for (const auto& f : train_files) {
    for (uint16_t t : read_shard(f))
      if (t < vocab) counts[t] += 1, total += 1;
    if ((seen += shard_tokens(f)) > 100'000'000) break;
  }
  const int64_t* v = val.data_ptr<int64_t>();
  double nats = 0;
  for (int64_t i = 1; i < val.numel(); ++i) nats -= std::log(counts[v[i]] / total);
  return nats / std::log(2.0) / double(bytes);
}

class Run {
 public:
  Run(const RunOptions& o, Pipeline p) : o_(o), p_(std::move(p)) {}
  int go();

 private:
  void setup_device();
  template <class Kind>
  std::unique_ptr<Kind> make(const std::string& table);
  void prepare_data();
  EvalResult eval(const std::string& label);
  void write_summary();

  const RunOptions& o_;
  Pipeline p_;
  RunLog log_;
  MetricsSink metrics_;
  RunState state_;
  std::string dir_;
  std::vector<std::unique_ptr<StageContext>> contexts_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Architecture> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Averaging> averaging_;
  std::unique_ptr<Qat> qat_;
  std::unique_ptr<Quantizer> quantizer_;
  std::unique_ptr<Compressor> compressor_;
  std::unique_ptr<Evaluator> evaluator_;
  std::vector<std::string> train_files_, val_files_;
  at::Tensor val_;
  ByteTables tables_;
  int64_t val_bytes_ = 0;
  JsonObject summary_;
  std::string status_ = "failed", error_;
};

template <class Kind>
std::unique_ptr<Kind> Run::make(const std::string& table) {
  const StageSpec* spec = p_.stage(table);
  if (!spec) return nullptr;
  contexts_.push_back(std::make_unique<StageContext>(table, spec->config, log_, metrics_, state_));
  return std::unique_ptr<Kind>(static_cast<Kind*>(create_stage(*spec->plugin, *contexts_.back())));
}

void Run::setup_device() {
  ComputeDevice d = compute_device(*p_.run);
  state_.device_ = d.device;
  state_.dtype_ = d.dtype;
  log_.info("device " + d.description + ", compute dtype " + std::string(c10::toString(d.dtype)));
}

void Run::prepare_data() {
  const TableConfig& data = *p_.data;
  std::string corpus = data.get_string("corpus");
  std::string reuse_data = o_.reuse_training.empty() ? "" : (fs::path(o_.reuse_training) / "data").string();
  if (!corpus.empty() && reuse_data.empty()) {
    if (data.is_set("train_shards") || data.is_set("val_shards")) data.fail("corpus", "give either corpus or shard globs, not both");
    ExportStats s = at_stage("tokenizer", p_.stage("tokenizer")->plugin->desc.name, "prepare", [&] {
      return prepare_corpus(corpus, data.get_int("val_docs"), *tokenizer_, dir_, log_);
    });
    train_files_ = s.train_files, val_files_ = s.val_files;
    return;
  }
  at_stage("tokenizer", p_.stage("tokenizer")->plugin->desc.name, "prepare",
           [&] { tokenizer_->prepare({}, (fs::path(dir_) / "tokenizer").string()); });
  if (!reuse_data.empty() && !corpus.empty()) {
    train_files_ = glob_shards(reuse_data + "/" + dataset_name(corpus) + "_train_*.bin");
    val_files_ = glob_shards(reuse_data + "/" + dataset_name(corpus) + "_val_*.bin");
    return;
  }
  ShardFiles shards = pipeline_shards(data, *tokenizer_);
  train_files_ = std::move(shards.train), val_files_ = std::move(shards.val);
}

EvalResult Run::eval(const std::string& label) {
  EvalInput input{val_, &tables_, p_.train->get_int("seq_len")};
  const std::string& plugin = p_.stage("evaluator")->plugin->desc.name;
  EvalResult r = at_stage("evaluator", plugin, "evaluate",
                          [&] { return evaluate(*evaluator_, plugin, *model_, input, val_bytes_); });
  char line[200];
  std::snprintf(line, sizeof line, "%s val_loss %.8f val_bpb %.8f (%lld tokens, %lld bytes, %.1fs)", label.c_str(),
                r.val_loss, r.val_bpb, (long long)r.tokens, (long long)r.bytes, r.seconds);
  log_.info(line);
  return r;
}

int Run::go() {
  dir_ = make_run_dir(o_.run_dir, p_.run->get_string("name"));
  state_.run_dir_ = dir_;
  std::ofstream(fs::path(dir_) / "pipeline.toml") << p_.resolved << "\n";
  log_.open((fs::path(dir_) / "log.txt").string());
  metrics_.open((fs::path(dir_) / "metrics.jsonl").string());
  summary_.add("name", p_.run->get_string("name"));
  int exit_code = kRunFailed;
  try {
    state_.seed_ = p_.run->get_int("seed");
    setup_device();
    int64_t threads = p_.run->get_int("threads");
    if (threads < 0) p_.run->fail("threads", "must be 0 (LibTorch's default) or positive");
    // Not "every core" by default: with OpenBLAS running its own threads, more OpenMP threads made a
    // 2-core CPU run 2x slower (docs/performance.md).
    if (threads > 0) at::set_num_threads(int(threads));
    write_provenance(log_, p_, state_.device_.str(), state_.seed_);
    log_.file_only("cpu threads " + std::to_string(at::get_num_threads()));
    log_.info("run directory " + dir_);
    at::manual_seed(state_.seed_);
    TrainOptions topt = TrainOptions::from(*p_.train, *p_.run, state_.world_size_);
    state_.budget_seconds_ = topt.budget_seconds;

    tokenizer_ = make<Tokenizer>("tokenizer");
    model_ = make<Architecture>("architecture");
    optimizer_ = make<Optimizer>("optimizer");
    averaging_ = make<Averaging>("averaging");
    qat_ = make<Qat>("qat");
    quantizer_ = make<Quantizer>("quantizer");
    compressor_ = make<Compressor>("compressor");
    evaluator_ = make<Evaluator>("evaluator");

    if (!o_.reuse_training.empty()) {
      toml::table old = toml::parse_file((fs::path(o_.reuse_training) / "pipeline.toml").string());
      for (const char* t : {"tokenizer", "architecture", "data"})
        if (table_text(old, t) != table_text(p_.resolved, t))
          throw std::runtime_error(std::string("--reuse-training: [") + t + "] differs from the one in " + o_.reuse_training +
                                   "/pipeline.toml; only stages after training may change");
      fs::copy(fs::path(o_.reuse_training) / "tokenizer", fs::path(dir_) / "tokenizer", fs::copy_options::recursive);
    }
    prepare_data();
    const std::string tok_name = p_.stage("tokenizer")->plugin->desc.name;
    if (tokenizer_->vocab_size() > model_->vocab_size())
      throw std::runtime_error("tokenizer " + tok_name + " has " + std::to_string(tokenizer_->vocab_size()) +
                               " ids but [architecture] vocab_size is " + std::to_string(model_->vocab_size()) +
                               "; raise vocab_size to at least the tokenizer's");
    at_stage("architecture", p_.stage("architecture")->plugin->desc.name, "build", [&] { model_->build(); });
    std::vector<Param> params = model_->parameters();
    int64_t n_params = 0;
    for (const auto& prm : params) n_params += prm.tensor.numel();
    log_.info("model: " + std::to_string(n_params) + " parameters in " + std::to_string(params.size()) + " tensors");
    summary_.add("params", n_params);

    const int64_t seq_len = topt.seq_len;
    val_ = load_val_stream(val_files_, seq_len, p_.data->get_int("max_val_tokens"));
    tables_ = tokenizer_->byte_tables();
    if (int64_t(tables_.base_bytes.size()) != tokenizer_->vocab_size())
      throw std::runtime_error("tokenizer " + tok_name + " returned byte tables of the wrong size");
    val_bytes_ = count_bytes(val_, tables_);
    log_.info("validation: " + std::to_string(val_.numel() - 1) + " targets, " + std::to_string(val_bytes_) + " bytes");
    double unigram = unigram_bpb(train_files_, val_, tokenizer_->vocab_size(), val_bytes_);
    summary_.add("unigram_bpb", unigram);
    log_.info("unigram baseline val_bpb " + std::to_string(unigram));

    const std::string weights = (fs::path(dir_) / "model.pt").string();
    optimizer_->attach(params);
    if (averaging_) averaging_->attach(params);
    if (qat_) qat_->attach(params);
    if (!o_.reuse_training.empty()) {
      load_weights((fs::path(o_.reuse_training) / "model.pt").string(), params);
      fs::copy_file(fs::path(o_.reuse_training) / "model.pt", weights);
      log_.info("reusing the trained weights of " + o_.reuse_training);
      summary_.add("reused_training", o_.reuse_training);
    } else {
      TokenLoader loader(train_files_, state_.rank_, state_.world_size_);
      TrainParts parts{*model_, *optimizer_, averaging_.get(), qat_.get(), loader, params};
      install_sigint_handler();
      TrainResult tr = train(parts, topt, state_, log_, metrics_, [&](int64_t step) {
        EvalResult r = eval("step " + std::to_string(step));
        metrics_.write(step, {{"val_loss", r.val_loss}, {"val_bpb", r.val_bpb}});
      });
      summary_.add("steps", tr.steps);
      summary_.add("train_seconds", tr.seconds);
      if (state_.device_.is_cuda()) summary_.add("peak_memory_bytes", peak_memory_bytes(state_.device_));
      summary_.add("stop_reason", tr.stop_reason);
      summary_.add("train_loss", tr.last_loss);
      log_.info("training stopped (" + tr.stop_reason + ") after " + std::to_string(tr.steps) + " steps in " +
                std::to_string(tr.seconds) + " s");
      if (averaging_) at_stage("averaging", p_.stage("averaging")->plugin->desc.name, "apply", [&] { averaging_->apply(); });
      save_weights(weights, params);
      if (tr.stop_reason == "interrupted") {
        status_ = "interrupted";
        log_.warn("interrupted: trained weights saved to " + weights + "; no evaluation or artifact");
        write_summary();
        return kRunInterrupted;
      }
    }

    EvalResult pre = eval("pre-quantization");
    summary_.add("val_loss_prequant", pre.val_loss);
    summary_.add("val_bpb_prequant", pre.val_bpb);

    const std::string qname = p_.stage("quantizer")->plugin->desc.name, cname = p_.stage("compressor")->plugin->desc.name;
    auto quantized = at_stage("quantizer", qname, "quantize", [&] { return quantizer_->quantize(params); });
    std::vector<ArtifactStage> made_by;
    for (const char* t : {"architecture", "quantizer", "compressor"})
      made_by.push_back({t, p_.stage(t)->plugin->desc.name, p_.stage(t)->plugin->desc.version});
    const std::string artifact = (fs::path(dir_) / "model.golf").string();
    ArtifactInfo info = at_stage("compressor", cname, "compress", [&] {
      return write_artifact(artifact, made_by, quantizer_->format(), quantized, *compressor_);
    });
    std::vector<std::string> code_list;
    int64_t bytes_code = code_bytes(p_.run->get_string("code_files"), p_.file, code_list);
    int64_t bytes_total = int64_t(info.file_bytes) + bytes_code, limit = p_.run->get_int("artifact_limit_bytes");
    summary_.add("bytes_model", int64_t(info.file_bytes));
    summary_.add("bytes_code", bytes_code);
    summary_.add("bytes_total", bytes_total);
    summary_.add("artifact_limit_bytes", limit);
    summary_.add("bytes_payload_raw", int64_t(info.raw_bytes));
    log_.info("artifact " + artifact + ": " + std::to_string(info.file_bytes) + " bytes (payload " +
              std::to_string(info.raw_bytes) + " raw); code " + std::to_string(bytes_code) + " bytes in " +
              std::to_string(code_list.size()) + " files; total " + std::to_string(bytes_total));

    // The score comes from the artifact read back, never from the in-memory weights.
    ArtifactInfo back;
    auto stored = at_stage("compressor", cname, "decompress", [&] { return read_artifact(artifact, *compressor_, &back); });
    if (back.quant_format != quantizer_->format())
      throw std::runtime_error(artifact + ": quantized as " + back.quant_format + ", quantizer " + qname + " reads " + quantizer_->format());
    StateDict restored;
    for (const auto& q : stored) restored[q.name] = at_stage("quantizer", qname, "dequantize", [&] { return quantizer_->dequantize(q); });
    assign_weights(restored, params, artifact);
    EvalResult fin = eval("final (artifact roundtrip)");
    summary_.add("val_loss", fin.val_loss);
    summary_.add("val_bpb", fin.val_bpb);
    summary_.add("val_tokens", fin.tokens);
    summary_.add("val_bytes", fin.bytes);
    summary_.add("eval_seconds", fin.seconds);

    if (bytes_total > limit)
      throw LimitExceeded("artifact over the byte limit: bytes_total " + std::to_string(bytes_total) + " > " + std::to_string(limit) +
                          " ([run] artifact_limit_bytes)");
    double eval_budget = p_.run->get_float("eval_seconds");
    if (eval_budget > 0 && fin.seconds > eval_budget)
      throw LimitExceeded("final evaluation took " + std::to_string(fin.seconds) + " s, over [run] eval_seconds = " + std::to_string(eval_budget));
    status_ = "ok";
    exit_code = kRunOk;
  } catch (const LimitExceeded& e) {
    status_ = "over_limit";
    error_ = e.what();
  } catch (const ConfigError& e) {  // a value in the pipeline that this run cannot use
    error_ = e.what();
    exit_code = kRunInvalid;
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  if (!error_.empty()) std::cerr << "error: " << error_ << "\n", log_.file_only("error: " + error_);
  write_summary();
  return exit_code;
}

void Run::write_summary() {
  JsonObject s = summary_;
  s.add("status", status_);
  if (!error_.empty()) s.add("error", error_);
  s.add("device", state_.device_.str());
  s.add("seed", int64_t(state_.seed_));
  s.add("golf_version", golf_version());
  s.add("golf_commit", golf_commit());
  JsonObject plugins;
  for (const auto& st : p_.stages) plugins.add(st.table, std::string(st.plugin->desc.name) + "@" + st.plugin->desc.version);
  s.raw("plugins", plugins.str());
  std::ofstream(fs::path(dir_) / "summary.json") << s.str() << "\n";
  log_.info("summary: " + (fs::path(dir_) / "summary.json").string() + " (status " + status_ + ")");
}

}  // namespace

int run_pipeline(const RunOptions& o) {
  Registry registry = scan_plugins(o.plugin_dirs);
  Pipeline p;
  try {
    p = load_pipeline(o.pipeline, o.overrides, registry);
  } catch (const PipelineError& e) {
    std::cerr << e.what() << "\n";
    return kRunInvalid;
  }
  try {
    Run r(o, std::move(p));
    return r.go();
  } catch (const std::exception& e) {  // before the run directory exists
    std::cerr << "error: " << e.what() << "\n";
    return kRunFailed;
  }
}

}  // namespace golf::host
