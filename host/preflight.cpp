// host/preflight.cpp: the checks before a run: values, device, plugins, data, memory, code, reuse.
#include "preflight.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "compression.h"
#include "errors.h"
#include "evaluate.h"
#include "provenance.h"
#include "shard.h"
#include "weights.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// [run] and [data] values no plugin reads; [train]'s are checked by TrainOptions::from.
void check_host_values(const Pipeline& p) {
  const TableConfig& run = *p.run;
  const std::string name = run.get_string("name");
  if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                          std::string::npos || name[0] == '.')
    run.fail("name", "must be letters, digits, '.', '_' or '-' (it names the run directory), got \"" + name + "\"");
  if (run.get_int("seed") < 0) run.fail("seed", "must be >= 0");
  get_int_in(run, "threads", 0, 4096);  // converted to int for LibTorch
  get_nonnegative(run, "train_seconds");
  get_nonnegative(run, "eval_seconds");
  get_int_in(run, "artifact_limit_bytes", 1, int64_t(1) << 40);
  if (const int64_t stride = run.get_int("byte_shuffle"); stride != 0 && (stride < 2 || stride > kMaxShuffleStride))
    run.fail("byte_shuffle", "must be 0 (off) or a stride in 2.." + std::to_string(kMaxShuffleStride) + ", got " +
                                 std::to_string(stride));
  try {
    parse_group_mode(run.get_string("compress_groups"));
  } catch (const std::invalid_argument& e) {
    run.fail("compress_groups", e.what());
  }
  if (const std::string b = run.get_string("backend"); b != "auto" && b != "gloo" && b != "nccl")
    run.fail("backend", "must be \"auto\", \"gloo\" or \"nccl\", got \"" + b + "\"");
  if (!(run.get_float("collective_timeout") > 0)) run.fail("collective_timeout", "must be > 0 seconds");
  const TableConfig& data = *p.data;
  get_int_in(data, "max_val_tokens", 0, int64_t(1) << 40);
  get_int_in(data, "val_docs", 0, int64_t(1) << 40);
  const bool corpus = !data.get_string("corpus").empty();
  if (corpus && (!data.get_string("train_shards").empty() || !data.get_string("val_shards").empty()))
    data.fail("corpus", "give either corpus or the shard globs train_shards and val_shards, not both");
  if (corpus && data.get_int("val_docs") < 1) data.fail("val_docs", "must be >= 1 with a corpus (the first N documents are validation)");
  if (!corpus && data.get_int("val_docs") != 0) data.fail("val_docs", "applies to a corpus; this [data] reads shards");
}

// The architecture's integer keys as the pipeline sets them: the sizes a message can name.
std::string size_keys(const TableConfig& c) {
  std::string out;
  for (const auto& k : c.schema().keys)
    if (k.type == GOLF_TYPE_INT) out += (out.empty() ? "" : ", ") + std::string(k.key) + " = " + std::to_string(c.get_int(k.key));
  return out;
}

ModelSize model_size(const Pipeline& p, const Services& s, const TrainOptions& train) {
  ModelSize size;
  const StageSpec& arch = *p.stage("architecture");
  Services meta;  // a second architecture, shapes only, with a quiet log of its own
  meta.run = s.run;
  meta.run.device_ = at::Device(at::kMeta);
  meta.log.set_quiet(true);
  std::vector<Param> params;
  try {
    std::unique_ptr<Architecture> model = meta.make<Architecture>(arch);
    model->build();
    params = model->parameters();
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    size.why_unknown = "plugin " + std::string(arch.plugin->desc.name) + " cannot build on the meta device (" +
                       user_message(e).substr(0, 200) + ")";
    return size;
  }
  size.known = true;
  const double tokens = double(train.micro_batch_tokens > 0 ? train.micro_batch_tokens : train.batch_tokens / s.run.world_size_);
  const double compute = double(c10::elementSize(s.run.dtype_));
  double state = 0, activations = 0;
  for (const auto& prm : params) {
    auto& r = size.roles[role_name(prm.role)];
    r.first += 1, r.second += prm.tensor.numel();
    size.params += prm.tensor.numel();
    state += 2.0 * double(prm.tensor.numel()) * double(prm.tensor.element_size());  // weights, gradients
    if (prm.tensor.dim() != 2) continue;
    const double out = double(prm.tensor.size(0)), in = double(prm.tensor.size(1));
    activations += tokens * in * compute;  // the input a matmul keeps for its backward (an embedding: its rows)
    if (prm.role == ParamRole::kTiedEmbedding || prm.role == ParamRole::kHead) activations += tokens * out * 4;  // logits
  }
  const double cap = 9e18;
  size.state_bytes = int64_t(std::min(state, cap));
  size.activation_bytes = int64_t(std::min(activations, cap));
  return size;
}

void check_fits(const Pipeline& p, const ModelSize& size, const ComputeDevice& device, const TrainOptions& train) {
  if (!size.known || size.device_bytes <= 0) return;
  const std::string where = " of " + device.description + " (" + gib(size.device_bytes) + ")";
  const TableConfig& arch = p.stage("architecture")->config;
  if (size.state_bytes > size.device_bytes)
    arch.fail(arch.is_set("model_dim") ? "model_dim" : "plugin",
              std::to_string(size.params) + " parameters need at least " + gib(size.state_bytes) +
                  " for weights and gradients alone, more than the memory" + where + "; make the model smaller (" +
                  size_keys(arch) + ")");
  if (size.state_bytes + size.activation_bytes > size.device_bytes) {
    const char* key = train.micro_batch_tokens > 0 ? "micro_batch_tokens" : "batch_tokens";
    p.train->fail(key, "a micro-batch of " +
                           std::to_string(train.micro_batch_tokens > 0 ? train.micro_batch_tokens : train.batch_tokens) +
                           " tokens needs at least " + gib(size.activation_bytes) + " of activations besides " +
                           gib(size.state_bytes) + " of weights and gradients, more than the memory" + where +
                           "; set a smaller micro_batch_tokens (batch_tokens stays: gradients accumulate)");
  }
}

std::string table_text(const toml::table& root, const std::string& key) {
  std::ostringstream s;
  if (const auto* t = root.get_as<toml::table>(key)) s << *t;
  return s.str();
}

// The changes between two resolved tables, "[t] key: old -> new".
std::vector<std::string> changes(const toml::table& old_root, const toml::table& new_root, const std::string& table) {
  std::vector<std::string> out;
  const toml::table* o = old_root.get_as<toml::table>(table);
  const toml::table* n = new_root.get_as<toml::table>(table);
  auto text = [](const toml::node* node) {
    if (!node) return std::string("(absent)");
    std::ostringstream s;
    node->visit([&](const auto& v) { s << v; });
    return s.str();
  };
  if (!o || !n) {
    if (o || n) out.push_back("[" + table + "] " + (o ? "removed" : "added"));
    return out;
  }
  std::set<std::string> keys;
  for (const auto& [k, v] : *o) keys.insert(std::string(k.str()));
  for (const auto& [k, v] : *n) keys.insert(std::string(k.str()));
  for (const auto& k : keys) {
    std::string a = text(o->get(k)), b = text(n->get(k));
    if (a != b) out.push_back("[" + table + "] " + k + ": " + a + " -> " + b);
  }
  return out;
}

// --reuse-training: the directory, its pipeline (stages before training unchanged), its weights.
std::vector<std::string> check_reuse(const Pipeline& p, const std::string& dir, Registry& registry, Services& s) {
  if (!fs::is_directory(dir)) throw InputError("--reuse-training " + dir + ": no such run directory");
  const std::string old_file = (fs::path(dir) / "pipeline.toml").string();
  if (!fs::is_regular_file(old_file)) throw InputError("--reuse-training " + dir + ": has no pipeline.toml; is it a run directory?");
  Pipeline old;
  try {
    old = load_pipeline(old_file, {}, registry);
  } catch (const PipelineError& e) {
    throw InputError("--reuse-training " + dir + ": its pipeline.toml no longer loads:\n" + e.what());
  }
  for (const char* t : {"tokenizer", "architecture", "data"})
    if (table_text(old.resolved, t) != table_text(p.resolved, t)) {
      std::string diff;
      for (const auto& c : changes(old.resolved, p.resolved, t)) diff += "\n  " + c;
      throw ConfigError("--reuse-training " + dir + ": [" + t + "] differs from the one in " + old_file +
                        "; only stages after training may change:" + diff);
    }
  const std::string weights = (fs::path(dir) / "model.pt").string();
  if (!fs::is_regular_file(weights)) throw InputError("--reuse-training " + dir + ": has no model.pt (the run stopped before training ended?)");
  check_weights_checksum(weights, s.log);
  std::vector<std::string> ignored;
  for (const char* t : {"train", "optimizer", "averaging", "qat"})
    for (const auto& c : changes(old.resolved, p.resolved, t)) ignored.push_back(c);
  for (const auto& c : changes(old.resolved, p.resolved, "run"))
    for (const char* k : {"seed", "train_seconds", "threads"})
      if (c.rfind(std::string("[run] ") + k + ":", 0) == 0) ignored.push_back(c);
  return ignored;
}

}  // namespace

std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1 << 30));
  return buf;
}

void check_vocab(const Pipeline& p, const Architecture& model, int64_t tokenizer_vocab, const std::string& what) {
  if (tokenizer_vocab > model.vocab_size())
    p.stage("architecture")->config.fail("vocab_size", what + " gives " + std::to_string(tokenizer_vocab) +
                                                           " ids, but [architecture] vocab_size is " +
                                                           std::to_string(model.vocab_size()) +
                                                           "; raise vocab_size to at least the tokenizer's");
}

Stages make_stages(const Pipeline& p, Services& s, std::vector<std::string>* unavailable) {
  Stages st;
  auto make = [&](const char* table, auto& slot) {
    using Kind = typename std::remove_reference_t<decltype(slot)>::element_type;
    if (const StageSpec* spec = p.stage(table)) slot = s.make<Kind>(*spec);
  };
  try {
    make("tokenizer", st.tokenizer);
  } catch (const ConfigError& e) {  // the one stage made from a data file (its model)
    if (!unavailable) throw;
    unavailable->push_back(e.what());
  }
  make("architecture", st.architecture);
  make("optimizer", st.optimizer);
  make("averaging", st.averaging);
  make("qat", st.qat);
  make("quantizer", st.quantizer);
  make("compressor", st.compressor);
  make("evaluator", st.evaluator);
  return st;
}

// A quantizer's calibration: the architecture must report its matmuls, and the time reserved for it
// comes off the training budget up front (the rules count calibration on training data as training).
void check_calibration(const Pipeline& p, Stages& st, TrainOptions& train) {
  const CalibrationRequest req = st.quantizer->calibration();
  if (req.batches <= 0) return;
  const std::string quantizer = p.stage("quantizer")->plugin->desc.name;
  struct NoHook final : LinearHook {
    at::Tensor on_linear(int64_t, const at::Tensor&) override { return {}; }
  } probe;
  const bool reports = st.architecture->set_linear_hook(&probe);
  st.architecture->set_linear_hook(nullptr);
  if (!reports)
    throw PipelineError("[quantizer] " + quantizer + " calibrates on activations, but architecture " +
                        std::string(p.stage("architecture")->plugin->desc.name) +
                        " does not report its matmuls (Architecture::set_linear_hook); pick a quantizer without calibration");
  if (train.budget_seconds > 0) {
    if (req.reserve_seconds >= train.budget_seconds)
      throw PipelineError("[quantizer] " + quantizer + " reserves " + std::to_string(req.reserve_seconds) +
                          " s for calibration, not less than [run] train_seconds = " + std::to_string(train.budget_seconds));
    train.budget_seconds -= req.reserve_seconds;
  }
}

namespace {

// The tokenizer file and the data: a corpus read and split, or shards matched and their validation
// stream loaded; the vocabularies checked against the architecture's.
void check_data(const Pipeline& p, const std::string& reuse, Prepared& out) {
  const TableConfig& data = *p.data;
  const bool corpus = !data.get_string("corpus").empty();
  const StageSpec& tok = *p.stage("tokenizer");
  Tokenizer& tokenizer = *out.stages.tokenizer;
  if (corpus && reuse.empty()) {
    out.corpus = read_pipeline_corpus(data);
    for (const auto& k : tok.config.schema().keys)  // the vocabulary it will train, where it says so
      if (std::string(k.key) == "vocab_size" && k.type == GOLF_TYPE_INT)
        check_vocab(p, *out.stages.architecture, tok.config.get_int("vocab_size"),
                    "[tokenizer] vocab_size = " + std::to_string(tok.config.get_int("vocab_size")));
  } else {
    // The tokenizer the shards were made with: a .model file, or the reused run's own.
    std::string work = fs::temp_directory_path().string();
    if (!reuse.empty() && fs::is_directory(fs::path(reuse) / "tokenizer")) work = (fs::path(reuse) / "tokenizer").string();
    else if (!reuse.empty() && corpus)
      throw InputError("--reuse-training " + reuse + ": has no tokenizer/ folder, where the run that trained these weights kept its tokenizer");
    at_stage("tokenizer", tok.plugin->desc.name, "prepare", [&] { tokenizer.prepare({}, work); });
    if (corpus) {
      const std::string at = (fs::path(reuse) / "data" / dataset_name(data.get_string("corpus"))).string();
      out.shards.train = glob_shards(at + "_train_*.bin");
      out.shards.val = glob_shards(at + "_val_*.bin");
    } else {
      out.shards = pipeline_shards(data, tokenizer);
    }
    for (const auto& f : out.shards.train) shard_tokens(f);  // headers and sizes; ids are checked as read
    check_vocab(p, *out.stages.architecture, tokenizer.vocab_size(), "tokenizer " + std::string(tok.plugin->desc.name) + " (" + tokenizer.model_path() + ")");
    out.val = load_val_stream(out.shards.val, out.train.seq_len, data.get_int("max_val_tokens"), tokenizer.vocab_size());
  }
}

}  // namespace

Prepared preflight(const Pipeline& p, const std::string& reuse, Registry& registry, Services& s,
                   std::vector<std::string>* unavailable) {
  Prepared out;
  check_host_values(p);
  s.run.seed_ = uint64_t(p.run->get_int("seed"));  // checked >= 0 above
  out.train = TrainOptions::from(*p.train, *p.run, s.run.world_size_);
  bool stand_in = false;  // the CPU in place of a device this machine lacks: no memory check against it
  try {
    out.device = compute_device(*p.run);
  } catch (const ConfigError& e) {
    if (!unavailable) throw;
    unavailable->push_back(e.what());
    out.device = ComputeDevice{at::Device(at::kCPU), at::kFloat, "cpu (standing in for the [run] device)"};
    stand_in = true;
  }
  // One device per rank on a node: "cuda" means this rank's own, cuda:LOCAL_RANK.
  if (s.run.world_size_ > 1 && out.device.device.is_cuda() && p.run->get_string("device") == "cuda")
    out.device.device = at::Device(at::kCUDA, int8_t(s.run.local_rank_));
  s.run.device_ = out.device.device;
  s.run.dtype_ = out.device.dtype;
  s.run.seq_len_ = out.train.seq_len;
  out.stages = make_stages(p, s, unavailable);
  check_calibration(p, out.stages, out.train);
  s.run.budget_seconds_ = out.train.budget_seconds;
  if (!reuse.empty()) out.reuse_ignored = check_reuse(p, reuse, registry, s);

  if (out.stages.tokenizer) try {
    check_data(p, reuse, out);
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    if (!unavailable) throw;
    unavailable->push_back(e.what());
  }

  out.size = model_size(p, s, out.train);
  out.size.device_bytes = stand_in ? 0 : device_memory_bytes(out.device.device);
  check_fits(p, out.size, out.device, out.train);
  out.code = code_bytes(p);
  check_interrupt("the checks before the run");
  return out;
}

}  // namespace golf::host
