// Credential states end to end (the real actors over a real SQLite file,
// requests over a real CAF connection, a manual clock): retired with a
// reason and brought back only by a new token or `subscription reset`,
// drained by an operator, capped, concurrency limits that are no
// exhaustion, and model buckets that move only agents on that model.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/wait.hpp"

#include <algorithm>

using namespace sb;
using namespace sb::test;

namespace {

constexpr auto oauth_ban
  = R"({"type":"error","error":{"type":"permission_error","message":)"
    R"("OAuth authentication is currently not allowed for this )"
    R"(organization."}})";

class credential_states : public daemon_fixture {
protected:
  subscription_info sub(const std::string& name) {
    for (auto& s : subscriptions())
      if (s.name == name)
        return s;
    ADD_FAILURE() << "no subscription " << name;
    return {};
  }

  subscription_state_change state(const std::string& name, subscription_op op) {
    return call<subscription_state_change>(sub_state_atom::value, name, op);
  }

  std::string on(const std::string& agent_name) {
    return agent(agent_name).subscription.value_or("");
  }

  size_t alerts(notification_kind kind) {
    auto all = notifications();
    return static_cast<size_t>(std::count_if(
      all.begin(), all.end(), [kind](auto& n) { return n.kind == kind; }));
  }

  report_result report_model(const std::string& agent_name,
                             const std::string& model,
                             std::vector<http_header> headers) {
    auto r = report(agent_name);
    r.model = model;
    r.headers = std::move(headers);
    return send_report(r);
  }
};

} // namespace

TEST_F(credential_states, a_ban_retires_once_with_one_alert) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  for (auto a : {"a1", "a2", "a3"})
    add_agent(a, "sub-a");
  add_agent("a4", "sub-b");
  auto res = send_report(report("a1", 403, {}, oauth_ban));
  EXPECT_EQ(res.result, outcome::switched) << res.reason;
  // Its other agents are moved, each once, through its own AGENT.
  ASSERT_TRUE(wait_until([&] {
    return on("a2") != "sub-a" && on("a3") != "sub-a" && !on("a2").empty()
           && !on("a3").empty();
  }));
  for (auto a : {"a1", "a2", "a3"})
    EXPECT_EQ(history(a).size(), 1u) << a;
  auto s = sub("sub-a");
  EXPECT_EQ(s.state, credential_state::retired);
  EXPECT_EQ(s.retired, retire_reason::banned);
  EXPECT_EQ(s.agent_count, 0u);
  EXPECT_EQ(alerts(notification_kind::retired), 1u);
  // More failures on it raise no second alert.
  add_agent("a5", "sub-a");
  send_report(report("a5", 403, {}, oauth_ban));
  EXPECT_EQ(alerts(notification_kind::retired), 1u);
  // No window readmits it: hours later it is still out, and the pool's
  // other agents never select it.
  advance(5 * hour_ms);
  EXPECT_EQ(sub("sub-a").state, credential_state::retired);
  for (int i = 0; i < 3; ++i) {
    auto agent_name = "x" + std::to_string(i);
    add_agent(agent_name, "sub-b");
    auto r = send_report(report(agent_name));
    EXPECT_NE(r.to, caf::optional<std::string>{"sub-a"});
    advance(60'000);
  }
  // It survives a restart.
  stop_daemon();
  start_daemon();
  EXPECT_EQ(sub("sub-a").state, credential_state::retired);
}

TEST_F(credential_states, reset_readmits_at_once) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-b");
  send_report(report("a1", 403, {}, oauth_ban));
  ASSERT_EQ(sub("sub-a").state, credential_state::retired);
  // Without --force an agent does not go onto a retired subscription.
  auto refused = try_call<report_result>(assign_atom::value, std::string{"a2"},
                                         std::string{"sub-a"}, false);
  ASSERT_FALSE(refused);
  EXPECT_NE(render(refused.error()).find("--force"), std::string::npos)
    << render(refused.error());
  auto change = state("sub-a", subscription_op::reset);
  EXPECT_EQ(change.info.state, credential_state::active);
  EXPECT_EQ(change.info.excluded_until, 0);
  auto s = sub("sub-a");
  EXPECT_EQ(s.state, credential_state::active);
  EXPECT_EQ(s.excluded_until, 0);
  // At once: the next switch may land on it.
  advance(60'000);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-a"}) << r.reason;
  // And after a restart the old failures do not exclude it again.
  stop_daemon();
  start_daemon();
  EXPECT_EQ(sub("sub-a").excluded_until, 0);
}

TEST_F(credential_states, a_disabled_organization_retires_whatever_its_status) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  auto r = send_report(report("a1", 400, {},
                              R"({"type":"error","error":{"type":)"
                              R"("invalid_request_error","message":"This )"
                              R"(organization has been disabled."}})"));
  EXPECT_EQ(r.result, outcome::switched) << r.reason;
  auto s = sub("sub-a");
  EXPECT_EQ(s.state, credential_state::retired);
  EXPECT_EQ(s.retired, retire_reason::disabled);
  // A plain 400 stays no switch failure.
  add_agent("a2", "sub-b");
  EXPECT_EQ(send_report(report("a2", 400, {}, "max_tokens too large")).result,
            outcome::ignored);
}

TEST_F(credential_states, a_new_token_brings_a_retired_one_back) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  send_report(report("a1", 403, {}, oauth_ban));
  ASSERT_EQ(sub("sub-a").state, credential_state::retired);
  call<subscription_change>(
    sub_add_atom::value,
    subscription_spec{"sub-a", secret{"a-new-token"}, {}, {}, {}});
  EXPECT_NE(sub("sub-a").state, credential_state::retired);
}

TEST_F(credential_states, three_transient_403s_retire_and_one_does_not) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_subscription("sub-c");
  for (auto a : {"a1", "a2", "a3"})
    add_agent(a, "sub-a");
  send_report(report("a1", 403, {}, "Permission denied"));
  auto s = sub("sub-a");
  EXPECT_NE(s.state, credential_state::retired);
  EXPECT_EQ(s.state, credential_state::cooling);
  send_report(report("a2", 403, {}, "Permission denied"));
  EXPECT_NE(sub("sub-a").state, credential_state::retired);
  send_report(report("a3", 403, {}, "Permission denied"));
  s = sub("sub-a");
  EXPECT_EQ(s.state, credential_state::retired);
  EXPECT_EQ(s.retired, retire_reason::banned);
}

TEST_F(credential_states, a_success_between_403s_ends_the_run) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  for (auto a : {"a1", "a2", "a3"})
    add_agent(a, "sub-a");
  send_report(report("a1", 403, {}, "Permission denied"));
  send_report(report("a2", 403, {}, "Permission denied"));
  send_observation(
    observe("a3", {{"anthropic-ratelimit-unified-status", "allowed"}}));
  add_agent("a4", "sub-a");
  send_report(report("a4", 403, {}, "Permission denied"));
  EXPECT_NE(sub("sub-a").state, credential_state::retired);
}

TEST_F(credential_states, a_dead_credential_retires_after_ban_after) {
  set("ban-after", "2");
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-a");
  // "OAuth token has expired" is refreshable: no suspect.
  send_report(report("a1", 401, {}, "OAuth token has expired"));
  EXPECT_NE(sub("sub-a").state, credential_state::retired);
  send_report(report("a2", 401, {}, "Invalid authentication credentials"));
  add_agent("a3", "sub-a");
  send_report(report("a3", 401, {}, "Invalid authentication credentials"));
  auto s = sub("sub-a");
  EXPECT_EQ(s.state, credential_state::retired);
  EXPECT_EQ(s.retired, retire_reason::dead_credential);
}

TEST_F(credential_states, drain_moves_each_agent_once_and_undrain_restores) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    add_subscription(s);
  for (auto a : {"a1", "a2", "a3"})
    add_agent(a, "sub-a");
  // An empty one drained first: never a destination.
  EXPECT_TRUE(state("sub-c", subscription_op::drain).moving.empty());
  auto change = state("sub-a", subscription_op::drain);
  EXPECT_EQ(change.moving, (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(change.info.state, credential_state::draining);
  ASSERT_TRUE(wait_until([&] {
    return on("a1") == "sub-b" && on("a2") == "sub-b" && on("a3") == "sub-b";
  }));
  for (auto a : {"a1", "a2", "a3"})
    EXPECT_EQ(history(a).size(), 1u) << a;
  // Out of selection until undrained, whatever time passes.
  advance(5 * hour_ms);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::no_alternative) << r.reason;
  // assign onto a draining one needs --force.
  auto refused = try_call<report_result>(assign_atom::value, std::string{"a2"},
                                         std::string{"sub-c"}, false);
  ASSERT_FALSE(refused);
  EXPECT_NE(render(refused.error()).find("is draining"), std::string::npos);
  auto forced = try_call<report_result>(assign_atom::value, std::string{"a2"},
                                        std::string{"sub-c"}, true);
  ASSERT_TRUE(forced) << render(forced.error());
  EXPECT_EQ(forced->result, outcome::assigned);
  EXPECT_EQ(state("sub-a", subscription_op::undrain).info.state,
            credential_state::active);
  advance(60'000);
  r = send_report(report("a3"));
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-a"}) << r.reason;
}

TEST_F(credential_states, assign_onto_an_excluded_one_needs_force) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-b");
  send_report(report("a1")); // sub-a excluded, a1 on sub-b
  auto refused = try_call<report_result>(assign_atom::value, std::string{"a2"},
                                         std::string{"sub-a"});
  ASSERT_FALSE(refused);
  EXPECT_NE(render(refused.error()).find("is excluded until"),
            std::string::npos)
    << render(refused.error());
  EXPECT_EQ(on("a2"), "sub-b");
}

TEST_F(credential_states, concurrency_429s_within_the_grace_move_nothing) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  auto busy = report("a1", 429, {}, "Too many concurrent requests. Limit: 1");
  auto r = send_report(busy);
  EXPECT_EQ(r.result, outcome::below_threshold) << r.reason;
  EXPECT_EQ(r.kind, failure_kind::concurrency);
  EXPECT_TRUE(r.retryable);
  advance(30'000);
  busy.arrived_at = 0;
  EXPECT_EQ(send_report(busy).result, outcome::below_threshold);
  // Recorded and counted, never a window on the credential.
  auto s = sub("sub-a");
  EXPECT_EQ(s.excluded_until, 0);
  EXPECT_EQ(s.failures_2h_by_kind[failure_kind::concurrency], 2u);
  EXPECT_EQ(on("a1"), "sub-a");
  // Persisting past the grace (60 s) moves the agent.
  advance(31'000);
  r = send_report(busy);
  EXPECT_EQ(r.result, outcome::switched) << r.reason;
  EXPECT_EQ(sub("sub-a").excluded_until, 0);
  // A gap longer than the grace starts a new run.
  add_agent("a2", "sub-a");
  auto busy2 = report("a2", 429, {}, "Too many concurrent requests");
  EXPECT_EQ(send_report(busy2).result, outcome::below_threshold);
  advance(120'000);
  EXPECT_EQ(send_report(busy2).result, outcome::below_threshold);
  // Through a restart nothing excludes it either.
  stop_daemon();
  start_daemon();
  EXPECT_EQ(sub("sub-a").excluded_until, 0);
}

TEST_F(credential_states, max_agents_holds_under_a_storm) {
  add_subscription("sub-0");
  for (int i = 1; i <= 4; ++i)
    call<subscription_change>(
      sub_add_atom::value,
      subscription_spec{"sub-" + std::to_string(i),
                        secret{"token-" + std::to_string(i)},
                        {},
                        {},
                        8u});
  std::vector<failure_report> storm;
  for (int i = 0; i < 40; ++i) {
    auto name = "agent-" + std::to_string(i);
    add_agent(name, "sub-0");
    storm.push_back(report(name));
  }
  auto rs = send_concurrently(storm);
  EXPECT_EQ(count(rs, outcome::switched), 32u);
  EXPECT_EQ(count(rs, outcome::no_alternative), 8u);
  auto c = counts();
  for (int i = 1; i <= 4; ++i) {
    EXPECT_EQ(c["sub-" + std::to_string(i)], 8u);
    EXPECT_EQ(sub("sub-" + std::to_string(i)).max_agents, 8u);
  }
  // A raised cap makes room for one that found none.
  call<subscription_state_change>(sub_set_atom::value, std::string{"sub-1"},
                                  9u);
  advance(60'000);
  auto left = std::find_if(rs.begin(), rs.end(), [](auto& x) {
    return x.result == outcome::no_alternative;
  });
  ASSERT_NE(left, rs.end());
  EXPECT_EQ(send_report(report(left->agent)).to,
            caf::optional<std::string>{"sub-1"});
}

TEST_F(credential_states, a_model_bucket_moves_only_agents_on_that_model) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("opus-1", "sub-a");
  add_agent("sonnet-1", "sub-a");
  // The evidence of CLIProxyAPI #5915: only the Opus weekly bucket is out.
  std::vector<http_header> oi
    = {{"anthropic-ratelimit-unified-status", "rejected"},
       {"anthropic-ratelimit-unified-representative-claim",
        "seven_day_overage_included"},
       {"anthropic-ratelimit-unified-7d-utilization", "0.69"},
       {"anthropic-ratelimit-unified-5h-utilization", "0.00"},
       {"anthropic-ratelimit-unified-7d_oi-status", "rejected"},
       {"anthropic-ratelimit-unified-7d_oi-utilization", "1.02"},
       {"anthropic-ratelimit-unified-7d_oi-reset",
        std::to_string((t0 + 3 * day_ms) / 1000)},
       {"retry-after", "121180"}};
  // A Sonnet request that saw it is not switched.
  auto r = report_model("sonnet-1", "claude-sonnet-4-5", oi);
  EXPECT_EQ(r.result, outcome::ignored) << r.reason;
  EXPECT_EQ(on("sonnet-1"), "sub-a");
  // An Opus agent is switched away.
  r = report_model("opus-1", "claude-opus-4-1", oi);
  EXPECT_EQ(r.result, outcome::switched) << r.reason;
  EXPECT_EQ(on("opus-1"), "sub-b");
  // The credential itself is not excluded; its Opus bucket is.
  auto s = sub("sub-a");
  EXPECT_EQ(s.excluded_until, 0);
  ASSERT_EQ(s.model_excluded.count("opus"), 1u);
  EXPECT_EQ(s.model_excluded["opus"], t0 + 3 * day_ms);
  EXPECT_EQ(on("sonnet-1"), "sub-a");
  // Selection for a Sonnet agent still takes sub-a; for an Opus one not.
  advance(60'000);
  add_agent("sonnet-2", "sub-b");
  r = report_model("sonnet-2", "claude-sonnet-4-5", {});
  EXPECT_EQ(r.to, caf::optional<std::string>{"sub-a"}) << r.reason;
  advance(60'000);
  r = report_model("opus-1", "claude-opus-4-1", {});
  EXPECT_EQ(r.result, outcome::no_alternative) << r.reason;
}
