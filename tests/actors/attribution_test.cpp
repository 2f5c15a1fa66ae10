// Attribution in process (real actors, real SQLite file, real CAF
// connection) on the manual clock: a failure is charged to the credential its
// request carried. Late reports of the old token belong to the switch that
// replaced it; the current credential, named explicitly, switches at once;
// identities that match nothing are errors and record nothing.

#include "fixtures/daemon_fixture.hpp"
#include "messages/fingerprint.hpp"

using namespace sb;
using namespace sb::test;

namespace {

std::string sha_of(const std::string& sub) {
  return token_fingerprint("token-of-" + sub);
}

class attribution_test : public daemon_fixture {
protected:
  /// sub-a, sub-b, sub-c; agent a1 on sub-a; a settle window of 2 s.
  void SetUp() override {
    for (auto s : {"sub-a", "sub-b", "sub-c"})
      add_subscription(s);
    add_agent("a1", "sub-a");
    set("settle-window", "2s");
  }

  failure_report with_token(const std::string& sha) {
    auto r = report("a1");
    r.token_sha256 = sha;
    return r;
  }

  failure_report with_generation(uint64_t g) {
    auto r = report("a1");
    r.generation = g;
    return r;
  }

  /// The first switch, sub-a -> sub-b, from an unnamed report.
  void first_switch() {
    auto r = send_report(report("a1"));
    ASSERT_EQ(r.result, outcome::switched);
    ASSERT_EQ(r.to, caf::optional<std::string>{"sub-b"});
  }

  millis excluded_until(const std::string& sub) {
    for (auto& s : subscriptions())
      if (s.name == sub)
        return s.excluded_until;
    ADD_FAILURE() << "no subscription " << sub;
    return 0;
  }
};

} // namespace

TEST_F(attribution_test, late_reports_of_the_old_token_join_its_switch) {
  first_switch();
  advance(1000); // inside the settle window
  for (auto r : {report("a1"), with_token(sha_of("sub-a")),
                 with_token(sha_of("sub-a").substr(0, 12)), with_generation(0),
                 report("a1", 429, "sub-a")}) {
    auto res = send_report(r);
    EXPECT_EQ(res.result, outcome::coalesced) << res.reason;
    EXPECT_EQ(res.from, caf::optional<std::string>{"sub-a"});
    EXPECT_EQ(res.to, caf::optional<std::string>{"sub-b"});
    EXPECT_EQ(res.generation, 1u);
  }
  EXPECT_EQ(history("a1").size(), 1u);
  EXPECT_EQ(notifications("a1").size(), 1u);
  // Every event is charged to sub-a; sub-b is not excluded.
  for (auto& ev : events("a1"))
    EXPECT_EQ(ev.subscription, "sub-a");
  EXPECT_EQ(events("a1").size(), 6u);
  EXPECT_EQ(excluded_until("sub-b"), 0);
  EXPECT_NE(excluded_until("sub-a"), 0);
}

TEST_F(attribution_test, after_the_window_an_unnamed_report_moves_on) {
  first_switch();
  advance(2001);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  // No ping-pong back to the drained sub-a.
  EXPECT_EQ(r.from, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"});
}

TEST_F(attribution_test, the_current_token_named_switches_at_once) {
  first_switch();
  advance(1000);
  auto r = send_report(with_token(sha_of("sub-b")));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"});
}

TEST_F(attribution_test, the_current_generation_named_switches_at_once) {
  first_switch();
  advance(1000);
  auto r = send_report(with_generation(1));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-c"});
}

TEST_F(attribution_test, the_epoch_starts_when_the_token_is_applied) {
  first_switch();
  auto a1 = agent("a1");
  // Without a container the token is applied at the commit.
  EXPECT_EQ(a1.epoch_started_at, now());
  EXPECT_EQ(a1.settle_until, now() + 2000);
}

TEST_F(attribution_test, identities_that_match_nothing_are_errors) {
  first_switch();
  auto bad = [&](failure_report r, const std::string& what) {
    auto res = try_call<report_result>(report_atom::value, r);
    ASSERT_FALSE(res) << what;
    EXPECT_NE(render(res.error()).find(what), std::string::npos)
      << render(res.error());
  };
  bad(with_token(token_fingerprint("never-registered")), "no subscription");
  bad(with_token("abc"), "12 to 64 hex digits");
  bad(with_token("zzzzzzzzzzzzzzzz"), "12 to 64 hex digits");
  bad(with_generation(7), "in the future");
  auto mixed = with_token(sha_of("sub-a"));
  mixed.subscription = "sub-b";
  bad(mixed, "belongs to subscription 'sub-a'");
  mixed = with_generation(1);
  mixed.subscription = "sub-c";
  bad(mixed, "does not add up");
  EXPECT_EQ(events("a1").size(), 1u); // only the first report's
}

TEST_F(attribution_test, a_rotated_away_token_still_names_its_subscription) {
  call<subscription_change>(
    sub_add_atom::value,
    subscription_spec{
      std::string{"sub-a"}, secret{"token-of-sub-a-v2"}, {}, {}, {}});
  advance(5000); // past the rotation's settle window
  auto subs = subscriptions();
  EXPECT_EQ(subs.at(0).fingerprint,
            token_fingerprint("token-of-sub-a-v2").substr(0, 12));
  auto old = sha_of("sub-a").substr(0, 16);
  auto r = send_report(with_token(old));
  EXPECT_EQ(r.result, outcome::stale); // the old token's epoch is over
  EXPECT_EQ(r.from, caf::optional<std::string>{"sub-a"});
  // Also after a restart: the fingerprint history is in the database.
  stop_daemon();
  start_daemon();
  r = send_report(with_token(old));
  EXPECT_EQ(r.from, caf::optional<std::string>{"sub-a"});
  auto evs = events("a1");
  ASSERT_EQ(evs.size(), 2u);
  for (auto& ev : evs)
    EXPECT_EQ(ev.subscription, "sub-a");
  EXPECT_EQ(agent("a1").generation, 1u); // the rotation's, no switch
}
