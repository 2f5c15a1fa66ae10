// Lists kept as one text (messages/text_list.hpp): what is split comes back
// joined, empty items and stray separators are dropped.

#include "messages/text_list.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(text_list, split_drops_empty_items) {
  using v = std::vector<std::string>;
  EXPECT_EQ(split_list("user:inference user:profile", ' '),
            (v{"user:inference", "user:profile"}));
  EXPECT_EQ(split_list(",switched,,node_down,", ','),
            (v{"switched", "node_down"}));
  EXPECT_TRUE(split_list("", ',').empty());
  EXPECT_TRUE(split_list("   ", ' ').empty());
}

TEST(text_list, join_is_the_inverse_of_split) {
  std::vector<std::string> xs{"a", "b", "c"};
  EXPECT_EQ(join_list(xs, ","), "a,b,c");
  EXPECT_EQ(split_list(join_list(xs, " "), ' '), xs);
  EXPECT_EQ(join_list({}, ","), "");
  EXPECT_EQ(join_list({"only"}, ", "), "only");
}
