// The BASP guard in front of CAF, which listens nowhere: real sockets on
// 127.0.0.1, typed actors handed each connection as the daemon's FRONT DOORs
// are, CAF clients through the guard's port. What a CAF client would never
// send is in abuse_test.cpp; who may reach what in locked_door_test.cpp.

#include "guard_test.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

using namespace sb::intake;
using namespace sb::test;

TEST_F(basp_guard_test, caf_clients_get_answers_through_the_guard) {
  auto guard = start_guard();
  ASSERT_NE(guard->port(), 0);
  auto c = client(guard->port());
  EXPECT_EQ(c->ping(), "");
  EXPECT_EQ(c->ping(2000), ""); // 2,000 requests in flight at once
  EXPECT_EQ(c->big(8 << 20), 8 << 20);
  // Several clients at once, each with requests in flight.
  std::vector<std::shared_ptr<echo_client>> more;
  for (int i = 0; i < 4; ++i)
    more.push_back(client(guard->port()));
  std::vector<std::thread> threads;
  std::vector<std::string> results(more.size());
  for (size_t i = 0; i < more.size(); ++i)
    threads.emplace_back([&, i] {
      results[i] = more[i]->ping(500);
      if (results[i].empty() && more[i]->big(3 << 20) != 3 << 20)
        results[i] = "big answer missing";
    });
  for (auto& t : threads)
    t.join();
  for (auto& r : results)
    EXPECT_EQ(r, "");
  guard_stats st;
  // The loop publishes its counters at the end of each round.
  EXPECT_TRUE(eventually([&] {
    st = guard->stats();
    return st.bytes_out > uint64_t{20} << 20;
  }));
  EXPECT_EQ(st.accepted, 5u);
  EXPECT_EQ(st.open_connections, 5u);
  EXPECT_EQ(st.closed_bad_header + st.closed_oversize + st.closed_slow_reader,
            0u);
  EXPECT_EQ(st.buffered, 0u);
}

TEST_F(basp_guard_test, connections_over_the_limit_are_refused) {
  auto o = server->guard_options();
  o.max_connections = 3;
  auto guard = start_guard(o);
  auto a = client(guard->port());
  auto b = client(guard->port());
  auto c = client(guard->port());
  // A fourth CAF client is turned away at once; so is a raw socket.
  auto d = echo_client::make();
  EXPECT_NE(d->connect("127.0.0.1", guard->port(), 5s), "");
  int fd = raw_connect(guard->port());
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(wait_closed(fd, 5s));
  ::close(fd);
  EXPECT_TRUE(
    eventually([&] { return guard->stats().refused_over_capacity == 2; }));
  EXPECT_EQ(guard->stats().open_connections, 3u);
  for (auto* x : {&a, &b, &c})
    EXPECT_EQ((*x)->ping(20), "");
  // One leaves: the next gets in.
  a.reset();
  EXPECT_TRUE(eventually([&] { return guard->stats().open_connections == 2; }));
  auto e = client(guard->port());
  EXPECT_EQ(e->ping(), "");
  EXPECT_EQ(b->ping(), "");
}

TEST_F(basp_guard_test, silent_connections_are_closed_after_the_timeout) {
  auto o = server->guard_options();
  o.handshake_timeout = 300ms;
  auto guard = start_guard(o);
  auto c = client(guard->port()); // past its first frame at once
  int idle = raw_connect(guard->port());
  int half_credential = raw_connect(guard->port());
  int partial = raw_authenticated(guard->port());
  ASSERT_GE(idle, 0);
  ASSERT_GE(half_credential, 0);
  ASSERT_GE(partial, 0);
  auto hello = sb::auth_hello(admin_token);
  ASSERT_TRUE(send_all(half_credential, hello.data(), hello.size() / 2));
  auto hs = handshake_frame(server->system());
  ASSERT_TRUE(send_all(partial, hs.data(), basp_header_size + 2));
  for (int fd : {idle, half_credential, partial}) {
    EXPECT_TRUE(wait_closed(fd, 5s));
    ::close(fd);
  }
  EXPECT_TRUE(
    eventually([&] { return guard->stats().closed_handshake_timeout == 3; }));
  // The real client outlived the timeout.
  EXPECT_EQ(c->ping(), "");
  EXPECT_EQ(guard->stats().open_connections, 1u);
}

TEST_F(basp_guard_test, without_tls_only_loopback_addresses) {
  auto o = server->guard_options();
  o.host = "0.0.0.0";
  auto r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("not loopback"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("TLS"), std::string::npos) << r.error;
  o.host = ""; // every interface
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("not loopback"), std::string::npos) << r.error;
  o.host = "no-such-host.invalid";
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("cannot resolve host"), std::string::npos) << r.error;
  // A name that resolves to loopback only is fine; so is any 127/8 address.
  o.host = "localhost";
  auto local = basp_guard::start(o);
  ASSERT_TRUE(local) << local.error;
  auto c = client(local.guard->port(), "localhost");
  EXPECT_EQ(c->ping(), "");
  o.host = "127.0.0.2";
  auto other = basp_guard::start(o);
  EXPECT_TRUE(other) << other.error;
}

TEST_F(basp_guard_test, start_errors_are_one_clear_line) {
  auto first = start_guard();
  auto o = server->guard_options();
  o.port = first->port();
  auto r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.error,
            "address already in use: 127.0.0.1:" + std::to_string(o.port));
  o = {};
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("hand_over"), std::string::npos) << r.error;
  o = server->guard_options();
  o.tokens = {};
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("nobody could get in"), std::string::npos) << r.error;
  o = server->guard_options();
  o.tls_certificate = "/nonexistent/cert.pem";
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("key"), std::string::npos) << r.error;
  o.tls_key = "/nonexistent/key.pem";
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("cannot load TLS certificate /nonexistent/cert.pem"),
            std::string::npos)
    << r.error;
}

TEST_F(basp_guard_test, stop_closes_everything_and_is_idempotent) {
  auto guard = start_guard();
  auto port = guard->port();
  auto c = client(port);
  int raw = raw_connect(port);
  ASSERT_GE(raw, 0);
  guard->stop();
  EXPECT_TRUE(wait_closed(raw, 5s));
  ::close(raw);
  EXPECT_EQ(raw_connect(port), -1);
  EXPECT_EQ(guard->stats().open_connections, 0u);
  guard->stop();
  guard.reset();
}

TEST_F(basp_guard_test, out_of_descriptors_it_refuses_without_spinning) {
  auto o = server->guard_options();
  o.max_connections = 10000;
  auto guard = start_guard(o);
  auto c = client(guard->port()); // established before the shortage
  // Client sockets first, while descriptors are plenty; then a soft limit
  // that leaves the guard `spare` free descriptor numbers.
  constexpr int clients = 300;
  constexpr int spare = 20;
  std::vector<int> fds;
  for (int i = 0; i < clients; ++i)
    fds.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_GE(*std::min_element(fds.begin(), fds.end()), 0);
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(*std::max_element(fds.begin(), fds.end())
                                     + 1 + spare);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(guard->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : fds)
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
  bool handled = eventually([&] {
    auto st = guard->stats();
    return st.accepted + st.refused_no_descriptors == clients + 1;
  });
  // Measuring, not waiting for anything: a spinning accept loop would burn
  // a whole core during this window.
  timespec cpu0{}, cpu1{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
  std::this_thread::sleep_for(300ms);
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
  auto cpu_ms = (cpu1.tv_sec - cpu0.tv_sec) * 1000
                + (cpu1.tv_nsec - cpu0.tv_nsec) / 1000000;
  auto st = guard->stats();
  // Answers still flow on connections that exist.
  auto answered = c->ping(10);
  ::setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_TRUE(handled);
  std::printf("[ emfile   ] %d connections: %llu accepted, %llu refused for "
              "lack of descriptors; %lld ms CPU in 300 ms afterwards\n",
              clients, static_cast<unsigned long long>(st.accepted - 1),
              static_cast<unsigned long long>(st.refused_no_descriptors),
              static_cast<long long>(cpu_ms));
  EXPECT_GT(st.refused_no_descriptors, 0u);
  EXPECT_LE(st.accepted, 1u + spare);
  EXPECT_LT(cpu_ms, 100);
  EXPECT_EQ(answered, "");
  // The refused ones were closed, not left hanging.
  int refused_closed = 0;
  for (int fd : fds)
    refused_closed += wait_closed(fd, 50ms) ? 1 : 0;
  EXPECT_GE(refused_closed, static_cast<int>(st.refused_no_descriptors));
  for (int fd : fds)
    ::close(fd);
  EXPECT_TRUE(eventually([&] { return guard->stats().open_connections == 1; }));
  auto fresh = client(guard->port());
  EXPECT_EQ(fresh->ping(), "");
}

TEST(descriptor_helpers, capacity_counts_three_descriptors_per_client) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  // (1024 - 64 reserved) / 3 = 320.
  EXPECT_EQ(connection_capacity(256), 256u);
  EXPECT_EQ(connection_capacity(1000), 320u);
  EXPECT_EQ(connection_capacity(1000, 1000), 8u);
  EXPECT_EQ(connection_capacity(1000, 5000), 0u);
  // Raising goes to the hard limit.
  EXPECT_EQ(raise_descriptor_limit(), static_cast<size_t>(old.rlim_max));
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  EXPECT_EQ(now.rlim_cur, old.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &old);
}

TEST_F(basp_guard_test, ipv6_loopback_counts_as_loopback) {
  auto o = server->guard_options();
  o.host = "::1";
  auto r = basp_guard::start(o);
  if (!r && r.error.find("cannot listen") != std::string::npos)
    GTEST_SKIP() << "no IPv6 here: " << r.error;
  ASSERT_TRUE(r) << r.error;
  auto c = client(r.guard->port(), "::1");
  EXPECT_EQ(c->ping(), "");
  o.host = "::";
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("not loopback"), std::string::npos) << r.error;
}
