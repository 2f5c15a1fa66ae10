// Structured log lines (actors/logging.hpp): in the json format the fields
// of SB_INFO_WITH and its siblings are top-level members of the line; the
// text format shows the message only; lines without fields have none.

#include "actors/logging.hpp"
#include "fixtures/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <vector>

using namespace sb;

namespace {

class logging_test : public ::testing::Test {
protected:
  ~logging_test() override { spdlog::set_default_logger(saved); }

  /// The lines of the log file.
  std::vector<std::string> lines() {
    spdlog::default_logger()->flush();
    std::ifstream in{file};
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
      out.push_back(line);
    return out;
  }

  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
  test::temp_dir dir;
  std::string file = dir.file("log");
};

} // namespace

TEST_F(logging_test, json_lines_carry_the_fields_at_the_top_level) {
  ASSERT_EQ(setup_logging("info", file, "json"), "");
  SB_INFO_WITH(log_kv("agent", std::string{"a1"}, "subscription", "sub-b",
                      "generation", uint64_t{7}),
               "agent {}: automatic sub-a -> sub-b committed (generation {})",
               "a1", 7);
  SB_WARN("no fields here");
  auto xs = lines();
  ASSERT_EQ(xs.size(), 2u);
  auto j = nlohmann::json::parse(xs[0]);
  EXPECT_EQ(j["agent"], "a1");
  EXPECT_EQ(j["subscription"], "sub-b");
  EXPECT_EQ(j["generation"], 7);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["message"],
            "agent a1: automatic sub-a -> sub-b committed (generation 7)");
  auto plain = nlohmann::json::parse(xs[1]);
  EXPECT_FALSE(plain.contains("agent"));
  EXPECT_EQ(plain["message"], "no fields here");
}

TEST_F(logging_test, a_field_never_replaces_the_lines_own_members) {
  ASSERT_EQ(setup_logging("info", file, "json"), "");
  SB_INFO_WITH(log_kv("message", "forged", "agent", "a\x1b[31m"), "real");
  auto j = nlohmann::json::parse(lines().at(0));
  EXPECT_EQ(j["message"], "real");
  EXPECT_EQ(j["agent"], "a\x1b[31m"); // JSON escapes it: \u001b
  EXPECT_NE(lines().at(0).find("\\u001b"), std::string::npos);
}

TEST_F(logging_test, text_lines_show_the_message_only) {
  ASSERT_EQ(setup_logging("info", file, "text"), "");
  SB_INFO_WITH(log_kv("agent", "a1", "generation", 3), "agent {}: applied",
               "a1");
  auto xs = lines();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].substr(xs[0].find(" info ")), " info agent a1: applied");
}
