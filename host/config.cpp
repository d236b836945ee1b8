// host/config.cpp: schema checks with file:line messages, and typed reads with schema defaults.
#include "config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace golf::host {
namespace {

const char* type_name(uint32_t type) {
  switch (type) {
    case GOLF_TYPE_INT: return "an integer";
    case GOLF_TYPE_FLOAT: return "a number";
    case GOLF_TYPE_BOOL: return "a boolean";
    case GOLF_TYPE_STRING: return "a string";
    case GOLF_TYPE_PATH: return "a path string";
  }
  return "?";
}

bool type_matches(const toml::node& node, uint32_t type) {
  switch (type) {
    case GOLF_TYPE_INT: return node.is_integer();
    case GOLF_TYPE_FLOAT: return node.is_floating_point() || node.is_integer();
    case GOLF_TYPE_BOOL: return node.is_boolean();
    case GOLF_TYPE_STRING:
    case GOLF_TYPE_PATH: return node.is_string();
  }
  return false;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string Origin::str() const {
  std::string f = file.empty() ? "<pipeline>" : file;
  return line ? f + ":" + std::to_string(line) : f;
}

Origins origins_of(const toml::table& table) {
  Origins out;
  for (const auto& [key, node] : table) {
    const auto& src = node.source();
    out[std::string(key.str())] = Origin{src.path ? *src.path : "", int64_t(src.begin.line)};
  }
  return out;
}

std::string SourcedTable::where(const std::string& key) const {
  auto it = origins.find(key);
  return (it != origins.end() ? it->second : origin).str();
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_distance) best = c, best_distance = d;
  }
  return best;
}

std::vector<std::string> check_table(const SourcedTable& sourced, const Schema& schema,
                                     const std::vector<std::string>& ignore) {
  const toml::table& table = sourced.table;
  std::vector<std::string> errors;
  std::vector<std::string> known;
  for (const auto& k : schema.keys) known.push_back(k.key);
  for (const auto& [key, node] : table) {
    std::string name(key.str());
    if (std::find(ignore.begin(), ignore.end(), name) != ignore.end()) continue;
    auto it = std::find_if(schema.keys.begin(), schema.keys.end(),
                           [&](const golf_config_key& k) { return name == k.key; });
    if (it == schema.keys.end()) {
      std::string msg = sourced.where(name) + ": unknown key '" + name + "' in [" + schema.table + "] (" + schema.owner + ")";
      std::string near = did_you_mean(name, known);
      std::string list = schema.owner.rfind("plugin ", 0) == 0 ? "`golf-host " + schema.owner + "`" : "docs/pipelines.md";
      msg += near.empty() ? "; " + list + " lists the keys" : "; did you mean '" + near + "'?";
      errors.push_back(msg);
    } else if (!type_matches(node, it->type)) {
      errors.push_back(sourced.where(name) + ": [" + schema.table + "] " + name + " must be " + type_name(it->type) +
                       " (" + schema.owner + ")");
    } else if (node.is_floating_point() && !std::isfinite(*node.value<double>())) {
      // No plugin can forget this check: NaN and infinities are never a setting ("no limit" is spelled
      // out, e.g. 0, where a key allows it).
      errors.push_back(sourced.where(name) + ": [" + schema.table + "] " + name + " must be a finite number, got " +
                       (std::isnan(*node.value<double>()) ? "nan" : "an infinity") + " (" + schema.owner + ")");
    }
  }
  for (const auto& k : schema.keys)
    if (!k.default_value && !table.contains(k.key))
      errors.push_back(sourced.origin.str() + ": [" + schema.table + "] is missing required key '" + k.key + "' (" +
                       schema.owner + ")");
  return errors;
}

TableConfig schema_defaults(const Schema& schema) {
  SourcedTable empty;
  empty.origin = Origin{"<defaults of [" + schema.table + "]>", 0};
  return TableConfig(schema, std::move(empty));
}

TableConfig::TableConfig(Schema schema, SourcedTable table) : schema_(std::move(schema)), table_(std::move(table)) {
  for (const auto& k : schema_.keys) {
    if (!k.default_value) continue;
    try {
      defaults_[k.key] = toml::parse(std::string("v = ") + k.default_value, "<default of " + schema_.table + "." + k.key + ">");
    } catch (const toml::parse_error& e) {
      throw ConfigError(schema_.owner + " declares an unparsable default for '" + k.key + "': " + k.default_value);
    }
  }
}

const golf_config_key& TableConfig::declared(const std::string& key, golf_value_type type) const {
  for (const auto& k : schema_.keys)
    if (key == k.key) {
      bool ok = k.type == type || (type == GOLF_TYPE_STRING && k.type == GOLF_TYPE_PATH);
      if (!ok) throw ConfigError(schema_.owner + " reads '" + key + "' as " + type_name(type) + " but declares it " + type_name(k.type));
      return k;
    }
  throw ConfigError(schema_.owner + " reads undeclared key '" + key + "' of [" + schema_.table + "]");
}

toml::node_view<const toml::node> TableConfig::value(const std::string& key) const {
  if (const toml::node* n = table_.table.get(key)) return toml::node_view<const toml::node>(n);
  auto it = defaults_.find(key);
  if (it == defaults_.end()) throw ConfigError("[" + schema_.table + "] has no value for required key '" + key + "'");
  return toml::node_view<const toml::node>(it->second.get("v"));
}

int64_t TableConfig::get_int(const std::string& key) const {
  declared(key, GOLF_TYPE_INT);
  return value(key).value<int64_t>().value();
}

double TableConfig::get_float(const std::string& key) const {
  declared(key, GOLF_TYPE_FLOAT);
  return value(key).value<double>().value();  // toml++ converts integers
}

bool TableConfig::get_bool(const std::string& key) const {
  declared(key, GOLF_TYPE_BOOL);
  return value(key).value<bool>().value();
}

std::string TableConfig::get_string(const std::string& key) const {
  const golf_config_key& k = declared(key, GOLF_TYPE_STRING);
  auto node = value(key);
  std::string s = node.value<std::string>().value();
  if (k.type != GOLF_TYPE_PATH || s.empty() || std::filesystem::path(s).is_absolute()) return s;
  // Relative to the file that set it; defaults and --set values are relative to the working directory.
  std::filesystem::path base;
  auto origin = table_.origins.find(key);
  if (table_.table.contains(key) && origin != table_.origins.end() && std::filesystem::is_regular_file(origin->second.file))
    base = std::filesystem::path(origin->second.file).parent_path();
  return (base / s).lexically_normal().string();
}

bool TableConfig::is_set(const std::string& key) const { return table_.table.contains(key); }

void TableConfig::fail(const std::string& key, const std::string& why) const {
  throw ConfigError(table_.where(key) + ": [" + schema_.table + "] " + key + ": " + why + " (" + schema_.owner + ")");
}

}  // namespace golf::host
