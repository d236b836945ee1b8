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

// Named tensors, sorted by name. Used for stage state and model weights.
using StateDict = std::map<std::string, at::Tensor>;

// What a parameter is to the model, so optimizers and quantizers split parameters without matching
// names. Every stage that takes parameters accepts every role (an optimizer must not throw on a 3-D
// tensor of role kOther; it updates it as its plugin documents).
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
struct Param {
  std::string name;  // stable across builds; used as the tensor's name in state and artifacts
  at::Tensor tensor;
  ParamRole role;
};

// The base of every stage interface. Thread rule for every stage: the host calls a stage from one
// thread at a time; a plugin that starts threads of its own joins them before returning.
class Stage {
 public:
  virtual ~Stage() = default;
  // Writes whatever the stage needs to resume exactly (optimizer moments, EMA weights, step counts)
  // into `out`, keys unique within the stage. The tensors must be copies: the host keeps the dict
  // while training goes on (warm-up priming snapshots and restores it). Default: no state.
  virtual void save_state(StateDict& out) const { (void)out; }
  // Restores what save_state wrote. REQUIRES: `in` came from save_state of the same plugin, configured
  // the same way, attached to the same parameters.
  virtual void load_state(const StateDict& in) { (void)in; }
};

// Step information handed to training-time stages.
struct StepInfo {
  int64_t step;     // 0-based index of the optimizer step being taken
  double lr_scale;  // schedule multiplier (warmdown) for this step, in [0, 1]
  double progress;  // 0..1 through training
};

// The role's name as pipelines and reports spell it: "matrix", "embedding", "tied_embedding", "head",
// "scalar", "gate" or "other".
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
