// A hung Docker engine must not hold the callers' replies hostage: the
// engine here is a real unix socket that accepts connections and never
// answers. The switch commits, its reply comes when apply-wait has passed on
// the daemon's clock (apply: pending), and the application goes on until the
// engine call times out and is recorded.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/hung_socket.hpp"
#include "fixtures/wait.hpp"

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

struct engine_holder {
  hung_socket engine;
};

daemon_options hung(const std::string& socket) {
  daemon_options o;
  o.docker_socket = socket;
  o.docker_timeout = 2s; // real time: how long the engine call hangs
  o.apply_wait = 5s;     // daemon time: how long the reply waits
  return o;
}

class apply_wait_test : public engine_holder, public daemon_fixture {
protected:
  apply_wait_test() : daemon_fixture(hung(engine.path())) {}
};

} // namespace

TEST_F(apply_wait_test, the_reply_comes_at_apply_wait_and_the_apply_goes_on) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a", "c1");
  auto& self = *self_;
  auto pending
    = self->request(front_door_, 60s, report_atom::value, report("a1"));
  // The switch commits while the engine hangs.
  ASSERT_TRUE(wait_until([&] { return agent("a1").generation == 1; }));
  EXPECT_TRUE(agent("a1").switching); // still waiting for the application
  advance(5000);
  report_result r;
  pending.receive([&](report_result& x) { r = std::move(x); },
                  [&](caf::error& err) { FAIL() << render(err); });
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(r.apply.result, apply_result::pending);
  EXPECT_FALSE(agent("a1").switching);
  // The application went on: the engine call times out and is recorded.
  ASSERT_TRUE(wait_until(
    [&] { return agent("a1").last_apply.result == apply_result::failed; },
    20s));
  EXPECT_NE(agent("a1").last_apply.detail.find("did not answer"),
            std::string::npos)
    << agent("a1").last_apply.detail;
  EXPECT_EQ(agent("a1").applied_generation, 0u);
  EXPECT_EQ(history("a1").at(0).apply.result, apply_result::failed);
}
