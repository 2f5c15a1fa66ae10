// Pools and providers end to end: the real actors over a real SQLite file,
// requests over a real CAF connection, a manual clock. Selection never
// leaves an agent's pool, a pool holds one provider, a report is read with
// the signals of its credential's provider, and every report answer says
// what the caller should do next.

#include "fixtures/daemon_fixture.hpp"

#include <set>

using namespace sb;
using namespace sb::test;

namespace {

class pools : public daemon_fixture {
protected:
  subscription_change add(const std::string& name, provider_kind provider,
                          const std::string& pool) {
    return call<subscription_change>(
      sub_add_atom::value,
      subscription_spec{name, secret{"token-of-" + name}, provider, pool, {}});
  }

  caf::expected<subscription_change>
  try_add(const std::string& name, caf::optional<provider_kind> provider,
          const std::string& pool, const std::string& token = {}) {
    return try_call<subscription_change>(
      sub_add_atom::value,
      subscription_spec{name,
                        secret{token.empty() ? "token-of-" + name : token},
                        provider,
                        pool,
                        {}});
  }

  agent_info add_in(const std::string& name, const std::string& sub,
                    const std::string& pool = {}) {
    return call<agent_info>(agent_add_atom::value,
                            agent_spec{name, sub, "", pool});
  }

  std::map<std::string, subscription_info> by_name() {
    std::map<std::string, subscription_info> result;
    for (auto& s : subscriptions())
      result[s.name] = s;
    return result;
  }
};

} // namespace

// The issue's case: a Codex agent's 429 never moves it onto a Claude
// token, and the 20-second hint of an OpenAI key is the exclusion.
TEST_F(pools, a_codex_agent_never_lands_on_a_claude_token) {
  add_subscription("team-d"); // anthropic, pool default
  add("openai-1", provider_kind::openai, "openai");
  add_in("codex-1", "openai-1");
  EXPECT_EQ(agent("codex-1").pool, "openai");
  auto r = report("codex-1");
  r.headers = {{"x-ratelimit-reset-requests", "20s"}};
  auto res = send_report(r);
  EXPECT_EQ(res.result, outcome::no_alternative) << res.reason;
  EXPECT_EQ(agent("codex-1").subscription, std::string{"openai-1"});
  // The hint was read with OpenAI's signals: 20 s, not the window.
  auto subs = by_name();
  EXPECT_EQ(subs["openai-1"].excluded_until, now() + 20'000);
  EXPECT_EQ(subs["team-d"].agent_count, 0u);
  // The reply says when to try again, and that it is soon.
  EXPECT_EQ(res.reset_at, now() + 20'000);
  EXPECT_EQ(res.retry_after_ms, 20'000);
  EXPECT_TRUE(res.retryable);
  // Once the 20 s are over it serves again.
  advance(20'001);
  EXPECT_EQ(by_name()["openai-1"].excluded_until, 0);
}

TEST_F(pools, a_pool_holds_one_provider) {
  add("codex-a", provider_kind::codex, "codex");
  auto err = try_add("claude-x", provider_kind::anthropic, "codex");
  ASSERT_FALSE(err);
  EXPECT_NE(render(err.error()).find("pool 'codex' holds codex"),
            std::string::npos)
    << render(err.error());
  // Nothing was written.
  EXPECT_EQ(by_name().count("claude-x"), 0u);
  // The default pool is Anthropic's once it has a subscription.
  add_subscription("team-a");
  EXPECT_FALSE(try_add("codex-b", provider_kind::codex, ""));
  // A pool of its own works.
  EXPECT_TRUE(try_add("codex-b", provider_kind::codex, "codex"));
}

TEST_F(pools, a_rotation_keeps_provider_and_pool) {
  add("codex-a", provider_kind::codex, "codex");
  // A new token without naming them: rotated, same provider and pool.
  auto rot = try_add("codex-a", caf::none, "", "new-token-of-codex-a");
  ASSERT_TRUE(rot) << render(rot.error());
  EXPECT_TRUE(rot->rotated);
  EXPECT_EQ(rot->info.provider, provider_kind::codex);
  EXPECT_EQ(rot->info.pool, "codex");
  // Naming others is refused, and changes nothing.
  auto moved = try_add("codex-a", caf::none, "elsewhere", "third-token");
  ASSERT_FALSE(moved);
  EXPECT_NE(render(moved.error()).find("is in pool 'codex'"),
            std::string::npos);
  auto other = try_add("codex-a", provider_kind::openai, "", "third-token");
  ASSERT_FALSE(other);
  EXPECT_EQ(by_name()["codex-a"].provider, provider_kind::codex);
}

TEST_F(pools, an_agent_joins_the_pool_of_its_subscription_or_the_one_named) {
  add("codex-a", provider_kind::codex, "codex");
  EXPECT_EQ(add_in("c1", "codex-a").pool, "codex");
  EXPECT_EQ(add_in("c2", "", "codex").pool, "codex");
  EXPECT_EQ(add_in("c3", "").pool, "default");
  // A subscription of another pool than the one named: refused.
  auto err = try_call<agent_info>(agent_add_atom::value,
                                  agent_spec{"c4", "codex-a", "", "default"});
  ASSERT_FALSE(err);
  EXPECT_NE(render(err.error()).find("is in pool 'codex'"), std::string::npos);
  // An agent without a subscription gets one of its own pool only.
  add_subscription("team-a");
  auto res = send_report(report("c2", 401));
  EXPECT_EQ(res.result, outcome::no_subscription);
}

TEST_F(pools, manual_assignment_stays_in_the_pool) {
  add_subscription("team-a");
  add("codex-a", provider_kind::codex, "codex");
  add_in("c1", "codex-a");
  auto res = try_call<report_result>(assign_atom::value, std::string{"c1"},
                                     std::string{"team-a"});
  ASSERT_FALSE(res);
  EXPECT_NE(render(res.error()).find("only moves within its pool"),
            std::string::npos)
    << render(res.error());
  EXPECT_EQ(agent("c1").subscription, std::string{"codex-a"});
}

// A storm in each of two pools in one daemon: every agent ends on a
// subscription of its own pool, spread within it, never crossed.
TEST_F(pools, storms_in_two_pools_never_cross) {
  std::set<std::string> claude, codex;
  for (int i = 0; i < 4; ++i) {
    auto c = "claude-" + std::to_string(i);
    add(c, provider_kind::anthropic, "claude");
    claude.insert(c);
    auto x = "codex-" + std::to_string(i);
    add(x, provider_kind::codex, "codex");
    codex.insert(x);
  }
  std::vector<failure_report> storm;
  for (int i = 0; i < 40; ++i) {
    auto a = "ca-" + std::to_string(i);
    add_in(a, "claude-0");
    storm.push_back(report(a));
    auto b = "xa-" + std::to_string(i);
    add_in(b, "codex-0");
    auto r = report(b);
    r.error = R"({"error":{"type":"usage_limit_reached","resets_in_seconds":)"
              R"(3600}})";
    storm.push_back(r);
  }
  auto rs = send_concurrently(storm);
  EXPECT_EQ(count(rs, outcome::switched), 80u);
  for (auto& a : agents()) {
    ASSERT_TRUE(a.subscription) << a.name;
    auto& own = a.pool == "claude" ? claude : codex;
    EXPECT_EQ(own.count(*a.subscription), 1u)
      << a.name << " of pool " << a.pool << " is on " << *a.subscription;
    EXPECT_NE(*a.subscription, a.pool == "claude" ? "claude-0" : "codex-0");
  }
  auto c = counts();
  for (int i = 1; i < 4; ++i) {
    EXPECT_GE(c["claude-" + std::to_string(i)], 13u);
    EXPECT_GE(c["codex-" + std::to_string(i)], 13u);
  }
  // The Codex body's hour is codex-0's exclusion.
  EXPECT_EQ(by_name()["codex-0"].excluded_until, t0 + 3'600'000);
  // Status counts per pool.
  auto st = call<status_info>(status_atom::value);
  ASSERT_TRUE(st.pool);
  ASSERT_EQ(st.pool->pools.size(), 2u);
  EXPECT_EQ(st.pool->pools["codex"].provider, provider_kind::codex);
  EXPECT_EQ(st.pool->pools["codex"].subscriptions, 4u);
  EXPECT_EQ(st.pool->pools["codex"].agents, 40u);
  EXPECT_EQ(st.pool->pools["codex"].excluded, 1u);
}

TEST_F(pools, pools_and_providers_survive_a_restart) {
  add("gem-a", provider_kind::gemini, "gemini");
  add_in("g1", "gem-a");
  stop_daemon();
  start_daemon();
  auto subs = by_name();
  EXPECT_EQ(subs["gem-a"].provider, provider_kind::gemini);
  EXPECT_EQ(subs["gem-a"].pool, "gemini");
  EXPECT_EQ(agent("g1").pool, "gemini");
  // Still read as Gemini: a per-minute quota excludes for a minute.
  auto r = report("g1");
  r.error = R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED",)"
            R"("details":[{"@type":"type.googleapis.com/google.rpc.)"
            R"(QuotaFailure","violations":[{"quotaId":"PerMinute"}]}]}})";
  send_report(r);
  EXPECT_EQ(by_name()["gem-a"].excluded_until, now() + 60'000);
}

TEST_F(pools, every_report_answer_says_what_to_do_next) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-a");
  // Switched: retry now.
  auto res = send_report(report("a1"));
  EXPECT_EQ(res.result, outcome::switched);
  EXPECT_TRUE(res.retryable);
  EXPECT_EQ(res.retry_after_ms, 0);
  // Not a switch failure: do not retry.
  res = send_report(report("a2", 500, {}, "Internal server error"));
  EXPECT_FALSE(res.retryable) << to_string(res.result);
  // No alternative with an hour to wait: not soon, but the instant is said
  // and is in the future (past the settle window of a1's switch first).
  advance(60'000);
  auto r = report("a1");
  r.retry_after_ms = 3'600'000;
  res = send_report(r);
  ASSERT_EQ(res.result, outcome::no_alternative) << res.reason;
  EXPECT_FALSE(res.retryable);
  EXPECT_GT(res.reset_at, now());
  EXPECT_EQ(res.retry_after_ms, res.reset_at - now());
  // Without any reset instant known: none invented.
  add_subscription("sub-c");
  add_agent("a3", "sub-c");
  auto r3 = report("a3", 401, {}, "OAuth token has expired");
  res = send_report(r3);
  if (res.result == outcome::no_alternative && res.reset_at != 0) {
    EXPECT_GT(res.reset_at, now());
  }
}
