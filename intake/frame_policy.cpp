#include "intake/frame_policy.hpp"

#include <algorithm>
#include <cstring>

namespace sb::intake {

namespace {

// caf/io/basp/header.hpp
constexpr uint8_t select_connection_flag = 0x02;
// caf/message_id.hpp
constexpr uint64_t response_flag = 0x8000000000000000;
constexpr uint64_t request_id_mask = 0x0FFFFFFFFFFFFFFF;
/// Remembered requests per connection; a peer that never answers cannot
/// make the guard hold more.
constexpr size_t max_awaited = 65536;
/// Monitors a connection may ask for (a CLI asks for two or three).
constexpr uint32_t max_monitors = 64;

using result = frame_policy::result;
using decision = frame_policy::decision;

result pass() {
  return {decision::pass, ""};
}

result refuse(const char* why) {
  return {decision::refuse, why};
}

/// More bytes are needed; if the guard cannot hold more, the frame does not
/// fit what a client sends.
result more(const basp_header& hdr, size_t avail, const char* why) {
  if (avail >= std::min<size_t>(hdr.payload_len, max_prefix))
    return refuse(why);
  return {decision::need_more, ""};
}

/// CAF's varbyte length (binary_serializer::begin_sequence): 7 bits per
/// byte, low bits first. 0 = incomplete, else the bytes it took.
size_t varbyte(const unsigned char* p, size_t n, uint32_t& value) {
  value = 0;
  for (size_t i = 0; i < n && i < 5; ++i) {
    value |= static_cast<uint32_t>(p[i] & 0x7F) << (7 * i);
    if ((p[i] & 0x80) == 0)
      return i + 1;
  }
  return 0;
}

bool same(const unsigned char* p, const std::string& bytes) {
  return std::memcmp(p, bytes.data(), bytes.size()) == 0;
}

} // namespace

result frame_policy::check(const basp_header& hdr, const unsigned char* p,
                           size_t n) {
  switch (static_cast<basp_op>(hdr.operation)) {
  case basp_op::client_handshake:
    return handshake(hdr, p, n);
  case basp_op::direct_message:
    return message(hdr, p, n);
  case basp_op::monitor_message:
    // A client's CAF monitors each actor of the daemon it hears from (the
    // FRONT DOOR, CAF's spawn-server probe); each monitor costs the daemon
    // an entry on that actor, so there are few.
    if (monitors_ >= max_monitors)
      return refuse("too many monitors");
    if (auto r = from_client_node(hdr, p, n, true); r.what != decision::pass)
      return r;
    ++monitors_;
    return pass();
  case basp_op::down_message:
    return from_client_node(hdr, p, n, false);
  case basp_op::heartbeat:
    return pass();
  case basp_op::routed_message:
    return refuse("a routed message (through the daemon to another node)");
  default:
    return refuse("a frame a client never sends");
  }
}

result frame_policy::handshake(const basp_header& hdr, const unsigned char* p,
                               size_t n) {
  if (handshakes_ >= 2)
    return refuse("a third handshake");
  if (hdr.payload_len > max_prefix)
    return refuse("a handshake too large for a node id");
  if (handshakes_ == 1) {
    // CAF's client repeats its handshake once, selecting this connection.
    if (hdr.flags != select_connection_flag
        || hdr.payload_len != client_node_.size())
      return refuse("a second handshake");
    if (n < hdr.payload_len)
      return more(hdr, n, "a second handshake");
    if (!same(p, client_node_))
      return refuse("a second handshake of another node");
    ++handshakes_;
    return pass();
  }
  if (hdr.flags != 0)
    return refuse("a handshake with flags");
  if (n < hdr.payload_len)
    return more(hdr, n, "a truncated handshake");
  client_node_.assign(reinterpret_cast<const char*>(p), hdr.payload_len);
  ++handshakes_;
  return pass();
}

result frame_policy::type_names(const basp_header& hdr, const unsigned char* p,
                                size_t n, std::string_view& names) {
  if (n < 4)
    return more(hdr, n, "a message without type names");
  if (p[1] != 0 || p[2] != 0)
    return refuse("a message without type names");
  uint32_t len = 0;
  auto used = varbyte(p + 3, n - 3, len);
  if (used == 0)
    return more(hdr, n, "a message without type names");
  auto need = 3 + used + static_cast<size_t>(len);
  if (need > max_prefix)
    return refuse("a message whose type names are too long");
  if (n < need)
    return more(hdr, n, "a message with truncated type names");
  names = std::string_view{reinterpret_cast<const char*>(p + 3 + used), len};
  return pass();
}

result frame_policy::message(const basp_header& hdr, const unsigned char* p,
                             size_t n) {
  if (n < 1)
    return more(hdr, n, "a message without stages");
  // A forwarding stack would make the FRONT DOOR's answer a message to
  // whatever actor it names.
  if (p[0] != 0)
    return refuse("a message with forwarding stages");
  // No request id and no response flag (the category bits say normal or
  // high priority).
  bool async = (hdr.operation_data & (request_id_mask | response_flag)) == 0;
  if (hdr.flags != 0 || (async && hdr.dest_actor != door_)) {
    // Named receivers and asynchronous messages to other actors: only
    // CAF's spawn-server exchange, which is dropped.
    std::string_view names;
    auto r = type_names(hdr, p, n, names);
    if (r.what != decision::pass)
      return r;
    bool probe = hdr.flags != 0 && hdr.dest_actor == rules_->probe_receiver
                 && names == rules_->probe_types;
    bool answer = hdr.flags == 0 && names == rules_->probe_answer_types;
    if (async && (probe || answer))
      return {decision::drop, ""};
    return refuse(hdr.flags != 0
                    ? "a message to a named receiver"
                    : "a message to another actor than the front door");
  }
  if ((hdr.operation_data & response_flag) != 0) {
    // CAF matches a response to a request by its id alone: only an answer
    // to a request that a FRONT DOOR sent down this connection may pass.
    auto i = awaited_.find(hdr.operation_data & request_id_mask);
    if (i == awaited_.end() || i->second != hdr.dest_actor)
      return refuse("a response to no request of the front door");
    awaited_.erase(i);
    return pass();
  }
  if (hdr.dest_actor != door_)
    return refuse("a message to another actor than the front door");
  std::string_view names;
  auto r = type_names(hdr, p, n, names);
  if (r.what != decision::pass)
    return r;
  if (rules_->message_types.find(names) == rules_->message_types.end())
    return refuse("a message the front door does not take");
  return pass();
}

result frame_policy::from_client_node(const basp_header& hdr,
                                      const unsigned char* p, size_t n,
                                      bool exact) {
  // Payload: source node, destination node (a down message: then the
  // reason). Another destination would make CAF forward it.
  auto need = client_node_.size() + rules_->daemon_node.size();
  if (hdr.payload_len < need || (exact && hdr.payload_len != need))
    return refuse("a monitor or down message of another node");
  if (n < need)
    return more(hdr, n, "a truncated monitor or down message");
  if (!same(p, client_node_)
      || !same(p + client_node_.size(), rules_->daemon_node))
    return refuse("a monitor or down message of another node");
  return pass();
}

void frame_policy::sent_down(const basp_header& hdr) {
  if (static_cast<basp_op>(hdr.operation) != basp_op::direct_message
      || !is_request(hdr) || rules_->doors.count(hdr.source_actor) == 0)
    return;
  if (awaited_.size() >= max_awaited)
    awaited_.clear(); // long timed out; a late answer is refused
  awaited_[hdr.operation_data & request_id_mask] = hdr.source_actor;
}

} // namespace sb::intake
