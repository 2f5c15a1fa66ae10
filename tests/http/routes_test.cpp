// The HTTP front's pure half: bodies, query strings, error statuses,
// readiness and gauges, case by case.

#include "http/routes.hpp"
#include "messages/error.hpp"

#include <caf/sec.hpp>

#include <gtest/gtest.h>

using namespace sb;
using namespace sb::http;

namespace {

std::string message_of(const caf::error& err) {
  return render(err);
}

} // namespace

TEST(http_routes, a_full_report_body_becomes_the_same_message_as_the_cli) {
  auto r = report_from_json(R"({
    "agent": "a1", "status": 429, "error": "rate limit reached",
    "subscription": "sub-a", "token_sha256": "0123456789abcdef",
    "generation": 3, "retry_after": 1.5, "reset_at": "2027-01-15T10:00:00Z",
    "headers": {"retry-after": "120",
                "x-multi": ["one", "two"]},
    "execution_id": "e-1", "source": "task"})");
  ASSERT_TRUE(r) << message_of(r.error());
  EXPECT_EQ(r->agent, "a1");
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->error, "rate limit reached");
  EXPECT_EQ(r->subscription, "sub-a");
  EXPECT_EQ(r->token_sha256, "0123456789abcdef");
  EXPECT_EQ(r->generation, caf::optional<uint64_t>{3});
  EXPECT_EQ(r->retry_after_ms, 1500);
  EXPECT_EQ(r->reset_at, 1'800'000'000'000 + 2 * 3'600'000);
  ASSERT_EQ(r->headers.size(), 3u);
  EXPECT_EQ(r->execution_id, "e-1");
  EXPECT_EQ(r->source, "task");
}

TEST(http_routes, a_minimal_report_and_kind_instead_of_status) {
  auto r = report_from_json(R"({"agent": "a1", "kind": "auth"})");
  ASSERT_TRUE(r) << message_of(r.error());
  EXPECT_EQ(r->status, 0);
  EXPECT_EQ(r->kind, failure_kind::auth);
  EXPECT_FALSE(r->generation);
  // null is absent.
  auto n = report_from_json(R"({"agent": "a1", "status": 429, "error": null})");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->error, "");
}

TEST(http_routes, bad_report_bodies_are_refused_with_a_clear_message) {
  struct bad_case {
    const char* body;
    const char* says;
  };
  for (auto c : std::vector<bad_case>{
         {"", "not valid JSON"},
         {"{\"agent\": \"a1\"", "not valid JSON"},
         {"[1, 2]", "must be a JSON object"},
         {"\"a1\"", "must be a JSON object"},
         {R"({"status": 429})", "'agent' is required"},
         {R"({"agent": 7, "status": 429})", "'agent' must be a string"},
         {R"({"agent": "a1", "status": "429"})", "'status' must be a whole"},
         {R"({"agent": "a1", "status": 429.5})", "'status' must be a whole"},
         {R"({"agent": "a1", "status": -1})", "'status' must be a whole"},
         {R"({"agent": "a1", "status": 1e30})", "'status' must be a whole"},
         {R"({"agent": "a1", "status": 429, "kind": "slow"})",
          "'kind' must be rate_limit or auth"},
         {R"({"agent": "a1", "status": 429, "generation": -2})",
          "'generation' must be a whole"},
         {R"({"agent": "a1", "status": 429, "retry_after": "soon"})",
          "'retry_after' must be a number"},
         {R"({"agent": "a1", "status": 429, "retry_after": 1e12})",
          "'retry_after' must be from"},
         {R"({"agent": "a1", "status": 429, "reset_at": "tomorrow"})",
          "'reset_at' must look like"},
         {R"({"agent": "a1", "status": 429, "headers": "retry-after: 1"})",
          "'headers' must be an object"},
         {R"({"agent": "a1", "status": 429, "headers": {"a": 1}})",
          "must be a string or an array of strings"},
         {R"({"agent": "a1", "status": 429, "headers": {"a": [1]}})",
          "must be a string or an array of strings"},
         {R"({"agent": "a1", "status": 429, "token": "sk-secret"})",
          "unknown field 'token'"},
       }) {
    auto r = report_from_json(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_TRUE(is(r.error(), ec::invalid_argument)) << c.body;
    EXPECT_NE(message_of(r.error()).find(c.says), std::string::npos)
      << c.body << " -> " << message_of(r.error());
    EXPECT_EQ(status_of(r.error()), 400);
  }
}

TEST(http_routes, an_unknown_field_is_named_but_not_its_value) {
  auto r = report_from_json(
    R"({"agent": "a1", "status": 429, "api_key": "sk-ant-secret-value"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(message_of(r.error()).find("sk-ant"), std::string::npos);
}

TEST(http_routes, observations_need_an_agent_and_take_no_report_fields) {
  auto o = observation_from_json(R"({"agent": "a1", "generation": 2,
    "headers": {"anthropic-ratelimit-unified-5h-utilization": "0.97"}})");
  ASSERT_TRUE(o) << message_of(o.error());
  EXPECT_EQ(o->agent, "a1");
  ASSERT_EQ(o->headers.size(), 1u);
  EXPECT_EQ(o->headers[0].value, "0.97");
  EXPECT_EQ(o->generation, caf::optional<uint64_t>{2});
  auto with_status = observation_from_json(
    R"({"agent": "a1", "status": 200, "headers": {"a": "b"}})");
  ASSERT_FALSE(with_status);
  EXPECT_NE(message_of(with_status.error()).find("unknown field 'status'"),
            std::string::npos);
}

TEST(http_routes, query_parameters_are_the_cli_filters) {
  auto q = query_from_params({{"agent", "a1"}, {"limit", "5"}}, true);
  ASSERT_TRUE(q) << message_of(q.error());
  EXPECT_EQ(q->agent, "a1");
  EXPECT_EQ(q->limit, 5u);
  EXPECT_EQ(query_from_params({}, true)->limit, 50u);
  for (auto params : std::vector<std::multimap<std::string, std::string>>{
         {{"limit", "0"}},
         {{"limit", "10001"}},
         {{"limit", "-1"}},
         {{"limit", "ten"}},
         {{"limit", "99999999999999999999"}},
         {{"agent", "a"}, {"agent", "b"}},
         {{"since", "yesterday"}},
       }) {
    auto bad = query_from_params(params, true);
    EXPECT_FALSE(bad) << params.begin()->first;
  }
  // /v1/notifications has no subscription filter.
  EXPECT_FALSE(query_from_params({{"subscription", "s"}}, false));
}

TEST(http_routes, errors_map_to_http_statuses_and_codes) {
  EXPECT_EQ(status_of(make_error(ec::unknown_agent, "x")), 404);
  EXPECT_EQ(status_of(make_error(ec::unknown_subscription, "x")), 404);
  EXPECT_EQ(status_of(make_error(ec::invalid_name, "x")), 400);
  EXPECT_EQ(status_of(make_error(ec::conflict, "x")), 409);
  EXPECT_EQ(status_of(make_error(ec::shutting_down, "x")), 503);
  EXPECT_EQ(status_of(make_error(ec::timeout, "x")), 504);
  EXPECT_EQ(status_of(make_error(ec::store_failure, "x")), 500);
  EXPECT_EQ(status_of(caf::make_error(caf::sec::request_timeout)), 504);
  auto doc = error_json(make_error(ec::unknown_agent, "unknown agent 'x'"));
  EXPECT_EQ(doc["error"]["code"], "unknown_agent");
  EXPECT_EQ(doc["error"]["message"], "unknown agent 'x'");
  EXPECT_EQ(
    error_json(caf::make_error(caf::sec::request_timeout))["error"]["code"],
    "timeout");
}

namespace {

status_info healthy_status() {
  status_info st;
  st.components
    = {{"admin", health::running, {}}, {"store", health::running, {}}};
  st.store = store_status{};
  st.pool = pool_status{4, 1, 0, 0};
  return st;
}

} // namespace

TEST(http_routes, readiness_names_every_reason) {
  auto st = healthy_status();
  st.store->containers = 0;
  EXPECT_TRUE(judge_readiness(st, std::nullopt, false).ready);
  // The engine matters only when some agent of this node has a container.
  EXPECT_TRUE(judge_readiness(st, false, false).ready);
  st.store->containers = 1;
  EXPECT_TRUE(judge_readiness(st, true, false).ready);
  auto down = judge_readiness(st, false, false);
  EXPECT_FALSE(down.ready);
  ASSERT_EQ(down.reasons.size(), 1u);
  EXPECT_NE(down.reasons[0].find("Docker engine"), std::string::npos);
  st.store->writable = false;
  st.store->write_error = "database is locked";
  st.components[0].state = health::unresponsive;
  st.components[0].error = "timeout";
  auto all = judge_readiness(st, false, true);
  EXPECT_FALSE(all.ready);
  EXPECT_EQ(all.reasons.size(), 4u);
}

TEST(http_routes, gauges_count_agents_behind_and_containers) {
  auto st = healthy_status();
  st.agents = 3;
  st.store->notifications_pending = 3;
  st.store->agents_behind = 2;
  st.store->containers = 2;
  auto g = gauges_of(st, true);
  EXPECT_EQ(g.agents, 3u);
  EXPECT_EQ(g.agents_behind, 2u);
  EXPECT_EQ(g.containers, 2u);
  EXPECT_EQ(g.subscriptions, 4u);
  EXPECT_EQ(g.subscriptions_excluded, 1u);
  EXPECT_EQ(g.notifications_pending, 3u);
  EXPECT_TRUE(g.docker_engine_up);
  EXPECT_EQ(g.components_unresponsive, 0u);
}
