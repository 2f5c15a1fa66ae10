// No request waits forever: the deadlines of the AGENT's requests run on the
// daemon's clock, so these tests move the manual clock past them instead of
// waiting. Real actors, a real SQLite file.
//
// The STORE that does not answer is the real one, held inside SQLite's
// COMMIT by the store's commit hook (store::set_commit_veto) until the test
// lets it go: what a stuck disk or a PostgreSQL lock wait looks like from
// the actors.

#include "actors/timeouts.hpp"
#include "fixtures/daemon_fixture.hpp"
#include "fixtures/wait.hpp"

#include <caf/scoped_actor.hpp>

#include <condition_variable>
#include <mutex>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

/// Holds the next COMMIT of the STORE until opened; then lets it commit,
/// or kills it (the commit hook turns it into a rollback).
class commit_gate {
public:
  void arm(bool kill) {
    std::lock_guard<std::mutex> guard{mtx_};
    armed_ = true;
    kill_ = kill;
  }

  /// Runs on the STORE's thread at every COMMIT.
  bool veto() {
    std::unique_lock<std::mutex> guard{mtx_};
    if (!armed_)
      return false;
    armed_ = false;
    held_ = true;
    cv_.notify_all();
    // Bounded: a failed test does not hold the store forever.
    cv_.wait_for(guard, 60s, [this] { return open_; });
    held_ = false;
    return kill_;
  }

  bool wait_held() {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, 20s, [this] { return held_; });
  }

  void open() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      open_ = true;
    }
    cv_.notify_all();
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool held_ = false;
  bool open_ = false;
  bool kill_ = false;
};

constexpr millis commit_deadline
  = std::chrono::duration_cast<std::chrono::milliseconds>(store_request_timeout)
      .count();

class store_stall : public daemon_fixture {
protected:
  store_stall() {
    stop_daemon();
    commit_veto_ = [g = gate] { return g->veto(); };
    start_daemon();
  }

  ~store_stall() override { gate->open(); }

  /// A manual reassignment of a1 to sub-b whose COMMIT the STORE holds
  /// (no failure event is written first: the commit is the first write):
  /// its caller gets a clear error once the deadline passed, not before.
  void stalled_assignment(bool kill) {
    add_subscription("sub-a");
    add_subscription("sub-b");
    add_agent("a1", "sub-a");
    gate->arm(kill);
    auto& self = *self_;
    auto pending = self->request(front_door_, 60s, assign_atom::value,
                                 std::string{"a1"}, std::string{"sub-b"});
    ASSERT_TRUE(gate->wait_held()) << "the commit never reached the STORE";
    EXPECT_TRUE(agent("a1").switching);
    advance(commit_deadline - 1);
    EXPECT_TRUE(agent("a1").switching);
    EXPECT_EQ(agent("a1").generation, 0u);
    advance(1);
    caf::error err;
    pending.receive(
      [&](report_result& r) {
        ADD_FAILURE() << "answered " << to_string(r.result);
      },
      [&](caf::error& x) { err = std::move(x); });
    EXPECT_TRUE(is(err, ec::unavailable)) << render(err);
    EXPECT_NE(render(err).find("did not answer the commit"), std::string::npos)
      << render(err);
    // Whether it was recorded is not known while the STORE holds it: the
    // switch stays in flight (a report now would join it).
    EXPECT_TRUE(agent("a1").switching);
    gate->open();
    ASSERT_TRUE(wait_until([&] { return !agent("a1").switching; }));
  }

  std::shared_ptr<commit_gate> gate = std::make_shared<commit_gate>();
};

} // namespace

TEST_F(store_stall, an_unanswered_commit_that_failed_is_released) {
  stalled_assignment(true);
  if (HasFatalFailure())
    return;
  // Not recorded: the agent stays, the POOL's reservation is given back.
  auto a1 = agent("a1");
  EXPECT_EQ(a1.generation, 0u);
  EXPECT_EQ(a1.subscription, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(counts(),
            (std::map<std::string, uint32_t>{{"sub-a", 1}, {"sub-b", 0}}));
  EXPECT_TRUE(history("a1").empty());
  // And the next report is handled as if nothing had happened.
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched) << r.reason;
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(r.generation, 1u);
  EXPECT_EQ(counts(),
            (std::map<std::string, uint32_t>{{"sub-a", 0}, {"sub-b", 1}}));
  EXPECT_EQ(history("a1").size(), 1u);
  EXPECT_EQ(events("a1").size(), 1u);
}

TEST_F(store_stall, an_unanswered_commit_that_was_written_goes_on) {
  stalled_assignment(false);
  if (HasFatalFailure())
    return;
  // Recorded after all: the agent takes the switch as committed.
  auto a1 = agent("a1");
  EXPECT_EQ(a1.generation, 1u);
  EXPECT_EQ(a1.subscription, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(counts(),
            (std::map<std::string, uint32_t>{{"sub-a", 0}, {"sub-b", 1}}));
  EXPECT_EQ(history("a1").size(), 1u);
  // A failure on sub-b switches on from there: no generation conflict.
  auto r = send_report(report("a1", 429, "sub-b"));
  EXPECT_EQ(r.result, outcome::switched) << r.reason;
  EXPECT_EQ(r.from, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(r.generation, 2u);
  EXPECT_EQ(history("a1").size(), 2u);
}
