// host/weights.cpp: weights through torch::serialize archives.
#include "weights.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

namespace golf::host {

void save_weights(const std::string& path, const std::vector<Param>& params) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : params) archive.write(p.name, p.tensor.detach().cpu());
  archive.save_to(path);
}

void assign_weights(const StateDict& values, const std::vector<Param>& params, const std::string& what) {
  at::NoGradGuard no_grad;
  for (const auto& p : params) {
    auto it = values.find(p.name);
    if (it == values.end()) throw std::runtime_error(what + ": has no tensor '" + p.name + "'");
    if (!it->second.sizes().equals(p.tensor.sizes()))
      throw std::runtime_error(what + ": tensor '" + p.name + "' has shape " + c10::str(it->second.sizes()) +
                               ", the model expects " + c10::str(p.tensor.sizes()));
    p.tensor.copy_(it->second);
  }
  if (values.size() != params.size())
    throw std::runtime_error(what + ": holds " + std::to_string(values.size()) + " tensors, the model has " +
                             std::to_string(params.size()));
}

void load_weights(const std::string& path, const std::vector<Param>& params) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": cannot read weights (" + std::string(e.what()).substr(0, 200) + ")");
  }
  StateDict values;
  for (const auto& p : params) {
    at::Tensor t;
    if (!archive.try_read(p.name, t)) throw std::runtime_error(path + ": has no tensor '" + p.name + "'");
    values[p.name] = t;
  }
  assign_weights(values, params, path);
}

}  // namespace golf::host
