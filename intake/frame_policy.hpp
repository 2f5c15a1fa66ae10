#pragma once

// What a client's frame may address, decided before CAF reads it.
//
// CAF 0.17's BASP was built for trusted peers: it delivers a frame to any
// actor it can find by id or by name, forwards frames to other nodes, takes
// any number of handshakes, matches a response to a pending request by its
// id alone, and runs "link" messages straight on the actor they name. So
// the guard lets a client's frame through only if it fits what a client of
// the FRONT DOOR sends:
//
//   client_handshake  the first frame (flags 0, the client's node id), then
//                     once more with select_connection_flag and the same node
//                     id (CAF clients repeat it after the server's);
//                     nothing else, never a third
//   direct_message    flags 0 (no named receiver such as ConfigServ),
//                     addressed to the FRONT DOOR of the connection's scope,
//                     no forwarding stages, and one of the FRONT DOOR's
//                     message types; or a response to a request that a FRONT
//                     DOOR sent down this connection (another node of the
//                     fleet answering), to that FRONT DOOR
//   monitor_message   from the client's node to the daemon, at most 64
//   down_message      from the client's node to the daemon
//   heartbeat         always
//   routed_message, server_handshake: never
//
// One exchange of CAF's own is let through in silence, dropped instead of
// relayed: when a node first meets another, CAF sends the other's named
// "SpawnServ" an asynchronous (sys, get, "info") and answers such a probe
// with (ok, "info", its ConfigServ, name). Every CAF client does both; the
// daemon never sees them (its own probe of the client times out and ends).
//
// The payload bytes needed for a decision (the node ids, the stages and the
// message's type names) are at the start of the payload; the guard holds at
// most max_prefix bytes of it. Payload layout (CAF's binary serializer):
// a direct message is [stages: varbyte count][message: u16 0, varbyte length,
// type names "@<>+T1+T2...", values]; a node id is [atom u64][...].

#include "intake/basp_frame.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sb::intake {

/// What every connection's policy shares (from the daemon's actor system).
struct frame_rules {
  /// The FRONT DOOR's input types as CAF names a message's types, e.g.
  /// "@<>+@atom+sb::failure_report".
  std::set<std::string, std::less<>> message_types;
  /// The daemon's node id as CAF serializes it.
  std::string daemon_node;
  /// Every FRONT DOOR's actor id (a request they send down a connection may
  /// be answered up it).
  std::set<uint64_t> doors;
  /// CAF's spawn-server probe: the receiver's name (atom "SpawnServ" as
  /// the header carries it), the probe's and the answer's type names.
  uint64_t probe_receiver = 0;
  std::string probe_types;
  std::string probe_answer_types;
};

/// The most payload bytes a decision may need.
constexpr size_t max_prefix = 512;

class frame_policy {
public:
  /// drop: the frame is CAF's own spawn-server probe (or its answer), left
  /// out of the relay without closing the connection.
  enum class decision : uint8_t { pass, need_more, refuse, drop };

  struct result {
    decision what = decision::pass;
    /// With refuse: why, for the log (a static string).
    const char* why = "";
  };

  /// `door` is the FRONT DOOR this connection may address.
  frame_policy(const frame_rules& rules, uint64_t door)
      : rules_(&rules), door_(door) {}

  /// Decides on a frame from the client that passed check_header():
  /// `payload` holds the first `avail` bytes of its payload (all of them if
  /// avail == hdr.payload_len). need_more: call again with more bytes, up to
  /// min(payload_len, max_prefix); at that size it never answers need_more.
  result check(const basp_header& hdr, const unsigned char* payload,
               size_t avail);

  /// A frame the daemon sends to the client: remembers the requests of a
  /// FRONT DOOR, whose responses may come back up.
  void sent_down(const basp_header& hdr);

private:
  result handshake(const basp_header& hdr, const unsigned char* p, size_t n);
  result message(const basp_header& hdr, const unsigned char* p, size_t n);
  result from_client_node(const basp_header& hdr, const unsigned char* p,
                          size_t n, bool exact);
  /// The type names of a message, once the prefix holds them; pass and
  /// need_more/refuse as check() would answer otherwise.
  result type_names(const basp_header& hdr, const unsigned char* p, size_t n,
                    std::string_view& names);

  const frame_rules* rules_;
  uint64_t door_;
  uint8_t handshakes_ = 0;
  uint32_t monitors_ = 0;
  std::string client_node_;
  /// Request id -> the FRONT DOOR that sent it (another node of the fleet
  /// talks to this daemon's FRONT DOOR over this connection).
  std::unordered_map<uint64_t, uint64_t> awaited_;
};

} // namespace sb::intake
