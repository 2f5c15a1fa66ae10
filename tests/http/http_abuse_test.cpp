// The HTTP front against clients that behave like attackers or like broken
// programs, each tried against a real in-process daemon over 127.0.0.1: a
// header sent a byte at a time, thousands of idle connections, a header or a
// body without end, a compressed body, a live stream nobody reads. Each is
// cut off within its limit, memory stays bounded, and a well-behaved caller
// is still answered at once.

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/http_client.hpp"
#include "fixtures/raw_socket.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <atomic>
#include <thread>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr size_t mib = 1024 * 1024;

class http_abuse_test : public daemon_fixture {
protected:
  void SetUp() override {
    // A thousand idle clients and their thousand accepted sockets live in
    // this one process.
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
    add_subscription("sub-a");
    add_subscription("sub-b");
    add_agent("a1", "sub-a");
    add_agent("a2", "sub-b");
  }

  uint16_t start(http::http_settings s = {}) {
    port_ = start_http(std::move(s));
    return port_;
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  http_reply healthz() {
    http_call_options o;
    o.timeout_s = 5;
    return http_call("GET", url("/healthz"), {}, o);
  }

  http_reply post_report(const std::string& agent, int status = 429) {
    http_call_options o;
    o.bearer = report_token();
    o.timeout_s = 10;
    return http_call("POST", url("/v1/reports"),
                     json{{"agent", agent}, {"status", status}}.dump(), o);
  }

  /// A request line and the credential, for raw clients.
  std::string auth_line() const {
    return "Authorization: Bearer " + admin_token() + "\r\n";
  }

  /// Sends `piece` again and again until `total` bytes went or the daemon
  /// cut the connection; returns how many bytes went.
  static size_t flood(raw_socket& s, const std::string& piece, size_t total) {
    size_t sent = 0;
    while (sent < total && s.send_all(piece))
      sent += piece.size();
    return sent;
  }

  /// The ADMIN's count of live-stream watchers (from /v1/status).
  int64_t watchers() {
    http_call_options o;
    o.bearer = admin_token();
    auto st = http_call("GET", url("/v1/status"), {}, o).json();
    for (auto& c : st["components"])
      if (c.contains("watchers"))
        return c["watchers"].get<int64_t>();
    for (auto& [key, value] : st.items())
      if (value.is_object() && value.contains("watchers"))
        return value["watchers"].get<int64_t>();
    return -1;
  }

  uint16_t port_ = 0;
};

} // namespace

TEST_F(http_abuse_test, header_tricklers_neither_stop_the_front_nor_stay) {
  http::http_settings s;
  s.request_timeout = 2s;
  ASSERT_NE(start(s), 0);
  std::vector<raw_socket> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back(port_);
    ASSERT_TRUE(clients.back().connected());
  }
  // One header byte at a time, slowly, as a slowloris client sends them.
  std::atomic<bool> done{false};
  std::thread trickler{[&] {
    std::string header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (size_t i = 0; !done && i < 100000; ++i) {
      for (auto& c : clients)
        c.send_all(std::string(1, i < header.size() ? header[i] : 'a'));
      std::this_thread::sleep_for(50ms); // the client's pace, not a wait
    }
  }};
  // Meanwhile a probe and a report are answered at once.
  auto probe = healthz();
  EXPECT_EQ(probe.status, 200) << probe.error;
  auto r = post_report("a1");
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.json()["outcome"], "switched");
  // And each trickler is cut off once its request took longer than
  // request_timeout.
  for (auto& c : clients)
    EXPECT_TRUE(c.closed_by_peer(10s));
  done = true;
  trickler.join();
}

TEST_F(http_abuse_test, a_thousand_idle_connections_and_a_report_answered) {
  ASSERT_NE(start(), 0);
  auto before = resident_bytes();
  std::vector<raw_socket> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(port_);
    ASSERT_TRUE(idle.back().connected()) << "connection " << i;
  }
  // Every one of them accepted: each answers a request of its own.
  for (size_t i = 0; i < idle.size(); i += 100) {
    ASSERT_TRUE(idle[i].send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_NE(idle[i].read_until("\r\n\r\n", 10s).find("200 OK"),
              std::string::npos);
  }
  auto probe = healthz();
  EXPECT_EQ(probe.status, 200) << probe.error;
  auto r = post_report("a1");
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  // Bounded memory: the front holds a thousand idle connections in a few
  // kilobytes each (client and daemon sockets both count in this process).
  auto grown = resident_bytes() - std::min(before, resident_bytes());
  EXPECT_LT(grown, 64 * mib);
}

TEST_F(http_abuse_test, a_header_without_end_is_cut_at_its_limit) {
  ASSERT_NE(start(), 0);
  auto before = resident_bytes();
  {
    // One 300 MB header line.
    raw_socket s{port_};
    ASSERT_TRUE(s.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: "));
    auto sent = flood(s, std::string(mib, 'x'), 300 * mib);
    EXPECT_LT(sent, 64 * mib) << "the daemon read on past the header limit";
  }
  {
    // Two million headers.
    raw_socket s{port_};
    ASSERT_TRUE(s.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
    std::string many;
    for (int i = 0; i < 10000; ++i)
      many += "X-A: b\r\n";
    auto sent = flood(s, many, 2000000 * 8);
    EXPECT_LT(sent, 64 * mib);
  }
  EXPECT_LT(resident_bytes() - std::min(before, resident_bytes()), 32 * mib);
  auto probe = healthz();
  EXPECT_EQ(probe.status, 200) << probe.error;
  // A header just over the limit gets its answer, a clear error.
  raw_socket s{port_};
  ASSERT_TRUE(s.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: "
                         + std::string(20000, 'x') + "\r\n\r\n"));
  EXPECT_NE(s.read_until("\r\n\r\n", 10s).find("431"), std::string::npos);
}

TEST_F(http_abuse_test, a_body_without_end_is_cut_at_its_limit) {
  ASSERT_NE(start(), 0);
  auto before = resident_bytes();
  {
    // A 300 MB chunked body.
    raw_socket s{port_};
    ASSERT_TRUE(s.send_all("POST /v1/reports HTTP/1.1\r\nHost: x\r\n"
                           + auth_line()
                           + "Transfer-Encoding: chunked\r\n\r\n"));
    auto chunk = "100000\r\n" + std::string(mib, ' ') + "\r\n";
    auto sent = flood(s, chunk, 300 * mib);
    EXPECT_LT(sent, 64 * mib) << "the daemon read on past the body limit";
  }
  {
    // A body without a length: HTTP/1.1 reads it as an empty body, and the
    // rest as a next request that is not HTTP.
    raw_socket s{port_};
    ASSERT_TRUE(s.send_all("POST /v1/reports HTTP/1.1\r\nHost: x\r\n"
                           + auth_line() + "\r\n"));
    auto sent = flood(s, std::string(mib, '{'), 300 * mib);
    EXPECT_LT(sent, 64 * mib);
  }
  EXPECT_LT(resident_bytes() - std::min(before, resident_bytes()), 32 * mib);
  // Nothing was recorded, and the front still answers.
  EXPECT_TRUE(events("a1").empty());
  auto r = post_report("a1");
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  // A body just over the limit gets its answer, a clear error.
  raw_socket s{port_};
  std::string body(70000, ' ');
  ASSERT_TRUE(s.send_all("POST /v1/reports HTTP/1.1\r\nHost: x\r\n"
                         + auth_line() + "Content-Length: "
                         + std::to_string(body.size()) + "\r\n\r\n" + body));
  EXPECT_NE(s.read_until("\r\n\r\n", 10s).find("413"), std::string::npos);
}

TEST_F(http_abuse_test, a_compressed_body_is_refused_and_changes_nothing) {
  ASSERT_NE(start(), 0);
  raw_socket s{port_};
  // The bytes do not matter: no compressed body is inflated.
  std::string body = "\x1f\x8b\x08\x00 not really gzip";
  ASSERT_TRUE(s.send_all("POST /v1/reports HTTP/1.1\r\nHost: x\r\n"
                         + auth_line() + "Content-Encoding: gzip\r\n"
                         + "Content-Length: " + std::to_string(body.size())
                         + "\r\n\r\n" + body));
  auto answer = s.read_until("}}", 10s);
  EXPECT_NE(answer.find("415"), std::string::npos) << answer;
  EXPECT_NE(answer.find("unsupported_media_type"), std::string::npos);
  EXPECT_TRUE(events("a1").empty());
}

TEST_F(http_abuse_test, more_connections_than_the_limit_get_a_clear_503) {
  http::http_settings s;
  s.max_connections = 8;
  ASSERT_NE(start(s), 0);
  std::vector<raw_socket> held;
  for (int i = 0; i < 8; ++i)
    held.emplace_back(port_);
  // Connections are counted once accepted: wait until the eighth is.
  ASSERT_TRUE(held.back().send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_NE(held.back().read_until("\r\n\r\n", 10s).find("200"),
            std::string::npos);
  raw_socket extra{port_};
  auto answer = extra.read_until("}}", 10s);
  EXPECT_NE(answer.find("503"), std::string::npos) << answer;
  EXPECT_NE(answer.find("too many open connections"), std::string::npos);
  // One leaves: the next caller gets in.
  held.front().close();
  EXPECT_TRUE(wait_until([&] { return healthz().status == 200; }, 10s));
}

// -- the live stream ---------------------------------------------------------

namespace {

class http_watch_test : public http_abuse_test {
protected:
  /// Opens GET /v1/watch on a raw connection and waits for its first line.
  raw_socket open_watch(const std::string& query = {}, int rcvbuf = 0) {
    raw_socket s{port_, rcvbuf};
    EXPECT_TRUE(s.send_all("GET /v1/watch" + query + " HTTP/1.1\r\nHost: x\r\n"
                           + auth_line() + "\r\n"));
    auto head = s.read_until(": watching", 10s);
    EXPECT_NE(head.find("200 OK"), std::string::npos) << head;
    EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;
    return s;
  }

  /// The JSON of the next `data:` line within `timeout` (null if none).
  static json next_event(raw_socket& s, std::chrono::milliseconds timeout,
                         std::string& pending) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto at = pending.find("data: ");
      auto end = at == std::string::npos ? at : pending.find('\n', at);
      if (end != std::string::npos) {
        auto doc = json::parse(pending.substr(at + 6, end - at - 6));
        pending.erase(0, end + 1);
        return doc;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return nullptr;
      auto got = s.read_until("\n\n", left);
      if (got.empty())
        return nullptr;
      pending += got;
    }
  }
};

} // namespace

TEST_F(http_watch_test, a_report_decision_reaches_the_stream_within_a_second) {
  ASSERT_NE(start(), 0);
  auto all = open_watch();
  auto only_a2 = open_watch("?agent=a2");
  auto r = post_report("a1");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string pending;
  auto ev = next_event(all, 1s, pending);
  ASSERT_FALSE(ev.is_null()) << "no decision on the stream within 1 s";
  EXPECT_EQ(ev["agent"], "a1");
  EXPECT_NE(pending.find("id: "), std::string::npos);
  // The filtered stream sees a2's decision first, not a1's.
  ASSERT_EQ(post_report("a2").status, 200);
  std::string pending_a2;
  auto ev2 = next_event(only_a2, 1s, pending_a2);
  ASSERT_FALSE(ev2.is_null());
  EXPECT_EQ(ev2["agent"], "a2");
}

TEST_F(http_watch_test, a_stream_needs_a_credential_and_known_filters) {
  ASSERT_NE(start(), 0);
  auto anonymous = http_call("GET", url("/v1/watch"));
  EXPECT_EQ(anonymous.status, 401);
  http_call_options o;
  o.bearer = report_token();
  o.timeout_s = 5;
  auto unknown = http_call("GET", url("/v1/watch?colour=red"), {}, o);
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(watchers(), 0);
}

TEST_F(http_watch_test, a_stalled_reader_is_dropped_and_memory_stays) {
  ASSERT_NE(start(), 0);
  auto stalled = open_watch({}, 4096);
  ASSERT_TRUE(wait_until([&] { return watchers() == 1; }, 10s));
  auto before = resident_bytes();
  // Decisions keep coming; the stalled client reads none of them.
  for (int i = 0; i < 4000 && watchers() != 0; ++i)
    ASSERT_EQ(post_report(i % 2 ? "a1" : "a2", 401).status, 200);
  EXPECT_TRUE(wait_until([&] { return watchers() == 0; }, 10s))
    << "the stalled stream is still fed";
  EXPECT_LT(resident_bytes() - std::min(before, resident_bytes()), 32 * mib);
  EXPECT_TRUE(stalled.closed_by_peer(10s));
  // A reader that keeps up is not dropped.
  auto reader = open_watch();
  ASSERT_EQ(post_report("a1").status, 200);
  std::string pending;
  EXPECT_FALSE(next_event(reader, 5s, pending).is_null());
}

TEST_F(http_watch_test, the_stream_ends_cleanly_when_the_daemon_drains) {
  ASSERT_NE(start(), 0);
  auto s = open_watch();
  ASSERT_TRUE(wait_until([&] { return watchers() == 1; }, 10s));
  std::thread stopper{[&] { stop_daemon(); }};
  // The last chunk of a chunked answer, then the end of the connection.
  auto rest = s.read_until("0\r\n\r\n", 30s);
  stopper.join();
  EXPECT_NE(rest.find("0\r\n\r\n"), std::string::npos) << rest;
  EXPECT_TRUE(s.closed_by_peer(5s));
}
