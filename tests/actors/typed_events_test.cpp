// The typed events of the outbox (R3 6/7), raised once per cause, in an
// in-process daemon on a manual clock: utilization_high at each threshold
// of a window, pool_recovered when an exhausted pool has a candidate
// again, agent_behind when a committed token waits behind-after.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/wait.hpp"

#include <algorithm>

using namespace sb;
using namespace sb::test;

namespace {

std::vector<http_header> at_utilization(const std::string& five_hour) {
  return {{"anthropic-ratelimit-unified-status", "allowed"},
          {"anthropic-ratelimit-unified-5h-utilization", five_hour}};
}

/// A daemon whose Docker engine is never there: every token application
/// to a container fails.
daemon_options without_engine() {
  daemon_options o;
  o.docker_socket = "/nonexistent/switchboard-test/docker.sock";
  return o;
}

class typed_events_test : public daemon_fixture {
protected:
  typed_events_test() : daemon_fixture(without_engine()) {}

  /// Every notification of kind `kind`, oldest first.
  std::vector<notification_info> of_kind(notification_kind kind) {
    query q;
    q.limit = 1000;
    auto page = call<notification_page>(notes_atom::value, q);
    std::vector<notification_info> out;
    for (auto& n : page.items)
      if (n.kind == kind)
        out.push_back(n);
    std::reverse(out.begin(), out.end());
    return out;
  }
};

} // namespace

TEST_F(typed_events_test, utilization_high_once_per_threshold_and_window) {
  add_subscription("sub-a");
  add_agent("probe");
  auto know = [&](const char* used) {
    auto r = send_observation(observe("probe", at_utilization(used), "sub-a"));
    ASSERT_EQ(r.result, outcome::observed) << r.reason;
  };
  know("0.50");
  EXPECT_TRUE(of_kind(notification_kind::utilization_high).empty());
  know("0.85");
  know("0.86");
  auto xs = of_kind(notification_kind::utilization_high);
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].subscription, "sub-a");
  EXPECT_EQ(xs[0].pool, "default");
  EXPECT_EQ(xs[0].reason, "5h");
  EXPECT_EQ(xs[0].priority, notification_priority::normal);
  EXPECT_NE(xs[0].title.find("85%"), std::string::npos) << xs[0].title;
  know("0.95");
  know("0.97");
  xs = of_kind(notification_kind::utilization_high);
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(xs[1].priority, notification_priority::high);
}

TEST_F(typed_events_test, an_exhausted_pool_recovers_once) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto r = send_report(report("a1"));
  ASSERT_EQ(r.result, outcome::no_alternative);
  EXPECT_EQ(of_kind(notification_kind::pool_exhausted).size(), 1u);
  EXPECT_TRUE(of_kind(notification_kind::pool_recovered).empty());
  // The POOL looks again at sub-a's return (a minute at most between
  // looks); the clock moves a minute at a time.
  ASSERT_TRUE(wait_until([&] {
    advance(60'000);
    return !of_kind(notification_kind::pool_recovered).empty();
  }));
  auto xs = of_kind(notification_kind::pool_recovered);
  EXPECT_EQ(xs[0].pool, "default");
  for (int i = 0; i < 10; ++i)
    advance(60'000);
  EXPECT_EQ(of_kind(notification_kind::pool_recovered).size(), 1u);
}

TEST_F(typed_events_test, an_agent_behind_is_told_once_per_generation) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a", "ctr-a1");
  auto r = send_report(report("a1"));
  ASSERT_EQ(r.result, outcome::switched);
  // Its applications fail (no engine) and are retried with backoff; once
  // the token waits for behind-after (5 min), one event.
  ASSERT_TRUE(wait_until([&] {
    advance(30'000);
    return !of_kind(notification_kind::agent_behind).empty();
  }));
  auto xs = of_kind(notification_kind::agent_behind);
  EXPECT_EQ(xs[0].agent, "a1");
  EXPECT_EQ(xs[0].subscription, "sub-b");
  EXPECT_EQ(xs[0].pool, "default");
  for (int i = 0; i < 40; ++i)
    advance(30'000);
  EXPECT_EQ(of_kind(notification_kind::agent_behind).size(), 1u);
}
