// Several real daemons on one PostgreSQL database (the private cluster of
// ctest's fixture): every agent has one owner; a client talks to any node and
// the request is forwarded to the owner; a burst split between two nodes
// gives one switch; when the owner is killed with -9, another node takes its
// agents over once the lease ended, generations stay contiguous and no
// acknowledged event is lost.

#include "fixtures/http_client.hpp"
#include "fixtures/oauth_endpoint.hpp"
#include "fixtures/postgres_env.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>

using namespace sb::test;
using namespace std::chrono_literals;

namespace {

class nodes_test : public ::testing::Test {
protected:
  /// A node; its lease is long unless the test is about losing it (a busy
  /// machine must not make a node lose its agents by accident).
  std::unique_ptr<daemon_process> start(const std::string& node,
                                        std::vector<std::string> extra = {},
                                        const std::string& lease_ttl = "10s") {
    std::vector<std::string> args{
      "--switchboard.port=0",
      "--switchboard.store=postgresql",
      "--switchboard.postgres-url=" + db.url(),
      "--switchboard.postgres-password-file=" + db.password_file(),
      "--switchboard.key-file=" + dir.file("switchboard.key"),
      "--switchboard.db-path=" + dir.file(node + ".db"),
      "--switchboard.node-name=" + node,
      "--switchboard.lease-ttl=" + lease_ttl};
    args.insert(args.end(), extra.begin(), extra.end());
    if (std::none_of(extra.begin(), extra.end(), [](const std::string& x) {
          return x.rfind("--switchboard.http-port", 0) == 0;
        }))
      args.push_back("--switchboard.http-port=-1");
    auto d = std::make_unique<daemon_process>(daemon_binary(), args);
    EXPECT_NE(d->port(), 0) << d->log();
    return d;
  }

  static run_result cli(daemon_process& d, std::vector<std::string> a,
                        const std::string& input = "") {
    a.insert(a.begin(), {cli_binary(), "--port", std::to_string(d.port())});
    return run(a, input);
  }

  static nlohmann::json json(daemon_process& d, std::vector<std::string> a) {
    a.push_back("--json");
    auto res = cli(d, a);
    EXPECT_EQ(res.rc, 0) << res.err << res.out;
    return nlohmann::json::parse(res.out, nullptr, false);
  }

  /// One row of `subscription list` as node `d` sees it (null if absent).
  static nlohmann::json subscription(daemon_process& d,
                                     const std::string& name) {
    for (auto& s : json(d, {"subscription", "list"}))
      if (s["name"] == name)
        return s;
    return nlohmann::json(nullptr);
  }

  void add_pool(daemon_process& d, int subscriptions) {
    for (int i = 0; i < subscriptions; ++i) {
      auto name = "sub-" + std::to_string(i);
      auto added = cli(d, {"subscription", "add", name, "--token-file", "-"},
                       "token-of-" + name);
      ASSERT_EQ(added.rc, 0) << added.err << added.out;
    }
  }

  void add_agent(daemon_process& d, const std::string& name,
                 const std::string& sub) {
    auto added = cli(d, {"agent", "add", name, "--subscription", sub});
    ASSERT_EQ(added.rc, 0) << added.err << added.out;
  }

  /// `n` unnamed 429 reports for `agent`, at once, alternating between the
  /// daemons given; the outcomes of those that were acknowledged.
  static std::vector<std::string> burst(const std::vector<daemon_process*>& to,
                                        const std::string& agent, int n) {
    std::vector<std::future<run_result>> calls;
    for (int i = 0; i < n; ++i) {
      auto* d = to[static_cast<size_t>(i) % to.size()];
      calls.push_back(std::async(std::launch::async, [d, agent] {
        return cli(*d, {"report", agent, "--status", "429", "--json"});
      }));
    }
    std::vector<std::string> outcomes;
    for (auto& c : calls) {
      auto res = c.get();
      if (res.rc != 0)
        continue;
      auto doc = nlohmann::json::parse(res.out, nullptr, false);
      outcomes.push_back(doc.value("outcome", std::string{"?"}));
    }
    return outcomes;
  }

  void storm(int on_alpha, int on_beta, bool named);

  postgres_database db;
  temp_dir dir;
};

} // namespace

TEST_F(nodes_test, a_client_talks_to_any_node) {
  ASSERT_TRUE(db.ok());
  auto a = start("alpha");
  auto b = start("beta");
  add_pool(*a, 2);
  add_agent(*a, "a1", "sub-0");
  add_agent(*b, "b1", "sub-1");
  // Each node answers for the other's agent: forwarded to the owner.
  auto shown = json(*b, {"agent", "show", "a1"});
  EXPECT_EQ(shown["subscription"], "sub-0") << shown;
  EXPECT_EQ(json(*a, {"agent", "show", "b1"})["subscription"], "sub-1");
  auto r = json(*b, {"report", "a1", "--status", "429"});
  EXPECT_EQ(r["outcome"], "switched") << r;
  EXPECT_EQ(json(*a, {"agent", "show", "a1"})["subscription"], "sub-1");
  EXPECT_EQ(json(*a, {"history"}).size(), 1u);
  // An agent no node has: the same error from any node.
  auto ghost = cli(*b, {"agent", "show", "ghost"});
  EXPECT_EQ(ghost.rc, 1);
  EXPECT_NE(ghost.err.find("unknown agent 'ghost'"), std::string::npos)
    << ghost.err;
  // `agent list` on any node lists the fleet, each agent with its node.
  for (auto* d : {a.get(), b.get()}) {
    auto all = json(*d, {"agent", "list"});
    ASSERT_EQ(all.size(), 2u) << all;
    EXPECT_EQ(all[0]["name"], "a1");
    EXPECT_EQ(all[0]["node"], "alpha");
    EXPECT_EQ(all[0]["subscription"], "sub-1");
    EXPECT_EQ(all[1]["name"], "b1");
    EXPECT_EQ(all[1]["node"], "beta");
  }
  auto table = cli(*b, {"agent", "list"});
  EXPECT_NE(table.out.find("NODE"), std::string::npos) << table.out;
  // A node that went away without leaving (its lease still runs): the list
  // says so instead of leaving its agents out.
  b->kill_hard();
  auto partial = cli(*a, {"agent", "list"});
  EXPECT_EQ(partial.rc, 1) << partial.out;
  EXPECT_NE(partial.err.find("node 'beta' did not list its agents"),
            std::string::npos)
    << partial.err;
  // A request for one of its agents: the owner is named (at once: the
  // front door forgets the peer whose connection closed).
  auto shown_dead = cli(*a, {"agent", "show", "b1"});
  EXPECT_EQ(shown_dead.rc, 1);
  EXPECT_NE(shown_dead.err.find("the agent's owner, node 'beta'"),
            std::string::npos)
    << shown_dead.err;
  EXPECT_EQ(a->terminate(), std::optional<int>{0});
}

TEST_F(nodes_test, a_burst_split_between_two_nodes_switches_once) {
  ASSERT_TRUE(db.ok());
  auto a = start("alpha");
  auto b = start("beta");
  add_pool(*a, 3);
  add_agent(*a, "a1", "sub-0");
  auto outcomes = burst({a.get(), b.get()}, "a1", 32);
  ASSERT_EQ(outcomes.size(), 32u);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "switched"), 1);
  EXPECT_EQ(json(*b, {"history"}).size(), 1u);
  EXPECT_EQ(json(*a, {"events", "--limit", "100"}).size(), 32u);
  EXPECT_TRUE(
    wait_until([&] { return json(*a, {"notifications"}).size() == 1u; }, 10s));
  EXPECT_EQ(json(*a, {"agent", "show", "a1"})["generation"], 1);
  EXPECT_EQ(a->terminate(), std::optional<int>{0});
  EXPECT_EQ(b->terminate(), std::optional<int>{0});
}

TEST_F(nodes_test, the_owner_killed_mid_burst_is_taken_over) {
  ASSERT_TRUE(db.ok());
  auto a = start("alpha", {}, "3s");
  auto b = start("beta", {}, "3s");
  add_pool(*a, 3);
  add_agent(*a, "a1", "sub-0");
  // A burst to the owner, killed while it runs.
  std::atomic<int> acknowledged{0};
  std::vector<std::future<void>> calls;
  for (int i = 0; i < 16; ++i)
    calls.push_back(std::async(std::launch::async, [&] {
      if (cli(*a, {"report", "a1", "--status", "429", "--json"}).rc == 0)
        ++acknowledged;
    }));
  ASSERT_TRUE(wait_until([&] { return acknowledged > 0; }, 20s));
  a->kill_hard();
  for (auto& c : calls)
    c.get();
  // Once alpha's lease ended, beta owns a1 and answers for it.
  ASSERT_TRUE(wait_until(
    [&] {
      return cli(*b, {"agent", "show", "a1", "--json"}).rc == 0;
    },
    20s))
    << b->log();
  EXPECT_NE(b->log().find("took over 1 agent"), std::string::npos) << b->log();
  auto before = json(*b, {"agent", "show", "a1"});
  EXPECT_EQ(before["generation"], 1) << before;
  // The next switch is the next generation, decided by the new owner; the
  // settle window of alpha's switch is over only after 30 s, so name the
  // subscription it now runs on.
  auto r = json(*b, {"report", "a1", "--status", "429", "--subscription",
                     before["subscription"].get<std::string>()});
  EXPECT_EQ(r["outcome"], "switched") << r;
  EXPECT_EQ(json(*b, {"agent", "show", "a1"})["generation"], 2);
  auto history = json(*b, {"history"});
  ASSERT_EQ(history.size(), 2u);
  // No acknowledged event lost, no duplicate notification.
  EXPECT_GE(json(*b, {"events", "--limit", "100"}).size(),
            static_cast<size_t>(acknowledged) + 1);
  // Two switches, and beta's node_down of alpha.
  auto of_kind = [&](const char* kind) {
    size_t n = 0;
    for (auto& x : json(*b, {"notifications"}))
      n += x["kind"] == kind ? 1 : 0;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return of_kind("switch") == 2u; }, 10s));
  EXPECT_EQ(of_kind("node_down"), 1u);
  EXPECT_EQ(b->terminate(), std::optional<int>{0});
}

/// `on_alpha` + `on_beta` agents on sub-0 fail at once, each report sent
/// to its own node (`named`: naming sub-0, else as a backend sends them,
/// naming nothing): every agent switches once and the global counts over
/// the four free subscriptions differ by at most one.
void nodes_test::storm(int on_alpha, int on_beta, bool named) {
  auto a = start("alpha");
  auto b = start("beta");
  add_pool(*a, 5); // sub-0 holds everyone, sub-1..4 are free
  std::vector<std::pair<daemon_process*, std::string>> agents;
  for (int i = 0; i < on_alpha + on_beta; ++i) {
    auto* owner = i < on_alpha ? a.get() : b.get();
    auto name = "agent-" + std::to_string(i);
    add_agent(*owner, name, "sub-0");
    agents.emplace_back(owner, name);
  }
  std::vector<std::future<run_result>> calls;
  for (auto& [owner, name] : agents)
    calls.push_back(std::async(std::launch::async, [owner, name, named] {
      std::vector<std::string> args{"report", name, "--status", "429",
                                    "--json"};
      if (named)
        args.insert(args.end(), {"--subscription", "sub-0"});
      return cli(*owner, args);
    }));
  int switched = 0;
  for (auto& c : calls) {
    auto res = c.get();
    ASSERT_EQ(res.rc, 0) << res.err << res.out;
    switched += nlohmann::json::parse(res.out)["outcome"] == "switched";
  }
  auto total = on_alpha + on_beta;
  EXPECT_EQ(switched, total);
  EXPECT_EQ(json(*a, {"history", "--limit", "100"}).size(),
            static_cast<size_t>(total));
  std::map<std::string, int> counts;
  for (auto& [owner, name] : agents) {
    auto shown = json(*owner, {"agent", "show", name});
    EXPECT_EQ(shown["generation"], 1) << shown;
    ++counts[shown["subscription"].get<std::string>()];
  }
  EXPECT_EQ(counts.count("sub-0"), 0u);
  int lo = total, hi = 0;
  for (int i = 1; i <= 4; ++i) {
    auto n = counts["sub-" + std::to_string(i)];
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_LE(hi - lo, 1) << "sub-1..4: " << counts["sub-1"] << " "
                        << counts["sub-2"] << " " << counts["sub-3"] << " "
                        << counts["sub-4"];
  EXPECT_EQ(a->terminate(), std::optional<int>{0});
  EXPECT_EQ(b->terminate(), std::optional<int>{0});
}

TEST_F(nodes_test, storms_on_two_nodes_spread_over_the_global_counts) {
  ASSERT_TRUE(db.ok());
  storm(20, 20, true);
}

TEST_F(nodes_test, uneven_unnamed_storms_spread_over_the_global_counts) {
  ASSERT_TRUE(db.ok());
  // Each pool alone would spread its own agents: 8/8/7/7 on alpha and
  // 3/3/2/2 on beta make 11/11/9/9. The store's balance check makes the
  // global counts 10/10/10/10.
  storm(30, 10, false);
}

TEST_F(nodes_test, a_subscription_excluded_on_one_node_is_excluded_on_all) {
  ASSERT_TRUE(db.ok());
  auto a = start("alpha");
  auto b = start("beta");
  add_pool(*a, 3);
  add_agent(*a, "a1", "sub-0");
  add_agent(*b, "b1", "sub-2");
  // sub-0 is rate limited on alpha: a1 moves to sub-1.
  auto r
    = json(*a, {"report", "a1", "--status", "429", "--subscription", "sub-0"});
  ASSERT_EQ(r["outcome"], "switched") << r;
  // beta's pool learns it within a second (alpha's commit notifies it).
  auto excluded_on_b
    = [&] { return !subscription(*b, "sub-0")["excluded_until"].is_null(); };
  ASSERT_TRUE(wait_until(excluded_on_b, 1s)) << b->log();
  // What a response on alpha said about sub-2 reaches beta as well.
  auto seen
    = json(*a, {"observe", "a1", "--subscription", "sub-2", "--header",
                "anthropic-ratelimit-unified-status: allowed", "--header",
                "anthropic-ratelimit-unified-5h-utilization: 0.42"});
  ASSERT_EQ(seen["outcome"], "observed") << seen;
  auto utilization_on_b = [&] {
    auto u = subscription(*b, "sub-2")["utilization_5h"];
    return u.is_number() && u.get<double>() > 0.41;
  };
  EXPECT_TRUE(wait_until(utilization_on_b, 1s));
  // b1 fails on sub-2: sub-0 has fewer agents, but it is excluded.
  auto rb
    = json(*b, {"report", "b1", "--status", "429", "--subscription", "sub-2"});
  EXPECT_EQ(rb["outcome"], "switched") << rb;
  EXPECT_EQ(json(*b, {"agent", "show", "b1"})["subscription"], "sub-1");
  EXPECT_EQ(a->terminate(), std::optional<int>{0});
  EXPECT_EQ(b->terminate(), std::optional<int>{0});
}

TEST_F(nodes_test, a_drain_or_a_ban_on_one_node_moves_the_agents_of_all) {
  ASSERT_TRUE(db.ok());
  auto a = start("alpha");
  auto b = start("beta");
  add_pool(*a, 3);
  add_agent(*a, "a1", "sub-0");
  add_agent(*b, "b1", "sub-0");
  add_agent(*b, "b2", "sub-1");
  // A drain on alpha: beta's agent on sub-0 moves too, through its AGENT.
  auto drained = json(*a, {"subscription", "drain", "sub-0"});
  EXPECT_EQ(drained["state"], "draining") << drained;
  auto off = [&](const std::string& agent, const std::string& sub) {
    return [&, agent, sub] {
      auto s = json(*b, {"agent", "show", agent})["subscription"];
      return s.is_string() && s != sub;
    };
  };
  ASSERT_TRUE(wait_until(off("b1", "sub-0"), 20s)) << b->log();
  EXPECT_EQ(subscription(*b, "sub-0")["state"], "draining");
  json(*a, {"subscription", "undrain", "sub-0"});
  // A ban seen on beta retires sub-1 on alpha as well.
  auto banned
    = json(*b, {"report", "b2", "--status", "403", "--error",
                "OAuth authentication is currently not allowed for this "
                "organization."});
  EXPECT_EQ(banned["outcome"], "switched") << banned;
  auto retired_on_a
    = [&] { return subscription(*a, "sub-1")["state"] == "retired"; };
  ASSERT_TRUE(wait_until(retired_on_a, 20s)) << a->log();
  EXPECT_EQ(subscription(*a, "sub-1")["retired"], "banned");
  EXPECT_EQ(a->terminate(), std::optional<int>{0});
  EXPECT_EQ(b->terminate(), std::optional<int>{0});
}

TEST_F(nodes_test, nodes_forward_to_each_other_over_tls) {
  ASSERT_TRUE(db.ok());
  // One CA; each node's certificate is its server and its client identity.
  auto openssl = [&](std::vector<std::string> a) {
    a.insert(a.begin(), "/usr/bin/openssl");
    auto res = run(a);
    ASSERT_EQ(res.rc, 0) << res.err;
  };
  openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
           dir.file("ca.key"), "-out", dir.file("ca.pem"), "-days", "2",
           "-subj", "/CN=ca"});
  for (std::string who : {"alpha", "beta", "cli"}) {
    openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout",
             dir.file(who + ".key"), "-out", dir.file(who + ".csr"), "-subj",
             "/CN=localhost"});
    openssl({"x509", "-req", "-in", dir.file(who + ".csr"), "-CA",
             dir.file("ca.pem"), "-CAkey", dir.file("ca.key"),
             "-CAcreateserial", "-out", dir.file(who + ".pem"), "-days", "2"});
  }
  auto tls = [&](const std::string& who) {
    return std::vector<std::string>{
      "--switchboard.tls-certificate=" + dir.file(who + ".pem"),
      "--switchboard.tls-key=" + dir.file(who + ".key"),
      "--switchboard.tls-ca=" + dir.file("ca.pem")};
  };
  auto a = start("alpha", tls("alpha"));
  auto b = start("beta", tls("beta"));
  auto cli_tls = [&](daemon_process& d, std::vector<std::string> x,
                     const std::string& input = "") {
    x.insert(x.begin(),
             {cli_binary(), "--port", std::to_string(d.port()), "--tls-ca",
              dir.file("ca.pem"), "--tls-cert", dir.file("cli.pem"),
              "--tls-key", dir.file("cli.key")});
    return run(x, input);
  };
  for (auto name : {"sub-0", "sub-1"})
    ASSERT_EQ(cli_tls(*a, {"subscription", "add", name, "--token-file", "-"},
                      std::string{"token-of-"} + name)
                .rc,
              0);
  ASSERT_EQ(cli_tls(*a, {"agent", "add", "a1", "--subscription", "sub-0"}).rc,
            0);
  // Sent to beta, forwarded to alpha over TLS.
  auto shown = cli_tls(*b, {"agent", "show", "a1", "--json"});
  ASSERT_EQ(shown.rc, 0) << shown.err << shown.out << b->log();
  EXPECT_EQ(nlohmann::json::parse(shown.out)["subscription"], "sub-0");
  EXPECT_EQ(a->terminate(), std::optional<int>{0});
  EXPECT_EQ(b->terminate(), std::optional<int>{0});
}

TEST_F(nodes_test, readiness_and_metrics_answer_for_the_node_asked) {
  ASSERT_TRUE(db.ok());
  auto a = start("alpha", {"--switchboard.http-port=0"});
  auto b = start("beta");
  add_pool(*a, 2);
  add_agent(*a, "a1", "sub-0");
  add_agent(*b, "b1", "sub-1");
  auto url = "http://127.0.0.1:" + std::to_string(a->http_port());
  // Beta stops answering, its connections open and its lease running: a
  // fleet view waits for it; alpha's own health does not.
  ASSERT_EQ(::kill(b->pid(), SIGSTOP), 0);
  auto ready = http_call("GET", url + "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  auto metrics = http_call("GET", url + "/metrics");
  EXPECT_EQ(metrics.status, 200) << metrics.body;
  // This node's agents only.
  EXPECT_NE(metrics.body.find("\nswitchboard_agents 1\n"), std::string::npos)
    << metrics.body;
  // The fleet-wide list names the node that does not answer.
  auto list = cli(*a, {"agent", "list"});
  EXPECT_EQ(list.rc, 1);
  EXPECT_NE(list.err.find("beta"), std::string::npos) << list.err;
  ASSERT_EQ(::kill(b->pid(), SIGCONT), 0);
  EXPECT_EQ(json(*a, {"agent", "list"}).size(), 2u);
}

// One login, two nodes, three agents (on both): each node's refresher looks
// every 100 ms, yet the token endpoint sees one refresh per access token,
// inside its lifetime, and never a spent refresh token; every agent of both
// nodes follows.
TEST_F(nodes_test, two_nodes_refresh_a_login_once_per_lifetime) {
  oauth_endpoint endpoint;
  endpoint.set_lifetime(3s);
  auto login = endpoint.issue_family();
  std::vector<std::string> refresher{
    "--switchboard.anthropic-token-url=" + endpoint.url(),
    "--switchboard.refresh-ahead=50", "--switchboard.refresh-ahead-min=0s",
    "--switchboard.refresh-interval=100ms", "--switchboard.refresh-timeout=2s"};
  auto a = start("alpha", refresher);
  auto b = start("beta", refresher);
  auto added = cli(*a, {"subscription", "add", "team", "--oauth-file", "-"},
                   nlohmann::json{{"claudeAiOauth",
                                   {{"accessToken", login.access_token},
                                    {"refreshToken", login.refresh_token},
                                    {"expiresAt", login.expires_at_ms},
                                    {"scopes", {"user:inference"}}}}}
                     .dump());
  ASSERT_EQ(added.rc, 0) << added.err;
  add_agent(*a, "a1", "team");
  add_agent(*b, "b1", "team");
  add_agent(*b, "b2", "team");
  ASSERT_TRUE(wait_until([&] { return endpoint.refreshes_ok() >= 8; }, 90s))
    << a->log() << b->log();
  EXPECT_EQ(endpoint.reused(), 0);
  auto reqs = endpoint.requests();
  auto access = endpoint.issued_access_tokens();
  auto refresh = endpoint.issued_refresh_tokens();
  size_t i = 0;
  for (auto& r : reqs) {
    EXPECT_EQ(r.status, 200) << "request " << i;
    if (r.status != 200 || i >= refresh.size())
      continue;
    EXPECT_EQ(r.refresh_token, refresh[i]);
    EXPECT_LT(r.at_ms, *endpoint.expires_at_of(access[i]));
    ++i;
  }
  // Both nodes refreshed (the claims moved between them), or one did all:
  // either way each node's agents got the new tokens.
  ASSERT_TRUE(wait_until(
    [&] {
      for (auto* d : {a.get(), b.get()})
        for (auto& ag : json(*d, {"agent", "list"}))
          if (ag["generation"].get<int>() < 4)
            return false;
      return true;
    },
    30s));
  for (auto* d : {a.get(), b.get()})
    for (auto& t : refresh)
      EXPECT_EQ(d->log().find(t), std::string::npos);
}
