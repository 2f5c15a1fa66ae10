// Token application through the daemon's CONTAINER SUPERVISOR, against the
// private test engine with real agent-server containers: hot-reload, the
// recreate fallback, bursts, concurrent lifecycle commands, stopped
// containers, and an engine that is unreachable or hung (a real socat proxy
// in front of the real engine, killed or frozen by the test).

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/docker_env.hpp"
#include "fixtures/http_client.hpp"
#include "fixtures/wait.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <set>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

daemon_options container_options(const std::string& socket) {
  daemon_options o;
  o.docker_socket = socket;
  o.docker_workers = 4;
  o.docker_timeout = 3s;
  o.reload_timeout = 5s;
  o.health_timeout = 20s;
  o.stop_timeout = 2s;
  o.retry_initial = 200ms;
  o.retry_max = 1s;
  o.reconcile_interval = 500ms;
  return o;
}

/// Lifecycle events of the engine (create, start, kill, die, stop, destroy,
/// rename), as opposed to exec or attach noise.
bool lifecycle_event(const std::string& action) {
  static const std::set<std::string> xs = {
    "create", "start", "kill", "die", "stop", "destroy", "rename", "restart"};
  return xs.count(action) > 0;
}

std::vector<docker::docker_event>
lifecycle_events(const std::vector<docker::docker_event>& all,
                 const std::string& name) {
  std::vector<docker::docker_event> out;
  for (auto& ev : all)
    if (lifecycle_event(ev.action) && ev.name.rfind(name, 0) == 0)
      out.push_back(ev);
  return out;
}

size_t count_action(const std::vector<docker::docker_event>& evs,
                    const std::string& action) {
  return static_cast<size_t>(std::count_if(
    evs.begin(), evs.end(), [&](auto& e) { return e.action == action; }));
}

class container_test : public daemon_fixture {
protected:
  container_test() : daemon_fixture(container_options(docker_socket())) {}

  std::string unique(const std::string& base) {
    return "sbt-" + base + "-" + std::to_string(::getpid());
  }

  /// Subscriptions sub-a, sub-b (tokens "token-of-sub-a", ...) and agent a1
  /// on sub-a in a fresh container.
  agent_container setup(const std::string& name, bool reload = true) {
    add_subscription("sub-a");
    add_subscription("sub-b");
    auto c = env.start_agent(unique(name), "token-of-sub-a", reload);
    add_agent("a1", "sub-a", c.name);
    return c;
  }

  docker_env env;
};

} // namespace

TEST_F(container_test, a_switch_hot_reloads_without_touching_the_container) {
  auto c = setup("hot");
  auto before = env.inspect(c.name);
  auto since = now_ns();
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(to_string(r.apply), "hot_reloaded");
  auto st = env.status(c);
  EXPECT_EQ(st.token_sha256, sha256_hex("token-of-sub-b"));
  EXPECT_EQ(st.reloads, 1);
  EXPECT_FALSE(st.api_key_present); // remove_api_key
  auto after = env.inspect(c.name);
  EXPECT_EQ(after.id, before.id);
  EXPECT_EQ(after.started_at, before.started_at);
  EXPECT_TRUE(lifecycle_events(env.events_since(since), c.name).empty());
  auto a1 = agent("a1");
  EXPECT_EQ(a1.container_state, lifecycle::running);
  EXPECT_EQ(to_string(a1.last_apply), "hot_reloaded");
  EXPECT_EQ(a1.applied_generation, 1u);
  EXPECT_EQ(to_string(history("a1").at(0).apply), "hot_reloaded");
}

TEST_F(container_test, a_reload_needs_the_agent_servers_secret) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_subscription("sub-c");
  auto c = env.start_agent(unique("secret"), "token-of-sub-a", true, {},
                           {"SWITCHBOARD_AGENT_SECRET=s3cret-shared"});
  add_agent("a1", "sub-a", c.name);
  // The daemon does not know the secret: refused, nothing changes in the
  // container, and the failure says why.
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(r.apply.result, apply_result::failed);
  EXPECT_NE(r.apply.detail.find("HTTP 401"), std::string::npos)
    << r.apply.detail;
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("token-of-sub-a"));
  // With the secret file, the reload goes through.
  auto file = dir.file("agent-secret");
  std::ofstream{file} << "s3cret-shared\n";
  stop_daemon();
  base_opts_.agent_secret_file = file;
  start_daemon();
  EXPECT_TRUE(wait_until(
    [&] { return env.status(c).token_sha256 == sha256_hex("token-of-sub-b"); },
    30s))
    << "the retry after the restart did not reload the token";
  EXPECT_EQ(env.status(c).reloads, 1);
  EXPECT_EQ(env.inspect(c.name).id, c.id); // hot-reloaded, not recreated
}

TEST_F(container_test, without_the_reload_endpoint_the_container_is_recreated) {
  auto c = setup("fallback", false);
  auto before = env.inspect(c.name);
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(to_string(r.apply), "restarted");
  auto after = env.inspect(c.name);
  EXPECT_NE(after.id, before.id);
  EXPECT_EQ(after.name, before.name);
  EXPECT_EQ(after.image, before.image);
  EXPECT_EQ(after.labels, before.labels);
  EXPECT_EQ(after.raw["Config"]["Cmd"], before.raw["Config"]["Cmd"]);
  EXPECT_EQ(after.raw["HostConfig"], before.raw["HostConfig"]);
  auto& envs = after.env;
  EXPECT_NE(std::find(envs.begin(), envs.end(),
                      "CLAUDE_CODE_OAUTH_TOKEN=token-of-sub-b"),
            envs.end());
  EXPECT_TRUE(std::none_of(envs.begin(), envs.end(), [](auto& e) {
    return e.rfind("ANTHROPIC_API_KEY=", 0) == 0
           || e.rfind("ANTHROPIC_AUTH_TOKEN=", 0) == 0;
  }));
  EXPECT_TRUE(after.running);
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("token-of-sub-b"));
  EXPECT_EQ(env.task(c).first, 200); // healthy and serving
  EXPECT_EQ(agent("a1").container_state, lifecycle::running);
}

TEST_F(container_test, a_burst_gives_one_reload_and_one_notification) {
  auto c = setup("burst");
  auto since = now_ns();
  std::vector<failure_report> burst(32, report("a1"));
  auto rs = send_concurrently(burst);
  EXPECT_EQ(
    std::count_if(rs.begin(), rs.end(),
                  [](auto& r) { return r.result == outcome::switched; }),
    1);
  EXPECT_EQ(env.status(c).reloads, 1);
  EXPECT_EQ(notifications("a1").size(), 1u);
  EXPECT_EQ(events("a1").size(), 32u);
  EXPECT_TRUE(lifecycle_events(env.events_since(since), c.name).empty());
}

TEST_F(container_test, a_burst_on_an_old_image_gives_one_recreate) {
  auto c = setup("burst-old", false);
  auto since = now_ns();
  std::vector<failure_report> burst(32, report("a1"));
  send_concurrently(burst);
  auto evs = lifecycle_events(env.events_since(since), c.name);
  EXPECT_EQ(count_action(evs, "create"), 1u);
  EXPECT_EQ(count_action(evs, "destroy"), 1u);
  EXPECT_EQ(count_action(evs, "start"), 1u);
  EXPECT_EQ(notifications("a1").size(), 1u);
}

TEST_F(container_test, concurrent_commands_on_one_container_never_overlap) {
  auto c = setup("overlap", false); // applies recreate: the longest sequence
  auto since = now_ns();
  auto& self = *self_;
  auto h1 = self->request(front_door_, 60s, assign_atom::value,
                          std::string{"a1"}, std::string{"sub-b"});
  auto h2 = self->request(front_door_, 60s, lifecycle_atom::value,
                          std::string{"a1"}, container_op::restart);
  auto h3 = self->request(front_door_, 60s, lifecycle_atom::value,
                          std::string{"a1"}, container_op::stop);
  std::vector<apply_outcome> results;
  h1.receive([&](report_result& r) { results.push_back(r.apply); },
             [&](caf::error& e) { ADD_FAILURE() << render(e); });
  h2.receive([&](apply_outcome& r) { results.push_back(r); },
             [&](caf::error& e) { ADD_FAILURE() << render(e); });
  h3.receive([&](apply_outcome& r) { results.push_back(r); },
             [&](caf::error& e) { ADD_FAILURE() << render(e); });
  for (auto& r : results)
    EXPECT_NE(r.result, apply_result::failed) << to_string(r);
  // In the engine's own event order: never two containers of this agent
  // running at once, never a start of a running container, never a destroy
  // of a running one.
  auto evs = lifecycle_events(env.events_since(since), c.name);
  std::map<std::string, bool> running;
  for (auto& ev : evs) {
    SCOPED_TRACE(ev.action + " " + ev.name);
    if (ev.action == "start") {
      EXPECT_FALSE(running[ev.id]) << "started twice";
      running[ev.id] = true;
      EXPECT_EQ(std::count_if(running.begin(), running.end(),
                              [](auto& kv) { return kv.second; }),
                1)
        << "two containers of one agent running at once";
    } else if (ev.action == "die") {
      running[ev.id] = false;
    } else if (ev.action == "destroy") {
      EXPECT_FALSE(running[ev.id]) << "destroyed while running";
    }
  }
  // The supervisor's view is Docker's truth, and it is the state the last
  // command left: the stop came last, or the apply after it found the
  // container stopped.
  auto info = env.inspect(c.name);
  auto view = agent("a1").container_state;
  EXPECT_EQ(view, info.running ? lifecycle::running : lifecycle::stopped);
  EXPECT_FALSE(info.running);
}

TEST_F(container_test, a_stopped_container_gets_the_token_at_its_next_start) {
  auto c = setup("stopped");
  ASSERT_FALSE(env.engine().stop(c.name, std::chrono::seconds(5)));
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(to_string(r.apply), "not_running");
  auto a1 = agent("a1");
  EXPECT_EQ(a1.generation, 1u);
  EXPECT_EQ(a1.applied_generation, 0u);
  EXPECT_EQ(a1.container_state, lifecycle::stopped);
  auto started = to_string(call<apply_outcome>(
    lifecycle_atom::value, std::string{"a1"}, container_op::start));
  EXPECT_EQ(started, "started");
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("token-of-sub-b"));
  a1 = agent("a1");
  EXPECT_EQ(a1.applied_generation, 1u);
  EXPECT_EQ(a1.container_state, lifecycle::running);
}

TEST_F(container_test, a_container_that_comes_back_is_reconciled) {
  auto c = setup("comeback");
  ASSERT_FALSE(env.engine().stop(c.name, std::chrono::seconds(5)));
  EXPECT_EQ(to_string(send_report(report("a1")).apply), "not_running");
  // Started behind the daemon's back, with the old token: the agent checks
  // again every reconcile-interval while it is behind, and catches up.
  ASSERT_FALSE(env.engine().start(c.name));
  EXPECT_EQ(agent("a1").applied_generation, 0u);
  advance(500); // the reconcile-interval
  EXPECT_TRUE(
    wait_until([&] { return agent("a1").applied_generation == 1; }, 30s));
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("token-of-sub-b"));
}

TEST_F(container_test, lifecycle_commands_go_through_the_supervisor) {
  auto c = setup("lifecycle");
  EXPECT_EQ(to_string(call<apply_outcome>(
              lifecycle_atom::value, std::string{"a1"}, container_op::stop)),
            "stopped");
  EXPECT_FALSE(env.inspect(c.name).running);
  EXPECT_EQ(agent("a1").container_state, lifecycle::stopped);
  EXPECT_EQ(to_string(call<apply_outcome>(
              lifecycle_atom::value, std::string{"a1"}, container_op::start)),
            "started");
  EXPECT_TRUE(env.inspect(c.name).running);
  EXPECT_EQ(to_string(call<apply_outcome>(
              lifecycle_atom::value, std::string{"a1"}, container_op::restart)),
            "restarted");
  EXPECT_TRUE(env.inspect(c.name).running);
  EXPECT_EQ(env.task(c).first, 200);
  // An agent without a container has none to start.
  add_agent("bare", "sub-a");
  auto err = try_call<apply_outcome>(lifecycle_atom::value, std::string{"bare"},
                                     container_op::start);
  ASSERT_FALSE(err);
  EXPECT_NE(render(err.error()).find("no container"), std::string::npos);
}

TEST_F(container_test, a_vanished_container_is_reported_not_recreated) {
  auto c = setup("vanished");
  ASSERT_FALSE(env.engine().remove(c.name, true));
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_EQ(to_string(r.apply), "no_container");
  EXPECT_TRUE(is(env.engine().inspect(c.name).error(), ec::not_found));
  auto a1 = agent("a1");
  EXPECT_EQ(a1.container_state, lifecycle::absent);
  EXPECT_EQ(a1.applied_generation, 0u); // still behind: reported each round
}

// -- an engine that is unreachable or hung
// --------------------------------------

namespace {

/// A real unix-socket proxy (socat) between the daemon and the engine that
/// the test can kill (engine unreachable) or freeze (engine hung).
class engine_proxy {
public:
  engine_proxy() : path_(dir_.file("proxy.sock")) { start(); }

  ~engine_proxy() { stop(); }

  const std::string& path() const { return path_; }

  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      auto listen = "UNIX-LISTEN:" + path_ + ",fork,unlink-early";
      auto connect = "UNIX-CONNECT:" + docker_socket();
      ::execlp("socat", "socat", listen.c_str(), connect.c_str(), nullptr);
      ::_exit(127);
    }
    // Bounded wait until the proxy listens.
    docker::docker_api probe{path_, std::chrono::seconds(1)};
    ASSERT_TRUE(
      wait_until([&] { return static_cast<bool>(probe.version()); }, 10s))
      << "socat did not come up";
  }

  /// Kills the proxy and every connection it serves: the socket file stays
  /// and refuses connections.
  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void freeze() { ::kill(-pid_, SIGSTOP); }
  void thaw() { ::kill(-pid_, SIGCONT); }

private:
  temp_dir dir_;
  std::string path_;
  pid_t pid_ = -1;
};

struct proxy_holder {
  engine_proxy proxy;
};

class flaky_engine_test : public proxy_holder, public daemon_fixture {
protected:
  flaky_engine_test() : daemon_fixture(container_options(proxy.path())) {}

  std::string unique(const std::string& base) {
    return "sbt-" + base + "-" + std::to_string(::getpid());
  }

  docker_env env;
};

} // namespace

TEST_F(flaky_engine_test, readyz_follows_the_engine) {
  add_subscription("sub-a");
  auto http = start_http();
  ASSERT_NE(http, 0);
  auto get = [http](const std::string& path) {
    return http_call("GET", "http://127.0.0.1:" + std::to_string(http) + path);
  };
  // Without a container the engine does not matter for readiness.
  proxy.stop();
  EXPECT_EQ(get("/readyz").status, 200);
  proxy.start();
  auto c = env.start_agent(unique("readyz"), "token-of-sub-a");
  add_agent("a1", "sub-a", c.name);
  EXPECT_EQ(get("/readyz").status, 200) << get("/readyz").body;
  EXPECT_NE(get("/metrics").body.find("switchboard_docker_engine_up 1"),
            std::string::npos);
  proxy.stop();
  auto down = get("/readyz");
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("the Docker engine does not answer"),
            std::string::npos)
    << down.body;
  EXPECT_NE(get("/metrics").body.find("switchboard_docker_engine_up 0"),
            std::string::npos);
  // Liveness is not readiness: the daemon itself answers.
  EXPECT_EQ(get("/healthz").status, 200);
  proxy.start();
  EXPECT_EQ(get("/readyz").status, 200);
}

TEST_F(flaky_engine_test, an_unreachable_engine_fails_the_apply_then_it_heals) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  auto c = env.start_agent(unique("unreachable"), "token-of-sub-a");
  add_agent("a1", "sub-a", c.name);
  proxy.stop();
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched); // the switch commits regardless
  EXPECT_EQ(r.apply.result, apply_result::failed);
  EXPECT_EQ(r.apply.detail.rfind("docker engine unreachable", 0), 0u)
    << r.apply.detail;
  EXPECT_EQ(agent("a1").subscription, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ(history("a1").at(0).apply.result, apply_result::failed);
  EXPECT_EQ(agent("a1").applied_generation, 0u);
  // The retry is due after retry-initial (200 ms); it fails again while the
  // engine is away, and the next one waits twice as long.
  auto a1 = agent("a1");
  EXPECT_EQ(a1.retry_at, now() + 200);
  advance(200);
  EXPECT_TRUE(wait_until([&] { return agent("a1").retry_at == now() + 400; }));
  proxy.start();
  advance(400);
  // Retried with backoff until it succeeds.
  EXPECT_TRUE(
    wait_until([&] { return agent("a1").applied_generation == 1; }, 30s));
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("token-of-sub-b"));
  EXPECT_TRUE(env.inspect(c.name).running); // nothing wedged
  EXPECT_EQ(agent("a1").container_state, lifecycle::running);
  EXPECT_EQ(to_string(history("a1").at(0).apply), "hot_reloaded");
}

TEST_F(flaky_engine_test, a_hung_engine_times_out_then_it_heals) {
  add_subscription("sub-a");
  add_subscription("sub-b");
  auto c = env.start_agent(unique("hung"), "token-of-sub-a");
  add_agent("a1", "sub-a", c.name);
  proxy.freeze();
  auto r = send_report(report("a1"));
  EXPECT_EQ(r.result, outcome::switched);
  EXPECT_NE(r.apply.detail.find("did not answer"), std::string::npos)
    << r.apply.detail;
  proxy.thaw();
  advance(200); // retry-initial
  EXPECT_TRUE(
    wait_until([&] { return agent("a1").applied_generation == 1; }, 30s));
  EXPECT_EQ(env.status(c).token_sha256, sha256_hex("token-of-sub-b"));
  EXPECT_TRUE(env.inspect(c.name).running);
}
