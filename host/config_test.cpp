// host/config_test.cpp: schema checks name file, line and key; typed reads apply defaults and paths.
#include "config.h"

#include <gtest/gtest.h>

namespace golf::host {
namespace {

Schema test_schema() {
  return {"optimizer", "plugin test",
          {{"lr", GOLF_TYPE_FLOAT, "0.04", "learning rate"},
           {"steps", GOLF_TYPE_INT, nullptr, "required"},
           {"nesterov", GOLF_TYPE_BOOL, "true", ""},
           {"model", GOLF_TYPE_PATH, "\"\"", ""},
           {"name", GOLF_TYPE_STRING, "\"x\"", ""}}};
}

SourcedTable parse(const std::string& text) {
  SourcedTable t;
  t.table = toml::parse(text, std::string("/tmp/dir/p.toml"));
  t.origins = origins_of(t.table);
  t.origin = Origin{"/tmp/dir/p.toml", 0};
  return t;
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndSuggests) {
  auto errors = check_table(parse("steps = 1\n\nlrr = 0.1\n"), test_schema());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("/tmp/dir/p.toml:3"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("unknown key 'lrr'"), std::string::npos);
  EXPECT_NE(errors[0].find("did you mean 'lr'"), std::string::npos);
}

TEST(ConfigTest, WrongTypeAndMissingRequired) {
  auto errors = check_table(parse("lr = \"fast\"\nnesterov = 1\n"), test_schema());
  ASSERT_EQ(errors.size(), 3u);
  std::string all = errors[0] + errors[1] + errors[2];
  EXPECT_NE(all.find("lr must be a number"), std::string::npos) << all;
  EXPECT_NE(all.find("nesterov must be a boolean"), std::string::npos);
  EXPECT_NE(all.find("missing required key 'steps'"), std::string::npos);
}

TEST(ConfigTest, IntegerAcceptedAsFloatButNotTheReverse) {
  EXPECT_TRUE(check_table(parse("steps = 2\nlr = 1\n"), test_schema()).empty());
  EXPECT_EQ(check_table(parse("steps = 2.5\n"), test_schema()).size(), 1u);
}

TEST(ConfigTest, ReadsValuesDefaultsAndResolvesPaths) {
  TableConfig c(test_schema(), parse("steps = 7\nmodel = \"tok/m.model\"\n"));
  EXPECT_EQ(c.get_int("steps"), 7);
  EXPECT_DOUBLE_EQ(c.get_float("lr"), 0.04);
  EXPECT_TRUE(c.get_bool("nesterov"));
  EXPECT_EQ(c.get_string("name"), "x");
  EXPECT_TRUE(c.is_set("steps"));
  EXPECT_FALSE(c.is_set("lr"));
  // /tmp/dir/p.toml does not exist, so the path stays relative to the working directory
  EXPECT_EQ(c.get_string("model"), "tok/m.model");
}

TEST(ConfigTest, UndeclaredOrMistypedReadsAreErrors) {
  TableConfig c(test_schema(), parse("steps = 7\n"));
  EXPECT_THROW(c.get_int("nope"), ConfigError);
  EXPECT_THROW(c.get_int("lr"), ConfigError);
  try {
    c.fail("steps", "must be even");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/tmp/dir/p.toml:1: [optimizer] steps: must be even"), std::string::npos)
        << e.what();
  }
}

TEST(ConfigTest, DidYouMean) {
  EXPECT_EQ(did_you_mean("optimiser", {"optimizer", "quantizer"}), "optimizer");
  EXPECT_EQ(did_you_mean("zzzzzz", {"optimizer", "quantizer"}), "");
}

}  // namespace
}  // namespace golf::host
