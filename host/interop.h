// host/interop.h: model weights in PyTorch's own formats, and the export/import/score commands.
//
// Formats: "torch" is what torch.save(state_dict) writes and torch.load reads (a zip archive with a
// pickled dict of tensors); "safetensors" is the safetensors format; golf's own model.pt is a
// LibTorch serialize archive. Tensor names are the architecture's parameter names, which for `gpt`
// are the reference train_gpt.py state_dict names.
#ifndef GOLF_HOST_INTEROP_H_
#define GOLF_HOST_INTEROP_H_

#include <string>
#include <vector>

#include "golf/stage.h"

namespace golf::host {

// Writes `tensors` (name -> tensor, in the given order) as a torch.save-compatible state_dict or a
// safetensors file. The file appears whole or not at all (written under a temporary name, then renamed).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
void write_torch_state_dict(const std::string& path, const NamedTensors& tensors);
void write_safetensors(const std::string& path, const NamedTensors& tensors);

// Reads a weights file of any of the three formats (told apart by content, not by name); tensors
// on the CPU, dtypes as stored. Throws std::runtime_error naming the file and what is wrong (not a
// weights file, a declared size past the end of the file, an entry that is not a tensor).
StateDict read_weights_file(const std::string& path);

// Compares `file` (from `what`) with the model's parameters by name and shape. Throws
// std::runtime_error listing every missing, unexpected and mis-shaped tensor, one per line.
void check_weight_names(const StateDict& file, const std::vector<Param>& params, const std::string& what);

// The subcommands. Each returns an exit code: 0 done, 1 failed, 2 bad input.
int export_command(const std::string& run_dir, const std::string& format, const std::string& out,
                   const std::vector<std::string>& plugin_dirs);
int import_command(const std::string& file, const std::string& pipeline, const std::vector<std::string>& overrides,
                   const std::string& out_run_dir, const std::vector<std::string>& plugin_dirs);
int score_command(const std::string& pipeline, const std::vector<std::string>& overrides, const std::string& weights,
                  const std::string& val_glob, const std::vector<std::string>& plugin_dirs);

}  // namespace golf::host

#endif  // GOLF_HOST_INTEROP_H_
