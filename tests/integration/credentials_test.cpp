// Credentials with a lifecycle, end to end: the real switchboardd and CLI
// against a fake OAuth token endpoint (a real HTTP server in
// tests/fixtures/oauth_endpoint.hpp) that issues access tokens of a few
// seconds, spends each refresh token on use and revokes a family whose
// spent token comes back. What the endpoint saw is the referee: one
// refresh per access token, inside its lifetime, never a spent token.

#include "fixtures/http_client.hpp"
#include "fixtures/oauth_endpoint.hpp"
#include "fixtures/wait.hpp"
#include "integration/live_daemon.hpp"
#include "messages/fingerprint.hpp"
#include "messages/time.hpp"

#include <chrono>
#include <future>
#include <set>
#include <thread>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Claude Code's .credentials.json of a login.
std::string claude_login(const token_grant& g) {
  return json{{"claudeAiOauth",
               {{"accessToken", g.access_token},
                {"refreshToken", g.refresh_token},
                {"expiresAt", g.expires_at_ms},
                {"scopes", {"user:inference", "user:profile"}}}}}
    .dump();
}

class credentials : public live_daemon {
protected:
  /// The daemon with its refresher pointed at the fake endpoint: refresh
  /// at half of a lifetime, look every 100 ms, back off from 500 ms.
  void start_daemon() {
    start({"--switchboard.anthropic-token-url=" + endpoint.url(),
           "--switchboard.refresh-ahead=50",
           "--switchboard.refresh-ahead-min=0s",
           "--switchboard.refresh-interval=100ms",
           "--switchboard.refresh-backoff=500ms",
           "--switchboard.refresh-backoff-max=4s",
           "--switchboard.refresh-timeout=2s"});
  }

  /// Every CLI output is kept: no refresh token may ever show up in one.
  json show(const std::string& name) {
    auto res = cli({"--json", "subscription", "show", name});
    outputs += res.out + res.err;
    EXPECT_EQ(res.rc, 0) << res.err;
    return json::parse(res.out, nullptr, false);
  }

  json ok_kept(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), "--json");
    auto res = cli(args, input);
    outputs += res.out + res.err;
    EXPECT_EQ(res.rc, 0) << res.err;
    return json::parse(res.out, nullptr, false);
  }

  /// The fingerprint `subscription show` gives belongs to an access token
  /// the endpoint issued that is still valid now.
  bool holds_a_live_token(const json& sub) {
    auto prefix = sub.value("fingerprint", std::string{});
    auto at = now_ms();
    for (auto& t : endpoint.issued_access_tokens())
      if (token_fingerprint(t).rfind(prefix, 0) == 0)
        return endpoint.is_valid_access(t, at);
    return false;
  }

  /// Each refresh request spent the newest refresh token, inside the
  /// lifetime of the access token issued with it, and none came twice.
  void expect_one_refresh_per_lifetime() {
    auto reqs = endpoint.requests();
    auto access = endpoint.issued_access_tokens();
    auto refresh = endpoint.issued_refresh_tokens();
    std::set<std::string> seen;
    size_t i = 0;
    for (auto& r : reqs) {
      if (r.status != 200)
        continue;
      ASSERT_LT(i, refresh.size());
      EXPECT_EQ(r.refresh_token, refresh[i]) << "refresh " << i;
      EXPECT_LT(r.at_ms, *endpoint.expires_at_of(access[i]))
        << "refresh " << i << " came after its access token expired";
      EXPECT_TRUE(seen.insert(r.refresh_token).second);
      ++i;
    }
    EXPECT_EQ(endpoint.reused(), 0);
  }

  /// No refresh token in the database file, its WAL, the log or any output.
  void expect_no_refresh_token_at_rest() {
    auto db = slurp(db_path());
    auto wal = slurp(db_path() + "-wal");
    auto log = daemon->log();
    for (auto& t : endpoint.issued_refresh_tokens()) {
      EXPECT_EQ(db.find(t), std::string::npos) << "in the database file";
      EXPECT_EQ(wal.find(t), std::string::npos) << "in the WAL";
      EXPECT_EQ(log.find(t), std::string::npos) << "in the log";
      EXPECT_EQ(outputs.find(t), std::string::npos) << "in a CLI output";
    }
    for (auto& t : endpoint.issued_access_tokens())
      EXPECT_EQ(log.find(t), std::string::npos) << "an access token logged";
  }

  /// A daemon with the login "team" (access tokens of 4 s), the static
  /// token "spare" in the same pool, and agent a1 on "team".
  token_grant start_with_login_and_spare() {
    endpoint.set_lifetime(4s);
    auto login = endpoint.issue_family();
    start_daemon();
    ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
            claude_login(login));
    ok_kept({"subscription", "add", "spare", "--token-file", "-"},
            "sk-ant-oat01-spare-token");
    ok_kept({"agent", "add", "a1", "--subscription", "team"});
    return login;
  }

  oauth_endpoint endpoint;
  std::string outputs;
};

} // namespace

TEST_F(credentials, three_agents_on_one_login_over_ten_lifetimes) {
  endpoint.set_lifetime(3s);
  auto login = endpoint.issue_family();
  start_daemon();
  auto added = ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
                       claude_login(login));
  EXPECT_EQ(added["kind"], "oauth");
  for (auto a : {"a1", "a2", "a3"})
    ok_kept({"agent", "add", a, "--subscription", "team"});
  // Ten refreshes, each checked while it happens: the daemon always holds
  // an access token the endpoint considers alive.
  int stale = 0;
  ASSERT_TRUE(wait_until(
    [&] {
      if (!holds_a_live_token(show("team")))
        ++stale;
      return endpoint.refreshes_ok() >= 10;
    },
    90s))
    << endpoint.refreshes_ok() << " refreshes\n"
    << daemon->log();
  EXPECT_EQ(stale, 0);
  expect_one_refresh_per_lifetime();
  auto sub = show("team");
  EXPECT_EQ(sub["refresh"]["state"], "ok");
  EXPECT_GE(sub["refresh"]["refreshes"].get<int>(), 10);
  EXPECT_EQ(sub["state"], "active");
  // Every agent followed each refresh through its own AGENT (a rotation).
  auto agents = ok_kept({"agent", "list"});
  for (auto& a : agents)
    EXPECT_GE(a["generation"].get<int>(), 10) << a.dump();
  // The endpoint was asked the way the official CLI asks.
  for (auto& r : endpoint.requests()) {
    EXPECT_EQ(r.grant_type, "refresh_token");
    EXPECT_EQ(r.client_id, "9d1c250a-e61b-44d9-88ed-5944d1962f5e");
    EXPECT_NE(r.headers["content-type"].find("application/json"),
              std::string::npos);
  }
  expect_no_refresh_token_at_rest();
}

TEST_F(credentials, a_restart_between_refreshes_uses_the_latest_refresh_token) {
  endpoint.set_lifetime(3s);
  auto login = endpoint.issue_family();
  start_daemon();
  ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
          claude_login(login));
  ASSERT_TRUE(wait_until([&] { return endpoint.refreshes_ok() >= 2; }, 30s));
  ASSERT_TRUE(daemon->terminate().has_value());
  auto before = endpoint.refreshes_ok();
  start_daemon();
  ASSERT_TRUE(
    wait_until([&] { return endpoint.refreshes_ok() >= before + 2; }, 30s))
    << daemon->log();
  expect_one_refresh_per_lifetime();
  EXPECT_TRUE(holds_a_live_token(show("team")));
  expect_no_refresh_token_at_rest();
}

TEST_F(credentials, a_storm_of_429_and_500_backs_off_and_kills_nothing) {
  endpoint.set_lifetime(6s);
  auto login = endpoint.issue_family();
  endpoint.fail_always(429, 1);
  start_daemon();
  ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
          claude_login(login));
  ok_kept({"subscription", "add", "spare", "--token-file", "-"},
          "sk-ant-oat01-spare-token");
  ok_kept({"agent", "add", "a1", "--subscription", "team"});
  // The first attempt comes at half of the lifetime; then it backs off.
  ASSERT_TRUE(endpoint.wait_for_requests(1, 20s));
  auto first = now_ms();
  ASSERT_TRUE(wait_until(
    [&] { return show("team")["refresh"]["state"] == "backoff"; }, 10s));
  auto sub = show("team");
  EXPECT_EQ(sub["refresh"]["detail"].get<std::string>().rfind("HTTP 429", 0),
            0u)
    << sub.dump();
  EXPECT_FALSE(sub["refresh"]["next_attempt_at"].is_null());
  EXPECT_EQ(sub["state"], "active");
  // Six seconds of 429 then 500: attempts back off (0.5, 1, 2, 4 s...).
  ASSERT_TRUE(wait_until([&] { return now_ms() - first >= 3000; }, 10s));
  endpoint.fail_always(500);
  ASSERT_TRUE(wait_until([&] { return now_ms() - first >= 6000; }, 10s));
  auto storm = endpoint.requests().size();
  EXPECT_LE(storm, 7u) << "a refresh storm";
  EXPECT_GE(storm, 2u);
  EXPECT_EQ(endpoint.refreshes_ok(), 0);
  // Its access token lapsed meanwhile: out of selection, its agent moved.
  ASSERT_TRUE(wait_until(
    [&] {
      return ok_kept({"agent", "show", "a1"})["subscription"] == "spare";
    },
    10s));
  EXPECT_NE(show("team")["refresh"]["detail"].get<std::string>().find(
              "out of selection"),
            std::string::npos);
  endpoint.heal();
  ASSERT_TRUE(wait_until([&] { return endpoint.refreshes_ok() >= 1; }, 20s))
    << daemon->log();
  ASSERT_TRUE(
    wait_until([&] { return show("team")["refresh"]["state"] == "ok"; }, 10s));
  sub = show("team");
  EXPECT_EQ(sub["state"], "active");
  EXPECT_TRUE(sub["retired"].is_null());
  EXPECT_TRUE(holds_a_live_token(sub));
  EXPECT_EQ(endpoint.reused(), 0);
  // One credential_refresh_failing event for the streak (the second
  // failure in a row), naming the subscription.
  size_t failing = 0;
  for (auto& n : ok_kept({"notifications", "--limit", "100"}))
    if (n["kind"] == "refresh_failing") {
      ++failing;
      EXPECT_EQ(n["subscription"], "team") << n.dump();
    }
  EXPECT_EQ(failing, 1u);
}

TEST_F(credentials,
       a_dead_chain_is_retired_once_its_agents_moved_never_retried) {
  auto login = start_with_login_and_spare();
  ok_kept({"agent", "add", "a2", "--subscription", "team"});
  // Someone else spends the login's refresh token (a copy left in a
  // container): the daemon's turn finds it spent.
  auto stolen = http_call("POST", endpoint.url(),
                          json{{"grant_type", "refresh_token"},
                               {"refresh_token", login.refresh_token},
                               {"client_id", "x"}}
                            .dump());
  ASSERT_EQ(stolen.status, 200) << stolen.body;
  ASSERT_TRUE(
    wait_until([&] { return show("team")["state"] == "retired"; }, 20s))
    << daemon->log();
  auto sub = show("team");
  EXPECT_EQ(sub["retired"], "dead_credential");
  EXPECT_EQ(sub["refresh"]["state"], "dead");
  // Its agents moved to the other subscription.
  ASSERT_TRUE(wait_until(
    [&] {
      auto agents = ok_kept({"agent", "list"});
      for (auto& a : agents)
        if (a["subscription"] != "spare")
          return false;
      return true;
    },
    20s));
  // One alert that says what to do.
  auto notes = ok_kept({"notifications", "--limit", "100"});
  int retired = 0;
  for (auto& n : notes)
    if (n["kind"] == "retired") {
      ++retired;
      EXPECT_NE(n["message"].get<std::string>().find("re-login needed"),
                std::string::npos);
    }
  EXPECT_EQ(retired, 1) << notes.dump();
  // Never retried: the endpoint keeps seeing two requests (the thief's and
  // the daemon's) while the refresher looks again many times.
  auto seen = endpoint.requests().size();
  EXPECT_EQ(seen, 2u);
  auto until = now_ms() + 2000;
  wait_until([&] { return now_ms() >= until; }, 5s);
  EXPECT_EQ(endpoint.requests().size(), seen);
  EXPECT_EQ(show("team")["state"], "retired");
  // A new login brings it back.
  auto fresh = endpoint.issue_family();
  ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
          claude_login(fresh));
  ASSERT_TRUE(
    wait_until([&] { return show("team")["state"] == "active"; }, 10s));
  ASSERT_TRUE(wait_until([&] { return endpoint.refreshes_ok() >= 2; }, 20s))
    << daemon->log();
  expect_no_refresh_token_at_rest();
}

TEST_F(credentials, a_rejected_token_already_replaced_in_the_store_recovers) {
  endpoint.set_lifetime(4s);
  auto login = endpoint.issue_family();
  start_daemon();
  endpoint.stall(true);
  // A copy of the token is spent first (it arrives first, stalled) ...
  auto copy = std::async(std::launch::async, [&] {
    return http_call("POST", endpoint.url(),
                     json{{"grant_type", "refresh_token"},
                          {"refresh_token", login.refresh_token},
                          {"client_id", "x"}}
                       .dump());
  });
  ASSERT_TRUE(endpoint.wait_for_requests(1, 10s));
  ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
          claude_login(login));
  // ... then the daemon's refresh of the same token, ...
  ASSERT_TRUE(endpoint.wait_for_requests(2, 20s)) << daemon->log();
  // ... while an operator imports a new login over it.
  endpoint.set_lifetime(10s);
  auto relogin = endpoint.issue_family();
  ok_kept({"subscription", "add", "team", "--oauth-file", "-"},
          claude_login(relogin));
  endpoint.stall(false);
  EXPECT_EQ(copy.get().status, 200);
  ASSERT_TRUE(wait_until([&] { return endpoint.reused() >= 1; }, 10s));
  // The daemon re-read the store: the new login is there, nothing died.
  ASSERT_TRUE(wait_until(
    [&] {
      return daemon->log().find("using the stored one") != std::string::npos;
    },
    10s))
    << daemon->log();
  auto sub = show("team");
  EXPECT_EQ(sub["state"], "active");
  EXPECT_NE(sub["refresh"]["state"], "dead");
  EXPECT_TRUE(holds_a_live_token(sub));
  // And it refreshes the new login when that is due.
  ASSERT_TRUE(wait_until(
    [&] {
      for (auto& r : endpoint.requests())
        if (r.refresh_token == relogin.refresh_token && r.status == 200)
          return true;
      return false;
    },
    20s))
    << daemon->log();
}

TEST_F(credentials,
       an_expired_access_token_on_an_agent_refreshes_not_switches) {
  auto login = start_with_login_and_spare();
  auto r = ok_kept({"report", "a1", "--status", "401", "--error",
                    R"({"type":"error","error":{"type":"authentication_error",)"
                    R"("message":"OAuth token has expired."}})"});
  EXPECT_EQ(r["outcome"], "ignored") << r.dump();
  EXPECT_EQ(r["reason"], "access_token_expired");
  auto agent = ok_kept({"agent", "show", "a1"});
  EXPECT_EQ(agent["subscription"], "team");
  ASSERT_TRUE(wait_until([&] { return endpoint.refreshes_ok() >= 1; }, 20s));
  // A static token's 401 of that text still switches: nothing refreshes it.
  ok_kept({"agent", "add", "a2", "--subscription", "spare"});
  r = ok_kept(
    {"report", "a2", "--status", "401", "--error", "OAuth token has expired."});
  EXPECT_EQ(r["outcome"], "switched") << r.dump();
}

TEST_F(credentials, login_files_are_checked_and_never_quoted) {
  start_daemon();
  auto login = endpoint.issue_family();
  // No refresh token: a setup token goes with --token-file.
  auto res = cli({"subscription", "add", "x", "--oauth-file", "-"},
                 json{{"claudeAiOauth",
                       {{"accessToken", login.access_token},
                        {"expiresAt", login.expires_at_ms}}}}
                   .dump());
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("no refreshToken"), std::string::npos) << res.err;
  EXPECT_EQ(res.err.find(login.access_token), std::string::npos);
  res = cli({"subscription", "add", "x", "--oauth-file", "-"}, "not json");
  EXPECT_EQ(res.rc, 2);
  res = cli({"subscription", "add", "x", "--oauth-file", "-", "--token-file",
             "/dev/null"});
  EXPECT_EQ(res.rc, 2);
  res = cli(
    {"subscription", "add", "x", "--oauth-file", "-", "--provider", "openai"},
    claude_login(login));
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("anthropic login"), std::string::npos) << res.err;
  // Nothing was registered.
  auto subs = ok_kept({"subscription", "list"});
  EXPECT_TRUE(subs.empty()) << subs.dump();
  // A static token with a known expiry: warned 30 days ahead.
  auto soon = format_iso(now_ms() + 10 * 24 * 3600 * 1000LL);
  ok_kept(
    {"subscription", "add", "setup", "--token-file", "-", "--expires-at", soon},
    "sk-ant-oat01-setup-token-aaaa");
  ASSERT_TRUE(wait_until(
    [&] {
      for (auto& n : ok_kept({"notifications", "--limit", "100"}))
        if (n["kind"] == "expiring")
          return true;
      return false;
    },
    10s));
  EXPECT_EQ(show("setup")["kind"], "token");
  EXPECT_FALSE(show("setup")["expires_at"].is_null());
  // One that expired is retired.
  ok_kept({"subscription", "add", "old", "--token-file", "-", "--expires-at",
           "2020-01-01"},
          "sk-ant-oat01-old-token-bbbb");
  ASSERT_TRUE(
    wait_until([&] { return show("old")["state"] == "retired"; }, 10s));
}
