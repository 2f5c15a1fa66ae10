// The fingerprint index: prefixes, ambiguity, rotated-away versions, removal.

#include "actors/token_index.hpp"
#include "messages/error.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(token_index, resolves_full_fingerprints_and_unique_prefixes) {
  token_index idx;
  idx.add("sub-a", "aaaa11112222333344445555");
  idx.add("sub-a", "aaaa11112222999900001111"); // rotation: now current
  idx.add("sub-b", "bbbb00000000000000000000");
  auto m = idx.resolve("bbbb00000000");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->subscription, "sub-b");
  EXPECT_EQ(m->sha256, "bbbb00000000000000000000");
  EXPECT_TRUE(m->current);
  // The rotated-away token still names its subscription, as not current.
  m = idx.resolve("aaaa111122223333");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->subscription, "sub-a");
  EXPECT_FALSE(m->current);
  EXPECT_EQ(idx.current("sub-a"), "aaaa11112222999900001111");
  // A prefix both versions share is ambiguous; an unknown one is unknown.
  auto amb = idx.resolve("aaaa11112222");
  ASSERT_FALSE(amb);
  EXPECT_NE(render(amb.error()).find("several"), std::string::npos);
  EXPECT_FALSE(idx.resolve("cccc00000000"));
  // Removal forgets every version.
  idx.remove("sub-a");
  EXPECT_FALSE(idx.resolve("aaaa111122223333"));
  EXPECT_EQ(idx.current("sub-a"), "");
  EXPECT_TRUE(idx.resolve("bbbb00000000"));
}
