// tests/abi/abi_layout_test.cpp: pins the C descriptor layout and the stage interfaces' vtable slots.
// If this fails, the ABI changed: move GOLF_ABI_MAJOR (or MINOR for an appended field or a virtual
// method appended at the end), update these numbers, and say so in docs/abi.md.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "golf/golf.h"

namespace {

static_assert(GOLF_ABI_MAJOR == 2 && GOLF_ABI_MINOR == 1, "update the pinned layout below with the version");

// The vtable slot of a virtual method. golf's two compilers (gcc, clang) follow the Itanium C++ ABI,
// where a pointer to a virtual member function holds 1 + the slot's byte offset in the vtable.
template <class F>
int64_t slot(F method) {
  static_assert(sizeof(F) == 2 * sizeof(uintptr_t), "an Itanium pointer to member function");
  uintptr_t words[2];
  std::memcpy(words, &method, sizeof words);
  EXPECT_EQ(words[0] % sizeof(void*), 1u) << "not a virtual method";
  return int64_t((words[0] - 1) / sizeof(void*));
}

// Slots 0 and 1 are Stage's virtual destructor (complete and deleting), then save_state, load_state.
TEST(AbiLayoutTest, StageVtables) {
  EXPECT_EQ(slot(&golf::Stage::save_state), 2);
  EXPECT_EQ(slot(&golf::Stage::load_state), 3);
  EXPECT_EQ(slot(&golf::Architecture::build), 4);
  EXPECT_EQ(slot(&golf::Architecture::vocab_size), 5);
  EXPECT_EQ(slot(&golf::Architecture::parameters), 6);
  EXPECT_EQ(slot(&golf::Architecture::forward), 7);
  EXPECT_EQ(slot(&golf::Architecture::logits), 8);
  EXPECT_EQ(slot(&golf::Architecture::set_training), 9);
  EXPECT_EQ(slot(&golf::Architecture::set_linear_hook), 10);
  EXPECT_EQ(slot(&golf::LinearHook::on_linear), 2);
  EXPECT_EQ(slot(&golf::Evaluator::begin), 4);
  EXPECT_EQ(slot(&golf::Evaluator::score), 5);
  EXPECT_EQ(slot(&golf::Evaluator::adapt), 6);
  EXPECT_EQ(slot(&golf::Evaluator::end), 7);
  EXPECT_EQ(slot(&golf::Quantizer::format), 4);
  EXPECT_EQ(slot(&golf::Quantizer::calibration), 5);
  EXPECT_EQ(slot(&golf::Quantizer::quantize), 6);
  EXPECT_EQ(slot(&golf::Quantizer::dequantize), 7);
  EXPECT_EQ(slot(&golf::Quantizer::fake_quantize), 8);
  EXPECT_EQ(slot(&golf::Qat::attach), 4);
  EXPECT_EQ(slot(&golf::Qat::before_forward), 5);
  EXPECT_EQ(slot(&golf::Qat::after_backward), 6);
  EXPECT_EQ(slot(&golf::Optimizer::attach), 4);
  EXPECT_EQ(slot(&golf::Optimizer::step), 5);
  EXPECT_EQ(slot(&golf::Averaging::attach), 4);
  EXPECT_EQ(slot(&golf::Averaging::update), 5);
  EXPECT_EQ(slot(&golf::Averaging::apply), 6);
  EXPECT_EQ(slot(&golf::Tokenizer::prepare), 4);
  EXPECT_EQ(slot(&golf::Tokenizer::model_path), 9);
  EXPECT_EQ(slot(&golf::Compressor::compress), 4);
  EXPECT_EQ(slot(&golf::Compressor::decompress), 5);
  EXPECT_EQ(slot(&golf::RunInfo::device), 2);
  EXPECT_EQ(slot(&golf::RunInfo::seq_len), 11);
  EXPECT_EQ(slot(&golf::PluginContext::stage), 6);
  EXPECT_EQ(slot(&golf::PluginContext::collectives), 7);
  EXPECT_EQ(slot(&golf::Collectives::rank), 2);
  EXPECT_EQ(slot(&golf::Collectives::all_reduce), 4);
  EXPECT_EQ(slot(&golf::Collectives::barrier), 7);
}

TEST(AbiLayoutTest, ReduceOps) {
  EXPECT_EQ(int(golf::ReduceOp::kSum), 0);
  EXPECT_EQ(int(golf::ReduceOp::kAverage), 3);
}

// The roles' values travel inside plugins' code: never renumber, only append.
TEST(AbiLayoutTest, ParamRoles) {
  EXPECT_EQ(int(golf::ParamRole::kMatrix), 0);
  EXPECT_EQ(int(golf::ParamRole::kScalar), 4);
  EXPECT_EQ(int(golf::ParamRole::kOther), 6);
}

TEST(AbiLayoutTest, VersionAndEnums) {
  EXPECT_EQ(GOLF_ABI_MAJOR, 2);
  EXPECT_EQ(GOLF_ABI_MINOR, 1);
  EXPECT_STREQ(GOLF_ENTRY_POINT, "golf_describe_library");
  EXPECT_EQ(GOLF_KIND_TOKENIZER, 1);
  EXPECT_EQ(GOLF_KIND_EVALUATOR, 8);
  EXPECT_EQ(GOLF_TYPE_INT, 1);
  EXPECT_EQ(GOLF_TYPE_PATH, 5);
}

TEST(AbiLayoutTest, ConfigKey) {
  EXPECT_EQ(sizeof(golf_config_key), 32u);
  EXPECT_EQ(offsetof(golf_config_key, key), 0u);
  EXPECT_EQ(offsetof(golf_config_key, type), 8u);
  EXPECT_EQ(offsetof(golf_config_key, default_value), 16u);
  EXPECT_EQ(offsetof(golf_config_key, doc), 24u);
}

TEST(AbiLayoutTest, Fingerprint) {
  EXPECT_EQ(sizeof(golf_fingerprint), 32u);
  EXPECT_EQ(offsetof(golf_fingerprint, struct_size), 0u);
  EXPECT_EQ(offsetof(golf_fingerprint, cxx11_abi), 4u);
  EXPECT_EQ(offsetof(golf_fingerprint, cuda), 8u);
  EXPECT_EQ(offsetof(golf_fingerprint, compiler_major), 12u);
  EXPECT_EQ(offsetof(golf_fingerprint, torch_version), 16u);
  EXPECT_EQ(offsetof(golf_fingerprint, compiler), 24u);
}

TEST(AbiLayoutTest, PluginDesc) {
  EXPECT_EQ(sizeof(golf_plugin_desc), 56u);
  EXPECT_EQ(offsetof(golf_plugin_desc, struct_size), 0u);
  EXPECT_EQ(offsetof(golf_plugin_desc, kind), 4u);
  EXPECT_EQ(offsetof(golf_plugin_desc, name), 8u);
  EXPECT_EQ(offsetof(golf_plugin_desc, version), 16u);
  EXPECT_EQ(offsetof(golf_plugin_desc, description), 24u);
  EXPECT_EQ(offsetof(golf_plugin_desc, config), 32u);
  EXPECT_EQ(offsetof(golf_plugin_desc, config_count), 40u);
  EXPECT_EQ(offsetof(golf_plugin_desc, create), 48u);
}

TEST(AbiLayoutTest, LibraryDesc) {
  EXPECT_EQ(sizeof(golf_library_desc), 56u);
  EXPECT_EQ(offsetof(golf_library_desc, struct_size), 0u);
  EXPECT_EQ(offsetof(golf_library_desc, abi_major), 4u);
  EXPECT_EQ(offsetof(golf_library_desc, abi_minor), 6u);
  EXPECT_EQ(offsetof(golf_library_desc, fingerprint), 8u);
  EXPECT_EQ(offsetof(golf_library_desc, plugin_count), 40u);
  EXPECT_EQ(offsetof(golf_library_desc, plugins), 48u);
}

}  // namespace
