// What a CAF client would never send, from raw sockets, against the guard in
// front of a real CAF listener: forged sizes, garbage, clients that never
// read their answers, floods of requests. Memory is the process's own (the
// CAF "daemon" runs in it), read after everything it caused is done.

#include "guard_test.hpp"

#include <caf/message.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

using namespace sb::intake;
using namespace sb::test;

TEST_F(basp_guard_test, forged_3gb_header_is_closed_at_once) {
  auto guard = start_guard();
  auto c = client(guard->port());
  auto before = rss_kib();
  // As the first frame: a client_handshake claiming 3 GB.
  int a = raw_authenticated(guard->port());
  ASSERT_GE(a, 0);
  auto t0 = std::chrono::steady_clock::now();
  auto h = header(basp_op::client_handshake, 3000000000u);
  ASSERT_TRUE(send_all(a, h.data(), h.size()));
  EXPECT_TRUE(wait_closed(a, 5s));
  auto first_ms = ms_since(t0);
  ::close(a);
  // After a valid handshake (CAF has seen this one): a 3 GB request.
  int b = raw_authenticated(guard->port());
  ASSERT_GE(b, 0);
  auto hs = handshake_frame(server->system());
  ASSERT_TRUE(send_all(b, hs.data(), hs.size()));
  t0 = std::chrono::steady_clock::now();
  h = header(basp_op::direct_message, 3000000000u);
  h.resize(h.size() + 4096, 'x');
  ASSERT_TRUE(send_all(b, h.data(), h.size()));
  EXPECT_TRUE(wait_closed(b, 5s));
  auto second_ms = ms_since(t0);
  ::close(b);
  EXPECT_LT(first_ms, 1000);
  EXPECT_LT(second_ms, 1000);
  EXPECT_TRUE(eventually([&] { return guard->stats().closed_oversize == 2; }));
  auto after = rss_kib();
  std::printf(
    "[ rss      ] forged 3 GB headers: %zu KiB before, %zu KiB after; "
    "closed in %lld ms and %lld ms\n",
    before, after, static_cast<long long>(first_ms),
    static_cast<long long>(second_ms));
  if (memory_is_measured()) {
    EXPECT_LT(after, before + 8 * 1024);
  }
  EXPECT_EQ(c->ping(), "");
}

TEST_F(basp_guard_test, garbage_churn_is_closed_and_costs_nothing) {
  auto guard = start_guard();
  auto c = client(guard->port());
  auto before = rss_kib();
  std::mt19937_64 rng{20260101};
  constexpr int total = 2000;
  constexpr int batch = 200;
  int closed = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int done = 0; done < total; done += batch) {
    std::vector<int> fds;
    for (int i = 0; i < batch; ++i) {
      // Half before the credential, half after it.
      int fd = i % 2 == 0 ? raw_connect(guard->port())
                          : raw_authenticated(guard->port());
      ASSERT_GE(fd, 0);
      char junk[40];
      for (auto& x : junk)
        x = static_cast<char>(rng());
      EXPECT_TRUE(send_all(fd, junk, sizeof(junk)));
      fds.push_back(fd);
    }
    for (int fd : fds) {
      closed += wait_closed(fd, 5s) ? 1 : 0;
      ::close(fd);
    }
  }
  auto churn_ms = ms_since(t0);
  EXPECT_EQ(closed, total);
  EXPECT_TRUE(eventually([&] {
    auto st = guard->stats();
    return st.refused_auth == total / 2
           && st.closed_bad_header + st.closed_oversize == total / 2;
  }));
  auto after = rss_kib();
  std::printf("[ rss      ] %d garbage connections in %lld ms: %zu KiB before, "
              "%zu KiB after\n",
              total, static_cast<long long>(churn_ms), before, after);
  if (memory_is_measured()) {
    EXPECT_LT(after, before + 8 * 1024);
  }
  // The client connected before is answered at once, and so is a new one.
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c->ping(1, 1s), "");
  EXPECT_LT(ms_since(t0), 1000);
  t0 = std::chrono::steady_clock::now();
  auto fresh = echo_client::make();
  EXPECT_EQ(fresh->connect("127.0.0.1", guard->port(), 1s), "");
  EXPECT_EQ(fresh->ping(1, 1s), "");
  EXPECT_LT(ms_since(t0), 1000);
  EXPECT_EQ(guard->stats().open_connections, 2u);
}

TEST_F(basp_guard_test, a_client_that_never_reads_is_dropped) {
  auto o = server->guard_options();
  o.max_buffered = 4 << 20;
  o.pause_backlog = 1 << 20;
  auto guard = start_guard(o);
  auto c = client(guard->port());
  EXPECT_EQ(c->big(2 << 20), 2 << 20); // warm up: CAF's buffers exist now
  auto rss_before = rss_kib();
  auto heap_before = heap_kib();
  std::vector<size_t> rss, heap;
  constexpr int rounds = 4;
  constexpr int requests = 24; // of 1 MiB each: 24 MiB of answers per round
  for (int round = 0; round < rounds; ++round) {
    int fd = raw_authenticated(guard->port());
    ASSERT_GE(fd, 0);
    int small = 64 * 1024; // the kernel would otherwise take megabytes
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    auto bytes = handshake_frame(server->system());
    auto msg = caf::make_message(big_atom::value, uint32_t{1} << 20);
    for (uint64_t i = 1; i <= requests; ++i) {
      auto rq = request_frame(server->system(), server->actor_id(), i, msg);
      bytes.insert(bytes.end(), rq.begin(), rq.end());
    }
    ASSERT_TRUE(send_all(fd, bytes.data(), bytes.size()));
    EXPECT_TRUE(eventually(
      [&] {
        return guard->stats().closed_slow_reader
               == static_cast<uint64_t>(round + 1);
      },
      20s));
    EXPECT_TRUE(wait_closed(fd, 5s));
    ::close(fd);
    // Others are served meanwhile and afterwards.
    EXPECT_EQ(c->ping(10), "");
    // CAF lets go of a closed connection's buffers asynchronously (and under
    // load it may keep a few MiB until its actor system ends).
    EXPECT_TRUE(
      eventually([&] { return heap_kib() < heap_before + 16 * 1024; }));
    rss.push_back(rss_kib());
    heap.push_back(heap_kib());
  }
  std::printf("[ rss      ] never-reading clients (%d x %d MiB asked): RSS "
              "%zu KiB before, after each %zu %zu %zu %zu KiB; heap in use "
              "%zu KiB before, after each %zu %zu %zu %zu KiB\n",
              rounds, requests, rss_before, rss[0], rss[1], rss[2], rss[3],
              heap_before, heap[0], heap[1], heap[2], heap[3]);
  // Nothing stays behind from one such client to the next.
  if (memory_is_measured()) {
    for (auto x : rss)
      EXPECT_LT(x, rss_before + 24 * 1024);
  }
  EXPECT_EQ(c->big(3 << 20), 3 << 20);
  EXPECT_EQ(guard->stats().buffered, 0u);
}

TEST_F(basp_guard_test, a_flood_of_requests_waits_at_the_pending_cap) {
  // A client that writes requests as fast as it can and reads nothing: CAF
  // would take them all into a mailbox at once. The guard relays at most
  // max_pending_requests unanswered ones (plus what one read brought), then
  // the answers back up and the client is dropped.
  auto o = server->guard_options();
  o.max_pending_requests = 1000;
  auto guard = start_guard(o);
  auto c = client(guard->port());
  auto before = rss_kib();
  auto heap_before = heap_kib();
  int fd = raw_authenticated(guard->port());
  ASSERT_GE(fd, 0);
  auto hello = sb::auth_hello(admin_token).size();
  auto hs = handshake_frame(server->system());
  ASSERT_TRUE(send_all(fd, hs.data(), hs.size()));
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  auto msg = caf::make_message(big_atom::value, uint32_t{64} << 10);
  std::vector<char> burst;
  for (uint64_t i = 1; i <= 1000; ++i) {
    auto rq = request_frame(server->system(), server->actor_id(), i, msg);
    burst.insert(burst.end(), rq.begin(), rq.end());
  }
  auto frame_size = burst.size() / 1000;
  // Bursts until the socket takes nothing for two seconds (the guard
  // stopped reading) or the guard dropped the connection.
  uint64_t sent = 0;
  for (size_t off = 0;;) {
    auto n = ::send(fd, burst.data() + off, burst.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
      off = (off + static_cast<size_t>(n)) % burst.size();
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 2000) > 0)
        continue;
    }
    break;
  }
  EXPECT_TRUE(
    eventually([&] { return guard->stats().closed_slow_reader == 1; }, 20s));
  ::close(fd);
  EXPECT_EQ(c->ping(), ""); // CAF has dealt with what it was given
  // CAF may keep some MiB of what it made until its actor system ends
  // (seen under CPU load); without the cap it would be GBs.
  EXPECT_TRUE(eventually([&] { return heap_kib() < heap_before + 32 * 1024; }))
    << heap_kib() << " KiB in use, " << heap_before << " KiB before";
  auto st = guard->stats();
  auto relayed = (st.bytes_in - hello - hs.size()) / frame_size;
  // Unanswered at any time: at most the cap plus one read; the guard saw
  // answers for the rest (sent on, or buffered until the drop).
  auto answered = (st.bytes_out + o.max_buffered + (64 << 10)) / (64 << 10);
  auto after = rss_kib();
  auto heap_after = heap_kib();
  std::printf("[ flood    ] %llu requests written, %llu relayed to CAF, "
              "%llu at most answered; RSS %zu KiB before, %zu KiB after; heap "
              "in use %zu KiB before, %zu KiB after\n",
              static_cast<unsigned long long>(sent / frame_size),
              static_cast<unsigned long long>(relayed),
              static_cast<unsigned long long>(answered), before, after,
              heap_before, heap_after);
  EXPECT_LE(relayed, 1000 + (64 << 10) / frame_size + 1 + answered);
  EXPECT_LT(relayed * 4, sent / frame_size);
  // Without the cap CAF would have made 64 KiB for each request written.
  if (memory_is_measured()) {
    EXPECT_LT(after, before + 48 * 1024);
  }
}
