// The Docker client against the private test engine: every call, its errors,
// the agent-server client, and the container operations one by one.

#include "docker_client/container_ops.hpp"
#include "fixtures/docker_env.hpp"
#include "messages/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

using namespace sb;
using namespace sb::test;

namespace {

class docker_api_test : public ::testing::Test {
protected:
  docker_env env;
  docker::agent_server_client agents;
  docker::op_settings settings() {
    docker::op_settings s;
    s.reload_timeout = std::chrono::seconds(5);
    s.health_timeout = std::chrono::seconds(20);
    s.stop_timeout = std::chrono::seconds(5);
    return s;
  }
  std::string unique(const std::string& base) {
    return "sbt-" + base + "-" + std::to_string(::getpid());
  }
};

bool has_env(const docker::container_info& info, const std::string& entry) {
  return std::find(info.env.begin(), info.env.end(), entry) != info.env.end();
}

bool has_var(const docker::container_info& info, const std::string& name) {
  return std::any_of(info.env.begin(), info.env.end(),
                     [&](auto& e) { return e.rfind(name + "=", 0) == 0; });
}

} // namespace

TEST_F(docker_api_test, engine_calls_and_their_errors) {
  auto v = env.engine().version();
  ASSERT_TRUE(v) << render(v.error());
  EXPECT_EQ(*v, "1.41");
  auto c = env.start_agent(unique("api"), "tok-a");
  auto info = env.engine().inspect(c.name);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, c.name);
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->network_mode, "host");
  EXPECT_EQ(info->labels["switchboard.agent-port"], std::to_string(c.port));
  auto listed = env.engine().list("switchboard.test=1");
  ASSERT_TRUE(listed);
  EXPECT_TRUE(std::any_of(listed->begin(), listed->end(),
                          [&](auto& x) { return x.name == c.name; }));
  // Starting a running container is fine (304); removing it is a conflict.
  EXPECT_FALSE(env.engine().start(c.name));
  auto err = env.engine().remove(c.name, false);
  EXPECT_TRUE(is(err, ec::conflict)) << render(err);
  EXPECT_FALSE(env.engine().stop(c.name, std::chrono::seconds(5)));
  EXPECT_FALSE(env.engine().stop(c.name, std::chrono::seconds(5))); // 304
  EXPECT_FALSE(env.engine().inspect(c.name)->running);
  EXPECT_FALSE(env.engine().remove(c.name, false));
  auto gone = env.engine().inspect(c.name);
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), ec::not_found)) << render(gone.error());
  EXPECT_TRUE(is(env.engine().start("sbt-no-such-container"), ec::not_found));
}

TEST_F(docker_api_test, an_engine_that_is_not_there_is_a_clear_error) {
  temp_dir dir;
  docker::docker_api missing{dir.file("docker.sock"), std::chrono::seconds(2)};
  auto v = missing.version();
  ASSERT_FALSE(v);
  EXPECT_TRUE(is(v.error(), ec::docker_unreachable)) << render(v.error());
  EXPECT_NE(render(v.error()).find("unreachable"), std::string::npos);
}

TEST_F(docker_api_test, agent_server_client_reload_and_health) {
  auto c = env.start_agent(unique("client"), "tok-a");
  EXPECT_TRUE(agents.healthy("127.0.0.1", c.port, std::chrono::seconds(2)));
  auto r = agents.reload_token("127.0.0.1", c.port, "tok-b", true,
                               std::chrono::seconds(5));
  EXPECT_EQ(r.outcome, docker::reload_result::reloaded) << r.detail;
  auto st = env.status(c);
  EXPECT_EQ(st.token_sha256, sha256_hex("tok-b"));
  EXPECT_FALSE(st.api_key_present);
  EXPECT_EQ(r.detail.find("tok-b"), std::string::npos); // never the token
  r = agents.reload_token("127.0.0.1", c.port, "", true,
                          std::chrono::seconds(5));
  EXPECT_EQ(r.outcome, docker::reload_result::rejected);
  EXPECT_EQ(r.status, 400);
  auto old = env.start_agent(unique("old"), "tok-a", false);
  r = agents.reload_token("127.0.0.1", old.port, "tok-b", true,
                          std::chrono::seconds(5));
  EXPECT_EQ(r.outcome, docker::reload_result::not_supported);
  r = agents.reload_token("127.0.0.1", free_port(), "tok-b", true,
                          std::chrono::seconds(2));
  EXPECT_EQ(r.outcome, docker::reload_result::unreachable);
}

TEST_F(docker_api_test, apply_hot_reloads_a_running_container) {
  auto c = env.start_agent(unique("hot"), "tok-a");
  auto before = env.inspect(c.name);
  auto out = docker::run_container_op(env.engine(), agents,
                                      {c.name, container_op::apply, "tok-b"},
                                      settings(), [](lifecycle) {});
  EXPECT_EQ(out.result.result, apply_result::hot_reloaded);
  EXPECT_EQ(out.state, lifecycle::running);
  auto after = env.inspect(c.name);
  EXPECT_EQ(after.id, before.id);
  EXPECT_EQ(after.started_at, before.started_at);
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("tok-b"));
}

TEST_F(docker_api_test, apply_falls_back_to_recreate) {
  auto c = env.start_agent(unique("fallback"), "tok-a", false);
  auto before = env.inspect(c.name);
  std::vector<lifecycle> steps;
  auto out = docker::run_container_op(
    env.engine(), agents, {c.name, container_op::apply, "tok-b"}, settings(),
    [&](lifecycle s) { steps.push_back(s); });
  EXPECT_EQ(out.result.result, apply_result::restarted);
  EXPECT_EQ(out.state, lifecycle::running);
  EXPECT_NE(std::find(steps.begin(), steps.end(), lifecycle::recreating),
            steps.end());
  auto after = env.inspect(c.name);
  EXPECT_NE(after.id, before.id);
  EXPECT_EQ(after.name, before.name);
  EXPECT_EQ(after.image, before.image);
  EXPECT_EQ(after.labels, before.labels);
  EXPECT_EQ(after.raw["Config"]["Cmd"], before.raw["Config"]["Cmd"]);
  EXPECT_EQ(after.raw["HostConfig"]["Binds"],
            before.raw["HostConfig"]["Binds"]);
  EXPECT_EQ(after.network_mode, "host");
  EXPECT_TRUE(has_env(after, "CLAUDE_CODE_OAUTH_TOKEN=tok-b"));
  EXPECT_FALSE(has_env(after, "CLAUDE_CODE_OAUTH_TOKEN=tok-a"));
  EXPECT_FALSE(has_var(after, "ANTHROPIC_API_KEY"));
  EXPECT_FALSE(has_var(after, "ANTHROPIC_AUTH_TOKEN"));
  EXPECT_TRUE(has_env(after, "AGENT_ROLE=test")); // other variables stay
  EXPECT_TRUE(after.running);
  EXPECT_TRUE(agents.healthy("127.0.0.1", c.port, std::chrono::seconds(2)));
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("tok-b"));
  // No temporary container is left behind.
  EXPECT_TRUE(
    is(env.engine().inspect(c.name + "-sb-next").error(), ec::not_found));
}

TEST_F(docker_api_test, stopped_containers_get_the_token_at_their_next_start) {
  auto c = env.start_agent(unique("stopped"), "tok-a");
  ASSERT_FALSE(env.engine().stop(c.name, std::chrono::seconds(5)));
  auto out = docker::run_container_op(env.engine(), agents,
                                      {c.name, container_op::apply, "tok-b"},
                                      settings(), [](lifecycle) {});
  EXPECT_EQ(out.result.result, apply_result::not_running);
  EXPECT_EQ(out.state, lifecycle::stopped);
  out = docker::run_container_op(env.engine(), agents,
                                 {c.name, container_op::start, "tok-b"},
                                 settings(), [](lifecycle) {});
  EXPECT_EQ(out.result.result, apply_result::started);
  EXPECT_EQ(out.state, lifecycle::running);
  auto after = env.inspect(c.name);
  EXPECT_TRUE(has_env(after, "CLAUDE_CODE_OAUTH_TOKEN=tok-b"));
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("tok-b"));
  // A start with the token it already has changes nothing.
  auto id = after.id;
  out = docker::run_container_op(env.engine(), agents,
                                 {c.name, container_op::start, "tok-b"},
                                 settings(), [](lifecycle) {});
  EXPECT_EQ(out.result.result, apply_result::running);
  EXPECT_EQ(env.inspect(c.name).id, id);
}

TEST_F(docker_api_test, missing_container_is_no_container) {
  auto out = docker::run_container_op(
    env.engine(), agents, {unique("never"), container_op::apply, "tok-b"},
    settings(), [](lifecycle) {});
  EXPECT_EQ(out.result.result, apply_result::no_container);
  EXPECT_EQ(out.state, lifecycle::absent);
}

TEST_F(docker_api_test, the_live_event_stream_follows_a_container) {
  auto name = unique("stream");
  std::vector<std::string> seen;
  // From a second ago: events that happen before the stream is open are
  // replayed, then it goes on live.
  auto since = now_s() - 1;
  std::thread watcher{[&] {
    auto err = env.engine().watch_events(
      since,
      [&](const docker::docker_event& ev) {
        if (ev.name == name)
          seen.push_back(ev.action);
        // Stop once the container we start below is running.
        return !(ev.name == name && ev.action == "start");
      },
      std::chrono::seconds(30));
    EXPECT_FALSE(err) << render(err);
  }};
  auto c = env.start_agent(name, "tok-a");
  watcher.join();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "create"), seen.end());
  EXPECT_EQ(seen.back(), "start");
}
