// host/train_test.cpp: the LR multiplier follows the reference formulas (parameter-golf.md §4.5, §5.26).
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

TEST(TrainScheduleTest, WarmdownFractionOfTrainingTimeWithFloor) {
  TrainOptions o{};
  o.iterations = 20000, o.warmdown_frac = 0.72, o.time_warmdown = true, o.budget_seconds = 600;
  // PR #1493: full LR for the first 28 % of the budget (168 s), then (1 - f) / 0.72.
  EXPECT_DOUBLE_EQ(lr_scale(o, 300, 167.0), 1.0);
  EXPECT_NEAR(lr_scale(o, 500, 300.0), 0.5 / 0.72, 1e-12);
  EXPECT_NEAR(lr_scale(o, 900, 540.0), 0.1 / 0.72, 1e-12);
  EXPECT_DOUBLE_EQ(lr_scale(o, 999, 600.0), 0.0);
  o.min_lr_scale = 0.10;  // PR #1787's floor
  EXPECT_NEAR(lr_scale(o, 500, 300.0), 0.5 / 0.72, 1e-12);
  EXPECT_DOUBLE_EQ(lr_scale(o, 999, 600.0), 0.10);
  // Without a time budget the fraction is of the iterations.
  o.time_warmdown = false, o.iterations = 1000, o.min_lr_scale = 0;
  EXPECT_DOUBLE_EQ(lr_scale(o, 279, 0.0), 1.0);
  EXPECT_NEAR(lr_scale(o, 640, 0.0), 0.36 / 0.72, 1e-12);
}

TEST(TrainScheduleTest, FloorAppliesToTheStepCountedWarmdownToo) {
  TrainOptions o{};
  o.iterations = 100, o.warmdown_iters = 50, o.time_warmdown = false, o.min_lr_scale = 0.25;
  EXPECT_DOUBLE_EQ(lr_scale(o, 10, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_scale(o, 60, 0.0), 40.0 / 50.0);
  EXPECT_DOUBLE_EQ(lr_scale(o, 95, 0.0), 0.25);
}

}  // namespace
}  // namespace golf::host
