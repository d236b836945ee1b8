// host/train_test.cpp: the LR multiplier follows the reference formulas (parameter-golf.md §4.5).
#include "train.h"

#include <gtest/gtest.h>

namespace golf::host {
namespace {

TEST(TrainScheduleTest, StepCountedWarmdownWithoutACap) {
  TrainOptions o{};
  o.iterations = 150, o.warmdown_iters = 1200, o.time_warmdown = false;
  // The reference's 150-step run: lr scale = (150 - step) / 1200 throughout (gutenberg_sp1024/SOURCE.md).
  for (int64_t step : {0, 1, 75, 149}) EXPECT_DOUBLE_EQ(lr_scale(o, step, 0.0), (150.0 - step) / 1200.0) << step;
  o.iterations = 20000;
  EXPECT_DOUBLE_EQ(lr_scale(o, 100, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_scale(o, 19400, 0.0), 0.5);
}

TEST(TrainScheduleTest, TimeBasedWarmdownFromAverageStepTime) {
  TrainOptions o{};
  o.iterations = 20000, o.warmdown_iters = 100, o.time_warmdown = true, o.budget_seconds = 600;
  // 0.5 s/step so far: warmdown spans 50 s; 550 s elapsed leaves 50 s: the warmdown just starts.
  EXPECT_DOUBLE_EQ(lr_scale(o, 1100, 550.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_scale(o, 1160, 580.0), 20.0 / 50.0);
  EXPECT_DOUBLE_EQ(lr_scale(o, 1000, 400.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_scale(o, 1200, 600.0), 0.0);
  o.warmdown_iters = 0;
  EXPECT_DOUBLE_EQ(lr_scale(o, 1200, 599.0), 1.0);
}

}  // namespace
}  // namespace golf::host
