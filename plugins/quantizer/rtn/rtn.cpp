// plugins/quantizer/rtn/rtn.cpp: round-to-nearest on the shared grid (int2..int8, per row or group), no calibration.
#include "../grid/grid.h"

namespace {

class Rtn final : public grid::GridQuantizer {
 public:
  explicit Rtn(golf::PluginContext& ctx) : GridQuantizer(ctx, /*calibrated=*/false) {}
};

const golf_config_key kRtnConfig[] = {GRID_KEYS};

}  // namespace

GOLF_PLUGINS(golf::plugin<Rtn>("rtn", "1.0.0", "round-to-nearest int2..int8 per row or group, mixed widths by role (golf_grid_v1)",
                               kRtnConfig))
