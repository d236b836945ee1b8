// tests/e2e/e2e.h: golf-host as a subprocess, and the small real pipelines the end-to-end tests run.
#ifndef GOLF_TESTS_E2E_H_
#define GOLF_TESTS_E2E_H_

#include <boost/property_tree/ptree.hpp>

#include <string>

#include "temp_dir.h"

namespace golf::testing {

struct Result {
  int code;            // exit status, or 128 + signal when golf-host was killed
  std::string output;  // stdout and stderr together
};

// Runs `golf-host ARGS` through the shell and waits for it.
Result host(const std::string& args);

// A run directory's summary.json.
boost::property_tree::ptree summary(const std::string& run_dir);

// A corpus of real text that every checkout has: golf's own sources, one document per file.
std::string make_corpus(const TempDir& dir);

// dir/tiny.toml: a 2-layer GPT trained for 40 steps on make_corpus(), with its own tokenizer.
// `extra` is appended to the file.
std::string tiny_pipeline(const TempDir& dir, const std::string& extra = "");

// dir/shards.toml: tiny.toml reading the shards and the tokenizer file that the finished run
// `made_run` (a run of tiny.toml in dir) wrote, as a pipeline of the reference's FineWeb data does.
// `val_glob` replaces the run's validation shards when given.
std::string shard_pipeline(const TempDir& dir, const std::string& made_run, const std::string& val_glob = "");

// The whole file.
std::string slurp(const std::string& path);

}  // namespace golf::testing

#endif  // GOLF_TESTS_E2E_H_
