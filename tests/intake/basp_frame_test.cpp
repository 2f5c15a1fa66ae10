// The guard's reading of BASP headers against CAF 0.17's own serializer:
// the layout (32 bytes, big-endian), and which headers pass.

#include "guard_fixture.hpp"
#include "intake/basp_frame.hpp"

#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/middleman.hpp>

#include <gtest/gtest.h>

using namespace sb::intake;

namespace {

class basp_frame_test : public ::testing::Test {
protected:
  basp_frame_test() {
    cfg.load<caf::io::middleman>();
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
};

basp_header valid(basp_op op) {
  basp_header h;
  h.operation = static_cast<uint8_t>(op);
  switch (op) {
  case basp_op::client_handshake:
    h.payload_len = 30;
    break;
  case basp_op::direct_message:
  case basp_op::routed_message:
    h.payload_len = 100;
    h.dest_actor = 5;
    h.operation_data = 9;
    break;
  case basp_op::monitor_message:
    h.payload_len = 40;
    h.dest_actor = 5;
    break;
  case basp_op::down_message:
    h.payload_len = 40;
    h.source_actor = 5;
    break;
  default:
    break;
  }
  return h;
}

} // namespace

TEST_F(basp_frame_test, layout_matches_cafs_binary_serializer) {
  namespace basp = caf::io::basp;
  basp::header hdr{basp::message_type::direct_message,
                   0x02,
                   0x01020304,
                   0x1112131415161718,
                   0x2122232425262728,
                   0x3132333435363738};
  std::vector<char> buf;
  caf::binary_serializer sink{*sys, buf};
  ASSERT_FALSE(sink(hdr));
  ASSERT_EQ(buf.size(), basp_header_size);
  ASSERT_EQ(basp::header_size, basp_header_size);
  auto* bytes = reinterpret_cast<const unsigned char*>(buf.data());
  // Big-endian, padding written as zeros.
  EXPECT_EQ(bytes[0], 0x02);
  EXPECT_EQ(bytes[1], 0x00);
  EXPECT_EQ(bytes[2], 0x00);
  EXPECT_EQ(bytes[3], 0x02);
  EXPECT_EQ(bytes[4], 0x01);
  EXPECT_EQ(bytes[7], 0x04);
  EXPECT_EQ(bytes[8], 0x11);
  EXPECT_EQ(bytes[31], 0x38);
  auto decoded = decode_header(bytes);
  EXPECT_EQ(decoded.operation, 0x02);
  EXPECT_EQ(decoded.flags, 0x02);
  EXPECT_EQ(decoded.payload_len, 0x01020304u);
  EXPECT_EQ(decoded.operation_data, 0x1112131415161718u);
  EXPECT_EQ(decoded.source_actor, 0x2122232425262728u);
  EXPECT_EQ(decoded.dest_actor, 0x3132333435363738u);
  unsigned char again[basp_header_size];
  encode_header(decoded, again);
  EXPECT_EQ(std::memcmp(again, bytes, basp_header_size), 0);
}

TEST_F(basp_frame_test, frames_a_caf_client_sends_pass) {
  auto hs = sb::test::handshake_frame(*sys);
  auto h = decode_header(reinterpret_cast<unsigned char*>(hs.data()));
  EXPECT_EQ(check_header(h, true, 1 << 20), header_verdict::ok);
  auto msg = caf::make_message(sb::test::ping_atom::value, int32_t{1});
  auto rq = sb::test::request_frame(*sys, 42, 1, msg);
  h = decode_header(reinterpret_cast<unsigned char*>(rq.data()));
  EXPECT_EQ(check_header(h, false, 1 << 20), header_verdict::ok);
  EXPECT_EQ(h.payload_len, rq.size() - basp_header_size);
}

TEST(basp_frame, checks) {
  for (auto op : {basp_op::client_handshake, basp_op::direct_message,
                  basp_op::routed_message, basp_op::monitor_message,
                  basp_op::down_message, basp_op::heartbeat})
    EXPECT_EQ(check_header(valid(op), false, 1000), header_verdict::ok)
      << int(op);
  // The first frame must be the client's handshake.
  EXPECT_EQ(check_header(valid(basp_op::client_handshake), true, 1000),
            header_verdict::ok);
  EXPECT_EQ(check_header(valid(basp_op::direct_message), true, 1000),
            header_verdict::bad_header);
  // Only servers send server handshakes.
  basp_header sh;
  sh.operation_data = 1;
  EXPECT_EQ(check_header(sh, false, 1000), header_verdict::bad_header);
  // Unknown operations, padding, inconsistent fields.
  auto h = valid(basp_op::direct_message);
  h.operation = 7;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::bad_header);
  h = valid(basp_op::direct_message);
  h.padding2 = 1;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::bad_header);
  h = valid(basp_op::direct_message);
  h.dest_actor = 0;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::bad_header);
  h = valid(basp_op::heartbeat);
  h.payload_len = 1;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::bad_header);
  // Size: the limit itself passes, one more byte does not.
  h = valid(basp_op::direct_message);
  h.payload_len = 1000;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::ok);
  h.payload_len = 1001;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::oversize);
  h.payload_len = 3000000000u;
  EXPECT_EQ(check_header(h, false, 1000), header_verdict::oversize);
}
