#include "intake/basp_frame.hpp"

namespace sb::intake {

namespace {

uint32_t load32(const unsigned char* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8)
         | uint32_t{p[3]};
}

uint64_t load64(const unsigned char* p) noexcept {
  return (uint64_t{load32(p)} << 32) | load32(p + 4);
}

void store32(uint32_t x, unsigned char* p) noexcept {
  for (int i = 3; i >= 0; --i, x >>= 8)
    p[i] = static_cast<unsigned char>(x & 0xFF);
}

void store64(uint64_t x, unsigned char* p) noexcept {
  store32(static_cast<uint32_t>(x >> 32), p);
  store32(static_cast<uint32_t>(x), p + 4);
}

// caf/message_id.hpp: bit 63 marks a response, the low 60 bits carry the
// request id (0 for asynchronous messages).
constexpr uint64_t response_flag = 0x8000000000000000;
constexpr uint64_t request_id_mask = 0x0FFFFFFFFFFFFFFF;

bool carries_message(const basp_header& hdr) noexcept {
  auto op = static_cast<basp_op>(hdr.operation);
  return op == basp_op::direct_message || op == basp_op::routed_message;
}

} // namespace

bool is_request(const basp_header& hdr) noexcept {
  return carries_message(hdr) && (hdr.operation_data & response_flag) == 0
         && (hdr.operation_data & request_id_mask) != 0;
}

bool is_response(const basp_header& hdr) noexcept {
  return carries_message(hdr) && (hdr.operation_data & response_flag) != 0;
}

basp_header decode_header(const unsigned char* in) noexcept {
  basp_header hdr;
  hdr.operation = in[0];
  hdr.padding1 = in[1];
  hdr.padding2 = in[2];
  hdr.flags = in[3];
  hdr.payload_len = load32(in + 4);
  hdr.operation_data = load64(in + 8);
  hdr.source_actor = load64(in + 16);
  hdr.dest_actor = load64(in + 24);
  return hdr;
}

void encode_header(const basp_header& hdr, unsigned char* out) noexcept {
  out[0] = hdr.operation;
  out[1] = hdr.padding1;
  out[2] = hdr.padding2;
  out[3] = hdr.flags;
  store32(hdr.payload_len, out + 4);
  store64(hdr.operation_data, out + 8);
  store64(hdr.source_actor, out + 16);
  store64(hdr.dest_actor, out + 24);
}

header_verdict check_header(const basp_header& hdr, bool first,
                            uint64_t max_payload) noexcept {
  // The field rules are the ones CAF's basp::valid() applies after it has
  // already buffered the payload; checking them here costs nothing and turns
  // most random bytes away before CAF sees the connection at all.
  auto bad = header_verdict::bad_header;
  if (hdr.padding1 != 0 || hdr.padding2 != 0)
    return bad;
  auto op = static_cast<basp_op>(hdr.operation);
  if (first && op != basp_op::client_handshake)
    return bad;
  bool ok = false;
  switch (op) {
  case basp_op::server_handshake:
    // Only the accepting side (the daemon) sends it; never a client.
    return bad;
  case basp_op::client_handshake:
    ok = hdr.source_actor == 0 && hdr.dest_actor == 0;
    break;
  case basp_op::direct_message:
  case basp_op::routed_message:
    ok = hdr.dest_actor != 0 && hdr.payload_len != 0;
    break;
  case basp_op::monitor_message:
    ok = hdr.payload_len != 0 && hdr.operation_data == 0;
    break;
  case basp_op::down_message:
    ok = hdr.source_actor != 0 && hdr.dest_actor == 0 && hdr.payload_len != 0
         && hdr.operation_data == 0;
    break;
  case basp_op::heartbeat:
    ok = hdr.source_actor == 0 && hdr.dest_actor == 0 && hdr.payload_len == 0
         && hdr.operation_data == 0;
    break;
  default:
    return bad; // unknown operation
  }
  if (!ok)
    return bad;
  return hdr.payload_len > max_payload ? header_verdict::oversize
                                       : header_verdict::ok;
}

} // namespace sb::intake
