// The ROOT's periodic jobs on CAF's deterministic scheduler: virtual time,
// stepped by hand, no sleeping for an hour.

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

struct counts {
  int retention = 0;
};

class root_timer_test : public ::testing::Test {
protected:
  root_timer_test()
      : sys(cfg), sched(dynamic_cast<caf::scheduler::test_coordinator&>(
                    sys.scheduler())) {
    seen = std::make_shared<counts>();
    auto seen_ptr = seen;
    fake_admin
      = sys.spawn([seen_ptr](caf::event_based_actor*) -> caf::behavior {
          return {
            [=](retention_atom) { ++seen_ptr->retention; },
          };
        });
    daemon_options opts;
    opts.retention_interval = std::chrono::hours(1);
    ctx = std::make_shared<daemon_context>(opts, engine_settings{},
                                           std::make_shared<wall_clock>());
  }

  ~root_timer_test() override {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(fake_admin, caf::exit_reason::user_shutdown);
    sched.run();
  }

  test_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<counts> seen;
  caf::actor fake_admin;
  context_ptr ctx;
  root_actor aut;
};

} // namespace

TEST_F(root_timer_test, retention_runs_at_start_and_every_interval) {
  aut = sys.spawn(root, caf::actor_cast<admin_actor>(fake_admin),
                  std::vector<std::pair<std::string, caf::actor>>{}, ctx,
                  fatal_handler{}, notifier_actor{}, cluster_actor{});
  sched.run();
  EXPECT_EQ(seen->retention, 1); // once at start-up
  sched.advance_time(std::chrono::minutes(59));
  sched.run();
  EXPECT_EQ(seen->retention, 1);
  sched.advance_time(std::chrono::minutes(1));
  sched.run();
  EXPECT_EQ(seen->retention, 2); // after exactly one hour
  for (int i = 0; i < 24; ++i) {
    sched.advance_time(std::chrono::hours(1));
    sched.run();
  }
  EXPECT_EQ(seen->retention, 26);
}

TEST_F(root_timer_test, a_component_that_stops_calls_the_fatal_handler) {
  auto victim = sys.spawn(
    [](caf::event_based_actor*) -> caf::behavior { return {[](ok_atom) {}}; });
  auto fatal = std::make_shared<std::string>();
  aut = sys.spawn(
    root, caf::actor_cast<admin_actor>(fake_admin),
    std::vector<std::pair<std::string, caf::actor>>{{"store", victim}}, ctx,
    fatal_handler{[fatal](const std::string& name) { *fatal = name; }},
    notifier_actor{}, cluster_actor{});
  sched.run();
  EXPECT_EQ(*fatal, "");
  caf::anon_send_exit(victim, caf::exit_reason::kill);
  sched.run();
  EXPECT_EQ(*fatal, "store");
}

TEST_F(root_timer_test, a_busy_notifier_gets_a_tick_every_notify_interval) {
  auto ticks = std::make_shared<int>(0);
  // Always something left: it asks the ROOT for the next round each time
  // (one with nothing to do: tests/actors/notifier_rest_test.cpp).
  auto fake_notifier
    = sys.spawn([ticks](caf::event_based_actor* self) -> caf::behavior {
        return {[=](tick_atom) {
          ++*ticks;
          self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                     tick_atom::value);
        }};
      });
  auto live = *ctx->live.get();
  live.notify_interval = std::chrono::seconds(2);
  ctx->live.publish(live);
  aut = sys.spawn(
    root, caf::actor_cast<admin_actor>(fake_admin),
    std::vector<std::pair<std::string, caf::actor>>{}, ctx, fatal_handler{},
    caf::actor_cast<notifier_actor>(fake_notifier), cluster_actor{});
  sched.run();
  EXPECT_EQ(*ticks, 1); // at once
  sched.advance_time(std::chrono::seconds(1));
  sched.run();
  EXPECT_EQ(*ticks, 1);
  sched.advance_time(std::chrono::seconds(1));
  sched.run();
  EXPECT_EQ(*ticks, 2);
  for (int i = 0; i < 10; ++i) {
    sched.advance_time(std::chrono::seconds(2));
    sched.run();
  }
  EXPECT_EQ(*ticks, 12);
  // A reload shortens the interval: it counts from the next tick on.
  live.notify_interval = std::chrono::milliseconds(500);
  ctx->live.publish(live);
  sched.advance_time(std::chrono::seconds(2));
  sched.run();
  EXPECT_EQ(*ticks, 13);
  for (int i = 0; i < 4; ++i) {
    sched.advance_time(std::chrono::milliseconds(500));
    sched.run();
  }
  EXPECT_EQ(*ticks, 17);
  caf::anon_send_exit(fake_notifier, caf::exit_reason::user_shutdown);
}

TEST_F(root_timer_test, the_cluster_renews_its_lease_every_third_of_the_ttl) {
  auto leases = std::make_shared<int>(0);
  auto reads = std::make_shared<int>(0);
  auto fake_cluster
    = sys.spawn([leases, reads](caf::event_based_actor*) -> caf::behavior {
        return {[leases](lease_atom) { ++*leases; },
                [reads](shared_atom) { ++*reads; }};
      });
  ctx->opts.lease_ttl = std::chrono::seconds(9);
  aut = sys.spawn(root, caf::actor_cast<admin_actor>(fake_admin),
                  std::vector<std::pair<std::string, caf::actor>>{}, ctx,
                  fatal_handler{}, notifier_actor{},
                  caf::actor_cast<cluster_actor>(fake_cluster));
  sched.run();
  EXPECT_EQ(*leases, 1); // at once: join, then take over what expired
  sched.advance_time(std::chrono::seconds(2));
  sched.run();
  EXPECT_EQ(*leases, 1);
  sched.advance_time(std::chrono::seconds(1));
  sched.run();
  EXPECT_EQ(*leases, 2);
  for (int i = 0; i < 10; ++i) {
    sched.advance_time(std::chrono::seconds(3));
    sched.run();
  }
  EXPECT_EQ(*leases, 12);
  // The safety-net read of the shared pool: at once, then 2 s after the
  // last one (at 2 s; not at 3 s; then one per 3 s step above).
  EXPECT_EQ(*reads, 12);
  for (int i = 0; i < 3; ++i) {
    sched.advance_time(std::chrono::milliseconds(500));
    sched.run();
  }
  EXPECT_EQ(*reads, 12);
  sched.advance_time(std::chrono::milliseconds(500));
  sched.run();
  EXPECT_EQ(*reads, 13);
  EXPECT_EQ(*leases, 12);
  caf::anon_send_exit(fake_cluster, caf::exit_reason::user_shutdown);
}
