// End to end with containers: the real switchboardd and switchboard binaries
// and a real agent-server container. A request on the agent fails with 429,
// the failure is reported with the CLI, the container hot-reloads, and the
// next request succeeds; and a daemon killed between commit and apply is
// repaired by the reconciler when it starts again.

#include "fixtures/docker_env.hpp"
#include "fixtures/oauth_endpoint.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

class container_e2e : public ::testing::Test {
protected:
  void start(std::vector<std::string> env_vars = {},
             std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
      "--switchboard.port=0", "--switchboard.db-path=" + dir.file("state.db"),
      "--switchboard.docker-socket=" + docker_socket(),
      "--switchboard.retry-initial=200ms", "--switchboard.stop-timeout=2s"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon
      = std::make_unique<daemon_process>(daemon_binary(), args, 20s, env_vars);
    ASSERT_NE(daemon->port(), 0) << daemon->log();
  }

  run_result cli(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), {cli_binary(), "--port",
                               std::to_string(daemon->port()), "--json"});
    return run(args, input);
  }

  json ok(std::vector<std::string> args, const std::string& input = {}) {
    auto res = cli(std::move(args), input);
    EXPECT_EQ(res.rc, 0) << res.err;
    try {
      return json::parse(res.out);
    } catch (...) {
      ADD_FAILURE() << "not JSON: " << res.out;
      return {};
    }
  }

  std::string unique(const std::string& base) {
    return "sbt-" + base + "-" + std::to_string(::getpid());
  }

  temp_dir dir;
  docker_env env;
  std::unique_ptr<daemon_process> daemon;
};

} // namespace

TEST_F(container_e2e, a_429_reported_with_the_cli_is_healed_by_a_hot_reload) {
  auto c = env.start_agent(unique("e2e"), "sk-token-a");
  env.exhaust(c, "sk-token-a");
  start();
  ok({"subscription", "add", "team-a", "--token-file", "-"}, "sk-token-a\n");
  ok({"subscription", "add", "team-b", "--token-file", "-"}, "sk-token-b\n");
  ok({"agent", "add", "a1", "--subscription", "team-a", "--container", c.name});
  // The agent's request fails on the exhausted subscription...
  auto [status, body] = env.task(c);
  ASSERT_EQ(status, 429) << body;
  // ... the platform reports it ...
  auto r = ok({"report", "a1", "--status", std::to_string(status), "--error",
               body, "--subscription", "team-a", "--source", "task"});
  EXPECT_EQ(r["outcome"], "switched");
  EXPECT_EQ(r["to"], "team-b");
  EXPECT_EQ(r["apply"], "hot_reloaded");
  // ... and the next request succeeds on the new token.
  EXPECT_EQ(env.task(c).first, 200);
  auto a1 = ok({"agent", "show", "a1"});
  EXPECT_EQ(a1["container_state"], "running");
  EXPECT_EQ(a1["last_apply"]["result"], "hot_reloaded");
  EXPECT_FALSE(a1["last_apply"]["at"].is_null());
  // No token in anything the daemon said.
  auto log = daemon->log();
  EXPECT_EQ(log.find("sk-token-a"), std::string::npos);
  EXPECT_EQ(log.find("sk-token-b"), std::string::npos);
}

TEST_F(container_e2e,
       the_reconciler_applies_a_switch_committed_before_a_crash) {
  auto c = env.start_agent(unique("crash"), "sk-token-a");
  start({"SWITCHBOARD_TEST_HOOK=crash-after-commit"});
  ok({"subscription", "add", "team-a", "--token-file", "-"}, "sk-token-a");
  ok({"subscription", "add", "team-b", "--token-file", "-"}, "sk-token-b");
  ok({"agent", "add", "a1", "--subscription", "team-a", "--container", c.name});
  // The daemon dies (kill -9) between the commit and the apply.
  auto res = cli({"report", "a1", "--status", "429"});
  EXPECT_NE(res.rc, 0);
  auto rc = daemon->wait_exit(10s);
  ASSERT_TRUE(rc.has_value()) << "the fault point did not fire";
  EXPECT_EQ(*rc, 128 + 9);
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("sk-token-a"));
  // Started again (without the fault), it finds the container behind.
  start();
  EXPECT_TRUE(wait_until(
    [&] {
      return ok({"agent", "show", "a1"})["applied_generation"] == 1;
    },
    30s))
    << daemon->log();
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("sk-token-b"));
  auto a1 = ok({"agent", "show", "a1"});
  EXPECT_EQ(a1["subscription"], "team-b");
  EXPECT_EQ(a1["generation"], 1);
  EXPECT_EQ(ok({"notifications"}).size(), 1u); // exactly one, not two
  auto hist = ok({"history"});
  ASSERT_EQ(hist.size(), 1u);
  EXPECT_EQ(hist[0]["apply"], "hot_reloaded");
}

// A slow agent server (1 s to take a reload) and unnamed reports spread over
// 3 s, as a backend sends them: the reports that arrive while the reload runs
// join the switch, those after it are the old token's and coalesce into it.
// One switch, one reload.
TEST_F(container_e2e, a_slow_reload_and_spread_reports_give_one_switch) {
  auto c = env.start_agent(unique("slow"), "sk-token-a", true,
                           {"--reload-delay-ms", "1000"});
  start();
  for (auto s : {"team-a", "team-b", "team-c"})
    ok({"subscription", "add", s, "--token-file", "-"},
       std::string{"sk-token-"} + s[5]);
  ok({"agent", "add", "a1", "--subscription", "team-a", "--container", c.name});
  std::vector<std::thread> reporters;
  std::vector<run_result> results(16);
  auto begin = std::chrono::steady_clock::now();
  for (size_t i = 0; i < results.size(); ++i) {
    auto at = begin + std::chrono::milliseconds(200 * i); // over 3 s
    reporters.emplace_back([&, i, at] {
      std::this_thread::sleep_until(at); // the workload: spread arrivals
      results[i] = cli({"report", "a1", "--status", "429"});
    });
  }
  for (auto& t : reporters)
    t.join();
  std::map<std::string, int> outcomes;
  for (auto& res : results) {
    ASSERT_EQ(res.rc, 0) << res.err;
    auto j = json::parse(res.out);
    outcomes[j["outcome"]]++;
    EXPECT_EQ(j["to"], "team-b") << res.out;
  }
  EXPECT_EQ(outcomes["switched"], 1);
  EXPECT_EQ(outcomes["coalesced"], 15);
  EXPECT_EQ(env.status(c).reloads, 1);
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("sk-token-b"));
  EXPECT_EQ(ok({"history"}).size(), 1u);
  EXPECT_EQ(ok({"events", "--limit", "100"}).size(), 16u);
}

// The agent server names the credential of every answer; a caller that
// passes it on gets exactly the attribution it asked for: the current token,
// named, switches at once, inside the settle window too.
TEST_F(container_e2e, the_agent_server_names_the_token_a_request_used) {
  auto c = env.start_agent(unique("names"), "sk-token-a");
  start();
  for (auto s : {"team-a", "team-b", "team-c"})
    ok({"subscription", "add", s, "--token-file", "-"},
       std::string{"sk-token-"} + s[5]);
  ok({"agent", "add", "a1", "--subscription", "team-a", "--container", c.name});
  auto first = env.task_response(c);
  EXPECT_EQ(first.headers["x-switchboard-token-sha256"],
            sha256_hex("sk-token-a"));
  auto r = ok({"report", "a1", "--status", "429", "--token-sha256",
               first.headers["x-switchboard-token-sha256"]});
  EXPECT_EQ(r["outcome"], "switched");
  // The reloaded token, and the generation it belongs to.
  auto second = env.task_response(c);
  EXPECT_EQ(second.headers["x-switchboard-token-sha256"],
            sha256_hex("sk-token-b"));
  EXPECT_EQ(second.headers["x-switchboard-generation"], "1");
  EXPECT_EQ(env.status(c).generation, 1u);
  // team-b is exhausted too: the report names its token and switches at once.
  env.exhaust(c, "sk-token-b");
  auto third = env.task_response(c);
  ASSERT_EQ(third.status, 429);
  r = ok({"report", "a1", "--status", "429", "--token-sha256",
          third.headers["x-switchboard-token-sha256"]});
  EXPECT_EQ(r["outcome"], "switched");
  EXPECT_EQ(r["from"], "team-b");
  EXPECT_EQ(r["to"], "team-c");
  // A late report with the first token belongs to the first switch.
  r = ok({"report", "a1", "--status", "429", "--generation", "0"});
  EXPECT_EQ(r["outcome"], "coalesced");
  EXPECT_EQ(r["from"], "team-a");
  EXPECT_EQ(r["to"], "team-b");
  EXPECT_EQ(r["generation"], 1);
}

TEST_F(container_e2e, adding_an_agent_warns_about_a_missing_container) {
  start();
  ok({"subscription", "add", "team-a", "--token-file", "-"}, "sk-token-a");
  auto res = cli({"agent", "add", "a1", "--subscription", "team-a",
                  "--container", unique("never-created")});
  EXPECT_EQ(res.rc, 0) << res.err; // added anyway
  EXPECT_EQ(json::parse(res.out)["name"], "a1");
  EXPECT_NE(res.err.find("warning: container"), std::string::npos) << res.err;
  EXPECT_NE(res.err.find("does not exist"), std::string::npos) << res.err;
  EXPECT_EQ(ok({"status"})["components"]["container-supervisor"]["engine"],
            "reachable");
}

namespace {

json read_json_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

} // namespace

TEST_F(container_e2e,
       a_container_gets_claude_credentials_never_a_refresh_token) {
  // The agent server writes Claude Code's .credentials.json into /data
  // (the container's side of c.data_dir).
  auto c = env.start_agent(
    unique("creds"), "sk-ant-oat01-setup-token", true,
    {"--claude-credentials", "/data/claude/.credentials.json"});
  auto file = c.data_dir + "/claude/.credentials.json";
  // A setup token at startup: a year ahead, scope user:inference.
  auto doc = read_json_file(file);
  ASSERT_TRUE(doc.is_object()) << file;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  EXPECT_EQ(doc["claudeAiOauth"]["accessToken"], "sk-ant-oat01-setup-token");
  EXPECT_GT(doc["claudeAiOauth"]["expiresAt"].get<int64_t>(),
            now + int64_t{300} * 24 * 3600 * 1000);
  EXPECT_EQ(doc["claudeAiOauth"]["scopes"], json::array({"user:inference"}));
  // An oauth login on the agent: each refresh reaches the file.
  oauth_endpoint endpoint;
  endpoint.set_lifetime(4s);
  auto login = endpoint.issue_family();
  start({},
        {"--switchboard.anthropic-token-url=" + endpoint.url(),
         "--switchboard.refresh-ahead=50", "--switchboard.refresh-ahead-min=0s",
         "--switchboard.refresh-interval=100ms"});
  ok({"subscription", "add", "team", "--oauth-file", "-"},
     json{{"claudeAiOauth",
           {{"accessToken", login.access_token},
            {"refreshToken", login.refresh_token},
            {"expiresAt", login.expires_at_ms},
            {"scopes", {"user:inference", "user:profile"}}}}}
       .dump());
  ok({"agent", "add", "a1", "--subscription", "team", "--container", c.name});
  ASSERT_TRUE(wait_until(
    [&] {
      auto tokens = endpoint.issued_access_tokens();
      auto d = read_json_file(file);
      return endpoint.refreshes_ok() >= 2 && d.is_object()
             && d["claudeAiOauth"]["accessToken"] == tokens.back();
    },
    60s))
    << daemon->log();
  doc = read_json_file(file);
  auto& oauth = doc["claudeAiOauth"];
  // Exactly the three fields Claude Code needs, never a refresh token.
  EXPECT_EQ(doc.size(), 1u) << doc.dump();
  EXPECT_EQ(oauth.size(), 3u) << doc.dump();
  auto access = oauth["accessToken"].get<std::string>();
  // The daemon counts expires_in from before it sent the request: never
  // later than the endpoint's own expiry, and close to it.
  auto exact = *endpoint.expires_at_of(access);
  EXPECT_LE(oauth["expiresAt"].get<int64_t>(), exact);
  EXPECT_GE(oauth["expiresAt"].get<int64_t>(), exact - 2000);
  EXPECT_EQ(oauth["scopes"], json::array({"user:inference", "user:profile"}));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No refresh token in the file the agent's CLI reads.
  std::ifstream in{file};
  std::stringstream text;
  text << in.rdbuf();
  for (auto& t : endpoint.issued_refresh_tokens())
    EXPECT_EQ(text.str().find(t), std::string::npos);
  EXPECT_EQ(endpoint.reused(), 0);
}
