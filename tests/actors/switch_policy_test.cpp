// The switch policy without actors: attribution (explicit identity, epochs
// that start when their token was applied, the settle window), gates,
// coalescing, stale, thresholds and the switch budget, driven by plain calls
// and a time the test chooses.

#include "actors/switch_policy.hpp"

#include <gtest/gtest.h>

using namespace sb;

namespace {

constexpr millis t0 = 1'800'000'000'000;
constexpr millis settle = 2000;

report_identity unnamed() {
  return {};
}

report_identity named(std::string sub) {
  return report_identity{std::move(sub), {}, std::nullopt};
}

report_identity token(std::string sha) {
  // The FRONT DOOR resolves a fingerprint to its subscription first.
  std::string sub = sha.rfind("sha-a", 0) == 0   ? "sub-a"
                    : sha.rfind("sha-b", 0) == 0 ? "sub-b"
                                                 : "sub-c";
  return report_identity{sub, std::move(sha), std::nullopt};
}

report_identity generation(uint64_t g) {
  return report_identity{{}, {}, g};
}

class switch_policy_test : public ::testing::Test {
protected:
  switch_policy_test()
      : policy(epoch{0, 1, "sub-a", "sha-a1", t0 - hour_ms, t0 - hour_ms}) {
    settings.settle_window = settle;
  }

  /// Attributes a report arriving at `at` and decides on it.
  decision report(const report_identity& id, millis at,
                  std::optional<inflight_facts> inflight = std::nullopt,
                  failure_kind kind = failure_kind::rate_limit) {
    auto about = policy.attribute(id, at, settings.settle_window);
    EXPECT_TRUE(about);
    return policy.decide(report_facts{kind, {}, *about, at}, settings,
                         auto_switch_mode::on, inflight, at);
  }

  /// sub-a -> sub-b committed at t0 (generation 1), applied at `applied`.
  void switch_to_b(millis applied) {
    policy.committed(epoch{1, 2, "sub-b", "sha-b1", t0, 0}, trigger::automatic);
    if (applied != 0)
      policy.applied(1, applied);
  }

  switch_policy policy;
  engine_settings settings;
};

} // namespace

TEST_F(switch_policy_test, unnamed_reports_belong_to_the_epoch_in_force) {
  switch_to_b(t0 + 1000); // applied one second after the commit
  auto at = [&](millis t) {
    return policy.attribute(unnamed(), t, settle)->subscription;
  };
  EXPECT_EQ(at(t0 - 1), "sub-a");
  EXPECT_EQ(at(t0 + 500), "sub-a");           // committed, not applied
  EXPECT_EQ(at(t0 + 1000 + settle), "sub-a"); // inside the settle window
  EXPECT_EQ(at(t0 + 1000 + settle + 1), "sub-b");
  EXPECT_FALSE(policy.attribute(unnamed(), t0, settle)->named);
}

TEST_F(switch_policy_test, two_close_switches_charge_the_one_left_last) {
  // sub-a -> sub-b applied at t0 + 1000; sub-b -> sub-c (a named report of
  // sub-b) applied at t0 + 1500, inside sub-b's settle window.
  switch_to_b(t0 + 1000);
  policy.committed(epoch{2, 3, "sub-c", "sha-c1", t0 + 1200, 0},
                   trigger::automatic);
  policy.applied(2, t0 + 1500);
  auto at = [&](millis t) {
    return policy.attribute(unnamed(), t, settle)->subscription;
  };
  EXPECT_EQ(at(t0 + 1200), "sub-a");          // sub-b not settled yet
  EXPECT_EQ(at(t0 + 1600), "sub-b");          // within sub-c's window
  EXPECT_EQ(at(t0 + 1500 + settle), "sub-b"); // its last millisecond
  EXPECT_EQ(at(t0 + 1500 + settle + 1), "sub-c");
}

TEST_F(switch_policy_test, a_late_report_of_the_old_token_coalesces) {
  switch_to_b(t0 + 1000);
  auto d = report(unnamed(), t0 + 1500);
  EXPECT_EQ(d.verdict, decision::answer);
  EXPECT_EQ(d.result, outcome::coalesced);
  EXPECT_EQ(d.switch_from, "sub-a");
  EXPECT_EQ(d.switch_to, "sub-b");
  EXPECT_EQ(d.switch_generation, 1u);
  // While the new token is not applied at all, the same.
  policy.committed(epoch{2, 3, "sub-c", "sha-c1", t0 + 5000, 0},
                   trigger::manual);
  d = report(unnamed(), t0 + 9000);
  EXPECT_EQ(d.result, outcome::coalesced);
  EXPECT_EQ(d.switch_to, "sub-c");
}

TEST_F(switch_policy_test, after_the_settle_window_the_new_epoch_counts) {
  switch_to_b(t0 + 1000);
  auto d = report(unnamed(), t0 + 1000 + settle + 1);
  EXPECT_EQ(d.verdict, decision::switch_now);
}

TEST_F(switch_policy_test, explicit_identity_of_the_current_credential_wins) {
  switch_to_b(t0 + 1000);
  // Inside the settle window: B's token, B's name or the current generation
  // switch at once; A's token coalesces.
  for (auto id : {token("sha-b1"), named("sub-b"), generation(1)}) {
    SCOPED_TRACE(id.subscription + id.token_sha256);
    EXPECT_EQ(report(id, t0 + 1500).verdict, decision::switch_now);
  }
  for (auto id : {token("sha-a1"), named("sub-a"), generation(0)}) {
    SCOPED_TRACE(id.subscription + id.token_sha256);
    auto d = report(id, t0 + 1500);
    EXPECT_EQ(d.result, outcome::coalesced);
    EXPECT_EQ(d.switch_to, "sub-b");
  }
  // After the window, a report of the old credential is stale.
  auto d = report(token("sha-a1"), t0 + 1000 + settle + 1);
  EXPECT_EQ(d.result, outcome::stale);
}

TEST_F(switch_policy_test, a_rotation_starts_an_epoch_of_its_own) {
  policy.committed(epoch{1, 1, "sub-a", "sha-a2", t0, 0}, trigger::rotation);
  policy.applied(1, t0 + 100);
  // The rotated-away token names the same subscription, but its epoch.
  auto about = policy.attribute(token("sha-a1"), t0 + 200, settle);
  ASSERT_TRUE(about);
  EXPECT_EQ(about->generation, 0u);
  EXPECT_EQ(report(token("sha-a1"), t0 + 200).result, outcome::coalesced);
  EXPECT_EQ(report(token("sha-a2"), t0 + 200).verdict, decision::switch_now);
}

TEST_F(switch_policy_test, identities_that_do_not_add_up_are_errors) {
  switch_to_b(t0 + 1000);
  EXPECT_FALSE(policy.attribute(generation(2), t0 + 2000, settle));
  auto mixed = generation(0);
  mixed.subscription = "sub-b";
  EXPECT_FALSE(policy.attribute(mixed, t0 + 2000, settle));
  mixed = generation(1);
  mixed.subscription = "sub-b";
  mixed.token_sha256 = "sha-b9";
  EXPECT_FALSE(policy.attribute(mixed, t0 + 2000, settle));
  // A credential the agent never ran: stale, charged to what it names.
  auto about = policy.attribute(named("sub-z"), t0 + 2000, settle);
  ASSERT_TRUE(about);
  EXPECT_EQ(about->subscription, "sub-z");
  EXPECT_FALSE(about->generation);
  EXPECT_EQ(report(named("sub-z"), t0 + 2000).result, outcome::stale);
}

TEST_F(switch_policy_test, gates_come_in_order) {
  auto d = report(named("sub-a"), t0, std::nullopt, failure_kind::ignored);
  EXPECT_EQ(d.result, outcome::ignored);
  settings.auto_switch = false;
  EXPECT_EQ(report(named("sub-a"), t0).result, outcome::disabled);
  settings.auto_switch = true;
  auto about = *policy.attribute(named("sub-a"), t0, settle);
  d = policy.decide(report_facts{failure_kind::rate_limit, {}, about, t0},
                    settings, auto_switch_mode::off, std::nullopt, t0);
  EXPECT_EQ(d.result, outcome::disabled);
  EXPECT_EQ(report(named("sub-a"), t0).verdict, decision::switch_now);
}

TEST_F(switch_policy_test, reports_join_the_switch_in_flight) {
  // Selecting: the current epoch is still sub-a's.
  EXPECT_EQ(report(unnamed(), t0, inflight_facts{false}).verdict,
            decision::join);
  EXPECT_EQ(report(named("sub-a"), t0, inflight_facts{false}).verdict,
            decision::join);
  // Committed and applying: the old token's reports and the new
  // subscription's both join it.
  switch_to_b(0);
  EXPECT_EQ(report(unnamed(), t0 + 10, inflight_facts{true}).verdict,
            decision::join);
  EXPECT_EQ(report(named("sub-b"), t0 + 10, inflight_facts{true}).verdict,
            decision::join);
  // Named, about a third subscription: not about this switch.
  EXPECT_EQ(report(named("sub-c"), t0 + 10, inflight_facts{true}).result,
            outcome::stale);
}

TEST_F(switch_policy_test, thresholds_count_per_kind_within_the_window) {
  settings.rate_limit_threshold = 3;
  settings.threshold_window = 10 * minute_ms;
  auto d = report(named("sub-a"), t0);
  EXPECT_EQ(d.result, outcome::below_threshold);
  EXPECT_EQ(d.event_count, 1u);
  // An auth failure counts separately.
  settings.auth_threshold = 2;
  d = report(named("sub-a"), t0 + 1, std::nullopt, failure_kind::auth);
  EXPECT_EQ(d.result, outcome::below_threshold);
  EXPECT_EQ(d.event_count, 1u);
  // The first rate-limit failure left the window.
  d = report(named("sub-a"), t0 + 10 * minute_ms + 1);
  EXPECT_EQ(d.event_count, 1u);
  report(named("sub-a"), t0 + 10 * minute_ms + 2);
  d = report(named("sub-a"), t0 + 10 * minute_ms + 3);
  EXPECT_EQ(d.verdict, decision::switch_now);
  EXPECT_EQ(d.event_count, 3u);
  // A switch to another subscription starts the counts afresh.
  policy.committed(epoch{1, 2, "sub-b", "sha-b1", t0 + 11 * minute_ms, 0},
                   trigger::automatic);
  d = report(named("sub-b"), t0 + 11 * minute_ms + 1);
  EXPECT_EQ(d.result, outcome::below_threshold);
  EXPECT_EQ(d.event_count, 1u);
}

TEST_F(switch_policy_test, the_budget_holds_with_one_alert_per_window) {
  settings.switch_budget = 2;
  settings.budget_window = hour_ms;
  policy.committed(epoch{1, 2, "sub-b", "sha-b1", t0, t0}, trigger::automatic);
  policy.committed(epoch{2, 1, "sub-a", "sha-a1", t0 + 1000, t0 + 1000},
                   trigger::automatic);
  // Manual moves and rotations do not count against the budget.
  policy.committed(epoch{3, 1, "sub-a", "sha-a2", t0 + 2000, t0 + 2000},
                   trigger::rotation);
  EXPECT_EQ(policy.recent_switches(t0 + 3000, hour_ms), 2u);
  auto d = report(named("sub-a"), t0 + 3000);
  EXPECT_EQ(d.result, outcome::held);
  EXPECT_TRUE(d.alert);
  EXPECT_EQ(d.held_until, t0 + hour_ms);
  EXPECT_EQ(d.retry_after_ms, hour_ms - 3000);
  d = report(named("sub-a"), t0 + 4000);
  EXPECT_EQ(d.result, outcome::held);
  EXPECT_FALSE(d.alert); // one alert, not one per report
  d = report(named("sub-a"), t0 + hour_ms + 1);
  EXPECT_EQ(d.verdict, decision::switch_now);
}

TEST_F(switch_policy_test, unassigned_agents_report_nothing_to_attribute) {
  policy.unassigned(t0);
  EXPECT_EQ(policy.current().sub_id, 0);
  EXPECT_EQ(policy.attribute(unnamed(), t0 + 1, 0)->subscription, "");
}

// -- observations (switching before the wall) --------------------------------

namespace {

class headroom_policy_test : public switch_policy_test {
protected:
  decision observe(const report_identity& id, millis at,
                   std::optional<double> utilization, bool rejected = false,
                   std::optional<inflight_facts> inflight = std::nullopt) {
    auto about = policy.attribute(id, at, settings.settle_window);
    EXPECT_TRUE(about);
    return policy.decide_headroom(
      report_facts{failure_kind::none, {}, *about, at},
      headroom_facts{utilization, rejected}, settings, auto_switch_mode::on,
      inflight, at);
  }
};

} // namespace

TEST_F(headroom_policy_test, pressure_on_the_current_subscription_switches) {
  auto d = observe(unnamed(), t0, 0.95);
  EXPECT_EQ(d.verdict, decision::switch_now);
  d = observe(unnamed(), t0, 0.2, true); // rejected is the wall
  EXPECT_EQ(d.verdict, decision::switch_now);
  // A switch in flight answers it.
  d = observe(unnamed(), t0, 0.97, false, inflight_facts{false});
  EXPECT_EQ(d.verdict, decision::join);
}

TEST_F(headroom_policy_test, below_the_threshold_unknown_or_off_it_stays) {
  auto d = observe(unnamed(), t0, 0.94);
  EXPECT_EQ(d.verdict, decision::answer);
  EXPECT_EQ(d.result, outcome::observed);
  EXPECT_NE(d.reason.find("0.94 is below switch-at-utilization 0.95"),
            std::string::npos)
    << d.reason;
  EXPECT_EQ(observe(unnamed(), t0, std::nullopt).result, outcome::observed);
  settings.switch_at_utilization.reset();
  EXPECT_EQ(observe(unnamed(), t0, 1.0).result, outcome::observed);
  EXPECT_EQ(observe(unnamed(), t0, 1.0, true).verdict, decision::switch_now);
  settings.auto_switch = false;
  EXPECT_EQ(observe(unnamed(), t0, 1.0, true).result, outcome::disabled);
}

TEST_F(headroom_policy_test, evidence_about_another_subscription_only_informs) {
  auto d = observe(named("sub-c"), t0, 0.99);
  EXPECT_EQ(d.verdict, decision::answer);
  EXPECT_EQ(d.result, outcome::observed);
  EXPECT_NE(d.reason.find("the agent is on 'sub-a'"), std::string::npos);
}

TEST_F(headroom_policy_test, late_evidence_of_the_old_token_joins_its_switch) {
  switch_to_b(t0 + 1000);
  // Unnamed, inside the settle window: it was sub-a's; coalesced.
  auto d = observe(unnamed(), t0 + 2000, 0.99);
  EXPECT_EQ(d.result, outcome::coalesced);
  EXPECT_EQ(d.switch_to, "sub-b");
  // After it: about sub-b, the current one.
  EXPECT_EQ(observe(unnamed(), t0 + 4000, 0.99).verdict, decision::switch_now);
}

TEST_F(headroom_policy_test, headroom_switches_count_against_the_budget) {
  settings.switch_budget = 2;
  policy.committed(epoch{1, 2, "sub-b", "sha-b1", t0, t0}, trigger::headroom);
  policy.committed(epoch{2, 3, "sub-c", "sha-c1", t0 + 1, t0 + 1},
                   trigger::headroom);
  auto d = observe(unnamed(), t0 + settle + 10, 0.99);
  EXPECT_EQ(d.result, outcome::held);
}
