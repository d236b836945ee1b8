// golf/golf.h: the whole SDK in one include, for plugin sources.
#ifndef GOLF_GOLF_H_
#define GOLF_GOLF_H_

#include "golf/abi.h"
#include "golf/architecture.h"
#include "golf/averaging.h"
#include "golf/compressor.h"
#include "golf/context.h"
#include "golf/evaluator.h"
#include "golf/optimizer.h"
#include "golf/plugin.h"
#include "golf/qat.h"
#include "golf/quantizer.h"
#include "golf/stage.h"
#include "golf/tokenizer.h"

#endif  // GOLF_GOLF_H_
