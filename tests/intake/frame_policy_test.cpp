// The frame policy as a pure function: a table of frames a client may and
// may not send, and random bytes, which it must decide on without reading
// past what it was given and without asking for more than max_prefix.

#include "intake/frame_policy.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace sb::intake;

namespace {

constexpr uint64_t door = 41;

frame_rules rules() {
  frame_rules r;
  r.message_types = {"@<>+@atom+@i32"};
  r.daemon_node = std::string(32, 'D');
  r.doors = {door, 42};
  r.probe_receiver = 99;
  r.probe_types = "@<>+@atom+@atom+@str";
  r.probe_answer_types = "@<>+@atom+@str+@strong_actor_ptr+@str";
  return r;
}

basp_header header(basp_op op, size_t payload, uint64_t dest = 0,
                   uint64_t data = 0, uint8_t flags = 0) {
  basp_header h;
  h.operation = static_cast<uint8_t>(op);
  h.payload_len = static_cast<uint32_t>(payload);
  h.dest_actor = dest;
  h.operation_data = data;
  h.flags = flags;
  return h;
}

/// [stages 0][u16 0][varbyte length][names][value bytes]
std::string message(const std::string& names, size_t value_bytes = 4) {
  std::string p{"\0\0\0", 3};
  p += static_cast<char>(names.size());
  p += names;
  p += std::string(value_bytes, 'v');
  return p;
}

frame_policy::decision check(frame_policy& fp, const basp_header& h,
                             const std::string& payload) {
  return fp
    .check(h, reinterpret_cast<const unsigned char*>(payload.data()),
           std::min(payload.size(), max_prefix))
    .what;
}

using d = frame_policy::decision;

constexpr uint64_t request = 0x1000000000000005; // normal priority, id 5
constexpr uint64_t async = 0x1000000000000000;

} // namespace

TEST(frame_policy, what_a_client_of_the_door_sends_passes) {
  auto r = rules();
  frame_policy fp{r, door};
  std::string node(32, 'C');
  EXPECT_EQ(check(fp, header(basp_op::client_handshake, 32), node), d::pass);
  EXPECT_EQ(check(fp, header(basp_op::client_handshake, 32, 0, 0, 0x02), node),
            d::pass);
  auto ping = message("@<>+@atom+@i32");
  EXPECT_EQ(check(fp,
                  header(basp_op::direct_message, ping.size(), door, request),
                  ping),
            d::pass);
  EXPECT_EQ(
    check(fp, header(basp_op::monitor_message, 64, door), node + r.daemon_node),
    d::pass);
  EXPECT_EQ(check(fp, header(basp_op::down_message, 70, 0),
                  node + r.daemon_node + "reason"),
            d::pass);
  EXPECT_EQ(check(fp, header(basp_op::heartbeat, 0), ""), d::pass);
  // CAF's spawn-server probe and its answer: dropped, not refused.
  auto probe = message(r.probe_types);
  EXPECT_EQ(
    check(fp, header(basp_op::direct_message, probe.size(), 99, async, 0x01),
          probe),
    d::drop);
  auto answer = message(r.probe_answer_types);
  EXPECT_EQ(check(fp,
                  header(basp_op::direct_message, answer.size(), 1234, async),
                  answer),
            d::drop);
  // A response to a request a door sent down.
  basp_header down = header(basp_op::direct_message, 10, 5, request);
  down.source_actor = 42;
  fp.sent_down(down);
  EXPECT_EQ(check(fp,
                  header(basp_op::direct_message, ping.size(), 42,
                         request | 0x8000000000000000),
                  ping),
            d::pass);
  // ... once.
  EXPECT_EQ(check(fp,
                  header(basp_op::direct_message, ping.size(), 42,
                         request | 0x8000000000000000),
                  ping),
            d::refuse);
}

TEST(frame_policy, everything_else_is_refused) {
  auto r = rules();
  std::string node(32, 'C');
  auto ping = message("@<>+@atom+@i32");
  struct row {
    const char* what;
    basp_header h;
    std::string payload;
  };
  std::vector<row> rows{
    {"another actor", header(basp_op::direct_message, ping.size(), 7, request),
     ping},
    {"named receiver",
     header(basp_op::direct_message, ping.size(), door, request, 0x01), ping},
    {"stages", header(basp_op::direct_message, ping.size(), door, request),
     "\x01" + ping.substr(1)},
    {"unknown types", header(basp_op::direct_message, 40, door, request),
     message("@<>+@atom+@strong_actor_ptr")},
    {"async to another actor",
     header(basp_op::direct_message, ping.size(), 7, async), ping},
    {"routed", header(basp_op::routed_message, ping.size(), door, request),
     ping},
    {"unanswered response",
     header(basp_op::direct_message, ping.size(), door,
            request | 0x8000000000000000),
     ping},
    {"monitor of another node", header(basp_op::monitor_message, 64, door),
     node + std::string(32, 'X')},
    {"down to another node", header(basp_op::down_message, 70, 0),
     node + std::string(32, 'X') + "reason"},
    {"server handshake", header(basp_op::server_handshake, 4, 0, 1), "abcd"},
  };
  for (auto& x : rows) {
    frame_policy fp{r, door};
    ASSERT_EQ(check(fp, header(basp_op::client_handshake, 32), node), d::pass);
    EXPECT_EQ(check(fp, x.h, x.payload), d::refuse) << x.what;
  }
  frame_policy fp{r, door};
  ASSERT_EQ(check(fp, header(basp_op::client_handshake, 32), node), d::pass);
  EXPECT_EQ(check(fp, header(basp_op::client_handshake, 32, 0, 0, 0x02),
                  std::string(32, 'Z')),
            d::refuse);
}

TEST(frame_policy, random_bytes_get_a_decision_within_the_prefix) {
  auto r = rules();
  std::mt19937_64 rng{20261207};
  for (int i = 0; i < 200000; ++i) {
    frame_policy fp{r, door};
    std::string node(32, 'C');
    fp.check(header(basp_op::client_handshake, 32),
             reinterpret_cast<const unsigned char*>(node.data()), 32);
    basp_header h;
    h.operation = static_cast<uint8_t>(rng() % 8);
    h.flags = static_cast<uint8_t>(rng() % 4);
    h.payload_len = static_cast<uint32_t>(rng() % 1024);
    h.operation_data = rng() % 3 == 0 ? rng() : request;
    h.dest_actor = rng() % 2 == 0 ? door : rng();
    std::string payload(std::min<size_t>(h.payload_len, max_prefix), '\0');
    for (auto& c : payload)
      c = static_cast<char>(rng() % 3 == 0 ? rng() : 0);
    auto got
      = fp.check(h, reinterpret_cast<const unsigned char*>(payload.data()),
                 payload.size());
    // With all it may look at, it always decides.
    EXPECT_NE(got.what, d::need_more)
      << int{h.operation} << " " << h.payload_len;
  }
}
