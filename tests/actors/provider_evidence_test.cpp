// Provider evidence end to end inside one process: the real actors over a
// real SQLite file, requests over a real CAF connection, a manual clock.
// Headers in reports and observations, exclusion until the provider's reset,
// selection by headroom, switching before the wall, one alert per reset.

#include "fixtures/daemon_fixture.hpp"

#include <algorithm>
#include <map>

using namespace sb;
using namespace sb::test;

namespace {

/// Epoch seconds of an instant, as the unified reset headers carry them.
std::string epoch(millis t) {
  return std::to_string(t / 1000);
}

std::vector<http_header> at_utilization(const std::string& five_hour) {
  return {{"anthropic-ratelimit-unified-status", "allowed"},
          {"anthropic-ratelimit-unified-5h-utilization", five_hour}};
}

class provider_evidence_test : public daemon_fixture {
protected:
  /// Makes the pool know `sub` at `utilization` (an observation of agent
  /// `via` naming it).
  void know(const std::string& sub, const std::string& utilization,
            const std::string& via = "probe") {
    auto r = send_observation(observe(via, at_utilization(utilization), sub));
    ASSERT_EQ(r.result, outcome::observed) << r.reason;
  }

  subscription_info sub(const std::string& name) {
    for (auto& s : subscriptions())
      if (s.name == name)
        return s;
    ADD_FAILURE() << "no subscription " << name;
    return {};
  }

  void SetUp() override {
    for (auto s : {"sub-a", "sub-b", "sub-c", "sub-d"})
      add_subscription(s);
    add_agent("probe"); // no subscription: it only carries evidence
  }
};

} // namespace

TEST_F(provider_evidence_test,
       twenty_observations_at_0_97_give_one_headroom_switch) {
  add_agent("a1", "sub-a");
  know("sub-b", "0.6");
  know("sub-c", "0.3");
  know("sub-d", "0.72");
  std::vector<observation> burst(20, observe("a1", at_utilization("0.97")));
  auto rs = observe_concurrently(burst);
  EXPECT_EQ(count(rs, outcome::switched), 1u);
  EXPECT_EQ(count(rs, outcome::coalesced), 19u);
  for (auto& r : rs) {
    EXPECT_EQ(r.from, caf::optional<std::string>{"sub-a"});
    EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"}); // most headroom
  }
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-c"});
  auto h = history("a1");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].by, trigger::headroom);
  EXPECT_EQ(h[0].kind, failure_kind::none);
  auto notes = notifications("a1");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].message.find("utilization 0.97"), std::string::npos)
    << notes[0].message;
  EXPECT_NE(notes[0].message.find("utilization 0.30"), std::string::npos)
    << notes[0].message;
  // A proactive switch records no failure event: sub-a is not excluded.
  EXPECT_TRUE(events("a1").empty());
  EXPECT_EQ(sub("sub-a").excluded_until, 0);
  EXPECT_EQ(sub("sub-a").utilization_5h, caf::optional<double>{0.97});
}

TEST_F(provider_evidence_test, no_switch_without_clearly_more_headroom) {
  add_agent("a1", "sub-a");
  know("sub-b", "0.9");
  know("sub-c", "0.95");
  know("sub-d", "0.91");
  auto r = send_observation(observe("a1", at_utilization("0.97")));
  EXPECT_EQ(r.result, outcome::observed);
  EXPECT_NE(r.reason.find("stays on 'sub-a'"), std::string::npos) << r.reason;
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(agent("a1").generation, 0u);
  EXPECT_TRUE(history("a1").empty());
  EXPECT_TRUE(notifications("a1").empty());
  EXPECT_TRUE(events("a1").empty());
  // 0.10 lower is enough.
  know("sub-d", "0.87");
  r = send_observation(observe("a1", at_utilization("0.97")));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-d"});
}

TEST_F(provider_evidence_test, below_the_threshold_or_off_nothing_moves) {
  add_agent("a1", "sub-a");
  auto r = send_observation(observe("a1", at_utilization("0.94")));
  EXPECT_EQ(r.result, outcome::observed);
  set("switch-at-utilization", "off");
  r = send_observation(observe("a1", at_utilization("0.99")));
  EXPECT_EQ(r.result, outcome::observed);
  EXPECT_NE(r.reason.find("off"), std::string::npos) << r.reason;
  call<agent_info>(agent_set_atom::value, std::string{"a1"},
                   auto_switch_mode::off);
  // A rejected status is the wall itself: it switches even with the
  // threshold off, unless auto-switch is off.
  std::vector<http_header> rejected{
    {"anthropic-ratelimit-unified-status", "rejected"},
    {"anthropic-ratelimit-unified-reset", epoch(now() + hour_ms)}};
  r = send_observation(observe("a1", rejected));
  EXPECT_EQ(r.result, outcome::disabled);
  call<agent_info>(agent_set_atom::value, std::string{"a1"},
                   auto_switch_mode::on);
  r = send_observation(observe("a1", rejected));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_TRUE(history("a1").size() == 1u);
  // The rejected subscription is out until its reset.
  EXPECT_EQ(sub("sub-a").excluded_until, t0 + hour_ms);
}

TEST_F(provider_evidence_test, a_storm_spreads_among_equal_headroom) {
  know("sub-b", "0.21");
  know("sub-c", "0.28");
  know("sub-d", "0.7");
  add_subscription("sub-e"); // unknown: after sub-b and sub-c, before sub-d
  std::vector<failure_report> storm;
  for (int i = 0; i < 41; ++i) {
    auto name = "agent-" + std::to_string(i);
    add_agent(name, "sub-a");
    storm.push_back(report(name));
  }
  auto rs = send_concurrently(storm);
  EXPECT_EQ(count(rs, outcome::switched), 41u);
  auto c = counts();
  EXPECT_EQ(c["sub-b"] + c["sub-c"], 41u);
  EXPECT_LE(std::max(c["sub-b"], c["sub-c"]) - std::min(c["sub-b"], c["sub-c"]),
            1u);
  EXPECT_EQ(c["sub-d"], 0u);
  EXPECT_EQ(c["sub-e"], 0u);
}

TEST_F(provider_evidence_test,
       a_retry_after_excludes_until_then_not_for_the_window) {
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-b");
  call<agent_info>(agent_set_atom::value, std::string{"a2"},
                   auto_switch_mode::off);
  auto r = report("a2");
  r.headers = {{"Retry-After", "600"}};
  send_report(r);
  EXPECT_EQ(sub("sub-b").excluded_until, t0 + 600'000);
  EXPECT_EQ(sub("sub-b").reset_at, t0 + 600'000);
  EXPECT_EQ(events("a2").at(0).reset_at, t0 + 600'000);
  // A throttle's shorter retry-after later never shortens it.
  advance(1000);
  r.headers = {{"retry-after", "5"}};
  send_report(r);
  EXPECT_EQ(sub("sub-b").excluded_until, t0 + 600'000);
  // Once the reset passed, sub-b is a target again (not 2 h later).
  advance(599'000);
  EXPECT_EQ(sub("sub-b").excluded_until, 0);
  for (auto s : {"sub-c", "sub-d"}) {
    auto full = report("a2", 429, s);
    send_report(full);
  }
  auto res = send_report(report("a1"));
  EXPECT_EQ(res.result, outcome::switched);
  EXPECT_EQ(res.to, caf::optional<std::string>{"sub-b"});
}

TEST_F(provider_evidence_test,
       a_late_success_older_than_the_failure_does_not_readmit) {
  add_agent("a2", "sub-b");
  call<agent_info>(agent_set_atom::value, std::string{"a2"},
                   auto_switch_mode::off);
  advance(10'000);
  send_report(report("a2")); // no headers: the exclusion window
  EXPECT_EQ(sub("sub-b").excluded_until, now() + 2 * hour_ms);
  // A success whose response is older than the failure (its Date header).
  auto late = at_utilization("0.2");
  late.push_back({"Date", "Fri, 15 Jan 2027 08:00:05 GMT"}); // t0 + 5 s
  advance(1000);
  send_observation(observe("a2", late, "sub-b"));
  EXPECT_GT(sub("sub-b").excluded_until, 0);
  // One produced after it readmits the subscription.
  auto fresh = at_utilization("0.2");
  fresh.push_back({"Date", "Fri, 15 Jan 2027 08:00:11 GMT"}); // t0 + 11 s
  send_observation(observe("a2", fresh, "sub-b"));
  EXPECT_EQ(sub("sub-b").excluded_until, 0);
  EXPECT_EQ(sub("sub-b").evidence_at, t0 + 11'000);
}

TEST_F(provider_evidence_test, evidence_survives_a_restart) {
  auto h = at_utilization("0.42");
  h.push_back(
    {"anthropic-ratelimit-unified-5h-reset", epoch(t0 + 3 * hour_ms)});
  h.push_back({"anthropic-ratelimit-unified-7d-utilization", "0.8"});
  h.push_back({"anthropic-ratelimit-unified-7d-reset", epoch(t0 + 4 * day_ms)});
  send_observation(observe("probe", h, "sub-b"));
  auto before = sub("sub-b");
  EXPECT_EQ(before.utilization_5h, caf::optional<double>{0.42});
  EXPECT_EQ(before.utilization_7d, caf::optional<double>{0.8});
  EXPECT_EQ(before.reset_5h_at, t0 + 3 * hour_ms);
  EXPECT_EQ(before.reset_7d_at, t0 + 4 * day_ms);
  EXPECT_EQ(before.status, provider_status::allowed);
  EXPECT_EQ(before.evidence_at, t0);
  stop_daemon();
  start_daemon();
  auto after = sub("sub-b");
  EXPECT_EQ(after.utilization_5h, before.utilization_5h);
  EXPECT_EQ(after.utilization_7d, before.utilization_7d);
  EXPECT_EQ(after.reset_5h_at, before.reset_5h_at);
  EXPECT_EQ(after.reset_7d_at, before.reset_7d_at);
  EXPECT_EQ(after.status, before.status);
  EXPECT_EQ(after.evidence_at, before.evidence_at);
  // And selection still uses it: sub-c (unknown) before sub-b (0.8).
  add_agent("a1", "sub-a");
  EXPECT_EQ(send_report(report("a1")).to, caf::optional<std::string>{"sub-c"});
}

TEST_F(provider_evidence_test, one_exhaustion_alert_per_reset_instant) {
  add_agent("a1", "sub-a");
  // Every alternative is out until a provider reset.
  for (auto s : {"sub-b", "sub-c", "sub-d"}) {
    std::vector<http_header> full{
      {"anthropic-ratelimit-unified-status", "rejected"},
      {"anthropic-ratelimit-unified-reset",
       epoch(now() + (std::string{s} == "sub-c" ? 1 : 3) * hour_ms)}};
    send_observation(observe("probe", full, s));
  }
  for (int i = 0; i < 5; ++i) {
    auto r = send_report(report("a1"));
    EXPECT_EQ(r.result, outcome::no_alternative);
    EXPECT_EQ(r.reset_at, t0 + hour_ms); // sub-c's, the earliest
    advance(minute_ms);
  }
  auto alerts = notifications("a1");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, notification_kind::pool_exhausted);
  EXPECT_NE(alerts[0].message.find("2027-01-15T09:00:00.000Z"),
            std::string::npos)
    << alerts[0].message;
  // sub-c comes back, takes a1, and is exhausted again with a new reset:
  // a new instant, a new alert.
  advance(hour_ms);
  EXPECT_EQ(send_report(report("a1")).to, caf::optional<std::string>{"sub-c"});
  send_report(report("a1", 429, "sub-c"));
  EXPECT_EQ(notifications("a1").size(), 3u); // + the switch, + one alert
}

TEST_F(provider_evidence_test, malformed_headers_are_ignored_bad_ones_refused) {
  add_agent("a1", "sub-a");
  auto r = send_observation(
    observe("a1", {{"anthropic-ratelimit-unified-5h-utilization", "97%"},
                   {"x-unknown", "whatever"}}));
  EXPECT_EQ(r.result, outcome::observed); // nothing readable, no error
  EXPECT_FALSE(sub("sub-a").utilization_5h);
  auto bad = try_call<report_result>(observe_atom::value,
                                     observe("a1", {{"bad name", "x"}}));
  EXPECT_FALSE(bad);
  auto none = try_call<report_result>(observe_atom::value, observe("a1", {}));
  EXPECT_FALSE(none);
  std::vector<http_header> many(65, http_header{"x-a", "b"});
  EXPECT_FALSE(
    try_call<report_result>(observe_atom::value, observe("a1", many)));
  auto unknown = try_call<report_result>(
    observe_atom::value, observe("a1", at_utilization("0.5"), "sub-zz"));
  ASSERT_FALSE(unknown);
  EXPECT_NE(render(unknown.error()).find("unknown subscription"),
            std::string::npos);
}
