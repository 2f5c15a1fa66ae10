// The POOL's selection index: order, exclusion, expiry, counts.

#include "actors/pool_index.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(pool_index, fewest_agents_then_name_and_never_the_current_one) {
  pool_index idx;
  idx.add(1, "sub-b");
  idx.add(2, "sub-a");
  idx.add(3, "sub-c");
  EXPECT_EQ(idx.best(0, 0), 2); // all empty: by name
  EXPECT_EQ(idx.best(2, 0), 1); // not the one the agent is on
  idx.change_count(2, 1);
  idx.change_count(1, 1);
  EXPECT_EQ(idx.best(0, 0), 3);
  idx.change_count(3, 2);
  EXPECT_EQ(idx.best(0, 0), 2); // sub-a and sub-b tie at 1: name
  idx.change_count(3, -5);      // never below zero
  EXPECT_EQ(idx.best(0, 0), 3);
}

TEST(pool_index, excluded_subscriptions_come_back_when_their_time_passed) {
  pool_index idx;
  idx.add(1, "sub-a");
  idx.add(2, "sub-b");
  idx.set_exclusion(1, 1000);
  idx.set_exclusion(2, 500);
  EXPECT_FALSE(idx.best(0, 100).has_value());
  EXPECT_EQ(idx.excluded(100), 2u);
  EXPECT_EQ(idx.earliest_return(0, 100), 500);
  EXPECT_EQ(idx.earliest_return(2, 100), 1000); // not counting the current
  EXPECT_EQ(idx.best(0, 500), 2);               // sub-b is back at 500
  EXPECT_EQ(idx.excluded(500), 1u);
  idx.change_count(1, 3); // counts change while excluded
  EXPECT_EQ(idx.best(2, 1000), 1);
  // A longer exclusion replaces a shorter one.
  idx.set_exclusion(2, 5000);
  EXPECT_EQ(idx.best(0, 2000), 1);
  idx.remove(1);
  EXPECT_FALSE(idx.best(0, 2000).has_value());
  EXPECT_EQ(idx.earliest_return(0, 2000), 5000);
}
