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
  for (const auto& line : early_) file_ << line << "\n";
  file_ << std::flush;
  early_.clear();
}

void RunLog::info(const std::string& message) {
  if (!quiet_) std::cerr << message << "\n";
  file_only(message);
}

void RunLog::warn(const std::string& message) {
  if (!silent_) std::cerr << "warning: " << message << "\n";
  file_only("warning: " + message);
}

void RunLog::file_only(const std::string& message) {
  if (file_.is_open())
    file_ << message << "\n" << std::flush;
  else
    early_.push_back(message);
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

}  // namespace golf::host
