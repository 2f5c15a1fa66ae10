// Who may reach what through the guard: the credential decides the scope and
// the scope the one actor a connection may address; frames that address
// anything else, or that a CAF client never sends, close the connection.
// Each case is written as an attacker would send it (raw sockets, forged
// frames from CAF's own serializer) against the guard in front of real CAF.

#include "guard_test.hpp"
#include "messages/auth_line.hpp"

#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

using namespace sb::intake;
using namespace sb::test;

namespace {

/// The guard's one-line answer to a credential, then what follows.
std::string read_line(int fd) {
  std::string line;
  char c = 0;
  while (line.size() < 512 && ::recv(fd, &c, 1, 0) == 1) {
    line += c;
    if (c == '\n')
      break;
  }
  return line;
}

class locked_door_test : public basp_guard_test {
protected:
  /// An authenticated raw connection past a handshake of a made-up node;
  /// `node` gets that node's id as CAF serialized it.
  int handshaken(uint16_t port, std::string* node = nullptr,
                 const std::string& token = admin_token) {
    int fd = raw_authenticated(port, token);
    if (fd < 0)
      return -1;
    auto hs = handshake_frame(server->system());
    if (node != nullptr)
      node->assign(hs.begin() + basp_header_size, hs.end());
    return send_all(fd, hs.data(), hs.size()) ? fd : -1;
  }

  /// Sends `bytes` after a handshake and expects the connection closed and
  /// counted as forbidden; the guard and CAF still serve others.
  void expect_forbidden(basp_guard& guard, const std::vector<char>& bytes,
                        const char* what) {
    SCOPED_TRACE(what);
    auto before = guard.stats().closed_forbidden;
    int fd = handshaken(guard.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, bytes.data(), bytes.size()));
    EXPECT_TRUE(wait_closed(fd, 5s));
    ::close(fd);
    EXPECT_TRUE(
      eventually([&] { return guard.stats().closed_forbidden == before + 1; }));
    auto c = client(guard.port());
    EXPECT_EQ(c->ping(), "");
  }

  std::vector<char> serialized(const caf::message& msg,
                               std::vector<caf::strong_actor_ptr> stages = {}) {
    std::vector<char> payload;
    caf::binary_serializer sink{server->system(), payload};
    auto copy = msg;
    if (auto err = sink(stages, copy))
      ADD_FAILURE() << "cannot serialize";
    return payload;
  }

  basp_header message_header(uint64_t dest, uint64_t request_id) {
    basp_header h;
    h.operation = static_cast<uint8_t>(basp_op::direct_message);
    h.operation_data = caf::make_message_id(request_id).integer_value();
    h.source_actor = 77;
    h.dest_actor = dest;
    return h;
  }
};

} // namespace

TEST_F(locked_door_test, the_credential_decides_which_actor_is_reached) {
  auto guard = start_guard();
  auto admin = echo_client::make();
  ASSERT_EQ(admin->connect("127.0.0.1", guard->port(), 10s, admin_token), "");
  EXPECT_EQ(admin->remote_id(), server->actor_id());
  auto reporter = echo_client::make();
  ASSERT_EQ(reporter->connect("127.0.0.1", guard->port(), 10s, report_token),
            "");
  EXPECT_EQ(reporter->remote_id(), server->report_actor_id());
  EXPECT_EQ(reporter->ping(10), "");
  // Wrong, missing, malformed: one line saying no, then closed; nothing
  // reached CAF.
  for (auto line : {sb::auth_hello("admin-token-of-the-guard-test"),
                    sb::auth_hello(""), std::string{"GET / HTTP/1.1\r\n\r\n"},
                    std::string{"SWITCHBOARD-AUTH/1 two words\n"}}) {
    int fd = raw_connect(guard->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, line.data(), line.size()));
    auto answer = read_line(fd);
    EXPECT_EQ(answer.rfind("NO ", 0), 0u) << answer;
    EXPECT_TRUE(wait_closed(fd, 5s));
    ::close(fd);
  }
  EXPECT_TRUE(eventually([&] { return guard->stats().refused_auth == 4; }));
  auto st = guard->stats();
  EXPECT_EQ(st.backend_failures, 0u);
  // A CAF client without the credential line is refused the same way.
  auto plain = echo_client::make();
  EXPECT_NE(
    plain->connect("127.0.0.1", guard->port(), 10s, "not-the-token-of-anybody"),
    "");
  EXPECT_EQ(admin->ping(), "");
}

TEST_F(locked_door_test,
       frames_for_anything_but_the_door_close_the_connection) {
  auto guard = start_guard();
  auto ping = caf::make_message(ping_atom::value, int32_t{1});
  // Another actor id (here: the other scope's door).
  expect_forbidden(
    *guard,
    frame(message_header(server->report_actor_id(), 1), serialized(ping)),
    "another actor");
  // A named receiver (ConfigServ, which stores what it is given).
  auto named
    = message_header(static_cast<uint64_t>(caf::atom("ConfigServ")), 1);
  named.flags = 0x01;
  expect_forbidden(
    *guard,
    frame(named, serialized(caf::make_message(caf::put_atom::value,
                                              caf::atom("x"), caf::message{}))),
    "a named receiver");
  // A routed message (through the daemon to another node).
  auto routed = message_header(server->actor_id(), 1);
  routed.operation = static_cast<uint8_t>(basp_op::routed_message);
  expect_forbidden(*guard, frame(routed, serialized(ping)), "routed");
  // A forwarding stack: the door's answer would go to whom it names.
  caf::scoped_actor someone{server->system()};
  expect_forbidden(
    *guard,
    frame(message_header(server->actor_id(), 1),
          serialized(ping, {caf::actor_cast<caf::strong_actor_ptr>(someone)})),
    "forwarding stages");
  // A message the door does not take: CAF would run a link message on the
  // actor it names.
  expect_forbidden(*guard,
                   frame(message_header(server->actor_id(), 0),
                         serialized(caf::make_message(
                           caf::link_atom::value,
                           caf::actor_cast<caf::strong_actor_ptr>(someone)))),
                   "a link message");
  // A response to a request nobody sent down this connection (CAF matches
  // responses by id alone).
  auto response = message_header(server->actor_id(), 1);
  response.operation_data
    = caf::make_message_id(1).response_id().integer_value();
  expect_forbidden(*guard, frame(response, serialized(ping)), "a response");
}

TEST_F(locked_door_test, a_second_handshake_and_foreign_monitors_are_refused) {
  auto guard = start_guard();
  // Another node's handshake on the same connection.
  auto other = handshake_frame(server->system());
  other[3] = 0x02; // select_connection_flag, as CAF repeats it
  expect_forbidden(*guard, other, "a second handshake of another node");
  // A third handshake of the same node.
  {
    std::string node;
    int fd = handshaken(guard->port(), &node);
    ASSERT_GE(fd, 0);
    basp_header h;
    h.operation = static_cast<uint8_t>(basp_op::client_handshake);
    h.flags = 0x02;
    auto again = frame(h, std::vector<char>(node.begin(), node.end()));
    ASSERT_TRUE(send_all(fd, again.data(), again.size())); // the repeat: fine
    ASSERT_TRUE(send_all(fd, again.data(), again.size())); // a third: no
    EXPECT_TRUE(wait_closed(fd, 5s));
    ::close(fd);
  }
  // A monitor message naming another destination node (CAF would forward
  // it there).
  std::string node;
  int fd = handshaken(guard->port(), &node);
  ASSERT_GE(fd, 0);
  basp_header m;
  m.operation = static_cast<uint8_t>(basp_op::monitor_message);
  m.dest_actor = server->actor_id();
  auto theirs = handshake_frame(server->system());
  std::vector<char> payload(node.begin(), node.end());
  payload.insert(payload.end(), theirs.begin() + basp_header_size,
                 theirs.end());
  auto monitor = frame(m, payload);
  ASSERT_TRUE(send_all(fd, monitor.data(), monitor.size()));
  EXPECT_TRUE(wait_closed(fd, 5s));
  ::close(fd);
  // And monitors without end (each costs the daemon an entry).
  auto daemon_node = server->guard_options().rules.daemon_node;
  fd = handshaken(guard->port(), &node);
  ASSERT_GE(fd, 0);
  payload.assign(node.begin(), node.end());
  payload.insert(payload.end(), daemon_node.begin(), daemon_node.end());
  auto own = frame(m, payload);
  std::vector<char> many;
  for (int i = 0; i < 65; ++i)
    many.insert(many.end(), own.begin(), own.end());
  ASSERT_TRUE(send_all(fd, many.data(), many.size()));
  EXPECT_TRUE(wait_closed(fd, 5s));
  ::close(fd);
  EXPECT_TRUE(eventually([&] { return guard->stats().closed_forbidden == 4; }))
    << guard->stats().closed_forbidden;
  EXPECT_EQ(client(guard->port())->ping(), "");
}

TEST_F(locked_door_test, a_message_once_started_must_end_in_time) {
  auto o = server->guard_options();
  o.message_timeout = 300ms;
  auto guard = start_guard(o);
  auto c = client(guard->port());
  int fd = handshaken(guard->port());
  ASSERT_GE(fd, 0);
  auto rq = request_frame(server->system(), server->actor_id(), 1,
                          caf::make_message(ping_atom::value, int32_t{7}));
  // The header and a few bytes of the payload, then nothing.
  ASSERT_TRUE(send_all(fd, rq.data(), basp_header_size + 8));
  EXPECT_TRUE(wait_closed(fd, 5s));
  ::close(fd);
  EXPECT_TRUE(
    eventually([&] { return guard->stats().closed_message_timeout == 1; }));
  // An idle client between messages is not cut off.
  EXPECT_EQ(c->ping(), "");
}

TEST_F(locked_door_test, unauthenticated_sockets_make_room_for_a_client) {
  auto o = server->guard_options();
  o.max_connections = 4;
  auto guard = start_guard(o);
  auto a = client(guard->port());
  // Every other slot taken by sockets that never say anything.
  std::vector<int> squatters;
  for (int i = 0; i < 3; ++i) {
    squatters.push_back(raw_connect(guard->port()));
    ASSERT_GE(squatters.back(), 0);
  }
  ASSERT_TRUE(eventually([&] { return guard->stats().open_connections == 4; }));
  // A client with the credential still gets in, at once: the oldest
  // squatter goes.
  auto b = echo_client::make();
  EXPECT_EQ(b->connect("127.0.0.1", guard->port(), 5s), "");
  EXPECT_EQ(b->ping(), "");
  EXPECT_TRUE(wait_closed(squatters[0], 5s));
  EXPECT_EQ(guard->stats().evicted, 1u);
  // Authenticated clients are never evicted: with every slot theirs, the
  // next one is refused.
  auto c = echo_client::make();
  EXPECT_EQ(c->connect("127.0.0.1", guard->port(), 5s), "");
  auto d = echo_client::make();
  EXPECT_EQ(d->connect("127.0.0.1", guard->port(), 5s), "");
  auto e = echo_client::make();
  EXPECT_NE(e->connect("127.0.0.1", guard->port(), 5s), "");
  EXPECT_EQ(a->ping(), "");
  for (int fd : squatters)
    ::close(fd);
}

TEST_F(locked_door_test, the_backlog_of_all_clients_together_is_capped) {
  auto o = server->guard_options();
  o.max_buffered = 12 << 20;
  o.max_buffered_total = 12 << 20;
  o.pause_backlog = 1 << 20;
  auto guard = start_guard(o);
  auto c = client(guard->port());
  // Three clients that ask for 10 MiB each and never read: each fits its
  // own cap (the kernel's buffers take a few MiB of it), together they do
  // not.
  std::vector<int> readers;
  for (int i = 0; i < 3; ++i) {
    int fd = handshaken(guard->port());
    ASSERT_GE(fd, 0);
    int small = 64 * 1024;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    std::vector<char> asks;
    for (uint64_t id = 1; id <= 10; ++id) {
      auto rq
        = request_frame(server->system(), server->actor_id(), id,
                        caf::make_message(big_atom::value, uint32_t{1} << 20));
      asks.insert(asks.end(), rq.begin(), rq.end());
    }
    ASSERT_TRUE(send_all(fd, asks.data(), asks.size()));
    readers.push_back(fd);
  }
  EXPECT_TRUE(
    eventually([&] { return guard->stats().closed_slow_reader >= 1; }, 20s))
    << "buffered " << guard->stats().buffered << ", out "
    << guard->stats().bytes_out << ", in " << guard->stats().bytes_in;
  EXPECT_LE(guard->stats().buffered, o.max_buffered_total);
  EXPECT_EQ(c->ping(), "");
  for (int fd : readers)
    ::close(fd);
  EXPECT_TRUE(eventually([&] { return guard->stats().buffered == 0; }));
}

TEST_F(locked_door_test, new_credentials_close_the_connections_of_the_old) {
  auto guard = start_guard();
  auto admin = client(guard->port());
  auto reporter = echo_client::make();
  ASSERT_EQ(reporter->connect("127.0.0.1", guard->port(), 10s, report_token),
            "");
  guard->set_credentials({"a-new-admin-token-after-a-leak", report_token});
  // The admin connection goes; the report one stays.
  EXPECT_TRUE(eventually([&] { return admin->ping(1, 1s) != ""; }));
  EXPECT_EQ(reporter->ping(), "");
  auto old = echo_client::make();
  EXPECT_NE(old->connect("127.0.0.1", guard->port(), 5s, admin_token), "");
  auto fresh = echo_client::make();
  EXPECT_EQ(fresh->connect("127.0.0.1", guard->port(), 5s,
                           "a-new-admin-token-after-a-leak"),
            "");
  EXPECT_EQ(fresh->remote_id(), server->actor_id());
}
