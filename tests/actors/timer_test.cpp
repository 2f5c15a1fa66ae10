// The daemon's timers on the manual clock: nothing fires until the test moves
// time, and then exactly what fell due fires. Retry backoff, retention and
// the notifier's retries, in process (real actors, real SQLite file).

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/wait.hpp"

#include <fstream>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

daemon_options unreachable_engine() {
  daemon_options o;
  o.docker_socket = "/nonexistent/switchboard-test/docker.sock";
  o.retry_initial = 1s;
  o.retry_max = 4s;
  return o;
}

class backoff_test : public daemon_fixture {
protected:
  backoff_test() : daemon_fixture(unreachable_engine()) {}

  uint64_t operations() {
    auto st = call<status_info>(status_atom::value);
    return st.supervisor ? st.supervisor->operations : 0;
  }
};

} // namespace

TEST_F(backoff_test, failed_applications_retry_with_doubling_backoff) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a", "c1");
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.apply.result, apply_result::failed);
  EXPECT_EQ(operations(), 1u);
  // 1 s, 2 s, 4 s, then capped at retry-max (4 s).
  for (millis wait : {1000, 2000, 4000, 4000}) {
    EXPECT_EQ(agent("a1").retry_at, now() + wait);
    auto before = operations();
    advance(wait - 1);
    EXPECT_EQ(operations(), before) << "retried early";
    advance(1);
    ASSERT_TRUE(wait_until([&] { return operations() == before + 1; }));
    ASSERT_TRUE(wait_until([&] { return agent("a1").retry_at != 0; }));
  }
  EXPECT_EQ(agent("a1").applied_generation, 0u);
  EXPECT_EQ(agent("a1").generation, 1u);
}

TEST_F(daemon_fixture, retention_runs_on_the_clock) {
  set("events-retention-days", "1");
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  send_report(report("a1")); // no alternative, but the event is recorded
  ASSERT_EQ(events().size(), 1u);
  // The retention timer fires every hour; the event is one day old only
  // after 24 h.
  advance(hour_ms);
  advance(22 * hour_ms);
  EXPECT_EQ(call<status_info>(status_atom::value).admin.retention_deleted, 0u);
  advance(2 * hour_ms);
  EXPECT_TRUE(wait_until([&] { return events().empty(); }));
  EXPECT_EQ(call<status_info>(status_atom::value).admin.retention_deleted, 1u);
}

namespace {

/// A notify-command that fails on its first run and succeeds afterwards,
/// counting its runs in a file.
daemon_options flaky_notifier(const temp_dir& dir) {
  daemon_options o;
  auto count = dir.file("runs");
  o.notify_command = "n=$(cat " + count
                     + " 2>/dev/null || echo 0); n=$((n+1));"
                       " echo $n > "
                     + count + "; cat > " + dir.file("last") + "; [ $n -ge 2 ]";
  o.notify_interval = 1s;
  return o;
}

struct notifier_dir {
  temp_dir notify_dir;
};

class notifier_test : public notifier_dir, public daemon_fixture {
protected:
  notifier_test() : daemon_fixture(flaky_notifier(notify_dir)) {}

  int runs() {
    std::ifstream in{notify_dir.file("runs")};
    int n = 0;
    in >> n;
    return n;
  }
};

} // namespace

TEST_F(notifier_test, a_failed_delivery_is_retried_after_the_backoff) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  send_report(report("a1"));
  ASSERT_EQ(notifications().size(), 1u);
  EXPECT_EQ(runs(), 0);
  advance(1000);
  ASSERT_TRUE(wait_until([&] { return runs() == 1; }));
  EXPECT_EQ(notifications().at(0).status, notification_status::pending);
  // The next tick (1 s on) comes when the backoff after the first failure
  // (0.75 s to 1.25 s from the attempt) is over.
  advance(1250);
  ASSERT_TRUE(wait_until([&] {
    return notifications().at(0).status == notification_status::delivered;
  }));
  EXPECT_EQ(runs(), 2);
}

namespace {

/// A notify-command that lists its descriptors, starts a child in the
/// background and hangs.
daemon_options hanging_notifier(const temp_dir& dir) {
  daemon_options o;
  o.notify_command = "ls -l /proc/$$/fd > " + dir.file("fds") + "; sleep 300 & "
                     + "echo $! > " + dir.file("child") + "; wait";
  o.notify_interval = 1s;
  o.notify_timeout = 500ms; // real time: how long one run may take
  return o;
}

class hanging_notifier_test : public notifier_dir, public daemon_fixture {
protected:
  hanging_notifier_test() : daemon_fixture(hanging_notifier(notify_dir)) {}

  std::string read(const std::string& name) {
    std::ifstream in{notify_dir.file(name)};
    return std::string{std::istreambuf_iterator<char>{in},
                       std::istreambuf_iterator<char>{}};
  }
};

/// Gone, or a zombie waiting for its reaper.
bool dead(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  if (stat.empty())
    return true;
  auto state = stat.substr(stat.rfind(')') + 2, 1);
  return state == "Z" || state == "X";
}

} // namespace

TEST_F(hanging_notifier_test, a_timeout_kills_everything_the_command_started) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  send_report(report("a1"));
  advance(1000); // the notifier's tick
  ASSERT_TRUE(wait_until([&] { return !read("child").empty(); }));
  auto child = static_cast<pid_t>(std::stol(read("child")));
  // The run times out; its whole process group goes with it.
  EXPECT_TRUE(wait_until([&] { return dead(child); }, 10s))
    << "the background child " << child << " outlived the timeout";
  EXPECT_EQ(notifications().at(0).status, notification_status::pending);
  // The command saw none of the daemon's descriptors (database, sockets).
  auto fds = read("fds");
  EXPECT_EQ(fds.find("state.db"), std::string::npos) << fds;
  EXPECT_EQ(fds.find("socket:"), std::string::npos) << fds;
}
