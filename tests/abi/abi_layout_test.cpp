// tests/abi/abi_layout_test.cpp: pins the C descriptor layout. If this fails, the ABI changed: move
// GOLF_ABI_MAJOR (or MINOR for an appended field), update these numbers, and say so in docs/abi.md.
#include <gtest/gtest.h>

#include <cstddef>

#include "golf/abi.h"

namespace {

static_assert(GOLF_ABI_MAJOR == 1 && GOLF_ABI_MINOR == 0, "update the pinned layout below with the version");

TEST(AbiLayoutTest, VersionAndEnums) {
  EXPECT_EQ(GOLF_ABI_MAJOR, 1);
  EXPECT_EQ(GOLF_ABI_MINOR, 0);
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
