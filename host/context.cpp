// host/context.cpp: log, metrics and stage creation.
#include "context.h"

#include <iomanip>
#include <iostream>
#include <sstream>

#include "golf/golf.h"
#include "json.h"

namespace golf::host {

void RunLog::open(const std::string& path) {
  file_.open(path, std::ios::app);
  if (!file_) throw std::runtime_error(path + ": cannot open the run log for writing");
}

void RunLog::info(const std::string& message) {
  if (!quiet_) std::cerr << message << "\n";
  file_only(message);
}

void RunLog::warn(const std::string& message) {
  std::cerr << "warning: " << message << "\n";
  file_only("warning: " + message);
}

void RunLog::file_only(const std::string& message) {
  if (file_.is_open()) file_ << message << "\n" << std::flush;
}

void MetricsSink::open(const std::string& path) {
  file_.open(path, std::ios::app);
  if (!file_) throw std::runtime_error(path + ": cannot open metrics for writing");
}

void MetricsSink::write(int64_t step, const std::map<std::string, double>& values) {
  JsonObject line;
  line.add("step", step);
  for (const auto& [k, v] : pending_) line.add(k, v);
  for (const auto& [k, v] : values) line.add(k, v);
  pending_.clear();
  if (file_.is_open()) file_ << line.str() << "\n" << std::flush;
}

Schema plugin_schema(const std::string& table, const PluginEntry& plugin) {
  Schema s{table, "plugin " + std::string(plugin.desc.name), {}};
  for (uint32_t i = 0; i < plugin.desc.config_count; ++i) s.keys.push_back(plugin.desc.config[i]);
  return s;
}

void* create_stage(const PluginEntry& plugin, StageContext& context) {
  void* made = at_stage(context.stage(), plugin.desc.name, "construction", [&] { return plugin.desc.create(&context); });
  if (!made) throw std::runtime_error("[" + context.stage() + "] (plugin " + plugin.desc.name + ") factory returned null");
  return made;
}

std::unique_ptr<Stage> adopt_stage(uint32_t kind, void* made) {
  switch (kind) {  // the factory returned the kind's interface pointer; upcast through it
    case GOLF_KIND_TOKENIZER: return std::unique_ptr<Stage>(static_cast<Tokenizer*>(made));
    case GOLF_KIND_ARCHITECTURE: return std::unique_ptr<Stage>(static_cast<Architecture*>(made));
    case GOLF_KIND_OPTIMIZER: return std::unique_ptr<Stage>(static_cast<Optimizer*>(made));
    case GOLF_KIND_AVERAGING: return std::unique_ptr<Stage>(static_cast<Averaging*>(made));
    case GOLF_KIND_QAT: return std::unique_ptr<Stage>(static_cast<Qat*>(made));
    case GOLF_KIND_QUANTIZER: return std::unique_ptr<Stage>(static_cast<Quantizer*>(made));
    case GOLF_KIND_COMPRESSOR: return std::unique_ptr<Stage>(static_cast<Compressor*>(made));
    case GOLF_KIND_EVALUATOR: return std::unique_ptr<Stage>(static_cast<Evaluator*>(made));
  }
  throw std::runtime_error("unknown plugin kind " + std::to_string(kind));
}

}  // namespace golf::host
