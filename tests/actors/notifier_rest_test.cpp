// The NOTIFIER's rounds run only while the outbox may hold work
// (actors/notifier.hpp): on CAF's deterministic scheduler, virtual time
// stepped by hand, a notifier with nothing to do is sent nothing however
// much time passes; one with work, or woken by a commit, gets a round per
// notify-interval until it rests again.

#include "actors/notifier.hpp"
#include "actors/root.hpp"
#include "messages/register.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <gtest/gtest.h>

using namespace sb;
using namespace std::chrono_literals;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    sb::add_message_types(*this);
    set("scheduler.policy", caf::atom("testing"));
  }
};

/// What the fake NOTIFIER saw and what it has left to do.
struct notifier_log {
  int rounds = 0;
  /// Rounds that still find something pending.
  int work = 0;
};

class notifier_rest_test : public ::testing::Test {
protected:
  notifier_rest_test()
      : sys(cfg), sched(dynamic_cast<caf::scheduler::test_coordinator&>(
                    sys.scheduler())) {
    fake_admin = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](retention_atom) {}};
    });
    daemon_options opts;
    opts.retention_interval = std::chrono::hours(1);
    ctx = std::make_shared<daemon_context>(opts, engine_settings{},
                                           std::make_shared<wall_clock>());
    auto live = *ctx->live.get();
    live.notify_interval = std::chrono::seconds(1);
    live.notify_command = "true";
    ctx->live.publish(live);
    signal = std::make_shared<outbox_signal>();
  }

  ~notifier_rest_test() override {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(fake_notifier, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(fake_admin, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// A NOTIFIER that behaves as the real one after its delivery: it asks
  /// the ROOT for another round while it has work, else rests.
  void start() {
    auto sig = signal;
    auto seen = log;
    fake_notifier
      = sys.spawn([sig, seen](caf::event_based_actor* self) -> caf::behavior {
          return {[=](tick_atom) {
            ++seen->rounds;
            auto root
              = caf::actor_cast<caf::actor_addr>(self->current_sender());
            sig->round_starts(root);
            bool again = seen->work > 0;
            if (again)
              --seen->work;
            if (again || !sig->rest())
              self->send(caf::actor_cast<caf::actor>(root), tick_atom::value);
          }};
        });
    aut = sys.spawn(
      root, caf::actor_cast<admin_actor>(fake_admin),
      std::vector<std::pair<std::string, caf::actor>>{}, ctx, fatal_handler{},
      caf::actor_cast<notifier_actor>(fake_notifier), cluster_actor{});
    sched.run();
  }

  /// Moves virtual time `n` notify-intervals on, running what falls due.
  void seconds_pass(int n) {
    for (int i = 0; i < n; ++i) {
      sched.advance_time(std::chrono::seconds(1));
      sched.run();
    }
  }

  test_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::actor fake_admin;
  caf::actor fake_notifier;
  context_ptr ctx;
  outbox_signal_ptr signal;
  std::shared_ptr<notifier_log> log = std::make_shared<notifier_log>();
  root_actor aut;
};

} // namespace

TEST_F(notifier_rest_test, a_notifier_with_nothing_to_do_is_sent_nothing) {
  start();
  EXPECT_EQ(log->rounds, 1); // the start-up round, which finds nothing
  // No timer falls due (the ROOT's retention is an hour away), no job
  // waits.
  EXPECT_EQ(sched.advance_time(std::chrono::minutes(5)), 0u);
  EXPECT_FALSE(sched.has_job());
  seconds_pass(600);
  EXPECT_EQ(log->rounds, 1);
}

TEST_F(notifier_rest_test, a_notifier_with_work_gets_a_round_per_interval) {
  log->work = 3;
  start();
  EXPECT_EQ(log->rounds, 1);
  seconds_pass(1);
  EXPECT_EQ(log->rounds, 2);
  seconds_pass(2);
  EXPECT_EQ(log->rounds, 4); // the last one found nothing left
  seconds_pass(100);
  EXPECT_EQ(log->rounds, 4);
}

TEST_F(notifier_rest_test, commits_wake_a_resting_notifier_once) {
  start();
  EXPECT_EQ(log->rounds, 1);
  // A burst of commits: one round, notify-interval after the first.
  for (int i = 0; i < 50; ++i)
    signal->committed(*ctx);
  sched.run();
  EXPECT_EQ(log->rounds, 1);
  seconds_pass(1);
  EXPECT_EQ(log->rounds, 2);
  seconds_pass(100);
  EXPECT_EQ(log->rounds, 2);
}

TEST_F(notifier_rest_test, a_commit_during_a_round_asks_for_another) {
  start();
  signal->committed(*ctx);
  // The round starts, a write commits before it ends.
  signal->round_starts(caf::actor_addr{});
  signal->committed(*ctx);
  EXPECT_FALSE(signal->rest()); // the caller asks for another round
  // The commit saw the round running: it scheduled nothing itself.
  seconds_pass(1);
  EXPECT_EQ(log->rounds, 2); // the tick the first commit scheduled
  seconds_pass(100);
  EXPECT_EQ(log->rounds, 2);
}

TEST_F(notifier_rest_test, wake_notifier_runs_a_round_at_once) {
  start();
  EXPECT_EQ(log->rounds, 1);
  wake_notifier(sys);
  sched.run();
  EXPECT_EQ(log->rounds, 2);
}
