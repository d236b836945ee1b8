// host/config.h: a plugin's (or host table's) TOML table checked against its schema, and typed access.
#ifndef GOLF_HOST_CONFIG_H_
#define GOLF_HOST_CONFIG_H_

#include <toml++/toml.h>

#include <map>
#include <string>
#include <vector>

#include "golf/abi.h"
#include "golf/context.h"

namespace golf::host {

// Where a table or key was written. toml++ drops source locations when tables are copied, so
// locations are recorded once, right after parsing, and travel beside the tables.
struct Origin {
  std::string file;   // a pipeline file, or "--set stage.key=value" for an override
  int64_t line = 0;   // 0 when unknown
  std::string str() const;  // "file:line"
};
using Origins = std::map<std::string, Origin>;  // key -> origin, for one table's keys

// Origins of `table`'s direct keys, read from its nodes. REQUIRES: `table` was just parsed (not copied).
Origins origins_of(const toml::table& table);

// A schema: the keys a table may hold. Host tables ([run], [data], [train]) use the same form.
struct Schema {
  std::string table;    // "optimizer"
  std::string owner;    // "plugin muon", or "golf-host" for host tables
  std::vector<golf_config_key> keys;
};

// Closest of `candidates` to `word` by edit distance, or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// A table with the origins of its keys and of the table itself.
struct SourcedTable {
  toml::table table;
  Origins origins;
  Origin origin;  // the table header (or the file, for a table that is absent)
  std::string where(const std::string& key) const;  // the key's origin, else the table's
};

// Checks a table against `schema`: unknown keys (with did-you-mean), wrong types, NaN or infinite
// numbers, missing required keys. Keys listed in `ignore` (e.g. "plugin") are skipped. Returns one
// message per problem, each naming file, line, table and key.
std::vector<std::string> check_table(const SourcedTable& table, const Schema& schema,
                                     const std::vector<std::string>& ignore = {"plugin"});

// golf::Config over a checked table. REQUIRES: check_table() returned no errors for it.
class TableConfig;

// `schema`'s table with nothing set: every key reads its schema default. Host code that needs a
// default outside a pipeline (a RunState before a pipeline is read) takes it from here, so the
// schema stays the one place a default is written.
TableConfig schema_defaults(const Schema& schema);

class TableConfig final : public Config {
 public:
  TableConfig(Schema schema, SourcedTable table);
  int64_t get_int(const std::string& key) const override;
  double get_float(const std::string& key) const override;
  bool get_bool(const std::string& key) const override;
  std::string get_string(const std::string& key) const override;
  bool is_set(const std::string& key) const override;
  [[noreturn]] void fail(const std::string& key, const std::string& why) const override;

  const Schema& schema() const { return schema_; }
  const toml::table& table() const { return table_.table; }

 private:
  const golf_config_key& declared(const std::string& key, golf_value_type type) const;
  toml::node_view<const toml::node> value(const std::string& key) const;  // user value or default

  Schema schema_;
  SourcedTable table_;
  std::map<std::string, toml::table> defaults_;  // key -> { v = <default literal> }
};

}  // namespace golf::host

#endif  // GOLF_HOST_CONFIG_H_
