#pragma once

// The BASP frame header of CAF 0.17 (caf/io/basp/header.hpp), as CAF's binary
// serializer puts it on the wire: 32 bytes, integers in network byte order
// (big-endian; tests/intake checks this against CAF's own serializer).
//
//   offset  0  operation       u8   (caf::io::basp::message_type)
//   offset  1  padding         u8   (always 0)
//   offset  2  padding         u8   (always 0)
//   offset  3  flags           u8
//   offset  4  payload_len     u32
//   offset  8  operation_data  u64
//   offset 16  source_actor    u64
//   offset 24  dest_actor      u64
//
// The guard decodes and checks each header a client sends before a single
// payload byte is relayed or buffered. Internal to sb_intake; the tests use it
// to forge frames.

#include <cstddef>
#include <cstdint>

namespace sb::intake {

constexpr size_t basp_header_size = 32;

/// caf::io::basp::message_type.
enum class basp_op : uint8_t {
  server_handshake = 0x00,
  client_handshake = 0x01,
  direct_message = 0x02,
  routed_message = 0x03,
  monitor_message = 0x04,
  down_message = 0x05,
  heartbeat = 0x06,
};

struct basp_header {
  uint8_t operation = 0;
  uint8_t padding1 = 0;
  uint8_t padding2 = 0;
  uint8_t flags = 0;
  uint32_t payload_len = 0;
  uint64_t operation_data = 0;
  uint64_t source_actor = 0;
  uint64_t dest_actor = 0;
};

basp_header decode_header(const unsigned char* in) noexcept;

void encode_header(const basp_header& hdr, unsigned char* out) noexcept;

enum class header_verdict : uint8_t {
  ok,
  bad_header, ///< unknown operation, inconsistent fields, wrong first frame
  oversize,   ///< payload_len above the configured maximum
};

/// A request that expects an answer: a direct or routed message whose
/// operation_data (a caf::message_id) has a request id and no response flag.
bool is_request(const basp_header& hdr) noexcept;

/// An answer to a request (the response flag of caf::message_id).
bool is_response(const basp_header& hdr) noexcept;

/// Checks one header from a client. `first` is true for the first frame of
/// a connection, which must be a client_handshake (CAF clients send it as soon
/// as they are connected).
header_verdict check_header(const basp_header& hdr, bool first,
                            uint64_t max_payload) noexcept;

} // namespace sb::intake
