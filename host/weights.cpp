// host/weights.cpp: weights through torch::serialize archives.
#include "weights.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "errors.h"
#include "files.h"
#include "provenance.h"

#include <filesystem>
#include <fstream>

namespace golf::host {

void save_weights(const std::string& path, const std::vector<Param>& params) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : params) archive.write(p.name, p.tensor.detach().cpu());
  write_atomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
  const std::string sum = sha256_file(path);
  if (sum.size() == 64)  // sha256sum's format: `sha256sum -c model.pt.sha256` checks it too
    write_file_atomically(path + ".sha256", sum + "  " + std::filesystem::path(path).filename().string() + "\n");
}

void check_weights_checksum(const std::string& path, Logger& log) {
  std::ifstream in(path + ".sha256");
  std::string recorded;
  if (!(in >> recorded)) {
    log.warn(path + ": no checksum recorded beside it (" + path + ".sha256); its integrity is not checked");
    return;
  }
  const std::string actual = sha256_file(path);
  if (actual.size() == 64 && actual != recorded)
    throw InputError(path + ": damaged: its sha256 is " + actual + ", but " + path + ".sha256 records " + recorded +
                     " (written when the run saved it)");
}

void assign_weights(const StateDict& values, const std::vector<Param>& params, const std::string& what) {
  at::NoGradGuard no_grad;
  for (const auto& p : params) {
    auto it = values.find(p.name);
    if (it == values.end()) throw InputError(what + ": has no tensor '" + p.name + "'");
    if (!it->second.sizes().equals(p.tensor.sizes()))
      throw InputError(what + ": tensor '" + p.name + "' has shape " + c10::str(it->second.sizes()) +
                               ", the model expects " + c10::str(p.tensor.sizes()));
    p.tensor.copy_(it->second);
  }
  if (values.size() != params.size())
    throw InputError(what + ": holds " + std::to_string(values.size()) + " tensors, the model has " +
                             std::to_string(params.size()));
}

void load_weights(const std::string& path, const std::vector<Param>& params) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    throw InputError(path + ": cannot read weights (" + user_message(e).substr(0, 300) + ")");
  }
  StateDict values;
  for (const auto& p : params) {
    at::Tensor t;
    if (!archive.try_read(p.name, t)) throw InputError(path + ": has no tensor '" + p.name + "'");
    values[p.name] = t;
  }
  assign_weights(values, params, path);
}

}  // namespace golf::host
