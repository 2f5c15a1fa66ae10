// The wire protocol over a real CAF connection: two actor systems in one
// process, connected on 127.0.0.1 (port 0), so every value is serialized and
// deserialized by CAF's network layer. Every message type round-trips,
// errors keep their text, and a peer with another protocol version is refused
// at connect time.

#include "client/connect.hpp"
#include "intake/basp_guard.hpp"
#include "intake/caf_door.hpp"
#include "messages/actors.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"
#include "messages/register.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <gtest/gtest.h>

using namespace sb;
using namespace std::chrono_literals;

namespace sb {

// Field by field, for the round trips below (the daemon never compares
// these).
bool operator==(const sink_info& x, const sink_info& y) {
  return std::tie(x.id, x.name, x.kind, x.host, x.signed_, x.events,
                  x.min_severity, x.digest, x.created_at)
         == std::tie(y.id, y.name, y.kind, y.host, y.signed_, y.events,
                     y.min_severity, y.digest, y.created_at);
}

bool operator==(const sink_status& x, const sink_status& y) {
  return x.info == y.info
         && std::tie(x.delivered, x.failed, x.pending, x.last_delivered_at,
                     x.last_status, x.last_error)
              == std::tie(y.delivered, y.failed, y.pending, y.last_delivered_at,
                          y.last_status, y.last_error);
}

bool operator==(const delivery_record& x, const delivery_record& y) {
  return std::tie(x.sink_id, x.notification_id, x.state, x.attempts, x.next_at,
                  x.last_status, x.last_error)
         == std::tie(y.sink_id, y.notification_id, y.state, y.attempts,
                     y.next_at, y.last_status, y.last_error);
}

bool operator==(const delivery_failure& x, const delivery_failure& y) {
  return std::tie(x.sink, x.notification_id, x.attempts, x.last_status,
                  x.last_error, x.at)
         == std::tie(y.sink, y.notification_id, y.attempts, y.last_status,
                     y.last_error, y.at);
}

} // namespace sb

namespace {

/// Echoes every wire type back; `ping` with a name answers an sb error.
using echo_actor = caf::typed_actor<
  replies<secret>::with<secret>, replies<failure_report>::with<failure_report>,
  replies<observation>::with<observation>,
  replies<report_result>::with<report_result>,
  replies<subscription_info>::with<subscription_info>,
  replies<subscription_change>::with<subscription_change>,
  replies<subscription_state_change>::with<subscription_state_change>,
  replies<agent_spec>::with<agent_spec>, replies<agent_info>::with<agent_info>,
  replies<subscription_spec>::with<subscription_spec>,
  replies<apply_outcome>::with<apply_outcome>,
  replies<status_info>::with<status_info>, replies<query>::with<query>,
  replies<event_info>::with<event_info>,
  replies<history_info>::with<history_info>,
  replies<watch_event>::with<watch_event>,
  replies<notification_info>::with<notification_info>,
  replies<settings_map>::with<settings_map>,
  replies<std::vector<std::string>>::with<std::vector<std::string>>,
  replies<std::vector<agent_info>>::with<std::vector<agent_info>>,
  replies<event_page>::with<event_page>,
  replies<history_page>::with<history_page>,
  replies<notification_page>::with<notification_page>,
  replies<backup_info>::with<backup_info>,
  replies<backup_chunk>::with<backup_chunk>,
  replies<sink_spec>::with<sink_spec>, replies<sink_info>::with<sink_info>,
  replies<std::vector<sink_status>>::with<std::vector<sink_status>>,
  replies<delivery_record>::with<delivery_record>,
  replies<std::vector<delivery_failure>>::with<std::vector<delivery_failure>>,
  replies<ping_atom, std::string>::with<std::string>>;

echo_actor::behavior_type echo(echo_actor::pointer) {
  return {
    [](secret& x) { return x; },
    [](failure_report& x) { return x; },
    [](observation& x) { return x; },
    [](report_result& x) { return x; },
    [](subscription_info& x) { return x; },
    [](subscription_change& x) { return x; },
    [](agent_spec& x) { return x; },
    [](subscription_spec& x) { return x; },
    [](subscription_state_change& x) { return x; },
    [](agent_info& x) { return x; },
    [](apply_outcome& x) { return x; },
    [](status_info& x) { return x; },
    [](query& x) { return x; },
    [](event_info& x) { return x; },
    [](history_info& x) { return x; },
    [](watch_event& x) { return x; },
    [](notification_info& x) { return x; },
    [](settings_map& x) { return x; },
    [](std::vector<std::string>& x) { return x; },
    [](std::vector<agent_info>& x) { return x; },
    [](event_page& x) { return x; },
    [](history_page& x) { return x; },
    [](notification_page& x) { return x; },
    [](backup_info& x) { return x; },
    [](backup_chunk& x) { return x; },
    [](sink_spec& x) { return x; },
    [](sink_info& x) { return x; },
    [](std::vector<sink_status>& x) { return x; },
    [](delivery_record& x) { return x; },
    [](std::vector<delivery_failure>& x) { return x; },
    [](ping_atom, std::string& name) -> caf::result<std::string> {
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    },
  };
}

struct node_config : caf::actor_system_config {
  explicit node_config(const char* app_id = nullptr) {
    sb::add_message_types(*this);
    load<caf::io::middleman>();
    set("scheduler.max-threads", 2);
    if (app_id)
      set("middleman.app-identifiers", std::vector<std::string>{app_id});
  }
};

class protocol_test : public ::testing::Test {
protected:
  void SetUp() override {
    server_actor = server.spawn(echo);
    auto port = server.middleman().publish(server_actor, 0, "127.0.0.1", true);
    ASSERT_TRUE(port) << server.render(port.error());
    this->port = *port;
    auto handle
      = client.middleman().remote_actor<echo_actor>("127.0.0.1", *port);
    ASSERT_TRUE(handle) << client.render(handle.error());
    remote = *handle;
  }

  void TearDown() override {
    caf::anon_send_exit(server_actor, caf::exit_reason::user_shutdown);
  }

  /// Sends `x` through the network and returns what came back.
  template<class T>
  T round_trip(const T& x) {
    T result;
    caf::scoped_actor self{client};
    self->request(remote, 5s, x)
      .receive([&](T& y) { result = std::move(y); },
               [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return result;
  }

  /// Every field of `x` must be set to a non-default value: a field that
  /// inspect() leaves out comes back as its default and fails operator==.
  template<class T>
  void expect_round_trip(const T& x) {
    EXPECT_TRUE(round_trip(x) == x) << caf::deep_to_string(x);
  }

  node_config server_cfg;
  caf::actor_system server{server_cfg};
  node_config client_cfg;
  caf::actor_system client{client_cfg};
  echo_actor server_actor;
  echo_actor remote;
  uint16_t port = 0;
};

} // namespace

TEST_F(protocol_test, every_message_type_round_trips) {
  // The echo runs on the other node: the handle is a proxy.
  ASSERT_NE(remote.node(), client.node());
  EXPECT_EQ(round_trip(secret{"sk-ant-oat01-xyz"}).value, "sk-ant-oat01-xyz");
  failure_report r;
  r.agent = "a1";
  r.status = 429;
  r.kind = failure_kind::rate_limit;
  r.error = "Too many requests \xE2\x9C\x93";
  r.subscription = "sub-a";
  r.execution_id = "exec-1";
  r.source = "chat";
  r.retry_after_ms = 30000;
  r.reset_at = 1'800'000'000'000;
  r.headers = {{"retry-after", "30"},
               {"anthropic-ratelimit-unified-status", "rejected"}};
  r.arrived_at = 1'800'000'000'123;
  r.model = "claude-opus-4-1";
  expect_round_trip(r);
  observation ob;
  ob.agent = "a1";
  ob.headers = {{"anthropic-ratelimit-unified-5h-utilization", "0.97"}};
  ob.subscription = "sub-a";
  ob.token_sha256 = std::string(64, 'a');
  ob.generation = uint64_t{3};
  ob.source = "task";
  ob.arrived_at = 1'800'000'000'456;
  ob.model = "gpt-5-codex";
  expect_round_trip(ob);
  expect_round_trip(apply_failed("engine unreachable"));
  report_result rr;
  rr.result = outcome::no_alternative;
  rr.agent = "a1";
  rr.from = std::string{"sub-a"};
  rr.to = std::string{"sub-b"};
  rr.generation = 7;
  rr.kind = failure_kind::auth;
  rr.reason = "every other subscription is excluded";
  rr.event_count = 3;
  rr.apply = apply_failed("engine unreachable");
  rr.retry_after_ms = 1234;
  rr.reset_at = 1'800'000'360'000;
  rr.retryable = true;
  expect_round_trip(rr);
  subscription_info si;
  si.id = 42;
  si.name = "sub-b";
  si.provider = provider_kind::gemini;
  si.pool = "gemini-pool";
  si.agent_count = 3;
  si.state = credential_state::retired;
  si.retired = retire_reason::not_entitled;
  si.retired_at = 1'800'000'000'777;
  si.max_agents = 12;
  si.model_excluded = {{"opus", 1'800'000'900'000}};
  si.excluded_until = 1'800'000'000'000;
  si.reset_at = 1'800'000'100'000;
  si.utilization_5h = 0.97;
  si.reset_5h_at = 1'800'000'200'000;
  si.reset_7d_at = 1'800'000'300'000;
  si.status = provider_status::allowed_warning;
  si.evidence_at = 1'800'000'000'999;
  si.failures_2h = 2;
  si.failures_24h = 5;
  si.failures_2h_by_kind = {{failure_kind::rate_limit, 2}};
  si.failures_24h_by_kind
    = {{failure_kind::rate_limit, 4}, {failure_kind::auth, 1}};
  si.created_at = 1'700'000'000'000;
  si.updated_at = 1'700'000'000'001;
  expect_round_trip(si);
  subscription_change sc;
  sc.info = si;
  sc.rotated = true;
  sc.reloading = {"a1", "a2"};
  expect_round_trip(sc);
  expect_round_trip(subscription_state_change{si, {"a1", "a2"}});
  expect_round_trip(agent_spec{"a1", "sub-a", "ctr-1", "pool-x"});
  expect_round_trip(subscription_spec{"sub-c", secret{"tok-c"},
                                      provider_kind::codex, "codex-pool", 7u});
  agent_info ai;
  ai.name = "a1";
  ai.pool = "pool-x";
  ai.model = "gemini-2.5-pro";
  ai.subscription = std::string{"sub-a"};
  ai.container = std::string{"ctr-1"};
  ai.generation = 4;
  ai.applied_generation = 3;
  ai.switching = true;
  ai.auto_switch = auto_switch_mode::off;
  ai.container_state = lifecycle::recreating;
  ai.last_apply = apply_outcome{apply_result::hot_reloaded, {}};
  ai.last_apply_at = 1'800'000'000'000;
  ai.last_switch_at = 1'800'000'000'001;
  ai.retry_at = 1'800'000'000'002;
  ai.mailbox = 9;
  ai.recent_switches = 2;
  ai.node = "host-a";
  expect_round_trip(ai);
  expect_round_trip(std::vector<agent_info>{ai, ai});
  status_info st;
  st.version = "0.1.0";
  st.protocol = protocol_version();
  st.started_at = 1'800'000'000'000;
  st.uptime_ms = 5000;
  st.agents = 100000;
  st.subscriptions = uint64_t{1000};
  st.components = {{"store", health::running, {}},
                   {"subscription-pool", health::unresponsive, "timeout"}};
  st.admin = admin_status{1, 2, 3};
  st.store
    = store_status{"/x.db", 1, 2, 3, 4, 5, 6, 7, false, "locked", 8, 9, 10};
  st.intake = intake_status{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  st.pool = pool_status{
    1, 2, 3, 4, {{"codex-pool", pool_counts{provider_kind::codex, 5, 6, 7}}}};
  supervisor_status sup;
  sup.containers = 1;
  sup.by_state = {{lifecycle::running, 1}};
  sup.queued = 2;
  sup.workers = 3;
  sup.workers_busy = 4;
  sup.operations = 5;
  sup.coalesced = 6;
  sup.superseded = 7;
  sup.docker_socket = "/run/docker.sock";
  st.supervisor = sup;
  expect_round_trip(st);
  expect_round_trip(query{"a1", "sub-a", 10, 77});
  event_info ev;
  ev.id = 1;
  ev.agent = "a1";
  ev.subscription = "sub-a";
  ev.kind = failure_kind::ignored;
  ev.reason = "killed";
  ev.status = 500;
  ev.message = "exit code 137";
  ev.source = "task";
  ev.execution_id = "exec-9";
  ev.reset_at = 1'800'000'000'001;
  ev.at = 1'800'000'000'000;
  expect_round_trip(ev);
  expect_round_trip(event_page{{ev, ev}, 41});
  history_info h;
  h.id = 2;
  h.agent = "a1";
  h.from = std::string{"sub-a"};
  h.to = std::string{"sub-b"};
  h.by = trigger::rotation;
  h.kind = failure_kind::rate_limit;
  h.event_count = 2;
  h.generation = 1;
  h.apply = apply_outcome{apply_result::restarted, {}};
  h.at = 1'800'000'000'000;
  expect_round_trip(h);
  expect_round_trip(history_page{{h}, 2});
  notification_info n{3,
                      "a1",
                      notification_kind::held,
                      "title",
                      "message",
                      notification_priority::high,
                      notification_status::delivered,
                      1'800'000'000'000};
  expect_round_trip(n);
  expect_round_trip(notification_page{{n}, 3});
  expect_round_trip(backup_info{"0123456789abcdef0123456789abcdef", 4096});
  expect_round_trip(backup_chunk{std::string("\0\1SQLite", 8), true});
  expect_round_trip(settings_map{{"auto-switch", "off"}});
  watch_event we;
  we.at = 1'800'000'000'000;
  we.kind = watch_kind::report;
  we.agent = "a1";
  we.from = std::string{"sub-a"};
  we.to = std::string{"sub-b"};
  we.generation = 3;
  we.outcome = "switched";
  we.status = 429;
  we.line = "report a1 429 on sub-a -> switched";
  expect_round_trip(we);
  expect_round_trip(std::vector<std::string>{"a", "b", ""});
  sink_info sink_x{3,
                   "ops",
                   sink_kind::slack,
                   "https://hooks.slack.com",
                   false,
                   {"switched"},
                   "warning",
                   true,
                   1'800'000'000'000};
  expect_round_trip(sink_x);
  sink_status ss;
  ss.info = sink_x;
  ss.delivered = 4;
  ss.last_error = "hooks.slack.com answered HTTP 500";
  expect_round_trip(std::vector<sink_status>{ss});
  expect_round_trip(delivery_record{3, 9, delivery_state::failed, 10, 0, 404,
                                    "answered HTTP 404"});
  expect_round_trip(std::vector<delivery_failure>{
    {"ops", 9, 10, 404, "answered HTTP 404", 1'800'000'000'000}});
}

TEST_F(protocol_test, errors_keep_their_code_and_text) {
  caf::scoped_actor self{client};
  self->request(remote, 5s, ping_atom::value, std::string{"ghost"})
    .receive([](std::string&) { FAIL() << "expected an error"; },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, ec::unknown_agent));
               EXPECT_EQ(render(err), "unknown agent 'ghost'");
             });
}

TEST_F(protocol_test, secrets_never_print) {
  failure_report r;
  auto text = caf::deep_to_string(secret{"sk-do-not-print"});
  EXPECT_EQ(text.find("sk-do-not-print"), std::string::npos) << text;
  EXPECT_NE(text.find("redacted"), std::string::npos) << text;
}

TEST(protocol_version, a_mismatched_client_is_refused_at_connect_time) {
  node_config server_cfg;
  caf::actor_system server{server_cfg};
  auto fd = server.spawn(
    [](front_door_actor::pointer) -> front_door_actor::behavior_type {
      return {
        [](ping_atom) { return std::string{"pong"}; },
        [](status_atom) { return status_info{}; },
        [](report_atom, failure_report&) { return report_result{}; },
        [](observe_atom, observation&) { return report_result{}; },
        [](sub_add_atom, subscription_spec&) { return subscription_change{}; },
        [](sub_list_atom) { return std::vector<subscription_info>{}; },
        [](sub_rm_atom, std::string&) { return std::vector<std::string>{}; },
        [](agent_add_atom, agent_spec&) { return agent_info{}; },
        [](agent_ls_atom) { return std::vector<agent_info>{}; },
        [](agent_ls_atom, std::string&) { return std::vector<agent_info>{}; },
        [](agent_get_atom, std::string&) { return agent_info{}; },
        [](agent_rm_atom, std::string& x) { return x; },
        [](agent_set_atom, std::string&, auto_switch_mode) {
          return agent_info{};
        },
        [](assign_atom, std::string&, std::string&) { return report_result{}; },
        [](assign_atom, std::string&, std::string&, bool) {
          return report_result{};
        },
        [](sub_state_atom, std::string&, subscription_op) {
          return subscription_state_change{};
        },
        [](sub_set_atom, std::string&, uint32_t) {
          return subscription_state_change{};
        },
        [](lifecycle_atom, std::string&, container_op) {
          return apply_outcome{};
        },
        [](settings_atom) { return settings_map{}; },
        [](setting_atom, std::string&, std::string&) { return settings_map{}; },
        [](events_atom, query&) { return event_page{}; },
        [](history_atom, query&) { return history_page{}; },
        [](notes_atom, query&) { return notification_page{}; },
        [](watch_atom, watcher_actor&) { return ok_atom::value; },
        [](sink_add_atom, sink_spec&) { return sink_info{}; },
        [](sink_rm_atom, std::string&) { return ok_atom::value; },
        [](sink_show_atom) { return std::vector<sink_status>{}; },
        [](sink_test_atom, std::string&) { return delivery_record{}; },
        [](delivery_atom, uint32_t) { return std::vector<delivery_failure>{}; },
        [](backup_atom) { return backup_info{}; },
        [](backup_atom, std::string&, uint64_t) { return backup_chunk{}; },
      };
    });
  // Behind the guard, as the daemon runs it (one actor for both scopes).
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(fd);
  intake::caf_door door{server, ptr, ptr,
                        server.message_types<front_door_actor>(),
                        intake::input_type_names<front_door_actor>(server)};
  intake::guard_options o;
  o.hand_over = [&door](int x, scope s) { return door.hand_over(x, s); };
  o.rules = door.rules();
  o.admin_door = o.report_door = fd.id();
  o.tokens = {"protocol-test-admin-token", "protocol-test-report-token"};
  auto guard = intake::basp_guard::start(o);
  ASSERT_TRUE(guard) << guard.error;
  client::endpoint ep;
  ep.port = guard.guard->port();
  ep.token = "protocol-test-admin-token";
  // Same protocol: connects.
  {
    node_config cfg;
    caf::actor_system client{cfg};
    auto handle = client::connect(client, ep);
    EXPECT_TRUE(handle) << render(handle.error());
  }
  // Another protocol version: refused, with a message that says so.
  {
    node_config cfg{"switchboard-protocol-0"};
    caf::actor_system client{cfg};
    auto handle = client::connect(client, ep);
    ASSERT_FALSE(handle);
    EXPECT_NE(render(handle.error()).find("another protocol version"),
              std::string::npos)
      << render(handle.error());
  }
  guard.guard->stop();
  door.close();
  caf::anon_send_exit(fd, caf::exit_reason::user_shutdown);
}

TEST(json_shapes, a_watch_event_is_one_structured_object) {
  watch_event we;
  we.at = 1'800'000'000'000;
  we.kind = watch_kind::apply;
  we.agent = "a1";
  we.generation = 2;
  we.apply = "hot_reloaded";
  we.line = "apply a1 generation 2 hot_reloaded";
  auto j = to_json(we);
  EXPECT_EQ(j["at"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(j["kind"], "apply");
  EXPECT_EQ(j["agent"], "a1");
  EXPECT_TRUE(j["from"].is_null());
  EXPECT_TRUE(j["to"].is_null());
  EXPECT_EQ(j["generation"], 2);
  EXPECT_TRUE(j["outcome"].is_null());
  EXPECT_EQ(j["apply"], "hot_reloaded");
  EXPECT_TRUE(j["status"].is_null());
  EXPECT_FALSE(j.contains("line"));
}
