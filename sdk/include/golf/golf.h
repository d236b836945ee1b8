// golf/golf.h: the whole SDK in one include, for plugin sources.
// Include this (or the one header of the kind) from plugin sources only; the host's headers are not
// part of the SDK. Declares nothing of its own.
#ifndef GOLF_GOLF_H_
#define GOLF_GOLF_H_

#include "golf/abi.h"
#include "golf/architecture.h"
#include "golf/averaging.h"
#include "golf/collectives.h"
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
