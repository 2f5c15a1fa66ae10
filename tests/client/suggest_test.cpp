// "Did you mean": the nearest command to a mistyped one, over the CLI's real
// command tree shape.

#include "client/suggest.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <vector>

using namespace sb::client;

TEST(suggest, edit_distance_counts_a_swap_as_one_edit) {
  EXPECT_EQ(edit_distance("agent", "agent"), 0u);
  EXPECT_EQ(edit_distance("agnet", "agent"), 1u);
  EXPECT_EQ(edit_distance("stauts", "status"), 1u);
  EXPECT_EQ(edit_distance("subscriptoin", "subscription"), 1u);
  EXPECT_EQ(edit_distance("", "ping"), 4u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(suggest, nearest_prefers_exact_then_unique_prefix_then_fewest_edits) {
  std::vector<std::string> words{"set", "settings", "status", "subscription"};
  EXPECT_EQ(nearest("set", words), "set");
  EXPECT_EQ(nearest("sub", words), "subscription");
  EXPECT_EQ(nearest("stats", words), "status");
  // "s" starts several; one letter is never near enough for a guess.
  EXPECT_FALSE(nearest("s", words));
  EXPECT_FALSE(nearest("frobnicate", words));
  EXPECT_FALSE(nearest("", words));
}

namespace {

struct tree {
  CLI::App app{"test"};
  std::string host;
  bool json = false;
  std::string name;

  tree() {
    app.add_option("--host", host);
    app.add_flag("--json", json);
    auto agent = app.add_subcommand("agent");
    agent->add_subcommand("list");
    agent->add_subcommand("add")->add_option("name", name);
    app.add_subcommand("status");
    app.add_subcommand("report")->add_option("agent", name);
  }

  std::optional<command_guess> guess(std::vector<const char*> args) {
    args.insert(args.begin(), "switchboard");
    return suggest_command(app, static_cast<int>(args.size()), args.data());
  }
};

} // namespace

TEST(suggest, command_lines_get_the_command_they_meant) {
  tree t;
  auto g = t.guess({"agnet", "list"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->unknown, "agnet");
  EXPECT_EQ(g->meant, "agent list");
  // Options before it, with and without values, are skipped.
  g = t.guess({"--host", "agnet", "--json", "stauts"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->meant, "status");
  g = t.guess({"--host=h", "agent", "lsit"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->unknown, "lsit");
  EXPECT_EQ(g->meant, "agent list");
  // The next word is kept only when it is near a subcommand.
  g = t.guess({"agnet", "frobnicate"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->meant, "agent");
}

TEST(suggest, no_guess_when_the_commands_are_known_or_nothing_is_near) {
  tree t;
  EXPECT_FALSE(t.guess({"agent", "add", "agnet"}));
  EXPECT_FALSE(t.guess({"report", "a1"}));
  EXPECT_FALSE(t.guess({"--json"}));
  // An unknown word with nothing near is named, without a guess.
  auto g = t.guess({"frobnicate"});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->unknown, "frobnicate");
  EXPECT_EQ(g->meant, "");
}
