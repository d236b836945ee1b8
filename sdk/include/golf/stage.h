// golf/stage.h: what every stage object has in common: a virtual destructor and state save/load.
#ifndef GOLF_STAGE_H_
#define GOLF_STAGE_H_

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard, which ATen.h stopped including in 2.x

#include <map>
#include <string>
#include <vector>

#include "golf/abi.h"

namespace golf {

// Named tensors, sorted by name. Used for stage state and model weights. Owns its tensors (shared
// handles; a stage that must not see later writes puts clones in).
using StateDict = std::map<std::string, at::Tensor>;

// What a parameter is to the model, so optimizers and quantizers split parameters without matching
// names. Every stage that takes parameters accepts every role (an optimizer must not throw on a 3-D
// tensor of role kOther; it updates it as its plugin documents). Values are ABI: append only.
enum class ParamRole {
  kMatrix,         // 2-D weights of the blocks' matmuls (Muon in the reference; GPTQ/int6 in the frontier)
  kEmbedding,      // an input token embedding that is not also the output head
  kTiedEmbedding,  // the token embedding that is also the output head (logits = x · Eᵀ)
  kHead,           // an untied output head
  kScalar,         // vectors and small control tensors: norm scales, gains, mixes, skip weights
  kGate,           // small gate matrices (attention gates, SmearGate): int8 in the frontier, Adam-trained
  kOther,          // anything else, any rank (e.g. banked [L, out, in] weights)
};

// A model parameter. `tensor` is the live leaf tensor (requires_grad); it is shared, not copied.
// Lifetime: the architecture owns the storage; a stage may keep Params (the handles keep the tensor
// alive) and write into them in place, but never replaces or re-creates `tensor`.
struct Param {
  std::string name;  // stable across builds; used as the tensor's name in state and artifacts
  at::Tensor tensor;
  ParamRole role;
};

// The base of every stage interface. Rules for every stage, unless its method says otherwise:
//   Construction: from a PluginContext& (golf/plugin.h) that outlives the object; read and check
//     every config key there, throwing through Config::fail.
//   Ownership: the host owns the object (made by the plugin's factory, deleted through this virtual
//     destructor, before the context it was given). References passed into a method are borrowed
//     for that call only, unless the method says it keeps them.
//   Threads: the host calls a stage from one thread at a time (not always the same thread); a
//     plugin that starts threads of its own joins them before returning.
//   Errors: a method throws std::exception (std::runtime_error for bad input); the host reports it
//     naming stage and plugin (`[optimizer] (plugin muon) step: ...`) and ends the run. Never call
//     exit() or abort(). golf::ConfigError is for bad config values only.
class Stage {
 public:
  // Must not throw.
  virtual ~Stage() = default;
  // Writes whatever the stage needs to resume exactly (optimizer moments, EMA weights, step counts)
  // into `out`, keys unique within the stage; `out` may already hold other keys. The tensors must be
  // copies: the host keeps the dict while training goes on (warm-up priming snapshots and restores
  // it). May be called before attach() or begin() (the host snapshots an evaluator before begin()):
  // then it writes what it has, possibly nothing, and load_state must accept that. Default: no state.
  virtual void save_state(StateDict& out) const { (void)out; }
  // Restores what save_state wrote, copying out of `in` (borrowed for the call). REQUIRES: `in` came
  // from save_state of the same plugin, configured the same way, attached to the same parameters.
  // Throws std::runtime_error naming the key when an entry it needs is missing or misshapen.
  // Default: ignores `in`.
  virtual void load_state(const StateDict& in) { (void)in; }
};

// Step information handed to training-time stages, by value or const reference for one call.
struct StepInfo {
  int64_t step;     // 0-based index of the optimizer step being taken
  double lr_scale;  // schedule multiplier (warmdown) for this step, in [0, 1]
  double progress;  // 0..1 through training
};

// The role's name as pipelines and reports spell it: "matrix", "embedding", "tied_embedding", "head",
// "scalar", "gate" or "other"; "?" for a value outside the enum. Static storage; never throws.
inline const char* role_name(ParamRole role) {
  switch (role) {
    case ParamRole::kMatrix: return "matrix";
    case ParamRole::kEmbedding: return "embedding";
    case ParamRole::kTiedEmbedding: return "tied_embedding";
    case ParamRole::kHead: return "head";
    case ParamRole::kScalar: return "scalar";
    case ParamRole::kGate: return "gate";
    case ParamRole::kOther: return "other";
  }
  return "?";
}

}  // namespace golf

#endif  // GOLF_STAGE_H_
