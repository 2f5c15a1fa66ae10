// The switch engine end to end inside one process: the real actors over a
// real SQLite file, requests over a real CAF connection, a manual clock.
// Each test asserts something that a racy or forgetful engine would break.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/wait.hpp"
#include "messages/validate.hpp"

#include <algorithm>
#include <map>
#include <mutex>

using namespace sb;
using namespace sb::test;

namespace {

class switch_engine : public daemon_fixture {
protected:
  /// An agent whose failures exclude its subscription but never move it.
  void add_observer(const std::string& name, const std::string& sub) {
    add_agent(name, sub);
    call<agent_info>(agent_set_atom::value, name, auto_switch_mode::off);
  }

  pool_status pool() {
    auto st = call<status_info>(status_atom::value);
    EXPECT_TRUE(st.pool);
    return st.pool ? *st.pool : pool_status{};
  }
};

} // namespace

// The seed's own test, made real: two concurrent failures on sub-A with
// sub-B and sub-C free give exactly one switch, to sub-B, and no cascade.
TEST_F(switch_engine, two_concurrent_failures_switch_once_without_cascade) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  for (auto named : {std::string{"sub-a"}, std::string{}}) {
    SCOPED_TRACE(named.empty() ? "attributed by arrival" : "named sub-a");
    if (named.empty()) {
      // Second round: put a1 on a fresh subscription.
      add_subscription("sub-d");
      call<report_result>(assign_atom::value, std::string{"a1"},
                          std::string{"sub-d"});
      // Past the settle window: unnamed reports are sub-d's now.
      advance(31'000);
    }
    auto before = history("a1").size();
    auto notes_before = notifications("a1").size();
    auto rs
      = send_concurrently({report("a1", 429, named), report("a1", 429, named)});
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(count(rs, outcome::switched), 1u);
    EXPECT_EQ(count(rs, outcome::coalesced) + count(rs, outcome::stale), 1u);
    // sub-b: the free subscription first by name (sub-a is excluded).
    auto expected_to = "sub-b";
    for (auto& r : rs)
      EXPECT_EQ(r.to, caf::optional<std::string>{expected_to});
    auto a1 = agent("a1");
    EXPECT_EQ(a1.subscription, caf::optional<std::string>{expected_to});
    EXPECT_EQ(history("a1").size(), before + 1);
    EXPECT_EQ(notifications("a1").size(), notes_before + 1);
    advance(1000);
  }
  EXPECT_EQ(counts()["sub-c"], 0u); // no cascade
  EXPECT_EQ(events("a1").size(), 4u);
}

TEST_F(switch_engine, sixty_four_concurrent_failures_give_one_switch) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  std::vector<failure_report> burst(64, report("a1"));
  auto rs = send_concurrently(burst);
  EXPECT_EQ(count(rs, outcome::switched), 1u);
  EXPECT_EQ(count(rs, outcome::coalesced) + count(rs, outcome::stale), 63u);
  EXPECT_EQ(history("a1").size(), 1u);
  EXPECT_EQ(notifications("a1").size(), 1u);
  EXPECT_EQ(events("a1").size(), 64u); // every event recorded
  EXPECT_EQ(agent("a1").generation, 1u);
  EXPECT_EQ(counts(), (std::map<std::string, uint32_t>{
                        {"sub-a", 0}, {"sub-b", 1}, {"sub-c", 0}}));
}

TEST_F(switch_engine, a_stale_report_never_reaches_selection) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  EXPECT_EQ(send_report(report("a1")).result, outcome::switched);
  advance(60'000);
  auto selections = pool().selections;
  auto r = send_report(report("a1", 429, "sub-a"));
  EXPECT_EQ(r.result, outcome::stale);
  EXPECT_EQ(r.from, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(pool().selections, selections);
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(history("a1").size(), 1u);
  // The stale event is still recorded, against sub-a.
  EXPECT_EQ(events("a1").front().subscription, "sub-a");
}

TEST_F(switch_engine, no_ping_pong_between_exhausted_subscriptions) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  EXPECT_EQ(send_report(report("a1")).to, caf::optional<std::string>{"sub-b"});
  advance(60'000);
  // Failing on sub-b moves to sub-c, not back to the drained sub-a.
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.from, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"});
  advance(60'000);
  // And now every alternative is excluded.
  r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::no_alternative);
  // The earliest reset: sub-a's failure at t0 plus the 2 h window.
  EXPECT_EQ(r.reset_at, t0 + 2 * hour_ms);
  EXPECT_GT(r.retry_after_ms, 0);
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-c"});
  EXPECT_EQ(history("a1").size(), 2u);
}

TEST_F(switch_engine, exclusion_ends_when_the_window_passes) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_observer("a2", "sub-b");
  // a2's failure at t0 excludes sub-b until t0 + 2 h.
  EXPECT_EQ(send_report(report("a2")).result, outcome::disabled);
  advance(hour_ms);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::no_alternative);
  EXPECT_EQ(r.reset_at, t0 + 2 * hour_ms);
  // One "pool exhausted" alert per agent per hour, not one per report.
  send_report(report("a1"));
  auto alerts = notifications("a1");
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, notification_kind::pool_exhausted);
  // The window passes (the clock, not a sleep): sub-b is a target again.
  // a1's own failures keep sub-a excluded, so a1 can move to sub-b.
  advance(hour_ms + 1);
  r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-b"});
}

TEST_F(switch_engine, a_provider_reset_longer_than_the_window_keeps_it_out) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_observer("a2", "sub-b");
  auto r2 = report("a2");
  r2.retry_after_ms = 3 * hour_ms; // provider: back in 3 h
  send_report(r2);
  advance(2 * hour_ms + 1); // the 2 h window alone would let it back in
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::no_alternative);
  EXPECT_EQ(r.reset_at, t0 + 3 * hour_ms);
  advance(hour_ms); // now past the reset instant
  r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-b"});
}

TEST_F(switch_engine, a_shorter_reset_never_shortens_the_exclusion) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_observer("a2", "sub-b");
  auto longer = report("a2");
  longer.reset_at = t0 + 4 * hour_ms;
  send_report(longer);
  auto shorter = report("a2");
  shorter.retry_after_ms = 5 * minute_ms;
  send_report(shorter);
  advance(3 * hour_ms);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::no_alternative);
  EXPECT_EQ(r.reset_at, t0 + 4 * hour_ms);
  auto b = subscriptions()[1];
  EXPECT_EQ(b.name, "sub-b");
  EXPECT_EQ(b.excluded_until, t0 + 4 * hour_ms);
}

TEST_F(switch_engine, a_storm_spreads_evenly_over_the_pool) {
  for (int i = 0; i <= 4; ++i)
    add_subscription("sub-" + std::to_string(i));
  std::vector<failure_report> storm;
  for (int i = 0; i < 100; ++i) {
    auto name = "agent-" + std::to_string(i);
    add_agent(name, "sub-0");
    storm.push_back(report(name));
  }
  auto rs = send_concurrently(storm);
  EXPECT_EQ(count(rs, outcome::switched), 100u);
  auto c = counts();
  EXPECT_EQ(c["sub-0"], 0u);
  uint32_t lo = 1000, hi = 0;
  for (int i = 1; i <= 4; ++i) {
    lo = std::min(lo, c["sub-" + std::to_string(i)]);
    hi = std::max(hi, c["sub-" + std::to_string(i)]);
  }
  EXPECT_LE(hi - lo, 1u) << "counts differ by more than one";
  EXPECT_EQ(notifications().size(), 100u);
}

TEST_F(switch_engine, disabled_records_the_event_but_never_switches) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  set("auto-switch", "off");
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::disabled);
  set("auto-switch", "on");
  call<agent_info>(agent_set_atom::value, std::string{"a1"},
                   auto_switch_mode::off);
  r = send_report(report("a1", 401, "", "unauthorized"));
  EXPECT_EQ(r.result, outcome::disabled);
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-a"});
  EXPECT_TRUE(history().empty());
  auto evs = events("a1");
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].kind, failure_kind::auth);
  EXPECT_EQ(evs[0].subscription, "sub-a");
  EXPECT_EQ(evs[1].kind, failure_kind::rate_limit);
  EXPECT_EQ(evs[1].subscription, "sub-a");
}

TEST_F(switch_engine, ignored_texts_never_switch) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  std::vector<std::pair<std::string, std::string>> cases = {
    {"container OOM killed", "killed"},
    {"agent process got SIGKILL", "killed"},
    {"claude exited with exit code 137", "killed"},
    {"[claude-code:unrecognized_model] opus-9", "model_rejection"},
    {"Claude Code is not available in this container", "container_fault"},
  };
  for (auto& [text, reason] : cases) {
    auto r = send_report(report("a1", 429, "", text));
    EXPECT_EQ(r.result, outcome::ignored) << text;
    EXPECT_EQ(r.reason, reason) << text;
  }
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-a"});
  EXPECT_TRUE(history().empty());
  auto evs = events("a1");
  ASSERT_EQ(evs.size(), cases.size());
  for (auto& e : evs)
    EXPECT_EQ(e.kind, failure_kind::ignored);
  // Ignored failures do not exclude the subscription either.
  EXPECT_EQ(subscriptions()[0].excluded_until, 0);
}

TEST_F(switch_engine, no_subscription_records_nothing) {
  add_subscription("sub-a");
  add_agent("a1");
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::no_subscription);
  EXPECT_TRUE(events().empty());
  auto err = try_call<report_result>(report_atom::value, report("ghost"));
  ASSERT_FALSE(err);
  EXPECT_TRUE(is(err.error(), ec::unknown_agent));
}

TEST_F(switch_engine, thresholds_count_failures_within_their_window) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  set("rate-limit-threshold", "3");
  set("threshold-window", "10m");
  EXPECT_EQ(send_report(report("a1")).result, outcome::below_threshold);
  advance(11 * minute_ms); // the first one leaves the window
  EXPECT_EQ(send_report(report("a1")).result, outcome::below_threshold);
  advance(minute_ms);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::below_threshold);
  EXPECT_EQ(r.event_count, 2u);
  advance(minute_ms);
  r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.event_count, 3u);
  // Auth failures count separately, with their own threshold (default 1).
  advance(minute_ms);
  r = send_report(report("a1", 401, "", "unauthorized"));
  EXPECT_EQ(r.result, outcome::no_alternative); // sub-a is excluded
}

TEST_F(switch_engine, the_switch_budget_holds_the_agent_and_alerts_once) {
  for (auto s : {"sub-a", "sub-b", "sub-c", "sub-d"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  set("switch-budget", "2");
  set("budget-window", "1h");
  set("exclusion-window", "1m");
  EXPECT_EQ(send_report(report("a1")).result, outcome::switched);
  advance(2 * minute_ms);
  EXPECT_EQ(send_report(report("a1")).result, outcome::switched);
  advance(2 * minute_ms);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::held);
  EXPECT_GT(r.retry_after_ms, 0);
  advance(2 * minute_ms);
  EXPECT_EQ(send_report(report("a1")).result, outcome::held);
  auto alerts = notifications("a1");
  EXPECT_EQ(
    std::count_if(alerts.begin(), alerts.end(),
                  [](auto& n) { return n.kind == notification_kind::held; }),
    1);
  EXPECT_EQ(history("a1").size(), 2u);
  // Once the budget window has passed, it switches again.
  advance(hour_ms);
  EXPECT_EQ(send_report(report("a1")).result, outcome::switched);
}

TEST_F(switch_engine, rotation_fans_out_to_every_agent_on_the_subscription) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  for (auto a : {"a1", "a2", "a3"})
    add_agent(a, "sub-a");
  add_agent("a4", "sub-b");
  auto change = call<subscription_change>(
    sub_add_atom::value,
    subscription_spec{
      std::string{"sub-a"}, secret{"rotated-token"}, {}, {}, {}});
  EXPECT_TRUE(change.rotated);
  EXPECT_EQ(change.reloading, (std::vector<std::string>{"a1", "a2", "a3"}));
  ASSERT_TRUE(wait_until([&] { return history().size() == 3; }));
  for (auto a : {"a1", "a2", "a3"}) {
    auto info = agent(a);
    EXPECT_EQ(info.generation, 1u) << a;
    EXPECT_EQ(info.subscription, caf::optional<std::string>{"sub-a"});
  }
  EXPECT_EQ(agent("a4").generation, 0u);
  for (auto& h : history())
    EXPECT_EQ(h.by, trigger::rotation);
  EXPECT_TRUE(notifications().empty());
}

TEST_F(switch_engine, manual_assignment_goes_through_the_agent) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_agent("a2");
  auto r = call<report_result>(assign_atom::value, std::string{"a1"},
                               std::string{"sub-b"});
  EXPECT_EQ(r.result, outcome::assigned);
  EXPECT_EQ(r.generation, 1u);
  r = call<report_result>(assign_atom::value, std::string{"a1"},
                          std::string{"sub-b"});
  EXPECT_EQ(r.result, outcome::unchanged);
  r = call<report_result>(assign_atom::value, std::string{"a2"},
                          std::string{"sub-a"});
  EXPECT_EQ(r.result, outcome::assigned);
  EXPECT_FALSE(r.from);
  auto h = history();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1].by, trigger::manual);
  EXPECT_TRUE(notifications().empty());
  EXPECT_EQ(counts(),
            (std::map<std::string, uint32_t>{{"sub-a", 1}, {"sub-b", 1}}));
}

TEST_F(switch_engine, windows_work_across_midnight) {
  // 23:30 on 2027-01-15.
  advance(15 * hour_ms + 30 * minute_ms);
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_observer("a2", "sub-b");
  send_report(report("a2")); // sub-b excluded until 01:30 the next day
  advance(hour_ms);          // 00:30
  EXPECT_EQ(send_report(report("a1")).result, outcome::no_alternative);
  advance(hour_ms + 1); // 01:30 and a bit
  EXPECT_EQ(send_report(report("a1")).result, outcome::switched);
}

TEST_F(switch_engine, a_restart_keeps_everything_and_counts_nothing_twice) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-a");
  send_concurrently({report("a1"), report("a1"), report("a1")});
  advance(1000);
  auto agents_before = agents();
  auto events_before = events();
  auto history_before = history();
  auto notes_before = notifications();
  auto subs_before = subscriptions();
  stop_daemon();
  start_daemon();
  auto agents_after = agents();
  ASSERT_EQ(agents_after.size(), agents_before.size());
  for (size_t i = 0; i < agents_after.size(); ++i) {
    EXPECT_EQ(agents_after[i].subscription, agents_before[i].subscription);
    EXPECT_EQ(agents_after[i].generation, agents_before[i].generation);
  }
  EXPECT_EQ(events().size(), events_before.size());
  EXPECT_EQ(history().size(), history_before.size());
  EXPECT_EQ(notifications().size(), notes_before.size());
  auto subs_after = subscriptions();
  for (size_t i = 0; i < subs_after.size(); ++i) {
    EXPECT_EQ(subs_after[i].agent_count, subs_before[i].agent_count);
    EXPECT_EQ(subs_after[i].excluded_until, subs_before[i].excluded_until);
  }
  // The drained sub-a is still excluded after the restart: a2 moves to
  // sub-c (fewest agents), a1 from sub-b to sub-c as well, never to sub-a.
  auto r = send_report(report("a2"));
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"});
  advance(1000);
  r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"});
  EXPECT_EQ(notifications().size(), notes_before.size() + 2);
  EXPECT_EQ(history().size(), history_before.size() + 2);
}

TEST_F(switch_engine, retention_deletes_old_events_in_batches_at_start) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  set("auto-switch", "off");
  std::vector<failure_report> old(2500, report("a1"));
  send_concurrently(old);
  EXPECT_EQ(events().size(), 2500u);
  advance(31 * day_ms);
  send_report(report("a1")); // a recent one stays
  stop_daemon();
  start_daemon(); // retention runs at start-up, then every interval
  ASSERT_TRUE(wait_until([&] { return events().size() == 1; }));
}

TEST_F(switch_engine, error_text_is_capped_and_stored_as_valid_utf8) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  set("auto-switch", "off");
  std::string text = "bad \xFF\xFE bytes ";
  while (text.size() < 10000)
    text += "\xE2\x9C\x93"; // a 3-byte character, so the cut must respect it
  auto r = report("a1", 429, "", text);
  send_report(r);
  auto evs = events("a1");
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_LE(evs[0].message.size(), 4096u);
  EXPECT_TRUE(valid_utf8(evs[0].message));
  EXPECT_EQ(evs[0].message.rfind("bad \xEF\xBF\xBD\xEF\xBF\xBD bytes ", 0), 0u);
}

TEST_F(switch_engine, bad_reports_get_a_clear_error_and_change_nothing) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto bad = [&](failure_report r, const std::string& what) {
    auto res = try_call<report_result>(report_atom::value, r);
    ASSERT_FALSE(res) << what;
    EXPECT_NE(render(res.error()).find(what), std::string::npos)
      << render(res.error());
  };
  bad(report("a1", 99), "status");
  bad(report("a1", 600), "status");
  bad(report("a1", 0), "status or a kind");
  auto r = report("a1");
  r.kind = failure_kind::ignored;
  bad(r, "kind");
  r.kind = static_cast<failure_kind>(200); // hostile bytes on the wire
  bad(r, "kind");
  r = report("a1");
  r.retry_after_ms = -5;
  bad(r, "retry-after");
  r = report("a1", 429, std::string(200, 's'));
  bad(r, "subscription name");
  bad(report("", 429), "agent name");
  bad(report(std::string("a\0b", 3), 429), "control character");
  EXPECT_TRUE(events().empty());
  EXPECT_EQ(agent("a1").generation, 0u);
}

TEST_F(switch_engine, watchers_see_every_decision) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  auto events = std::make_shared<std::vector<watch_event>>();
  auto mtx = std::make_shared<std::mutex>();
  auto watcher = client_->spawn(
    [events, mtx](watcher_actor::pointer) -> watcher_actor::behavior_type {
      return {[events, mtx](watch_atom, const watch_event& ev) {
        std::lock_guard<std::mutex> guard{*mtx};
        events->push_back(ev);
      }};
    });
  call<ok_atom>(watch_atom::value, watcher);
  send_report(report("a1"));
  auto find = [&](const std::string& kind) -> std::optional<watch_event> {
    std::lock_guard<std::mutex> guard{*mtx};
    for (auto& ev : *events)
      if (to_string(ev.kind) == kind)
        return ev;
    return std::nullopt;
  };
  ASSERT_TRUE(wait_until([&] { return find("apply").has_value(); }));
  ASSERT_TRUE(wait_until([&] { return find("report").has_value(); }));
  auto sw = *find("switch");
  EXPECT_EQ(sw.agent, "a1");
  EXPECT_EQ(sw.from, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(sw.to, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(sw.generation, 1u);
  EXPECT_EQ(sw.outcome, "auto");
  EXPECT_EQ(sw.at, now());
  EXPECT_EQ(sw.line, "switch a1 sub-a -> sub-b generation 1 (auto)");
  auto ap = *find("apply");
  EXPECT_EQ(ap.generation, 1u);
  EXPECT_EQ(ap.apply, "no_container");
  // The report that started the switch is in the stream too.
  auto rep = *find("report");
  EXPECT_EQ(rep.outcome, "switched");
  EXPECT_EQ(rep.status, 429);
  EXPECT_EQ(rep.from, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(rep.to, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(rep.line, "report a1 429 on sub-a -> switched");
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
}

// One rule for a subscription's exclusion, before and after a restart: a
// report cannot name a subscription that does not exist, and a subscription
// registered again under a name with recent failures starts excluded.
TEST_F(switch_engine, exclusions_follow_one_rule_across_restarts) {
  for (auto s : {"sub-a", "sub-b"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  auto bad
    = try_call<report_result>(report_atom::value, report("a1", 429, "sub-z"));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), ec::unknown_subscription));
  EXPECT_TRUE(events().empty());
  // sub-b fails (an observer on it), is removed and registered again.
  add_observer("a2", "sub-b");
  send_report(report("a2"));
  call<std::vector<std::string>>(sub_rm_atom::value, std::string{"sub-b"});
  add_subscription("sub-b");
  auto excluded_now = [&] {
    for (auto& s : subscriptions())
      if (s.name == "sub-b")
        return s.excluded_until != 0;
    return false;
  };
  EXPECT_TRUE(wait_until(excluded_now));
  stop_daemon();
  start_daemon();
  EXPECT_TRUE(excluded_now());
  EXPECT_EQ(send_report(report("a1")).result, outcome::no_alternative);
}

// An agent removed while reports for it are in flight: every report gets an
// answer (its result, or unknown_agent), none waits for its timeout, and the
// pool stops counting the agent.
TEST_F(switch_engine, an_agent_removed_mid_burst_answers_every_report) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  add_agent("a1", "sub-a");
  auto& self = *self_;
  using report_handle = decltype(self->request(
    front_door_, std::chrono::seconds(30), report_atom::value, report("a1")));
  std::vector<report_handle> reports;
  for (int i = 0; i < 50; ++i)
    reports.push_back(self->request(front_door_, std::chrono::seconds(30),
                                    report_atom::value, report("a1")));
  auto removal = self->request(front_door_, std::chrono::seconds(30),
                               agent_rm_atom::value, std::string{"a1"});
  for (int i = 0; i < 50; ++i)
    reports.push_back(self->request(front_door_, std::chrono::seconds(30),
                                    report_atom::value, report("a1")));
  size_t answered = 0;
  size_t unknown = 0;
  for (auto& h : reports)
    h.receive([&](report_result&) { ++answered; },
              [&](caf::error& err) {
                EXPECT_TRUE(is(err, ec::unknown_agent)) << render(err);
                ++unknown;
              });
  removal.receive([](std::string& name) { EXPECT_EQ(name, "a1"); },
                  [](caf::error& err) { FAIL() << render(err); });
  EXPECT_EQ(answered + unknown, 100u);
  EXPECT_GT(unknown, 0u); // the ones behind the removal
  EXPECT_EQ(counts(), (std::map<std::string, uint32_t>{
                        {"sub-a", 0}, {"sub-b", 0}, {"sub-c", 0}}));
  EXPECT_TRUE(agents().empty());
}
