// The daemon's Prometheus metrics (actors/metrics.hpp) as a scrape renders
// them: build info, the process's own metrics, per-subscription gauges and
// the notification deliveries per sink.

#include "actors/metrics.hpp"
#include "messages/register.hpp"

#include <gtest/gtest.h>

#include <ctime>
#include <sstream>

using namespace sb;

namespace {

/// The value of `series` (name and labels as rendered) in `text`; -1 if
/// absent.
double value_of(const std::string& text, const std::string& series) {
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

subscription_info subscription(std::string name, std::string pool,
                               credential_state state, uint32_t agents) {
  subscription_info x;
  x.name = std::move(name);
  x.pool = std::move(pool);
  x.state = state;
  x.agent_count = agents;
  return x;
}

} // namespace

TEST(metrics, build_info_and_the_process_metrics) {
  metrics m;
  auto text = m.render({});
  EXPECT_EQ(value_of(text, std::string{"switchboard_build_info{version=\""}
                             + version() + "\"}"),
            1)
    << text;
  EXPECT_GT(value_of(text, "process_open_fds"), 0);
  EXPECT_GE(value_of(text, "process_max_fds"),
            value_of(text, "process_open_fds"));
  EXPECT_GT(value_of(text, "process_resident_memory_bytes"), 1e6);
  EXPECT_GE(value_of(text, "process_virtual_memory_bytes"),
            value_of(text, "process_resident_memory_bytes"));
  EXPECT_GE(value_of(text, "process_cpu_seconds_total"), 0);
  auto now = static_cast<double>(std::time(nullptr));
  auto start = value_of(text, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600); // this test started today
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"),
            std::string::npos);
}

TEST(metrics, per_subscription_gauges_follow_the_last_list) {
  metrics m;
  auto a = subscription("sub-a", "main", credential_state::active, 2);
  a.utilization_5h = 0.42;
  a.utilization_7d = 0.1;
  auto b = subscription("sub-b", "main", credential_state::retired, 0);
  m.subscriptions_listed({a, b});
  auto text = m.render({});
  auto series = [](const char* sub, std::string more) {
    return std::string{"{pool=\"main\",subscription=\""} + sub + "\"" + more
           + "}";
  };
  // Labels render in name order: pool, state, subscription, window.
  auto state_series = [](const char* sub, const char* state) {
    return std::string{"switchboard_subscription_state{pool=\"main\",state=\""}
           + state + "\",subscription=\"" + sub + "\"}";
  };
  EXPECT_EQ(value_of(text, "switchboard_subscription_utilization"
                             + series("sub-a", ",window=\"5h\"")),
            0.42)
    << text;
  EXPECT_EQ(value_of(text, "switchboard_subscription_utilization"
                             + series("sub-a", ",window=\"7d\"")),
            0.1);
  // Unknown utilization: no series.
  EXPECT_EQ(value_of(text, "switchboard_subscription_utilization"
                             + series("sub-b", ",window=\"5h\"")),
            -1);
  EXPECT_EQ(
    value_of(text, "switchboard_subscription_agents" + series("sub-a", "")), 2);
  EXPECT_EQ(value_of(text, state_series("sub-a", "active")), 1);
  EXPECT_EQ(value_of(text, state_series("sub-a", "retired")), 0);
  EXPECT_EQ(value_of(text, state_series("sub-b", "retired")), 1);
  // sub-b removed, sub-a's 7d window passed: their series go.
  a.utilization_7d = caf::none;
  m.subscriptions_listed({a});
  text = m.render({});
  EXPECT_EQ(value_of(text, state_series("sub-b", "retired")), -1);
  EXPECT_EQ(value_of(text, "switchboard_subscription_utilization"
                             + series("sub-a", ",window=\"7d\"")),
            -1);
  EXPECT_EQ(value_of(text, "switchboard_subscription_utilization"
                             + series("sub-a", ",window=\"5h\"")),
            0.42);
}

TEST(metrics, notification_deliveries_count_per_sink_and_result) {
  metrics m;
  m.notification_delivered("ops-hook", "delivered");
  m.notification_delivered("ops-hook", "delivered");
  m.notification_delivered("ops-hook", "retry");
  m.notification_delivered("slack", "failed");
  auto text = m.render({});
  EXPECT_EQ(value_of(text, "switchboard_notifications_delivered_total{result="
                           "\"delivered\",sink=\"ops-hook\"}"),
            2)
    << text;
  EXPECT_EQ(value_of(text, "switchboard_notifications_delivered_total{result="
                           "\"retry\",sink=\"ops-hook\"}"),
            1);
  EXPECT_EQ(value_of(text, "switchboard_notifications_delivered_total{result="
                           "\"failed\",sink=\"slack\"}"),
            1);
}
