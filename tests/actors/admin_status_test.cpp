// `status` with a component that never answers: on CAF's deterministic
// scheduler, the ADMIN's fan-out waits for its deadline, then answers with
// the silent component listed as unresponsive and the others' records; the
// ADMIN itself stays up.

#include "actors/admin.hpp"
#include "messages/register.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <gtest/gtest.h>

#include <optional>

using namespace sb;

namespace {

struct test_config : caf::actor_system_config {
  test_config() {
    sb::add_message_types(*this);
    set("scheduler.policy", caf::atom("testing"));
  }
};

/// A component that answers `status` with `answer`.
template<class Status>
caf::actor answering(caf::actor_system& sys, Status answer) {
  return sys.spawn([answer](caf::event_based_actor*) -> caf::behavior {
    return {[answer](status_atom) { return answer; }};
  });
}

/// A component that takes `status` and never answers (a stalled pool).
caf::actor silent(caf::actor_system& sys,
                  std::shared_ptr<std::vector<caf::response_promise>> held) {
  return sys.spawn([held](caf::event_based_actor* self) -> caf::behavior {
    return {[=](status_atom) {
      auto rp = self->make_response_promise();
      held->push_back(rp);
      return rp;
    }};
  });
}

} // namespace

TEST(admin_status, a_component_that_never_answers_is_listed_unresponsive) {
  test_config cfg;
  caf::actor_system sys{cfg};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto held = std::make_shared<std::vector<caf::response_promise>>();
  auto store = answering(
    sys, store_status{"state.db", 7, 9, 0, 0, 3, 0, 0, true, {}, 0});
  auto pool = silent(sys, held);
  supervisor_status sup;
  sup.workers = 4;
  auto supervisor = answering(sys, sup);
  auto ctx = std::make_shared<daemon_context>(
    daemon_options{}, engine_settings{}, std::make_shared<wall_clock>());
  auto aut = sys.spawn(admin, caf::actor_cast<store_actor>(store),
                       caf::actor_cast<pool_actor>(pool),
                       caf::actor_cast<supervisor_actor>(supervisor), ctx,
                       std::make_shared<const snapshot>());
  auto result = std::make_shared<std::optional<status_info>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(aut, caf::infinite, status_atom::value)
      .then([=](status_info& x) { *result = std::move(x); });
  });
  sched.run();
  // The store and the supervisor answered, the pool did not: no answer yet.
  EXPECT_EQ(held->size(), 1u);
  EXPECT_FALSE(*result);
  // The deadline passes.
  sched.advance_time(std::chrono::seconds(3));
  sched.run();
  ASSERT_TRUE(*result);
  auto& st = **result;
  ASSERT_EQ(st.components.size(), 4u);
  std::map<std::string, component_health> by_name;
  for (auto& c : st.components)
    by_name[c.name] = c;
  EXPECT_EQ(by_name["admin"].state, health::running);
  EXPECT_EQ(by_name["store"].state, health::running);
  EXPECT_EQ(by_name["container-supervisor"].state, health::running);
  EXPECT_EQ(by_name["subscription-pool"].state, health::unresponsive);
  EXPECT_FALSE(by_name["subscription-pool"].error.empty());
  ASSERT_TRUE(st.store);
  EXPECT_EQ(st.store->commits, 7u);
  ASSERT_TRUE(st.supervisor);
  EXPECT_EQ(st.supervisor->workers, 4u);
  EXPECT_FALSE(st.pool);
  EXPECT_FALSE(st.subscriptions); // unknown, not 0
  // The ADMIN is still there and answers the next request.
  result->reset();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(aut, caf::infinite, status_atom::value)
      .then([=](status_info& x) { *result = std::move(x); });
  });
  sched.run();
  sched.advance_time(std::chrono::seconds(3));
  sched.run();
  EXPECT_TRUE(*result);
  caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
  for (auto& x : {store, pool, supervisor})
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
  sched.run();
}
