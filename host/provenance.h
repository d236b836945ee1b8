// host/provenance.h: the run directory, and the header that makes a run's log reproducible.
#ifndef GOLF_HOST_PROVENANCE_H_
#define GOLF_HOST_PROVENANCE_H_

#include <string>

#include "context.h"
#include "pipeline.h"

namespace golf::host {

std::string golf_version();   // "0.1.0"
std::string golf_commit();    // git commit golf-host was built from ("-dirty" when modified), or "unknown"

// sha256 of a file as 64 hex digits; "unavailable" when built without libcrypto.
std::string sha256_file(const std::string& path);

// Creates the run directory: `requested`, or runs/<name>-<YYYYmmdd-HHMMSS> when empty. Refuses an
// existing non-empty directory (a run never overwrites another run's files).
std::string make_run_dir(const std::string& requested, const std::string& name);

// Writes golf's version and commit, the pipeline, device and seed, and each stage plugin's name,
// version, path, sha256 and fingerprint into the log (file only).
void write_provenance(RunLog& log, const Pipeline& p, const std::string& device, uint64_t seed);

}  // namespace golf::host

#endif  // GOLF_HOST_PROVENANCE_H_
