// The DELIVERER's rules without a clock: which sink takes which event, and
// how an answer becomes the delivery's next state.

#include "actors/deliverer.hpp"

#include <gtest/gtest.h>

using namespace sb;
using notify::delivery_verdict;
using notify::severity;

TEST(deliverer_rules, a_sink_takes_its_events_from_its_lowest_severity) {
  sink_info all;
  all.min_severity = "info";
  notify::event e;
  e.type = "switched";
  e.level = severity::info;
  EXPECT_TRUE(takes(all, e));
  sink_info picky;
  picky.events = {"pool_exhausted", "credential_retired"};
  picky.min_severity = "warning";
  EXPECT_FALSE(takes(picky, e));
  e.type = "pool_exhausted";
  EXPECT_FALSE(takes(picky, e)); // info < warning
  e.level = severity::critical;
  EXPECT_TRUE(takes(picky, e));
  // A test event reaches every sink.
  e.type = "test";
  e.level = severity::info;
  EXPECT_TRUE(takes(picky, e));
}

TEST(deliverer_rules, answers_become_delivered_pending_or_failed) {
  using k = delivery_verdict::kind;
  auto rec = next_record(1, 7, 1, {k::delivered, 0}, 200, "", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::delivered);
  EXPECT_EQ(rec.attempts, 1u);
  rec = next_record(1, 7, 1, {k::retry, 0}, 503, "HTTP 503", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::pending);
  EXPECT_EQ(rec.next_at, 2000);
  EXPECT_EQ(rec.last_status, 503);
  rec = next_record(1, 7, 3, {k::retry, 60'000}, 429, "", 1000, 10, 0.5);
  EXPECT_EQ(rec.next_at, 61'000); // Retry-After wins
  rec = next_record(1, 7, 10, {k::retry, 0}, 503, "", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::failed);
  rec = next_record(1, 7, 1, {k::final, 0}, 404, "HTTP 404", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::failed);
}
