// What the POOL keeps of one subscription's limits: the merge rules and the
// exclusion they give, as plain calls (actors/evidence.hpp).

#include "actors/evidence.hpp"
#include "actors/pool_index.hpp"

#include <gtest/gtest.h>

using namespace sb;

namespace {

constexpr millis t0 = 1'800'000'000'000;
constexpr millis window = 2 * hour_ms;

provider_evidence seen(millis at) {
  provider_evidence e;
  e.at = at;
  return e;
}

provider_evidence utilization(millis at, double five_hour,
                              millis reset_5h = 0) {
  auto e = seen(at);
  e.status = provider_status::allowed;
  e.five_hour.utilization = five_hour;
  e.five_hour.reset_at = reset_5h;
  return e;
}

} // namespace

TEST(failure_reset, reads_every_kind_of_reset_and_takes_the_latest) {
  auto e = seen(t0);
  EXPECT_EQ(failure_reset(e), 0);
  e.retry_at = t0 + minute_ms;
  EXPECT_EQ(failure_reset(e), t0 + minute_ms);
  e.text_reset_at = t0 + hour_ms;
  EXPECT_EQ(failure_reset(e), t0 + hour_ms);
  // A throttle (status allowed): its unified reset says nothing.
  e.status = provider_status::allowed;
  e.reset_at = t0 + 4 * hour_ms;
  EXPECT_EQ(failure_reset(e), t0 + hour_ms);
  e.status = provider_status::rejected;
  EXPECT_EQ(failure_reset(e), t0 + 4 * hour_ms);
  // A full window: its reset.
  e.seven_day.utilization = 1.0;
  e.seven_day.reset_at = t0 + 3 * day_ms;
  EXPECT_EQ(failure_reset(e), t0 + 3 * day_ms);
}

TEST(subscription_evidence, a_failure_without_reset_excludes_for_the_window) {
  subscription_evidence ev;
  EXPECT_TRUE(ev.failed(t0, 0, seen(t0)));
  EXPECT_EQ(ev.excluded_until(t0, window), t0 + window);
  // With a shorter window (a settings change) it is shorter.
  EXPECT_EQ(ev.excluded_until(t0, hour_ms), t0 + hour_ms);
}

TEST(subscription_evidence, a_known_reset_replaces_the_window) {
  subscription_evidence ev;
  ev.failed(t0, t0 + 10 * minute_ms, seen(t0));
  EXPECT_EQ(ev.excluded_until(t0, window), t0 + 10 * minute_ms);
}

TEST(subscription_evidence, a_later_shorter_retry_after_never_shortens_it) {
  subscription_evidence ev;
  ev.failed(t0, t0 + 4 * hour_ms, seen(t0));
  // A slower in-flight 429 with a 5-minute retry-after (LiteLLM #40130).
  ev.failed(t0 + minute_ms, t0 + 6 * minute_ms, seen(t0 + minute_ms));
  EXPECT_EQ(ev.excluded_until(t0 + minute_ms, window), t0 + 4 * hour_ms);
  EXPECT_EQ(ev.failure_reset(), t0 + 4 * hour_ms);
  // A success in between does not shorten a provider reset either.
  ev.observed(utilization(t0 + hour_ms, 0.1));
  EXPECT_EQ(ev.excluded_until(t0 + hour_ms, window), t0 + 4 * hour_ms);
}

TEST(subscription_evidence,
     a_late_success_older_than_the_failure_does_not_readmit) {
  subscription_evidence ev;
  ev.failed(t0, 0, seen(t0));
  // Its response was produced before the failure (its Date header).
  EXPECT_TRUE(ev.observed(utilization(t0 - 5000, 0.3)));
  EXPECT_EQ(ev.excluded_until(t0 + 1000, window), t0 + window);
  // A success seen after the failure readmits it.
  EXPECT_TRUE(ev.observed(utilization(t0 + 1000, 0.3)));
  EXPECT_LE(ev.excluded_until(t0 + 1000, window), t0 + 1000);
  EXPECT_EQ(ev.stored("s").readmitted_at, t0 + 1000);
}

TEST(subscription_evidence, a_success_showing_exhaustion_does_not_readmit) {
  subscription_evidence ev;
  ev.failed(t0, 0, seen(t0));
  auto full = utilization(t0 + 1000, 1.0, t0 + 3 * hour_ms);
  ev.observed(full);
  EXPECT_EQ(ev.excluded_until(t0 + 1000, window), t0 + 3 * hour_ms);
}

TEST(subscription_evidence, readmission_survives_a_restart) {
  subscription_evidence ev;
  ev.failed(t0, 0, seen(t0));
  ev.observed(utilization(t0 + 1000, 0.3));
  // At boot the failure is read back from the events.
  subscription_evidence again{ev.stored("s")};
  again.seed(exclusion_seed{"s", t0, t0, 0});
  EXPECT_LE(again.excluded_until(t0 + 2000, window), t0 + 2000);
  // A failure after the readmission counts.
  subscription_evidence later{ev.stored("s")};
  later.seed(exclusion_seed{"s", t0 + 5000, t0 + 5000, 0});
  EXPECT_EQ(later.excluded_until(t0 + 6000, window), t0 + 5000 + window);
}

TEST(subscription_evidence, newer_evidence_replaces_older_never_the_reverse) {
  subscription_evidence ev;
  EXPECT_TRUE(ev.observed(utilization(t0, 0.5)));
  EXPECT_FALSE(ev.observed(utilization(t0 - 1000, 0.9))); // older
  EXPECT_DOUBLE_EQ(*ev.utilization(t0), 0.5);
  EXPECT_TRUE(ev.observed(utilization(t0 + 1000, 0.7)));
  EXPECT_DOUBLE_EQ(*ev.utilization(t0 + 1000), 0.7);
  auto both = utilization(t0 + 2000, 0.2);
  both.seven_day.utilization = 0.8;
  ev.observed(both);
  EXPECT_DOUBLE_EQ(*ev.utilization(t0 + 2000), 0.8); // the higher window
  EXPECT_EQ(ev.stored("s").evidence_at, t0 + 2000);
}

TEST(subscription_evidence, a_passing_reset_clears_its_window_and_readmits) {
  subscription_evidence ev;
  auto e = utilization(t0, 1.0, t0 + hour_ms);
  e.seven_day.utilization = 0.4;
  e.seven_day.reset_at = t0 + 3 * day_ms;
  ev.observed(e);
  EXPECT_EQ(ev.excluded_until(t0, window), t0 + hour_ms);
  EXPECT_DOUBLE_EQ(*ev.utilization(t0), 1.0);
  EXPECT_EQ(ev.next_change(t0), t0 + hour_ms);
  // The 5-hour window reset: its utilization is gone, the 7-day one stays.
  EXPECT_LE(ev.excluded_until(t0 + hour_ms, window), t0 + hour_ms);
  EXPECT_DOUBLE_EQ(*ev.utilization(t0 + hour_ms), 0.4);
  subscription_info info;
  ev.describe(info, t0 + hour_ms);
  EXPECT_FALSE(info.utilization_5h);
  EXPECT_EQ(info.utilization_7d, caf::optional<double>{0.4});
  EXPECT_EQ(info.reset_7d_at, t0 + 3 * day_ms);
}

TEST(subscription_evidence, a_utilization_without_reset_counts_for_its_window) {
  subscription_evidence ev;
  ev.observed(utilization(t0, 0.6));
  EXPECT_TRUE(ev.utilization(t0 + 5 * hour_ms - 1));
  EXPECT_FALSE(ev.utilization(t0 + 5 * hour_ms));
}

TEST(subscription_evidence, rejected_means_full_until_the_unified_reset) {
  subscription_evidence ev;
  auto e = seen(t0);
  e.status = provider_status::rejected;
  e.reset_at = t0 + 2 * hour_ms;
  ev.observed(e);
  EXPECT_DOUBLE_EQ(*ev.utilization(t0), 1.0);
  EXPECT_EQ(ev.status(t0), provider_status::rejected);
  EXPECT_EQ(ev.excluded_until(t0, window), t0 + 2 * hour_ms);
  EXPECT_EQ(ev.status(t0 + 2 * hour_ms), provider_status::unknown);
  // Newer evidence saying "allowed" ends it at once.
  auto ok = utilization(t0 + minute_ms, 0.3);
  ev.observed(ok);
  EXPECT_LE(ev.excluded_until(t0 + minute_ms, window), t0 + minute_ms);
}

TEST(pool_index, headroom_first_unknown_between_the_halves_then_count) {
  pool_index idx;
  idx.add(1, "a-high");
  idx.add(2, "b-unknown");
  idx.add(3, "c-low");
  idx.add(4, "d-low");
  idx.set_utilization(1, 0.8);
  idx.set_utilization(3, 0.31);
  idx.set_utilization(4, 0.38); // same step as c-low
  EXPECT_EQ(idx.best(0, 0), 3);
  idx.change_count(3, 1);
  EXPECT_EQ(idx.best(0, 0), 4); // equal headroom: fewer agents
  idx.change_count(4, 1);
  EXPECT_EQ(idx.best(0, 0), 3); // tie again: name
  idx.set_utilization(3, 0.55);
  idx.set_utilization(4, 0.55);
  EXPECT_EQ(idx.best(0, 0), 2); // unknown ranks before 0.5 and up
  idx.set_utilization(2, 0.45);
  EXPECT_EQ(idx.best(0, 0), 2); // known-low ranks before unknown
  EXPECT_LT(pool_index::rank(0.49), pool_index::rank(std::nullopt));
  EXPECT_LT(pool_index::rank(std::nullopt), pool_index::rank(0.5));
}

TEST(pool_index, a_ceiling_keeps_only_clearly_better_candidates) {
  pool_index idx;
  idx.add(1, "sub-a");
  idx.add(2, "sub-b");
  idx.add(3, "sub-c");
  idx.set_utilization(1, 0.97); // the agent's own
  idx.set_utilization(2, 0.9);
  idx.set_utilization(3, 0.92);
  EXPECT_FALSE(idx.best(1, 0, 0.87).has_value());
  idx.set_utilization(3, 0.6);
  EXPECT_EQ(idx.best(1, 0, 0.87), 3);
  // Unknown counts as 0.5.
  idx.add(4, "sub-d");
  EXPECT_EQ(idx.best(1, 0, 0.87), 4);
  EXPECT_FALSE(idx.best(1, 0, 0.45).has_value());
}

TEST(subscription_evidence, newer_evidence_of_another_node_is_taken) {
  subscription_evidence here;
  here.observed(utilization(t0, 0.2));
  here.failed(t0 + minute_ms, 0, seen(t0 + minute_ms));
  // Another node saw 0.95 later: its view wins, this node's failure stays.
  subscription_evidence there;
  there.observed(utilization(t0 + 2 * minute_ms, 0.95));
  auto stored = there.stored("sub-a");
  EXPECT_TRUE(here.take_newer(stored));
  EXPECT_DOUBLE_EQ(here.utilization(t0 + 3 * minute_ms).value_or(0), 0.95);
  EXPECT_EQ(here.excluded_until(t0 + 3 * minute_ms, window),
            t0 + minute_ms + window);
  // The same or older evidence changes nothing.
  EXPECT_FALSE(here.take_newer(stored));
  subscription_evidence old;
  old.observed(utilization(t0, 0.1));
  EXPECT_FALSE(here.take_newer(old.stored("sub-a")));
  EXPECT_DOUBLE_EQ(here.utilization(t0 + 3 * minute_ms).value_or(0), 0.95);
}
