// Checks where the data lands: messages sent straight to an AGENT and to the
// POOL, in process, past the FRONT DOOR (as if one door had been left open).
// Each is refused with the FRONT DOOR's error, or made safe, and nothing
// changes: no event, no switch, no count. Real actors, a real SQLite file.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/wait.hpp"
#include "messages/validate.hpp"

#include <caf/scoped_actor.hpp>

#include <limits>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

class landing_checks : public daemon_fixture {
protected:
  landing_checks() : local(*server_) {
    add_subscription("sub-a");
    add_subscription("sub-b");
    add_agent("a1", "sub-a");
    add_agent("a2");
    for (auto& s : subscriptions())
      ids[s.name] = s.id;
  }

  agent_actor a1() { return daemon_->context()->directory.get()->find("a1"); }

  /// Sends `xs` straight to `dest` and returns its error (none: answered).
  template<class T, class Dest, class... Ts>
  caf::error refusal(const Dest& dest, Ts&&... xs) {
    caf::error result;
    local->request(dest, 30s, std::forward<Ts>(xs)...)
      .receive([](T&) {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::error report_error(failure_report r) {
    return refusal<report_result>(a1(), report_atom::value, std::move(r));
  }

  /// What must not change: counts, the POOL's exclusions and selections,
  /// a1's assignment, and nothing recorded.
  void unchanged() {
    EXPECT_EQ(counts(),
              (std::map<std::string, uint32_t>{{"sub-a", 1}, {"sub-b", 0}}));
    auto a = agent("a1");
    EXPECT_EQ(a.generation, 0u);
    EXPECT_EQ(a.subscription, caf::optional<std::string>{"sub-a"});
    EXPECT_FALSE(a.switching);
    auto st = call<status_info>(status_atom::value);
    ASSERT_TRUE(st.pool);
    EXPECT_EQ(st.pool->excluded, 0u);
    EXPECT_EQ(st.pool->selections, 0u);
    EXPECT_TRUE(events().empty());
    EXPECT_TRUE(history().empty());
  }

  failure_report stamped(int32_t status = 429) {
    auto r = report("a1", status);
    r.arrived_at = now();
    return r;
  }

  caf::scoped_actor local;
  std::map<std::string, int64_t> ids;
};

void expect_error(const caf::error& err, ec code, const std::string& text) {
  EXPECT_TRUE(is(err, code)) << render(err);
  EXPECT_NE(render(err).find(text), std::string::npos) << render(err);
}

} // namespace

TEST_F(landing_checks, an_agent_refuses_what_the_front_door_refuses) {
  auto r = stamped();
  r.arrived_at = now() + 200 * day_ms;
  expect_error(report_error(r), ec::invalid_argument,
               "more than a minute ahead");
  r = stamped();
  r.arrived_at = now() - 11 * minute_ms;
  expect_error(report_error(r), ec::invalid_argument,
               "more than ten minutes behind");
  r = stamped();
  r.agent = "a1\xFF";
  expect_error(report_error(r), ec::invalid_name, "not valid UTF-8");
  expect_error(report_error(stamped(42)), ec::invalid_argument, "got 42");
  r = stamped();
  r.agent = "a2";
  expect_error(report_error(r), ec::invalid_argument, "reached agent 'a1'");
  r = stamped();
  r.subscription = "sub-zz";
  expect_error(report_error(r), ec::unknown_subscription, "sub-zz");
  r = stamped();
  r.token_sha256 = "not-a-fingerprint";
  EXPECT_TRUE(report_error(r));
  r = stamped();
  r.headers.push_back({"bad header", "x"});
  expect_error(report_error(r), ec::invalid_argument, "header name");
  // An observation, a reassignment, a setting, a container operation.
  observation o;
  o.agent = "a1";
  o.arrived_at = now();
  expect_error(refusal<report_result>(a1(), observe_atom::value, o),
               ec::invalid_argument, "needs the response's headers");
  o.headers.push_back({"anthropic-ratelimit-unified-status", "rejected"});
  o.arrived_at = now() + 200 * day_ms;
  expect_error(refusal<report_result>(a1(), observe_atom::value, o),
               ec::invalid_argument, "more than a minute ahead");
  expect_error(refusal<report_result>(a1(), assign_atom::value,
                                      std::string{"sub-\x1B[31m"}, false),
               ec::invalid_name, "control character");
  expect_error(refusal<agent_info>(a1(), agent_set_atom::value,
                                   static_cast<auto_switch_mode>(42)),
               ec::invalid_argument, "on or off");
  expect_error(
    refusal<apply_outcome>(a1(), lifecycle_atom::value, container_op::inspect),
    ec::invalid_argument, "unknown container operation");
  unchanged();
  // A good report straight to the agent still works (it is no broken actor).
  auto ok = stamped();
  ok.error = "quota \xFF\xFE gone \x1B[31mred\x1B[0m\x1B]0;title\x07";
  caf::error none;
  report_result res;
  local->request(a1(), 30s, report_atom::value, ok)
    .receive([&](report_result& x) { res = std::move(x); },
             [&](caf::error& err) { none = std::move(err); });
  EXPECT_FALSE(none) << render(none);
  EXPECT_EQ(res.result, outcome::switched);
  // Its text was made safe before it was stored, never stored raw.
  auto evs = events("a1");
  ASSERT_EQ(evs.size(), 1u);
  auto& text = evs.front().message;
  EXPECT_TRUE(valid_utf8(text)) << text;
  EXPECT_EQ(text.find('\x1B'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos) << text;
  EXPECT_NE(text.find("\\x1B[31mred"), std::string::npos) << text;
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos) << text;
}

TEST_F(landing_checks, the_pool_refuses_what_the_front_door_refuses) {
  auto pool = daemon_->pool();
  // A join for an agent nobody added, again and again: no count moves.
  for (int i = 0; i < 50; ++i)
    local->send(pool, join_atom::value, std::string{"ghost"}, ids["sub-b"]);
  // Nor on anybody's word but the agent's own (or the ADMIN's).
  local->send(pool, join_atom::value, std::string{"a2"}, ids["sub-b"]);
  local->send(pool, leave_atom::value, std::string{"a1"}, ids["sub-a"]);
  local->send(pool, release_atom::value, std::string{"a1"}, ids["sub-b"],
              ids["sub-a"]);
  local->send(pool, join_atom::value, std::string{"a\xFF"}, ids["sub-a"]);
  const std::string pool_name = default_pool;
  expect_error(refusal<selection>(pool, select_atom::value, std::string{"a1"},
                                  ids["sub-a"], pool_name, std::string{}),
               ec::forbidden, "itself");
  expect_error(refusal<selection>(pool, select_atom::value,
                                  std::string{"ghost"}, ids["sub-a"], pool_name,
                                  std::string{}),
               ec::unknown_agent, "ghost");
  expect_error(refusal<selection>(pool, assign_atom::value, std::string{"a1"},
                                  ids["sub-a"], std::string{"sub-b"}, pool_name,
                                  false),
               ec::forbidden, "itself");
  // Failures and evidence with names, numbers and instants out of range.
  provider_evidence none;
  local->send(pool, failure_atom::value, std::string{"sub-\x1B"}, now(),
              millis{0}, none);
  local->send(pool, failure_atom::value, std::string{"sub-a"},
              now() + 200 * day_ms, millis{0}, none);
  local->send(pool, failure_atom::value, std::string{"sub-a"}, now(),
              now() + 400 * day_ms, none);
  provider_evidence bad;
  bad.at = now();
  bad.five_hour.utilization = 7.0;
  local->send(pool, failure_atom::value, std::string{"sub-a"}, now(), millis{0},
              bad);
  expect_error(
    refusal<headroom>(pool, evidence_atom::value, std::string{"sub-a"}, bad),
    ec::invalid_argument, "utilization");
  bad.five_hour.utilization = std::numeric_limits<double>::quiet_NaN();
  expect_error(
    refusal<headroom>(pool, evidence_atom::value, std::string{"sub-a"}, bad),
    ec::invalid_argument, "utilization");
  bad.five_hour.utilization = caf::none;
  bad.status = static_cast<provider_status>(42);
  expect_error(
    refusal<headroom>(pool, evidence_atom::value, std::string{"sub-a"}, bad),
    ec::invalid_argument, "status");
  // Subscriptions: names and tokens as the FRONT DOOR checks them.
  expect_error(
    refusal<subscription_change>(
      pool, sub_add_atom::value,
      subscription_spec{std::string{"sub\n"}, secret{"tok"}, {}, {}, {}}),
    ec::invalid_name, "control character");
  expect_error(
    refusal<subscription_change>(
      pool, sub_add_atom::value,
      subscription_spec{std::string{"sub-c"}, secret{"two words"}, {}, {}, {}}),
    ec::invalid_argument, "printable ASCII");
  expect_error(refusal<std::vector<std::string>>(pool, sub_rm_atom::value,
                                                 std::string{"\xFF"}),
               ec::invalid_name, "not valid UTF-8");
  // The POOL took all of the above before its last answer (one sender).
  unchanged();
  EXPECT_EQ(subscriptions().size(), 2u);
  EXPECT_EQ(agent("a2").subscription, caf::none);
  // The agents' own requests still move their counts.
  auto r = call<report_result>(assign_atom::value, std::string{"a2"},
                               std::string{"sub-b"});
  EXPECT_EQ(r.result, outcome::assigned) << r.reason;
  EXPECT_EQ(counts(),
            (std::map<std::string, uint32_t>{{"sub-a", 1}, {"sub-b", 1}}));
}
