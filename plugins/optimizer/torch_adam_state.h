// plugins/optimizer/torch_adam_state.h: torch::optim Adam/AdamW per-parameter state to and from a StateDict, keyed by name.
//
// LibTorch keys its optimizer state by TensorImpl address, which means nothing after a restart, so
// the state is written under each parameter's stable name instead: <prefix><name>/{step,exp_avg,exp_avg_sq}.
#ifndef GOLF_PLUGINS_OPTIMIZER_TORCH_ADAM_STATE_H_
#define GOLF_PLUGINS_OPTIMIZER_TORCH_ADAM_STATE_H_

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "golf/stage.h"

namespace golf::optim_state {

// The key torch::optim uses for `p` in its state map: LibTorch 1.13 uses the printed TensorImpl
// address (std::string), 2.x the address itself (void*). Picked from the map's own key type.
template <class Map>
typename Map::key_type state_key(const at::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

inline const at::Tensor& require(const StateDict& in, const std::string& key) {
  auto it = in.find(key);
  if (it == in.end() || !it->second.defined()) throw std::runtime_error("optimizer state: missing '" + key + "'");
  return it->second;
}

// Writes the state of every param in `params` that has one (a param not yet stepped has none).
// Tensors are cloned: the live moments keep changing after the snapshot.
template <class ParamState>
void save(const torch::optim::Optimizer& opt, const std::vector<Param>& params, const std::string& prefix,
          StateDict& out) {
  const auto& state = opt.state();
  for (const Param& p : params) {
    auto it = state.find(state_key<std::decay_t<decltype(state)>>(p.tensor));
    if (it == state.end()) continue;
    const auto& s = static_cast<const ParamState&>(*it->second);
    const std::string base = prefix + p.name + "/";
    out[base + "step"] = at::scalar_tensor(static_cast<int64_t>(s.step()), at::kLong);
    out[base + "exp_avg"] = s.exp_avg().detach().clone();
    out[base + "exp_avg_sq"] = s.exp_avg_sq().detach().clone();
  }
}

// Restores what save() wrote; a param with no saved state gets none (as before its first step).
// Throws std::runtime_error when a saved moment does not match its param's shape.
template <class ParamState>
void load(torch::optim::Optimizer& opt, const std::vector<Param>& params, const std::string& prefix,
          const StateDict& in) {
  auto& state = opt.state();
  for (const Param& p : params) {
    const auto key = state_key<std::decay_t<decltype(state)>>(p.tensor);
    const std::string base = prefix + p.name + "/";
    if (in.find(base + "step") == in.end()) {
      state.erase(key);
      continue;
    }
    auto moment = [&](const std::string& which) {
      const at::Tensor& t = require(in, base + which);
      if (t.sizes() != p.tensor.sizes()) throw std::runtime_error("optimizer state: '" + base + which + "' has the wrong shape");
      // A private copy on the param's device and dtype, as torch::optim would have made it.
      return t.to(p.tensor.device(), p.tensor.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
    };
    auto s = std::make_unique<ParamState>();
    s->step(require(in, base + "step").item<int64_t>());
    s->exp_avg(moment("exp_avg"));
    s->exp_avg_sq(moment("exp_avg_sq"));
    state[key] = std::move(s);
  }
}

}  // namespace golf::optim_state

#endif  // GOLF_PLUGINS_OPTIMIZER_TORCH_ADAM_STATE_H_
