// The switch policy without actors: attribution, gates, coalescing, stale,
// thresholds and the switch budget, driven by plain calls and a time the
// test chooses.

#include "actors/switch_policy.hpp"

#include <gtest/gtest.h>

using namespace sb;

namespace {

constexpr millis t0 = 1'800'000'000'000;

report_facts failure(const std::string& sub, millis at, bool named = true,
                     failure_kind kind = failure_kind::rate_limit) {
  return report_facts{kind, {}, attribution{sub, named}, at};
}

class switch_policy_test : public ::testing::Test {
protected:
  switch_policy_test() : policy(epoch{0, 1, "sub-a", t0 - hour_ms}) {
    // nop
  }

  decision decide(const report_facts& r,
                  std::optional<inflight_facts> inflight = std::nullopt) {
    return policy.decide(r, settings, auto_switch_mode::on, inflight,
                         r.arrived_at);
  }

  switch_policy policy;
  engine_settings settings;
};

} // namespace

TEST_F(switch_policy_test, unnamed_reports_are_charged_by_arrival_time) {
  policy.committed(epoch{1, 2, "sub-b", t0}, trigger::automatic);
  EXPECT_EQ(policy.attribute("", t0 - 1).subscription, "sub-a");
  // The same millisecond as the commit counts as before it.
  EXPECT_EQ(policy.attribute("", t0).subscription, "sub-a");
  EXPECT_EQ(policy.attribute("", t0 + 1).subscription, "sub-b");
  EXPECT_FALSE(policy.attribute("", t0 + 1).named);
  // A named report is about what it names.
  auto named = policy.attribute("sub-a", t0 + 1);
  EXPECT_EQ(named.subscription, "sub-a");
  EXPECT_TRUE(named.named);
}

TEST_F(switch_policy_test, gates_come_in_order) {
  auto r = failure("sub-a", t0, true, failure_kind::ignored);
  r.ignore_reason = "killed";
  auto d = decide(r);
  EXPECT_EQ(d.verdict, decision::answer);
  EXPECT_EQ(d.result, outcome::ignored);
  EXPECT_EQ(d.reason, "killed");
  settings.auto_switch = false;
  EXPECT_EQ(decide(failure("sub-a", t0)).result, outcome::disabled);
  settings.auto_switch = true;
  d = policy.decide(failure("sub-a", t0), settings, auto_switch_mode::off,
                    std::nullopt, t0);
  EXPECT_EQ(d.result, outcome::disabled);
  EXPECT_EQ(decide(failure("sub-a", t0)).verdict, decision::switch_now);
}

TEST_F(switch_policy_test, reports_join_the_switch_in_flight) {
  inflight_facts inflight{"sub-a", "sub-b"};
  EXPECT_EQ(decide(failure("sub-a", t0, false), inflight).verdict,
            decision::join);
  EXPECT_EQ(decide(failure("sub-a", t0, true), inflight).verdict,
            decision::join);
  EXPECT_EQ(decide(failure("sub-b", t0, true), inflight).verdict,
            decision::join);
  // Named, about a third subscription: not about this switch.
  auto d = decide(failure("sub-c", t0, true), inflight);
  EXPECT_EQ(d.verdict, decision::answer);
  EXPECT_EQ(d.result, outcome::stale);
}

TEST_F(switch_policy_test, a_report_about_a_former_subscription_is_stale) {
  policy.committed(epoch{1, 2, "sub-b", t0}, trigger::automatic);
  auto d = decide(failure("sub-a", t0 + 10));
  EXPECT_EQ(d.result, outcome::stale);
  EXPECT_NE(d.reason.find("sub-b"), std::string::npos) << d.reason;
}

TEST_F(switch_policy_test, thresholds_count_per_kind_within_the_window) {
  settings.rate_limit_threshold = 3;
  settings.threshold_window = 10 * minute_ms;
  auto d = decide(failure("sub-a", t0));
  EXPECT_EQ(d.result, outcome::below_threshold);
  EXPECT_EQ(d.event_count, 1u);
  // An auth failure counts separately.
  settings.auth_threshold = 2;
  d = decide(failure("sub-a", t0 + 1, true, failure_kind::auth));
  EXPECT_EQ(d.result, outcome::below_threshold);
  EXPECT_EQ(d.event_count, 1u);
  // The first rate-limit failure left the window: still two, not three.
  d = decide(failure("sub-a", t0 + 10 * minute_ms + 1));
  EXPECT_EQ(d.event_count, 1u);
  d = decide(failure("sub-a", t0 + 10 * minute_ms + 2));
  d = decide(failure("sub-a", t0 + 10 * minute_ms + 3));
  EXPECT_EQ(d.verdict, decision::switch_now);
  EXPECT_EQ(d.event_count, 3u);
  // A switch to another subscription starts the counts afresh.
  policy.committed(epoch{1, 2, "sub-b", t0 + 11 * minute_ms},
                   trigger::automatic);
  d = decide(failure("sub-b", t0 + 11 * minute_ms + 1));
  EXPECT_EQ(d.result, outcome::below_threshold);
  EXPECT_EQ(d.event_count, 1u);
}

TEST_F(switch_policy_test, the_budget_holds_with_one_alert_per_window) {
  settings.switch_budget = 2;
  settings.budget_window = hour_ms;
  policy.committed(epoch{1, 2, "sub-b", t0}, trigger::automatic);
  policy.committed(epoch{2, 1, "sub-a", t0 + 1000}, trigger::automatic);
  // Manual moves and rotations do not count against the budget.
  policy.committed(epoch{3, 1, "sub-a", t0 + 2000}, trigger::rotation);
  EXPECT_EQ(policy.recent_switches(t0 + 3000, hour_ms), 2u);
  auto d = decide(failure("sub-a", t0 + 3000));
  EXPECT_EQ(d.result, outcome::held);
  EXPECT_TRUE(d.alert);
  EXPECT_EQ(d.held_until, t0 + hour_ms);
  EXPECT_EQ(d.retry_after_ms, hour_ms - 3000);
  d = decide(failure("sub-a", t0 + 4000));
  EXPECT_EQ(d.result, outcome::held);
  EXPECT_FALSE(d.alert); // one alert, not one per report
  // The first switch leaves the window: one more is allowed.
  d = decide(failure("sub-a", t0 + hour_ms + 1));
  EXPECT_EQ(d.verdict, decision::switch_now);
}

TEST_F(switch_policy_test, unassigned_agents_report_nothing_to_attribute) {
  policy.unassigned(t0);
  EXPECT_EQ(policy.current().sub_id, 0);
  EXPECT_EQ(policy.attribute("", t0 + 1).subscription, "");
  EXPECT_EQ(policy.attribute("", t0 - 1).subscription, "sub-a");
}
