// fuzz/fuzz_shard.cpp: libFuzzer target for the token shard reader (host/shard.h).
//
// Each input is a shard file read whole, with and without a vocabulary to check ids against. An
// exception is the reader refusing the file; only a crash, a sanitizer report, a timeout or
// running out of memory is a finding.
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "shard.h"

namespace {

void write_seeds(const std::filesystem::path& dir) {
  using golf::host::write_shard;
  write_shard((dir / "empty.bin").string(), {});
  write_shard((dir / "five.bin").string(), {0, 1, 2, 1023, 65535});
  std::vector<uint16_t> ramp(300);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = uint16_t(i * 7 % 1024);
  write_shard((dir / "ramp.bin").string(), ramp);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  golf::fuzz::seeds_requested(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (golf::fuzz::scratch() / "input.bin").string();
  golf::fuzz::write_bytes(path, data, size);
  try {
    golf::host::shard_tokens(path);
  } catch (const std::exception&) {
  }
  try {
    golf::host::read_shard(path);
  } catch (const std::exception&) {
  }
  // A vocabulary from the input's last two bytes, so some ids fall outside it and some inside.
  int64_t vocab = 1;
  if (size >= 2) vocab += data[size - 2] | (data[size - 1] << 8);
  try {
    golf::host::read_shard(path, vocab);
  } catch (const std::exception&) {
  }
  return 0;
}
