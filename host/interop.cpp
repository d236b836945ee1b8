// host/interop.cpp: torch.save and safetensors weights; the export, import and score commands.
#include "interop.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/serialize/input-archive.h>
#include <torch/version.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "context.h"
#include "corpus.h"
#include "device.h"
#include "errors.h"
#include "files.h"
#include "evaluate.h"
#include "golf/golf.h"
#include "json.h"
#include "pipeline.h"
#include "provenance.h"
#include "shard.h"
#include "weights.h"

namespace fs = std::filesystem;

namespace golf::host {
namespace {

// A safetensors header larger than this is not a weights file (the format's own readers cap it too).
constexpr uint64_t kMaxSafetensorsHeader = 100 << 20;

struct SafetensorsType {
  const char* name;
  at::ScalarType type;
};
const SafetensorsType kSafetensorsTypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"I64", at::kLong},
    {"I32", at::kInt},    {"I16", at::kShort}, {"I8", at::kChar},   {"U8", at::kByte},       {"BOOL", at::kBool}};

const char* safetensors_name(at::ScalarType t) {
  for (const auto& s : kSafetensorsTypes)
    if (s.type == t) return s.name;
  throw std::runtime_error(std::string("safetensors has no dtype for ") + c10::toString(t));
}

StateDict read_safetensors(const std::string& path, const std::string& bytes) {
  uint64_t header_len = 0;
  if (bytes.size() < 8) throw InputError(path + ": " + std::to_string(bytes.size()) + " bytes, too short for safetensors");
  std::memcpy(&header_len, bytes.data(), 8);  // little-endian, as on every machine golf runs on
  if (header_len > kMaxSafetensorsHeader || header_len > bytes.size() - 8)
    throw InputError(path + ": safetensors header of " + std::to_string(header_len) + " bytes does not fit the file's " +
                   std::to_string(bytes.size()) + " bytes");
  boost::property_tree::ptree header;
  try {
    std::istringstream json(bytes.substr(8, header_len));
    boost::property_tree::read_json(json, header);
  } catch (const std::exception& e) {
    throw InputError(path + ": safetensors header is not JSON (" + std::string(e.what()) + ")");
  }
  const char* data = bytes.data() + 8 + header_len;
  const uint64_t data_len = bytes.size() - 8 - header_len;
  StateDict out;
  for (const auto& [name, entry] : header) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    try {
      const std::string dtype = entry.get<std::string>("dtype");
      at::ScalarType type = at::kFloat;
      bool known = false;
      for (const auto& s : kSafetensorsTypes)
        if (dtype == s.name) type = s.type, known = true;
      if (!known) throw InputError(where + ": unsupported dtype " + dtype);
      std::vector<int64_t> shape;
      for (const auto& d : entry.get_child("shape")) shape.push_back(d.second.get_value<int64_t>());
      std::vector<uint64_t> offsets;
      for (const auto& d : entry.get_child("data_offsets")) offsets.push_back(d.second.get_value<uint64_t>());
      uint64_t numel = 1;
      for (int64_t d : shape) {
        if (d < 0) throw InputError(where + ": negative dimension");
        numel *= uint64_t(d);
      }
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_len ||
          offsets[1] - offsets[0] != numel * c10::elementSize(type))
        throw InputError(where + ": data_offsets do not match its shape and dtype within the " + std::to_string(data_len) +
                       "-byte data section");
      at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
      if (numel) std::memcpy(t.data_ptr(), data + offsets[0], offsets[1] - offsets[0]);
      out[name] = t;
    } catch (const boost::property_tree::ptree_error& e) {
      throw InputError(where + ": malformed entry (" + std::string(e.what()) + ")");
    }
  }
  return out;
}

// A torch.save file: a zip archive whose data.pkl is a pickled dict of tensors. Tensors saved from
// a GPU are mapped to the CPU.
StateDict read_torch_save(const std::string& path) {
  at::IValue value;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"data/",
                                              /*type_resolver=*/{}, /*obj_loader=*/{}, at::Device(at::kCPU), reader);
  } catch (const c10::Error& e) {
    // LibTorch's unpickler (1.13 and 2.11 alike) turns collections.OrderedDict, what state_dict()
    // returns, into None.
    caffe2::serialize::PyTorchStreamReader reader(path);
    auto [pkl, size] = reader.getRecord("data.pkl");
    const std::string text(static_cast<const char*>(pkl.get()), size);
    if (text.find("collections\nOrderedDict") != std::string::npos)
      throw InputError(path + ": a pickled OrderedDict (what torch.save(model.state_dict()) writes), which LibTorch " TORCH_VERSION
                     " cannot read; re-save it as a plain dict: "
                     "python -c \"import sys, torch; torch.save(dict(torch.load(sys.argv[1])), sys.argv[2])\" IN OUT");
    throw InputError(path + ": not a torch.save state_dict (" + e.what_without_backtrace() + ")");
  }
  if (!value.isGenericDict()) throw InputError(path + ": holds a " + value.tagKind() + ", not a state_dict (a dict of tensors)");
  StateDict out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString()) throw InputError(path + ": a state_dict key is a " + item.key().tagKind() + ", not a name");
    const std::string name = item.key().toStringRef();
    if (!item.value().isTensor())
      throw InputError(path + ": entry '" + name + "' is a " + item.value().tagKind() +
                     ", not a tensor (a quantized artifact is read by `golf-host run --reuse-training`, not imported)");
    out[name] = item.value().toTensor();
  }
  return out;
}

// golf's own model.pt (torch::serialize archive).
StateDict read_golf_archive(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw InputError(path + ": not a weights file (" + e.what_without_backtrace() + ")");
  }
  StateDict out;
  for (const auto& key : archive.keys()) {
    at::Tensor t;
    if (archive.try_read(key, t)) out[key] = t;
  }
  return out;
}

std::string shape_of(const at::Tensor& t) { return c10::str(t.sizes()); }

// The run's pipeline, loaded as the run directory has it.
Pipeline load_run_pipeline(const std::string& run_dir, Registry& registry) {
  const std::string file = (fs::path(run_dir) / "pipeline.toml").string();
  if (!fs::is_regular_file(file)) throw InputError(run_dir + ": not a run directory (no pipeline.toml)");
  return load_pipeline(file, {}, registry);
}

// The architecture of a pipeline, built on s.run's device and dtype (CPU and float32 unless set).
std::unique_ptr<Architecture> build_model(const Pipeline& p, Services& s) {
  const StageSpec& spec = *p.stage("architecture");
  s.run.seed_ = p.run->get_int("seed");
  auto model = s.make<Architecture>(spec);
  at_stage("architecture", spec.plugin->desc.name, "build", [&] { model->build(); });
  return model;
}

}  // namespace

void write_torch_state_dict(const std::string& path, const NamedTensors& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().cpu().contiguous());
  // As torch::jit::pickle_save, but without TorchScript's type tags on the dict: torch.load's
  // default weights_only unpickler accepts only plain containers of tensors.
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* b, size_t n) { pickled.insert(pickled.end(), b, b + n); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
                              /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(at::IValue(dict));
  pickler.stop();
  std::vector<char> zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* b, size_t n) {
    zip.insert(zip.end(), static_cast<const char*>(b), static_cast<const char*>(b) + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  write_file_atomically(path, std::string(zip.data(), zip.size()));
}

void write_safetensors(const std::string& path, const NamedTensors& tensors) {
  JsonObject header, meta;
  meta.add("format", "pt");
  meta.add("producer", "golf " + golf_version());
  header.raw("__metadata__", meta.str());
  std::vector<at::Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    cpu.push_back(t.detach().cpu().contiguous());
    const uint64_t n = cpu.back().nbytes();
    std::string shape = "[";
    for (int64_t d : cpu.back().sizes()) shape += (shape.size() > 1 ? "," : "") + std::to_string(d);
    header.raw(name, std::string("{\"dtype\":\"") + safetensors_name(cpu.back().scalar_type()) + "\",\"shape\":" + shape +
                         "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}");
    offset += n;
  }
  std::string json = header.str();
  json.append((8 - json.size() % 8) % 8, ' ');  // the format pads the header to 8-byte alignment
  std::string bytes(8, '\0');
  const uint64_t len = json.size();
  std::memcpy(bytes.data(), &len, 8);
  bytes += json;
  bytes.reserve(bytes.size() + offset);
  for (const auto& t : cpu) bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomically(path, bytes);
}

StateDict read_weights_file(const std::string& path) {
  if (!fs::is_regular_file(path)) throw InputError(path + ": no such weights file");
  std::ifstream in(path, std::ios::binary);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  if (magic[0] == 'P' && magic[1] == 'K') {  // a zip archive: torch.save, or golf's own model.pt
    caffe2::serialize::PyTorchStreamReader reader(path);
    const bool golf_archive = reader.hasRecord("constants.pkl");  // LibTorch archives are TorchScript modules
    return golf_archive ? read_golf_archive(path) : read_torch_save(path);
  }
  return read_safetensors(path, read_file(path, uint64_t(64) << 30));  // weights files of any size a machine holds
}

void check_weight_names(const StateDict& file, const std::vector<Param>& params, const std::string& what) {
  std::vector<std::string> problems;
  std::map<std::string, const Param*> wanted;
  for (const auto& p : params) wanted[p.name] = &p;
  for (const auto& p : params) {
    auto it = file.find(p.name);
    if (it == file.end())
      problems.push_back("  missing    " + p.name + " " + shape_of(p.tensor));
    else if (!it->second.sizes().equals(p.tensor.sizes()))
      problems.push_back("  mis-shaped " + p.name + " " + shape_of(it->second) + ", the model's is " + shape_of(p.tensor));
  }
  for (const auto& [name, t] : file)
    if (!wanted.count(name)) problems.push_back("  unexpected " + name + " " + shape_of(t));
  if (problems.empty()) return;
  std::string all = what + ": " + std::to_string(problems.size()) + " tensor" + (problems.size() == 1 ? "" : "s") +
                    " do not match the architecture's parameters:";
  for (const auto& p : problems) all += "\n" + p;
  throw InputError(all);
}

int export_command(const std::string& run_dir, const std::string& format, const std::string& out,
                   const std::vector<std::string>& plugin_dirs) {
  {
    if (format != "torch" && format != "safetensors")
      throw InputError("--format must be torch or safetensors, got '" + format + "'");
    Registry registry = scan_plugins(plugin_dirs);
    Pipeline p = load_run_pipeline(run_dir, registry);
    Services s;
    s.log.set_quiet(true);
    std::vector<Param> params = build_model(p, s)->parameters();
    const std::string weights = (fs::path(run_dir) / "model.pt").string();
    check_weights_checksum(weights, s.log);
    StateDict stored = read_weights_file(weights);
    check_weight_names(stored, params, weights);
    NamedTensors ordered;  // the architecture's order: the reference's named_parameters() order for gpt
    for (const auto& prm : params) ordered.emplace_back(prm.name, stored.at(prm.name));
    if (format == "torch")
      write_torch_state_dict(out, ordered);
    else
      write_safetensors(out, ordered);
    std::printf("%s: %zu tensors from %s (%s)\n", out.c_str(), ordered.size(), weights.c_str(), format.c_str());
    return 0;
  }
}

int import_command(const std::string& file, const std::string& pipeline, const std::vector<std::string>& overrides,
                   const std::string& out_run_dir, const std::vector<std::string>& plugin_dirs) {
  {
    Registry registry = scan_plugins(plugin_dirs);
    Pipeline p = load_pipeline(pipeline, overrides, registry);
    Services s;
    std::vector<Param> params = build_model(p, s)->parameters();
    StateDict values = read_weights_file(file);
    check_weight_names(values, params, file);
    assign_weights(values, params, file);  // converts dtypes to the model's; shapes checked above

    const std::string dir = make_run_dir(out_run_dir, p.run->get_string("name"));
    std::ostringstream resolved;
    resolved << p.resolved << "\n";
    write_file_atomically((fs::path(dir) / "pipeline.toml").string(), resolved.str());
    s.log.open((fs::path(dir) / "log.txt").string());
    write_provenance(s.log, p, "cpu", s.run.seed_);
    // The tokenizer and data a later `run --reuse-training` or `score` of this directory reads.
    const StageSpec& tok = *p.stage("tokenizer");
    auto tokenizer = s.make<Tokenizer>(tok);
    const std::string corpus = p.data->get_string("corpus");
    at_stage("tokenizer", tok.plugin->desc.name, "prepare", [&] {
      if (!corpus.empty())
        prepare_corpus(read_pipeline_corpus(*p.data), *tokenizer, dir, s.log);
      else
        tokenizer->prepare({}, (fs::path(dir) / "tokenizer").string());
    });
    fs::create_directories(fs::path(dir) / "tokenizer");
    save_weights((fs::path(dir) / "model.pt").string(), params);
    JsonObject summary;
    summary.add("name", p.run->get_string("name"));
    summary.add("status", "imported");
    summary.add("imported_from", fs::absolute(file).string());
    summary.add("imported_sha256", sha256_file(file));
    summary.add("golf_version", golf_version());
    summary.add("golf_commit", golf_commit());
    write_file_atomically((fs::path(dir) / "summary.json").string(), summary.str() + "\n");
    s.log.info("imported " + std::to_string(params.size()) + " tensors from " + file + " into " + dir +
               "; `golf-host run " + pipeline + " --reuse-training " + dir + "` quantizes and scores them");
    return 0;
  }
}

int score_command(const std::string& pipeline, const std::vector<std::string>& overrides, const std::string& weights,
                  const std::string& val_glob, const std::vector<std::string>& plugin_dirs) {
  {
    Registry registry = scan_plugins(plugin_dirs);
    Pipeline p = load_pipeline(pipeline, overrides, registry);
    Services s;
    s.log.set_quiet(true);
    ComputeDevice device = compute_device(*p.run);
    s.run.device_ = device.device;
    s.run.dtype_ = device.dtype;
    s.run.seq_len_ = p.train->get_int("seq_len");

    const bool from_run = fs::is_directory(weights);
    if (!from_run && !fs::is_regular_file(weights)) throw InputError("--weights " + weights + ": no such file or run directory");
    const std::string corpus = p.data->get_string("corpus");
    if (!corpus.empty() && !from_run)
      throw InputError(pipeline + ": [data] corpus makes the tokenizer in the run; give the run directory that trained it "
                     "(--weights RUN_DIR), so that the same tokenizer scores the weights");

    const StageSpec& tok = *p.stage("tokenizer");
    auto tokenizer = s.make<Tokenizer>(tok);
    const fs::path tok_dir = from_run ? fs::path(weights) / "tokenizer" : fs::temp_directory_path();
    at_stage("tokenizer", tok.plugin->desc.name, "prepare", [&] { tokenizer->prepare({}, tok_dir.string()); });

    std::string glob = val_glob;
    if (glob.empty() && !corpus.empty()) glob = (fs::path(weights) / "data" / (dataset_name(corpus) + "_val_*.bin")).string();
    if (glob.empty()) glob = p.data->get_string("val_shards");
    if (glob.empty()) throw InputError(pipeline + ": [data] has no val_shards; give --val GLOB");
    const std::vector<std::string> files = glob_shards(glob);
    check_shards_tokenizer(files, *tokenizer);

    auto model = build_model(p, s);
    std::vector<Param> params = model->parameters();
    const std::string file = from_run ? (fs::path(weights) / "model.pt").string() : weights;
    if (from_run) check_weights_checksum(file, s.log);
    StateDict values = read_weights_file(file);
    check_weight_names(values, params, file);
    assign_weights(values, params, file);

    const int64_t seq_len = p.train->get_int("seq_len");
    at::Tensor val = load_val_stream(files, seq_len, p.data->get_int("max_val_tokens"), tokenizer->vocab_size());
    ByteTables tables = tokenizer->byte_tables();
    const int64_t bytes = count_bytes(val, tables);  // ids were checked against the vocabulary as read
    const StageSpec& ev = *p.stage("evaluator");
    auto evaluator = s.make<Evaluator>(ev);
    const EvalStream stream{val, &tables, tokenizer->bos_id(), seq_len, bytes};
    EvalResult r = at_stage("evaluator", ev.plugin->desc.name, "evaluate", [&] {
      return evaluate(*evaluator, ev.plugin->desc.name, *model, stream, 0, "score", s.log);
    });
    std::printf("weights    %s\nval        %s (%zu shards)\ndevice     %s\nval_loss   %.8f\nval_bpb    %.8f\n"
                "val_tokens %lld\nval_bytes  %lld\nseconds    %.2f\n",
                file.c_str(), glob.c_str(), files.size(), device.description.c_str(), r.val_loss, r.val_bpb,
                (long long)r.tokens, (long long)r.bytes, r.seconds);
    return 0;
  }
}

}  // namespace golf::host
