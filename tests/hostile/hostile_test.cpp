// What was thrown at the daemon, against the real switchboardd binary: forged
// BASP headers and garbage on its port, a client that sends requests and
// never reads, descriptor exhaustion under a low `ulimit -n`, oversized
// messages, a hung Docker engine, a port in use. Each case checks that the
// daemon stays small, keeps answering the others, and says what happened.

#include "client/connect.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"
#include "hostile/hostile_fixture.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

TEST_F(hostile_test, forged_headers_allocate_nothing) {
  start();
  auto before = rss_mb(daemon->pid());
  rss_peak peak{daemon->pid()};
  for (uint32_t claim : {0x7fffffffu, 0xf0000000u, 0xffffffffu}) {
    auto fd = connect_raw(daemon->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(authenticate(fd, admin_token()));
    // A client_handshake header claiming a payload of `claim` bytes.
    send_all(fd, basp_header(0x01, claim));
    EXPECT_TRUE(closed_by_peer(fd)) << "claim " << claim;
    ::close(fd);
    EXPECT_TRUE(ping(1s)) << daemon->log();
  }
  EXPECT_LT(peak.mb(), 200.0);
  EXPECT_LT(peak.mb() - before, 20.0);
  EXPECT_GE(intake()["closed_oversize"].get<int>(), 3);
  // Logged (at most one line per second for this kind).
  EXPECT_TRUE(wait_until(
    [&] { return daemon->log().find("oversize frame") != std::string::npos; }))
    << daemon->log();
}

TEST_F(hostile_test, garbage_churn_leaves_the_daemon_small_and_answering) {
  start();
  rss_peak peak{daemon->pid()};
  std::mt19937 rng{42};
  for (int i = 0; i < 2000; ++i) {
    auto fd = connect_raw(daemon->port());
    ASSERT_GE(fd, 0) << "connection " << i;
    std::string noise(40, '\0');
    for (auto& c : noise)
      c = static_cast<char>(rng());
    send_all(fd, noise);
    ::close(fd);
    if (i % 250 == 0) {
      EXPECT_TRUE(ping(1s)) << "after " << i << " connections";
    }
  }
  EXPECT_TRUE(ping(1s));
  EXPECT_LT(peak.mb(), 200.0);
  // Every one of them refused at its credential (or before a full one).
  EXPECT_TRUE(wait_until([&] {
    auto in = intake();
    return in["refused_auth"].get<int>() > 1500
           && in["open_connections"].get<int>() <= 1;
  }));
}

TEST_F(hostile_test, a_message_over_the_limit_closes_its_connection) {
  start({"--switchboard.max-message-size=65536"});
  setup_agent();
  node client{daemon->port(), admin_token()};
  ASSERT_TRUE(client.fd);
  failure_report r;
  r.agent = "a1";
  r.status = 429;
  r.error = std::string(1 << 20, 'x'); // 1 MiB: over the daemon's limit
  auto res = client.call<report_result>(report_atom::value, r);
  EXPECT_FALSE(res);
  EXPECT_TRUE(ping(1s));
  EXPECT_EQ(ok({"events"}).size(), 0u); // nothing recorded
  EXPECT_GE(intake()["closed_oversize"].get<int>(), 1);
}

TEST_F(hostile_test, a_client_that_never_reads_is_dropped) {
  start({"--switchboard.max-buffered=4194304",
         "--switchboard.max-pending-requests=8"});
  setup_agent();
  // 1,000 events with 4 KB texts: an answer to `events --limit 1000` is
  // about 4 MB, so 100 of them would be 400 MB buffered for this client;
  // the daemon works on 8 of them at a time at most.
  seed_events(1000, 4000);
  stalling_proxy proxy{daemon->port()};
  node client{proxy.port(), admin_token()};
  ASSERT_TRUE(client.fd);
  ASSERT_TRUE(client.call<std::string>(ping_atom::value));
  proxy.stall(); // from now on nobody reads the daemon's answers
  auto rss_before = rss_mb(daemon->pid());
  rss_peak peak{daemon->pid()};
  for (int i = 0; i < 100; ++i)
    client.send(events_atom::value, query{"", "", 1000});
  // What the daemon takes on for this client stays under the bound, and the
  // client is dropped.
  EXPECT_TRUE(wait_until(
    [&] { return ping(5s) && intake()["closed_slow_reader"].get<int>() >= 1; },
    60s));
  EXPECT_LT(peak.mb(), 200.0);
  EXPECT_LT(peak.mb() - rss_before, 100.0);
  EXPECT_TRUE(ping(1s));
}

TEST_F(hostile_test, out_of_descriptors_it_refuses_and_keeps_answering) {
  // 256 descriptors: room for (256 - 64) / 3 = 64 clients.
  start({}, 256);
  EXPECT_NE(daemon->log().find("max-connections lowered"), std::string::npos)
    << daemon->log();
  node client{daemon->port(), admin_token()}; // connected before the flood
  ASSERT_TRUE(client.fd);
  std::vector<int> idle;
  for (int i = 0; i < 1100; ++i) {
    auto fd = connect_raw(daemon->port());
    if (fd >= 0)
      idle.push_back(fd);
  }
  // The established client is still answered, and the daemon is not
  // spinning on accept() (a spin would burn the whole window).
  EXPECT_TRUE(client.call<std::string>(ping_atom::value));
  auto cpu = cpu_seconds(daemon->pid());
  std::this_thread::sleep_for(2s); // a measuring window, not a wait
  EXPECT_LT(cpu_seconds(daemon->pid()) - cpu, 0.5) << "spinning";
  EXPECT_TRUE(client.call<std::string>(ping_atom::value));
  auto in = client.call<status_info>(status_atom::value);
  ASSERT_TRUE(in && in->intake);
  // Sockets that never authenticate make room for each other (the oldest
  // goes): the flood cannot keep a client with a credential out.
  EXPECT_GT(in->intake->evicted + in->intake->refused, 900u);
  EXPECT_NE(daemon->log().find("not authenticated yet"), std::string::npos);
  for (auto fd : idle)
    ::close(fd);
  // Room again for new clients.
  EXPECT_TRUE(wait_until([&] { return ping(1s); }, 10s));
}

TEST_F(hostile_test, a_hung_engine_answers_within_apply_wait) {
  hung_socket engine;
  start({"--switchboard.docker-socket=" + engine.path(),
         "--switchboard.apply-wait=1s", "--switchboard.docker-timeout=3s"});
  setup_agent("c1");
  auto r = ok({"report", "a1", "--status", "429"});
  EXPECT_EQ(r["outcome"], "switched") << r.dump();
  EXPECT_EQ(r["apply"], "pending") << r.dump();
  auto a1 = ok({"agent", "show", "a1"});
  EXPECT_EQ(a1["generation"], 1);
  EXPECT_EQ(a1["switching"], false);
}

TEST_F(hostile_test, a_port_in_use_is_a_clear_error) {
  start();
  temp_dir other;
  auto res = run({daemon_binary(),
                  "--switchboard.port=" + std::to_string(daemon->port()),
                  "--switchboard.db-path=" + other.file("x.db")},
                 {}, 20s);
  EXPECT_EQ(res.rc, 1);
  EXPECT_NE(res.err.find("address already in use"), std::string::npos)
    << res.err;
}
