// The HTTP front's pure half: bodies, query strings, error statuses,
// readiness and gauges, case by case.

#include "http/routes.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"
#include "messages/validate.hpp"

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
          "'kind' must be rate_limit, auth or concurrency"},
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
  st.pool = pool_status{4, 1, 0, 0, {}};
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

// -- a field given twice ------------------------------------------------------

TEST(http_routes, a_field_given_twice_is_refused_at_any_depth) {
  struct dup_case {
    const char* body;
    const char* field;
  };
  for (auto c : std::vector<dup_case>{
         {R"({"agent": "a1", "status": 429, "agent": "a2"})", "agent"},
         {R"({"agent": "a1", "status": 429, "status": 500})", "status"},
         {R"({"agent": "a1", "status": 429,
              "headers": {"retry-after": "1", "retry-after": "2"}})",
          "retry-after"},
         // Twice with equal values is still twice.
         {R"({"agent": "a1", "status": 429,
              "headers": {"x": ["1"]}, "headers": {"x": ["1"]}})",
          "headers"},
       }) {
    auto r = report_from_json(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_TRUE(is(r.error(), ec::invalid_argument)) << c.body;
    EXPECT_EQ(message_of(r.error()),
              std::string{"field '"} + c.field + "' is given more than once")
      << c.body;
    EXPECT_EQ(status_of(r.error()), 400);
  }
  // Observations and every admin body share the parser.
  auto o = observation_from_json(
    R"({"agent": "a1", "headers": {"a": "b"}, "source": "x", "source": "y"})");
  ASSERT_FALSE(o);
  EXPECT_NE(message_of(o.error()).find("'source' is given more than once"),
            std::string::npos);
  EXPECT_FALSE(
    assign_from_json(R"({"subscription": "s1", "subscription": "s2"})"));
  EXPECT_FALSE(setting_value_from_json(R"({"value": 1, "value": 2})"));
  // In an object inside an array, found before the value's type is judged.
  auto deep
    = setting_value_from_json(R"({"value": [{"a": 1}, {"b": 1, "b": 2}]})");
  ASSERT_FALSE(deep);
  EXPECT_NE(message_of(deep.error()).find("field 'b' is given more than once"),
            std::string::npos);
}

TEST(http_routes, equal_keys_in_different_objects_are_not_duplicates) {
  auto r = report_from_json(R"({"agent": "a1", "status": 429,
    "headers": {"agent": "x", "status": ["1", "2"]}})");
  ASSERT_TRUE(r) << message_of(r.error());
  EXPECT_EQ(r->headers.size(), 3u);
}

TEST(http_routes, a_repeated_key_is_named_sanitized_and_never_its_value) {
  auto r = report_from_json(
    "{\"agent\": \"a1\", \"k\\u001b[31m\": \"sk-ant-first\", "
    "\"k\\u001b[31m\": \"sk-ant-second\"}");
  ASSERT_FALSE(r);
  auto text = message_of(r.error());
  EXPECT_EQ(text.find("sk-ant"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_NE(text.find("is given more than once"), std::string::npos) << text;
}

TEST(http_routes, invalid_json_wins_over_a_repeated_key) {
  auto r = report_from_json(R"({"agent": "a1", "agent": "a2")");
  ASSERT_FALSE(r);
  EXPECT_NE(message_of(r.error()).find("not valid JSON"), std::string::npos);
}

// -- the admin writes ---------------------------------------------------------

namespace {

/// Every bad body of `parse` is a 400 whose message contains `says`.
template<class Parse>
void expect_refused(Parse parse, const std::string& body, const char* says) {
  auto r = parse(body);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(status_of(r.error()), 400) << body;
  EXPECT_NE(message_of(r.error()).find(says), std::string::npos)
    << body << " -> " << message_of(r.error());
}

constexpr const char* secret_token = "sk-ant-oat01-SECRET-token-value";

} // namespace

TEST(http_routes, subscription_add_takes_a_name_and_a_token) {
  auto r = subscription_add_from_json(
    R"({"name": "team-a", "token": "sk-ant-oat01-abc"})");
  ASSERT_TRUE(r) << message_of(r.error());
  EXPECT_EQ(r->name, "team-a");
  EXPECT_EQ(r->token.value, "sk-ant-oat01-abc");
  // What a token file usually ends with is trimmed, as --token-file does.
  auto trimmed = subscription_add_from_json(
    R"({"name": "team-a", "token": "  sk-ant-oat01-abc\r\n"})");
  ASSERT_TRUE(trimmed) << message_of(trimmed.error());
  EXPECT_EQ(trimmed->token.value, "sk-ant-oat01-abc");
  // The longest token the CLI takes.
  std::string longest(max_token_bytes, 'k');
  auto big = subscription_add_from_json(R"({"name": "t", "token": ")" + longest
                                        + "\"}");
  ASSERT_TRUE(big) << message_of(big.error());
  EXPECT_EQ(big->token.value.size(), max_token_bytes);
}

TEST(http_routes, a_subscription_add_body_may_carry_a_login) {
  auto spec = subscription_add_from_json(
    R"({"name": "team-max", "token_url": "https://auth.example/token",)"
    R"( "oauth_document": {"claudeAiOauth": {"accessToken": "acc",)"
    R"( "refreshToken": "ref", "expiresAt": 1767225600000,)"
    R"( "scopes": ["user:inference"]}}})");
  ASSERT_TRUE(spec) << message_of(spec.error());
  EXPECT_EQ(spec->terms.kind, credential_kind::oauth);
  EXPECT_EQ(spec->token.value, "acc");
  EXPECT_EQ(spec->refresh_token.value, "ref");
  EXPECT_EQ(spec->terms.expires_at, 1767225600000);
  EXPECT_EQ(spec->token_url, "https://auth.example/token");
  spec = subscription_add_from_json(
    R"({"name": "setup", "token": "tok", "expires_at": "2027-06-01T00:00:00Z"})");
  ASSERT_TRUE(spec) << message_of(spec.error());
  EXPECT_EQ(spec->terms.kind, credential_kind::token);
  EXPECT_EQ(spec->terms.expires_at, 1811808000000);
}

TEST(http_routes, bad_subscription_add_bodies_are_refused) {
  auto parse = [](std::string_view b) { return subscription_add_from_json(b); };
  expect_refused(parse, R"({"token": "abc"})", "'name' is required");
  expect_refused(parse, R"({"name": "team-a"})",
                 "one of 'token' or 'oauth_document' is required");
  expect_refused(parse, R"({"name": "team-a", "token": null})",
                 "one of 'token' or 'oauth_document' is required");
  expect_refused(parse,
                 R"({"name": "team-a", "token": "abc", "oauth_document": {}})",
                 "one of 'token' or 'oauth_document' is required");
  expect_refused(parse, R"({"name": "team-a", "oauth_document": []})",
                 "not a JSON object");
  expect_refused(parse,
                 R"({"name": "team-a", "oauth_document": {"claudeAiOauth":)"
                 R"( {"accessToken": "SECRET"}}})",
                 "no refreshToken");
  expect_refused(parse,
                 R"({"name": "team-a", "token": "abc", "token_url": "x"})",
                 "'token_url' is for an oauth login");
  expect_refused(parse,
                 R"({"name": "team-a", "token": "abc", "expires_at": "soon"})",
                 "'expires_at' must be an ISO instant");
  expect_refused(parse, R"({"name": 7, "token": "abc"})",
                 "'name' must be a string");
  expect_refused(parse, R"({"name": "team-a", "token": 12345})",
                 "'token' must be a string");
  expect_refused(parse, R"({"name": "team-a", "token": ["abc"]})",
                 "'token' must be a string");
  expect_refused(parse, R"({"name": "", "token": "abc"})",
                 "subscription name must not be empty");
  expect_refused(parse, R"({"name": "team-a", "token": ""})",
                 "the token is empty");
  expect_refused(parse, R"({"name": "team-a", "token": " \n"})",
                 "the token is empty");
  expect_refused(parse, R"({"name": "team-a", "token": "a b"})",
                 "printable ASCII");
  expect_refused(parse, R"({"name": "team-a", "token": "a\u00e9"})",
                 "printable ASCII");
  expect_refused(parse,
                 R"({"name": "team-a", "token": ")"
                   + std::string(max_token_bytes + 1, 'k') + "\"}",
                 "longer than");
  expect_refused(parse, R"({"name": "team-a", "token": "abc", "agent": "x"})",
                 "unknown field 'agent'");
  expect_refused(parse, "[]", "must be a JSON object");
}

TEST(http_routes, a_token_is_never_in_an_error_message) {
  std::string t = secret_token;
  for (auto body : std::vector<std::string>{
         // The token is good; something else is wrong.
         R"({"name": "", "token": ")" + t + "\"}",
         R"({"name": 1, "token": ")" + t + "\"}",
         R"({"name": "team-a", "token": ")" + t + R"(", "colour": "red"})",
         R"({"name": "team-a", "token": ")" + t + R"(", "token": "other"})",
         R"({"name": "team-a", "token": "other", "token": ")" + t + "\"}",
         R"({"name": "team-a", "token": ")" + t
           + R"(", "x": {"y": 1, "y": 2}})",
         R"({"name": "team-a", "token": ")" + t + "\"",
         // The token itself is bad.
         R"({"name": "team-a", "token": ")" + t + " " + t + "\"}",
         R"({"name": "team-a", "token": ")" + t + "\\u0007\"}",
         R"({"name": "team-a", "token": ")" + t
           + std::string(max_token_bytes, 'k') + "\"}",
         R"({"name": "team-a", "token": [")" + t + "\"]}",
         R"({"name": "team-a", "token": {"value": ")" + t + "\"}}",
       }) {
    auto r = subscription_add_from_json(body);
    ASSERT_FALSE(r) << body.substr(0, 80);
    auto text = message_of(r.error());
    EXPECT_EQ(text.find("SECRET"), std::string::npos) << text;
    EXPECT_EQ(to_string(r.error()).find("SECRET"), std::string::npos);
    EXPECT_EQ(error_json(r.error()).dump().find("SECRET"), std::string::npos);
  }
}

TEST(http_routes, agent_add_takes_a_name_and_optionally_where_it_runs) {
  auto a = agent_add_from_json(R"({"name": "builder-1"})");
  ASSERT_TRUE(a) << message_of(a.error());
  EXPECT_EQ(a->name, "builder-1");
  EXPECT_EQ(a->subscription, "");
  EXPECT_EQ(a->container, "");
  auto full = agent_add_from_json(R"({"name": "builder-1",
    "subscription": "team-a", "container": "builder_1.x"})");
  ASSERT_TRUE(full) << message_of(full.error());
  EXPECT_EQ(full->subscription, "team-a");
  EXPECT_EQ(full->container, "builder_1.x");
  // "" and null are absent, as an omitted option.
  auto empty = agent_add_from_json(
    R"({"name": "b", "subscription": "", "container": null})");
  ASSERT_TRUE(empty) << message_of(empty.error());
  EXPECT_EQ(empty->subscription, "");
  auto parse = [](std::string_view b) { return agent_add_from_json(b); };
  expect_refused(parse, R"({})", "'name' is required");
  expect_refused(parse, R"({"subscription": "team-a"})", "'name' is required");
  expect_refused(parse, R"({"name": ["b"]})", "'name' must be a string");
  expect_refused(parse, R"({"name": "b", "subscription": 1})",
                 "'subscription' must be a string");
  expect_refused(parse, R"({"name": "b", "container": true})",
                 "'container' must be a string");
  expect_refused(parse, R"({"name": "b\u0007"})",
                 "agent name contains a control character");
  expect_refused(parse,
                 R"({"name": ")" + std::string(max_name_bytes + 1, 'n') + "\"}",
                 "agent name is longer than");
  expect_refused(parse, R"({"name": "b", "subscription": "s\u202e"})",
                 "subscription name contains");
  expect_refused(parse, R"({"name": "b", "container": "-x"})",
                 "container name '-x' may only contain");
  expect_refused(parse, R"({"name": "b", "container": "a/b"})",
                 "may only contain");
  expect_refused(parse, R"({"name": "b", "auto_switch": "off"})",
                 "unknown field 'auto_switch'");
  expect_refused(parse, R"({"name": "b", "name": "c"})",
                 "field 'name' is given more than once");
}

TEST(http_routes, agent_set_takes_auto_switch_on_or_off) {
  EXPECT_EQ(agent_set_from_json(R"({"auto_switch": "on"})").value(),
            auto_switch_mode::on);
  EXPECT_EQ(agent_set_from_json(R"({"auto_switch": "off"})").value(),
            auto_switch_mode::off);
  auto parse = [](std::string_view b) { return agent_set_from_json(b); };
  expect_refused(parse, R"({})", "'auto_switch' is required");
  expect_refused(parse, R"({"auto_switch": null})",
                 "'auto_switch' is required");
  expect_refused(parse, R"({"auto_switch": true})",
                 "'auto_switch' must be a string");
  expect_refused(parse, R"({"auto_switch": "default"})",
                 "'auto_switch' must be on or off");
  expect_refused(parse, R"({"auto_switch": "ON"})",
                 "'auto_switch' must be on or off");
  expect_refused(parse, R"({"auto-switch": "on"})",
                 "'auto_switch' is required");
  expect_refused(parse, R"({"auto_switch": "on", "mode": "x"})",
                 "unknown field 'mode'");
  expect_refused(parse, R"({"auto_switch": "on", "auto_switch": "off"})",
                 "field 'auto_switch' is given more than once");
}

TEST(http_routes, assign_takes_a_subscription) {
  EXPECT_EQ(assign_from_json(R"({"subscription": "team-b"})").value(),
            "team-b");
  auto parse = [](std::string_view b) { return assign_from_json(b); };
  expect_refused(parse, R"({})", "'subscription' is required");
  expect_refused(parse, R"({"subscription": 2})",
                 "'subscription' must be a string");
  expect_refused(parse, R"({"subscription": ""})",
                 "subscription name must not be empty");
  expect_refused(parse, R"({"subscription": "s", "agent": "a"})",
                 "unknown field 'agent'");
  expect_refused(parse, "\"team-b\"", "must be a JSON object");
}

TEST(http_routes, a_setting_value_is_the_text_the_cli_would_pass) {
  struct good_case {
    const char* body;
    const char* text;
  };
  for (auto c : std::vector<good_case>{
         {R"({"value": "off"})", "off"},
         {R"({"value": "2h"})", "2h"},
         {R"({"value": "0.95"})", "0.95"},
         {R"({"value": 6})", "6"},
         {R"({"value": 0})", "0"},
         {R"({"value": -3})", "-3"},
         {R"({"value": 18446744073709551615})", "18446744073709551615"},
         {R"({"value": 0.95})", "0.95"},
         {R"({"value": 6.0})", "6"},
         {R"({"value": 1e3})", "1000"},
         {R"({"value": true})", "on"},
         {R"({"value": false})", "off"},
       }) {
    auto v = setting_value_from_json(c.body);
    ASSERT_TRUE(v) << c.body << " -> " << message_of(v.error());
    EXPECT_EQ(*v, c.text) << c.body;
  }
  auto parse = [](std::string_view b) { return setting_value_from_json(b); };
  expect_refused(parse, R"({})", "'value' is required");
  expect_refused(parse, R"({"value": null})", "'value' is required");
  expect_refused(parse, R"({"value": [1]})",
                 "'value' must be a string, a number or true/false");
  expect_refused(parse, R"({"value": {"a": 1}})",
                 "'value' must be a string, a number or true/false");
  expect_refused(parse, R"({"value": 1, "key": "auto-switch"})",
                 "unknown field 'key'");
}

TEST(http_routes, lifecycle_words_are_start_stop_and_restart) {
  EXPECT_EQ(container_op_of("start").value(), container_op::start);
  EXPECT_EQ(container_op_of("stop").value(), container_op::stop);
  EXPECT_EQ(container_op_of("restart").value(), container_op::restart);
  for (auto word : {"apply", "inspect", "", "Start", "kill"}) {
    auto op = container_op_of(word);
    ASSERT_FALSE(op) << word;
    EXPECT_EQ(status_of(op.error()), 404) << word;
  }
}

// -- the answers the CLI and the routes share --------------------------------

TEST(http_routes, the_shared_answers_are_the_cli_documents) {
  EXPECT_EQ(json_text(ping_json("switchboard/7")),
            R"({"ok":true,"protocol":"switchboard/7"})");
  EXPECT_EQ(json_text(removed_subscription_json("team-a", {"b1", "b2"})),
            R"({"removed":"team-a","unassigned":["b1","b2"]})");
  EXPECT_EQ(json_text(removed_subscription_json("team-a", {})),
            R"({"removed":"team-a","unassigned":[]})");
  EXPECT_EQ(json_text(removed_agent_json("b1")), R"({"removed":"b1"})");
  EXPECT_EQ(json_text(settings_json({{"auto-switch", "on"},
                                     {"switch-budget", "6"},
                                     {"switch-at-utilization", "0.95"}})),
            R"({"auto-switch":"on","switch-at-utilization":0.95,)"
            R"("switch-budget":6})");
  EXPECT_EQ(json_text(setting_json("exclusion-window", "2h")),
            R"({"exclusion-window":"2h"})");
  // The daemon's normalized value wins over the one sent.
  EXPECT_EQ(json_text(setting_set_json({{"auto-switch", "off"}}, "auto-switch",
                                       "false")),
            R"({"auto-switch":"off"})");
  EXPECT_EQ(json_text(setting_set_json({}, "switch-budget", "7")),
            R"({"switch-budget":7})");
}
