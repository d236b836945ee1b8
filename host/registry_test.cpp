// host/registry_test.cpp: the registry loads built-in plugins and refuses mismatched libraries clearly.
#include "registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace golf::host {
namespace {

std::string bad(const std::string& variant) {
  return std::string(GOLF_TEST_ABI_PLUGIN_DIR) + "/libgolf-test-" + variant + ".so";
}

std::string refusal(const std::string& path) {
  Registry r;
  const LibraryEntry& e = r.load(path);
  EXPECT_FALSE(e.ok()) << path;
  EXPECT_TRUE(e.plugins.empty());
  EXPECT_EQ(r.find("bad-test-plugin"), nullptr);
  return e.error;
}

TEST(RegistryTest, LoadsBuiltinsWithKindsAndSeveralPluginsPerLibrary) {
  Registry r;
  r.scan({GOLF_TEST_PLUGIN_DIR});
  for (const auto& lib : r.libraries()) EXPECT_TRUE(lib->ok()) << lib->error;
  const PluginEntry* muon = r.find("muon");
  ASSERT_NE(muon, nullptr);
  EXPECT_EQ(muon->desc.kind, static_cast<uint32_t>(GOLF_KIND_OPTIMIZER));
  ASSERT_NE(r.find("ema"), nullptr);
  EXPECT_EQ(r.find("ema")->library, r.find("none")->library);  // one .so, two plugins
}

TEST(RegistryTest, AcceptsAMatchingHandWrittenDescriptor) {
  Registry r;
  EXPECT_TRUE(r.load(bad("good")).ok());
  EXPECT_NE(r.find("bad-test-plugin"), nullptr);
}

const std::string kHostAbi = std::to_string(GOLF_ABI_MAJOR) + "." + std::to_string(GOLF_ABI_MINOR);

TEST(RegistryTest, RefusesOtherAbiMajorNamingBothVersions) {
  std::string e = refusal(bad("abi-major"));
  EXPECT_NE(e.find("libgolf-test-abi-major.so"), std::string::npos) << e;
  EXPECT_NE(e.find("golf ABI " + std::to_string(GOLF_ABI_MAJOR + 1) + ".0"), std::string::npos) << e;
  EXPECT_NE(e.find("has ABI " + kHostAbi), std::string::npos) << e;
  EXPECT_NE(e.find("rebuild"), std::string::npos) << e;
}

TEST(RegistryTest, RefusesAPluginBuiltForAbi1SayingWhatChanged) {
  std::string e = refusal(bad("abi-old"));
  EXPECT_NE(e.find("libgolf-test-abi-old.so: built for golf ABI 1.0, but this golf-host has ABI " + kHostAbi), std::string::npos) << e;
  EXPECT_NE(e.find("docs/abi.md"), std::string::npos) << e;
}

TEST(RegistryTest, RefusesAnUnloadableLibraryWithTheLoadersOwnReason) {
  std::string e = refusal(bad("undefined-symbol"));
  EXPECT_NE(e.find("libgolf-test-undefined-symbol.so: cannot be loaded as a shared library"), std::string::npos) << e;
  EXPECT_NE(e.find("undefined symbol: golf_test_symbol_nobody_defines"), std::string::npos) << e;
}

TEST(RegistryTest, RefusesNewerAbiMinor) {
  std::string e = refusal(bad("abi-minor"));
  EXPECT_NE(e.find("golf ABI " + std::to_string(GOLF_ABI_MAJOR) + "." + std::to_string(GOLF_ABI_MINOR + 1)), std::string::npos) << e;
}

TEST(RegistryTest, RefusesOtherLibTorchNamingBothFingerprints) {
  std::string e = refusal(bad("torch"));
  EXPECT_NE(e.find("LibTorch 0.0.1"), std::string::npos) << e;
  EXPECT_NE(e.find(describe(host_fingerprint())), std::string::npos) << e;
}

TEST(RegistryTest, RefusesOtherCxx11Abi) {
  std::string e = refusal(bad("cxx11-abi"));
  EXPECT_NE(e.find("CXX11 ABI"), std::string::npos) << e;
}

TEST(RegistryTest, RefusesALibraryWithoutTheEntryPoint) {
  std::string e = refusal(bad("no-entry"));
  EXPECT_NE(e.find("not a golf plugin"), std::string::npos) << e;
}

TEST(RegistryTest, RefusesAFileThatIsNotASharedLibrary) {
  auto path = std::filesystem::temp_directory_path() / "libgolf-garbage.so";
  std::ofstream(path) << "this is not an ELF file";
  std::string e = refusal(path.string());
  EXPECT_NE(e.find("cannot be loaded as a shared library"), std::string::npos) << e;
  EXPECT_NE(refusal("/nonexistent/libx.so").find("no such plugin file"), std::string::npos);
}

}  // namespace
}  // namespace golf::host
