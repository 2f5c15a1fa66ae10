// The HTTP front in front of a real in-process daemon (real SQLite file,
// real actors), called over 127.0.0.1 with libcurl: every endpoint, every
// error, the bearer token, and a burst that gives one switch as over CAF.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/http_client.hpp"
#include "fixtures/wait.hpp"
#include "messages/json.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <thread>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;

namespace {

class http_front_test : public daemon_fixture {
protected:
  void SetUp() override {
    port_ = start_http();
    ASSERT_NE(port_, 0);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  /// With the admin credential unless `o` names another.
  http_reply get(const std::string& path, http_call_options o = {}) {
    if (o.bearer.empty())
      o.bearer = admin_token();
    return http_call("GET", url(path), {}, o);
  }

  http_reply post(const std::string& path, const json& body,
                  http_call_options o = {}) {
    if (o.bearer.empty())
      o.bearer = admin_token();
    return http_call("POST", url(path), body.dump(), o);
  }

  /// The value of one series in /metrics (0 if absent).
  double metric(const std::string& series) {
    auto text = get("/metrics").body;
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(series + " ", 0) == 0)
        return std::stod(line.substr(series.size() + 1));
    return 0;
  }

  uint16_t port_ = 0;
};

} // namespace

TEST_F(http_front_test, reads_answer_the_same_json_as_the_cli) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  auto status = get("/v1/status");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.headers["content-type"], "application/json");
  EXPECT_EQ(status.json()["agents"], 1);
  auto agents = get("/v1/agents");
  ASSERT_EQ(agents.status, 200);
  ASSERT_EQ(agents.json().size(), 1u);
  EXPECT_EQ(agents.json()[0]["subscription"], "sub-a");
  auto a1 = get("/v1/agents/a1");
  ASSERT_EQ(a1.status, 200);
  EXPECT_EQ(a1.json()["name"], "a1");
  EXPECT_EQ(a1.json()["generation"], agent("a1").generation);
  auto subs = get("/v1/subscriptions");
  ASSERT_EQ(subs.status, 200);
  EXPECT_EQ(subs.json(), sb::to_json(subscriptions()));
  // No token is readable over HTTP.
  EXPECT_EQ(subs.body.find("token-of-"), std::string::npos);
  EXPECT_EQ(status.body.find("token-of-"), std::string::npos);
  send_report(report("a1", 429, "sub-a"));
  auto events = get("/v1/events?agent=a1&limit=5");
  ASSERT_EQ(events.status, 200) << events.body;
  EXPECT_EQ(events.json(), sb::to_json(this->events("a1")));
  auto history = get("/v1/history?subscription=sub-a");
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(history.json().size(), 1u);
  auto notes = get("/v1/notifications?agent=a1&limit=1");
  ASSERT_EQ(notes.status, 200) << notes.body;
  EXPECT_EQ(notes.json().size(), 1u);
}

TEST_F(http_front_test, a_burst_of_unnamed_reports_gives_one_switch) {
  for (auto s : {"sub-a", "sub-b", "sub-c", "sub-d"})
    add_subscription(s);
  add_agent("x", "sub-a");
  auto before = metric(R"(switchboard_switches_total{trigger="auto"})");
  // 24 callers at once, none naming the subscription (what a backend sends).
  std::vector<http_reply> replies(24);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < replies.size(); ++i)
    callers.emplace_back([&, i] {
      replies[i] = post(
        "/v1/reports",
        {{"agent", "x"}, {"status", 429}, {"error", "rate limit reached"}});
    });
  for (auto& t : callers)
    t.join();
  std::map<std::string, int> outcomes;
  for (auto& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    outcomes[r.json()["outcome"].get<std::string>()]++;
  }
  EXPECT_EQ(outcomes["switched"], 1);
  EXPECT_EQ(outcomes["coalesced"], 23);
  EXPECT_EQ(history("x").size(), 1u);
  EXPECT_EQ(counts(),
            (std::map<std::string, uint32_t>{
              {"sub-a", 0}, {"sub-b", 1}, {"sub-c", 0}, {"sub-d", 0}}));
  EXPECT_EQ(metric(R"(switchboard_switches_total{trigger="auto"})"),
            before + 1);
  EXPECT_EQ(
    metric(
      R"(switchboard_reports_total{kind="rate_limit",outcome="switched"})"),
    1);
  EXPECT_EQ(
    metric(
      R"(switchboard_reports_total{kind="rate_limit",outcome="coalesced"})"),
    23);
  EXPECT_EQ(metric("switchboard_report_duration_seconds_count"), 24);
}

TEST_F(http_front_test, an_observation_goes_through_the_same_door) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto r = post(
    "/v1/observations",
    {{"agent", "a1"},
     {"headers", {{"anthropic-ratelimit-unified-5h-utilization", "0.42"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["outcome"], "observed");
  EXPECT_EQ(subscriptions().at(0).utilization_5h, caf::optional<double>{0.42});
  EXPECT_EQ(metric(R"(switchboard_observations_total{outcome="observed"})"), 1);
  // The scrape shows the utilization the POOL knows now.
  EXPECT_EQ(
    metric(
      R"(switchboard_subscription_utilization{pool="default",subscription="sub-a",window="5h"})"),
    0.42);
}

TEST_F(http_front_test, bad_requests_get_json_errors_and_change_nothing) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto expect_error = [](const http_reply& r, long status, const char* code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.json()["error"]["code"], code) << r.body;
    EXPECT_TRUE(r.json()["error"]["message"].is_string()) << r.body;
  };
  http_call_options admin;
  admin.bearer = admin_token();
  expect_error(http_call("POST", url("/v1/reports"), "{not json", admin), 400,
               "invalid_argument");
  expect_error(
    post("/v1/reports", {{"agent", "a1"}, {"status", 429}, {"extra", true}}),
    400, "invalid_argument");
  expect_error(post("/v1/reports", {{"agent", "a1"}, {"status", "429"}}), 400,
               "invalid_argument");
  expect_error(post("/v1/reports", {{"agent", "a1"}, {"status", 42}}), 400,
               "invalid_argument");
  expect_error(post("/v1/reports", {{"agent", "ghost"}, {"status", 429}}), 404,
               "unknown_agent");
  expect_error(
    post("/v1/reports",
         {{"agent", "a1"}, {"status", 429}, {"subscription", "nope"}}),
    404, "unknown_subscription");
  expect_error(get("/v1/agents/ghost"), 404, "unknown_agent");
  expect_error(get("/v2/status"), 404, "not_found");
  expect_error(get("/v1/events?limit=0"), 400, "invalid_argument");
  auto wrong = http_call("DELETE", url("/v1/agents/a1"));
  expect_error(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong.headers["allow"], "GET, HEAD");
  auto get_post = get("/v1/reports");
  expect_error(get_post, 405, "method_not_allowed");
  EXPECT_EQ(get_post.headers["allow"], "POST");
  std::string huge(70 * 1024, 'x');
  expect_error(
    http_call("POST", url("/v1/reports"),
              R"({"agent":"a1","status":429,"error":")" + huge + "\"}", admin),
    413, "payload_too_large");
  // Nothing was recorded, nothing moved, and the front still answers.
  EXPECT_TRUE(events("a1").empty());
  EXPECT_EQ(agent("a1").generation, 0u);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(http_front_test, health_readiness_and_metrics) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json()["status"], "ok");
  auto ready = get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.json()["ready"], true);
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(
    metrics.headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0u);
  for (auto name : {"switchboard_reports_total",
                    "switchboard_switches_total",
                    "switchboard_token_applications_total",
                    "switchboard_report_duration_seconds",
                    "switchboard_apply_duration_seconds",
                    "switchboard_agents",
                    "switchboard_agents_behind",
                    "switchboard_subscriptions_excluded",
                    "switchboard_notifications_pending",
                    "switchboard_store_commit_batch_size",
                    "switchboard_docker_engine_up",
                    "switchboard_build_info",
                    "switchboard_subscription_state",
                    "switchboard_subscription_agents",
                    "process_cpu_seconds_total",
                    "process_resident_memory_bytes",
                    "process_virtual_memory_bytes",
                    "process_open_fds",
                    "process_max_fds",
                    "process_start_time_seconds"})
    EXPECT_NE(metrics.body.find(std::string{"# TYPE "} + name + " "),
              std::string::npos)
      << name;
  EXPECT_EQ(metric("switchboard_agents"), 1);
  EXPECT_GT(metric("switchboard_store_commit_batch_size_count"), 0);
  EXPECT_EQ(
    metric(
      R"(switchboard_subscription_agents{pool="default",subscription="sub-a"})"),
    1);
  EXPECT_EQ(
    metric(
      R"(switchboard_subscription_state{pool="default",state="active",subscription="sub-a"})"),
    1);
  EXPECT_GT(metric("process_open_fds"), 0);
  EXPECT_GT(metric("process_resident_memory_bytes"), 1e6);
}

TEST_F(http_front_test, an_outside_writer_holding_the_lock_is_not_ready) {
  add_subscription("sub-a");
  {
    SQLite::Database outside{dir.file("state.db"), SQLite::OPEN_READWRITE};
    outside.exec("BEGIN IMMEDIATE");
    auto r = get("/readyz");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.json()["ready"], false);
    EXPECT_NE(r.body.find("the store cannot write"), std::string::npos)
      << r.body;
    outside.exec("ROLLBACK");
  }
  EXPECT_EQ(get("/readyz").status, 200);
}

TEST_F(http_front_test, a_draining_daemon_is_not_ready_and_takes_no_reports) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto& doors = daemon_->context()->doors;
  auto draining = *doors.get();
  draining.draining = true;
  doors.publish(draining);
  auto r = get("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["reasons"][0], "the daemon is shutting down");
  auto report = post("/v1/reports", {{"agent", "a1"}, {"status", 429}});
  EXPECT_EQ(report.status, 503);
  EXPECT_EQ(report.json()["error"]["code"], "shutting_down");
  EXPECT_TRUE(events("a1").empty());
  draining.draining = false;
  doors.publish(draining);
}

namespace {

class http_token_test : public daemon_fixture {};

} // namespace

TEST_F(http_token_test, the_credentials_guard_v1_and_leave_probes_open) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto port = start_http();
  ASSERT_NE(port, 0);
  auto url = [port](const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  };
  auto none = http_call("GET", url("/v1/status"));
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json()["error"]["code"], "unauthorized");
  EXPECT_EQ(none.headers["www-authenticate"].rfind("Bearer", 0), 0u);
  auto almost = admin_token();
  almost.back() = almost.back() == 'a' ? 'b' : 'a';
  http_call_options wrong;
  wrong.bearer = almost;
  EXPECT_EQ(http_call("GET", url("/v1/status"), {}, wrong).status, 401);
  wrong.bearer = admin_token() + "0";
  EXPECT_EQ(http_call("GET", url("/v1/status"), {}, wrong).status, 401);
  EXPECT_EQ(http_call("POST", url("/v1/reports"),
                      R"({"agent":"a1","status":429})", wrong)
              .status,
            401);
  EXPECT_TRUE(events("a1").empty());
  // The report credential reports and reads; a backup needs the admin one.
  http_call_options reporter;
  reporter.bearer = report_token();
  EXPECT_EQ(http_call("GET", url("/v1/status"), {}, reporter).status, 200);
  EXPECT_EQ(http_call("POST", url("/v1/reports"),
                      R"({"agent":"a1","status":429})", reporter)
              .status,
            200);
  auto refused = http_call("GET", url("/v1/backup"), {}, reporter);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.json()["error"]["code"], "forbidden");
  http_call_options admin;
  admin.bearer = admin_token();
  EXPECT_EQ(http_call("GET", url("/v1/status"), {}, admin).status, 200);
  EXPECT_EQ(http_call("GET", url("/healthz")).status, 200);
  EXPECT_EQ(http_call("GET", url("/readyz")).status, 200);
  EXPECT_EQ(http_call("GET", url("/metrics")).status, 200);
}

TEST_F(http_token_test, a_backup_streams_a_database_to_the_admin) {
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  auto port = start_http();
  ASSERT_NE(port, 0);
  http_call_options admin;
  admin.bearer = admin_token();
  auto copy = http_call(
    "GET", "http://127.0.0.1:" + std::to_string(port) + "/v1/backup", {},
    admin);
  ASSERT_EQ(copy.status, 200) << copy.body;
  EXPECT_EQ(copy.headers["content-type"], "application/vnd.sqlite3");
  EXPECT_EQ(copy.body.rfind("SQLite format 3", 0), 0u);
  auto file = dir.file("copy.db");
  std::ofstream{file, std::ios::binary} << copy.body;
  SQLite::Database db{file, SQLite::OPEN_READONLY};
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM agents").getInt(), 1);
  // No token in clear in the copy.
  EXPECT_EQ(copy.body.find("token-of-sub-a"), std::string::npos);
}

TEST_F(http_token_test, beyond_loopback_without_tls_it_refuses_to_start) {
  http::http_settings s;
  s.host = "0.0.0.0";
  s.tokens = daemon_->credentials();
  auto front
    = http::http_front::start(*server_, daemon_->front_door(),
                              daemon_->report_door(), daemon_->context(), s);
  ASSERT_FALSE(front);
  EXPECT_NE(render(front.error()).find("tls-certificate"), std::string::npos)
    << render(front.error());
  s.tokens = {};
  s.host = "127.0.0.1";
  front
    = http::http_front::start(*server_, daemon_->front_door(),
                              daemon_->report_door(), daemon_->context(), s);
  ASSERT_FALSE(front);
  EXPECT_NE(render(front.error()).find("credentials"), std::string::npos);
}

TEST_F(http_token_test, more_callers_than_threads_all_get_answers) {
  // Two threads, 100 callers at once: the excess waits in the listen
  // backlog (cpp-httplib's own backlog of 5 dropped their SYNs).
  add_subscription("sub-a");
  add_agent("a1", "sub-a");
  http::http_settings s;
  s.workers = 2;
  auto port = start_http(s);
  ASSERT_NE(port, 0);
  std::vector<http_reply> replies(100);
  std::vector<std::thread> callers;
  http_call_options admin;
  admin.bearer = admin_token();
  for (size_t i = 0; i < replies.size(); ++i)
    callers.emplace_back([&, i] {
      replies[i] = http_call(
        "GET", "http://127.0.0.1:" + std::to_string(port) + "/v1/agents/a1", {},
        admin);
    });
  for (auto& t : callers)
    t.join();
  for (auto& r : replies) {
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.json()["name"], "a1");
  }
}

TEST_F(http_front_test, any_bytes_in_the_path_get_a_json_error) {
  // %FF decodes to a byte that is not UTF-8: the error still serializes.
  auto unknown = get("/x%FF");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(unknown.json()["error"]["code"], "not_found");
  auto wrong = http_call("DELETE", url("/v1/agents/a%FF"));
  EXPECT_EQ(wrong.status, 405) << wrong.body;
  EXPECT_EQ(wrong.json()["error"]["code"], "method_not_allowed");
  auto agent = get("/v1/agents/a%FF");
  EXPECT_EQ(agent.status, 400) << agent.body;
  EXPECT_EQ(get("/" + std::string(300, 'p')).json()["error"]["code"],
            "not_found");
}
