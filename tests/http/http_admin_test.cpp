// Every CLI command over HTTP, against a real in-process daemon: the admin
// writes answer the CLI's --json documents, take the same checks (a bad
// body changes nothing, a token is never echoed), and need the admin
// credential.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/http_client.hpp"
#include "fixtures/http_receiver.hpp"

#include <gtest/gtest.h>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;

namespace {

constexpr const char* token_a = "sk-ant-oat01-http-admin-token-aaaaaaaaaaaa";
constexpr const char* token_b = "sk-ant-oat01-http-admin-token-bbbbbbbbbbbb";

class http_admin_test : public daemon_fixture {
protected:
  void SetUp() override {
    port_ = start_http();
    ASSERT_NE(port_, 0);
  }

  http_reply call(const std::string& method, const std::string& path,
                  const std::string& body = {}, bool admin = true) {
    http_call_options o;
    o.bearer = admin ? admin_token() : report_token();
    o.timeout_s = 30;
    return http_call(method, "http://127.0.0.1:" + std::to_string(port_) + path,
                     body, o);
  }

  uint16_t port_ = 0;
};

bool mentions(const http_reply& r, const std::string& secret) {
  return r.body.find(secret) != std::string::npos;
}

} // namespace

TEST_F(http_admin_test, subscriptions_are_added_rotated_and_removed) {
  auto added = call("POST", "/v1/subscriptions",
                    json{{"name", "team-a"}, {"token", token_a}}.dump());
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.json()["rotated"], false);
  EXPECT_FALSE(mentions(added, token_a));
  auto list = call("GET", "/v1/subscriptions").json();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "team-a");
  auto rotated = call("POST", "/v1/subscriptions",
                      json{{"name", "team-a"}, {"token", token_b}}.dump());
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_EQ(rotated.json()["rotated"], true);
  EXPECT_NE(call("GET", "/v1/subscriptions").json()[0]["fingerprint"],
            list[0]["fingerprint"]);
  add_agent("a1", "team-a");
  auto removed = call("POST", "/v1/subscriptions/team-a/remove");
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(removed.json(),
            (json{{"removed", "team-a"}, {"unassigned", {"a1"}}}));
  EXPECT_TRUE(call("GET", "/v1/subscriptions").json().empty());
  auto again = call("POST", "/v1/subscriptions/team-a/remove");
  EXPECT_EQ(again.status, 404) << again.body;
}

TEST_F(http_admin_test, a_bad_body_changes_nothing_and_never_echoes_a_token) {
  // Not a token (a space), given twice, a field of the wrong type, a name
  // with a control character.
  for (auto body : {json{{"name", "team-a"}, {"token", "not-a token"}}.dump(),
                    std::string{"{\"name\": \"team-a\", \"token\": \""}
                      + token_a + "\", \"token\": \"" + token_b + "\"}",
                    json{{"name", "team-a"}, {"token", 42}}.dump(),
                    json{{"name", "bad\aname"}, {"token", token_a}}.dump()}) {
    auto r = call("POST", "/v1/subscriptions", body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_FALSE(mentions(r, token_a) || mentions(r, token_b)
                 || mentions(r, "not-a token"))
      << r.body;
  }
  EXPECT_TRUE(call("GET", "/v1/subscriptions").json().empty());
}

TEST_F(http_admin_test, the_report_credential_may_not_write) {
  auto r = call("POST", "/v1/subscriptions",
                json{{"name", "team-a"}, {"token", token_a}}.dump(), false);
  EXPECT_EQ(r.status, 403) << r.body;
  auto agent = call("POST", "/v1/agents", json{{"name", "a1"}}.dump(), false);
  EXPECT_EQ(agent.status, 403) << agent.body;
  auto setting = call("PUT", "/v1/settings/auto-switch",
                      json{{"value", "off"}}.dump(), false);
  EXPECT_EQ(setting.status, 403) << setting.body;
  EXPECT_TRUE(call("GET", "/v1/subscriptions").json().empty());
  EXPECT_TRUE(call("GET", "/v1/agents").json().empty());
}

TEST_F(http_admin_test, agents_are_added_set_assigned_and_removed) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  auto added = call("POST", "/v1/agents",
                    json{{"name", "a1"}, {"subscription", "sub-a"}}.dump());
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.json()["name"], "a1");
  EXPECT_EQ(added.json()["subscription"], "sub-a");
  auto off
    = call("POST", "/v1/agents/a1/set", json{{"auto_switch", "off"}}.dump());
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(off.json()["auto_switch"], "off");
  EXPECT_EQ(agent("a1").auto_switch, auto_switch_mode::off);
  auto moved = call("POST", "/v1/agents/a1/assign",
                    json{{"subscription", "sub-b"}}.dump());
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(moved.json()["to"], "sub-b");
  EXPECT_EQ(*agent("a1").subscription, "sub-b");
  // No container: a container operation is a clear error.
  auto start = call("POST", "/v1/agents/a1/start");
  EXPECT_GE(start.status, 400) << start.body;
  EXPECT_TRUE(start.json().contains("error")) << start.body;
  EXPECT_EQ(call("POST", "/v1/agents/a1/explode").status, 404);
  auto removed = call("POST", "/v1/agents/a1/remove");
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(removed.json(), (json{{"removed", "a1"}}));
  EXPECT_EQ(call("GET", "/v1/agents/a1").status, 404);
}

TEST_F(http_admin_test, settings_are_read_and_written) {
  auto all = call("GET", "/v1/settings");
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_TRUE(all.json().contains("auto-switch")) << all.body;
  auto set
    = call("PUT", "/v1/settings/auto-switch", json{{"value", "off"}}.dump());
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(set.json(), (json{{"auto-switch", "off"}}));
  EXPECT_EQ(call("GET", "/v1/settings/auto-switch").json(),
            (json{{"auto-switch", "off"}}));
  EXPECT_EQ(call("GET", "/v1/settings/no-such-key").status, 404);
  auto bad = call("PUT", "/v1/settings/auto-switch",
                  json{{"value", "sideways"}}.dump());
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(call("GET", "/v1/settings/auto-switch").json()["auto-switch"],
            "off");
  auto ping = call("GET", "/v1/ping", {}, false);
  ASSERT_EQ(ping.status, 200) << ping.body;
  EXPECT_EQ(ping.json()["ok"], true);
}

TEST_F(http_admin_test, pools_states_and_caps_over_http) {
  auto codex = call("POST", "/v1/subscriptions",
                    json{{"name", "codex-a"},
                         {"token", token_a},
                         {"provider", "codex"},
                         {"pool", "codex"},
                         {"max_agents", 2}}
                      .dump());
  ASSERT_EQ(codex.status, 200) << codex.body;
  EXPECT_EQ(codex.json()["provider"], "codex");
  EXPECT_EQ(codex.json()["pool"], "codex");
  EXPECT_EQ(codex.json()["max_agents"], 2);
  // Another provider in that pool, or an unknown one: 400, nothing added.
  auto mixed = call("POST", "/v1/subscriptions",
                    json{{"name", "claude-a"},
                         {"token", token_b},
                         {"provider", "anthropic"},
                         {"pool", "codex"}}
                      .dump());
  EXPECT_EQ(mixed.status, 400) << mixed.body;
  EXPECT_EQ(
    call("POST", "/v1/subscriptions",
         json{{"name", "x"}, {"token", token_b}, {"provider", "claude"}}.dump())
      .status,
    400);
  EXPECT_EQ(call("GET", "/v1/subscriptions").json().size(), 1u);
  auto agent = call("POST", "/v1/agents",
                    json{{"name", "c1"}, {"subscription", "codex-a"}}.dump());
  ASSERT_EQ(agent.status, 200) << agent.body;
  EXPECT_EQ(agent.json()["pool"], "codex");
  auto agents = call("GET", "/v1/agents").json();
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0]["pool"], "codex");
  EXPECT_EQ(agents[0]["provider"], "codex");
  auto drained = call("POST", "/v1/subscriptions/codex-a/drain");
  ASSERT_EQ(drained.status, 200) << drained.body;
  EXPECT_EQ(drained.json()["state"], "draining");
  EXPECT_EQ(drained.json()["moving"], json::array({"c1"}));
  EXPECT_EQ(call("POST", "/v1/subscriptions/codex-a/undrain").json()["state"],
            "active");
  EXPECT_EQ(call("POST", "/v1/subscriptions/codex-a/reset").json()["state"],
            "active");
  auto capped = call("POST", "/v1/subscriptions/codex-a/set",
                     json{{"max_agents", 5}}.dump());
  ASSERT_EQ(capped.status, 200) << capped.body;
  EXPECT_EQ(capped.json()["max_agents"], 5);
  EXPECT_EQ(call("POST", "/v1/subscriptions/codex-a/set",
                 json{{"max_agents", -1}}.dump())
              .status,
            400);
  EXPECT_EQ(call("POST", "/v1/subscriptions/nope/drain").status, 404);
  // The report credential may not change a subscription's standing.
  EXPECT_EQ(call("POST", "/v1/subscriptions/codex-a/drain", "", false).status,
            403);
  // assign with "force" must be a boolean.
  EXPECT_EQ(call("POST", "/v1/agents/c1/assign",
                 json{{"subscription", "codex-a"}, {"force", "yes"}}.dump())
              .status,
            400);
}

TEST_F(http_admin_test, sinks_are_added_listed_tested_and_removed) {
  sb::test::http_receiver receiver;
  auto url = receiver.url("/hooks/T0SECRETPATH");
  auto body = json{{"name", "ops"},
                   {"kind", "webhook"},
                   {"url", url},
                   {"secret", "whsec-SECRET"},
                   {"events", {"switched", "node_down"}},
                   {"min_severity", "warning"},
                   {"digest", false}};
  // The report credential may not add one.
  auto refused = call("POST", "/v1/sinks", body.dump(), false);
  EXPECT_EQ(refused.status, 403) << refused.body;
  auto added = call("POST", "/v1/sinks", body.dump());
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.json()["signed"], true);
  EXPECT_FALSE(mentions(added, "SECRET"));
  auto list = call("GET", "/v1/sinks", {}, false);
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json().size(), 1u);
  EXPECT_EQ(list.json()[0]["events"], (json{"switched", "node_down"}));
  EXPECT_EQ(list.json()[0]["pending"], 0);
  EXPECT_FALSE(mentions(list, "SECRET"));
  auto tested = call("POST", "/v1/sinks/ops/test");
  ASSERT_EQ(tested.status, 200) << tested.body;
  EXPECT_EQ(tested.json()["delivered"], true);
  EXPECT_EQ(tested.json()["status"], 200);
  // Bad bodies: 400, nothing quoted, nothing added.
  for (auto bad :
       {json{{"name", "x"}, {"kind", "pager"}, {"url", url}},
        json{{"name", "x"},
             {"kind", "slack"},
             {"url", url},
             {"secret", "whsec-SECRET"}},
        json{{"name", "x"},
             {"kind", "slack"},
             {"url", url},
             {"events", "switched"}},
        json{
          {"name", "x"}, {"kind", "slack"}, {"url", url}, {"colour", "red"}}}) {
    auto r = call("POST", "/v1/sinks", bad.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_FALSE(mentions(r, "SECRET")) << r.body;
  }
  EXPECT_EQ(call("GET", "/v1/sinks").json().size(), 1u);
  EXPECT_EQ(call("GET", "/v1/notifications/failed").json(), json::array());
  EXPECT_EQ(call("GET", "/v1/notifications/failed?limit=0").status, 400);
  auto removed = call("POST", "/v1/sinks/ops/remove");
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(removed.json(), (json{{"removed", "ops"}}));
  EXPECT_EQ(call("POST", "/v1/sinks/ops/remove").status, 404);
  EXPECT_EQ(call("POST", "/v1/sinks/ops/test").status, 404);
}
