// No request waits forever: the deadlines of the AGENT's and the
// SUPERVISOR's requests run on the daemon's clock, so these tests move the
// manual clock past them instead of waiting. Real actors, a real SQLite
// file, a real docker worker thread.
//
// The STORE that does not answer is the real one, held inside SQLite's
// COMMIT by the store's commit hook (store::set_commit_veto) until the test
// lets it go: what a stuck disk or a PostgreSQL lock wait looks like from
// the actors. The worker that never answers is a real docker worker whose
// thread a fault point holds (test_hook::hang_docker_worker): a worker
// stuck where none of its own timeouts reaches cannot be made on purpose
// otherwise.

#include "actors/test_hooks.hpp"
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

namespace {

daemon_options one_worker() {
  daemon_options o;
  // No engine: every operation that runs fails at once.
  o.docker_socket = "/nonexistent/switchboard-test/docker.sock";
  o.docker_workers = 1;
  return o;
}

class hung_worker : public daemon_fixture {
protected:
  hung_worker() : daemon_fixture(one_worker()) {}

  ~hung_worker() override {
    // The held thread goes on, so its worker (and the daemon) can stop.
    release_test_hooks();
  }

  supervisor_status supervisor() {
    auto st = call<status_info>(status_atom::value);
    EXPECT_TRUE(st.supervisor);
    return st.supervisor ? *st.supervisor : supervisor_status{};
  }
};

container_request op(const std::string& container, container_op what) {
  return container_request{"a1", container, what, 0, secret{}, token_terms{}};
}

} // namespace

TEST_F(hung_worker, a_worker_that_never_answers_frees_its_container) {
  caf::scoped_actor local{*server_};
  auto sup = daemon_->supervisor();
  arm_test_hook(test_hook::hang_docker_worker);
  auto first = local->request(sup, 60s, apply_atom::value,
                              op("c1", container_op::start));
  ASSERT_TRUE(wait_until([] { return held_by_test_hooks() == 1; }));
  // Behind it: the next operation on c1, and one on c2 waiting for the
  // only worker.
  auto second
    = local->request(sup, 60s, apply_atom::value, op("c1", container_op::stop));
  auto third = local->request(sup, 60s, apply_atom::value,
                              op("c2", container_op::start));
  EXPECT_TRUE(wait_until([&] { return supervisor().queued == 2; }));
  auto bound = std::chrono::duration_cast<std::chrono::milliseconds>(
                 daemon_->context()->live.get()->worker_op_timeout())
                 .count();
  advance(bound - 1);
  EXPECT_EQ(supervisor().queued, 2u);
  advance(1);
  auto answer = [](auto& handle) {
    apply_outcome out;
    handle.receive([&](apply_outcome& x) { out = std::move(x); },
                   [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return out;
  };
  auto r1 = answer(first);
  EXPECT_EQ(r1.result, apply_result::failed);
  EXPECT_NE(r1.detail.find("did not finish the operation"), std::string::npos)
    << r1.detail;
  // The queue moved on, on a fresh worker: the stuck thread is still held.
  auto r2 = answer(second);
  auto r3 = answer(third);
  EXPECT_EQ(r2.result, apply_result::failed);
  EXPECT_EQ(r2.detail.find("did not finish"), std::string::npos) << r2.detail;
  EXPECT_EQ(r3.result, apply_result::failed);
  EXPECT_EQ(held_by_test_hooks(), 1);
  auto st = supervisor();
  EXPECT_EQ(st.workers, 1u);
  EXPECT_EQ(st.workers_busy, 0u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_EQ(st.operations, 3u);
  lifecycle c1 = lifecycle::unknown;
  local->request(sup, 10s, get_atom::value, std::string{"c1"})
    .receive([&](lifecycle x) { c1 = x; },
             [&](caf::error& err) { ADD_FAILURE() << render(err); });
  EXPECT_EQ(c1, lifecycle::failed);
  // A late answer of the stuck worker changes nothing.
  release_test_hooks();
  EXPECT_TRUE(wait_until([] { return held_by_test_hooks() == 0; }));
  EXPECT_EQ(supervisor().operations, 3u);
}
