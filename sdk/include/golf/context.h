// golf/context.h: what the host lends a plugin: its config table, a logger, a metrics sink, run info.
//
// All of these are interfaces implemented by the host. A plugin receives a PluginContext& in its
// constructor; the context and everything reachable from it outlive the plugin object.
// Thread-safety: call these from the thread that called into the plugin.
#ifndef GOLF_CONTEXT_H_
#define GOLF_CONTEXT_H_

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "golf/collectives.h"

namespace golf {

// Thrown (by Config::fail and by the host) for a bad value in a pipeline file. what() names the
// file, line, table and key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Typed, read-only access to the plugin's own TOML table, already checked against its schema:
// every declared key has a value (the user's or the schema default) of the declared type, and no
// float is NaN or infinite. Owned by the host; valid as long as the PluginContext.
class Config {
 public:
  virtual ~Config() = default;
  // REQUIRES (each getter): `key` is declared in the plugin's schema with the matching type;
  // otherwise throws ConfigError naming the key (a bug in the plugin, reported as such).
  virtual int64_t get_int(const std::string& key) const = 0;
  virtual double get_float(const std::string& key) const = 0;  // an int value is converted; finite
  virtual bool get_bool(const std::string& key) const = 0;
  // Also for PATH keys, resolved against the file that set them; "" stays "".
  virtual std::string get_string(const std::string& key) const = 0;
  // True when the pipeline set `key` itself, false when the schema default applies. REQUIRES: `key`
  // is declared (else false). Never throws.
  virtual bool is_set(const std::string& key) const = 0;
  // Rejects the value of `key` (e.g. out of range): always throws ConfigError naming file, line,
  // table and key, with `why`. Call it from the constructor, so `golf-host validate` reports it.
  [[noreturn]] virtual void fail(const std::string& key, const std::string& why) const = 0;
};

// Common range checks for a plugin's constructor; each reads a key and rejects a bad value with
// Config::fail (ConfigError naming file, line and key). Inline: no ABI surface.

// A float key >= 0.
inline double get_nonnegative(const Config& c, const std::string& key) {
  double v = c.get_float(key);
  if (!(v >= 0) || !std::isfinite(v)) c.fail(key, "must be a finite number >= 0");
  return v;
}
// An integer key in [lo, hi]: bounds keep sizes and counts from overflowing or truncating later
// (an int64 value converted to int, a product of dimensions).
inline int64_t get_int_in(const Config& c, const std::string& key, int64_t lo, int64_t hi) {
  const int64_t v = c.get_int(key);
  if (v < lo || v > hi)
    c.fail(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(v));
  return v;
}
// A float key in [0, 1) (a decay, a momentum).
inline double get_unit_interval(const Config& c, const std::string& key) {
  double v = c.get_float(key);
  if (!(v >= 0 && v < 1)) c.fail(key, "must be in [0, 1)");
  return v;
}

// The run's log. One line per message (no trailing newline needed). Never throws.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void info(const std::string& message) = 0;  // goes to the terminal and the run log
  virtual void warn(const std::string& message) = 0;  // prefixed "warning: ", always on the terminal
};

// Named scalars, written to metrics.jsonl with the current training step.
class Metrics {
 public:
  virtual ~Metrics() = default;
  // Sets `name` (a plugin should prefix its own, e.g. "muon/"; a later value for the same name in
  // the same step wins) for the next line the host writes. Never throws.
  virtual void record(const std::string& name, double value) = 0;
};

// Facts about the run. The clock values move while training; the rest is fixed for the run. Every
// method is const, cheap and never throws.
class RunInfo {
 public:
  virtual ~RunInfo() = default;
  virtual at::Device device() const = 0;           // where tensors live ("cpu" or "cuda:N")
  virtual at::ScalarType compute_dtype() const = 0;  // dtype of matmuls (kFloat on CPU, kBFloat16 on GPU)
  virtual uint64_t seed() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual double elapsed_seconds() const = 0;    // training clock, validation excluded
  virtual double remaining_seconds() const = 0;  // budget minus elapsed; +inf without a budget
  // 0..1 through training (time or steps, whichever ends it), from 0 at its first step; 1 whenever no
  // training is running (after it, or in a run that reuses or only scores weights): an evaluation of
  // finished weights sees 1, one in the middle of training sees how far training has come.
  virtual double progress() const = 0;
  virtual std::string run_dir() const = 0;       // the run directory; a plugin may write files under it
  virtual int64_t seq_len() const = 0;           // [train] seq_len: the training sequence length
};

// What a plugin's constructor receives. Owned by the host; it and every object reachable from it
// outlive the plugin object, so a plugin may keep the reference (and the ones these return). The
// accessors never throw.
class PluginContext {
 public:
  virtual ~PluginContext() = default;
  virtual const Config& config() const = 0;  // this stage's own table
  virtual Logger& log() = 0;
  virtual Metrics& metrics() = 0;
  virtual const RunInfo& run() const = 0;
  virtual std::string stage() const = 0;  // the pipeline table this instance was made for, e.g. "optimizer"
  // The run's processes (golf/collectives.h); a run of one process gets one whose calls do nothing.
  // ABI 2.1.
  virtual Collectives& collectives() = 0;
};

}  // namespace golf

#endif  // GOLF_CONTEXT_H_
