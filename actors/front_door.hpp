#pragma once

// The FRONT DOOR: the only actor a client can address. There are two, one per
// scope of credential (the guard connects each client to the one its
// credential grants): the `report` one refuses what changes something. It
// checks every request (names, sizes, UTF-8, ranges: bad input gets a clear
// error and reaches no other actor), stamps each failure report with its
// arrival time (the instant attribution is decided against), routes every
// request to the actor that owns it and answers from here (so no other
// actor's handle ever reaches a client):
//   agent requests           -> the AGENT, found in the directory
//   subscription requests    -> the POOL
//   reads of history         -> the STORE (answered from here: the detached
//                               STORE never replies to a remote client)
//   the directory, settings, -> the ADMIN
//   watchers and status
//   notification sinks       -> the STORE (a test event: the DELIVERER)
// With several nodes on a shared store, a request for an agent this node
// does not own is forwarded to the owner's FRONT DOOR over CAF (the CLUSTER
// says which node owns it and where it listens) and the answer relayed: a
// client can talk to any node.

#include "actors/context.hpp"
#include "client/connect.hpp"
#include "messages/actors.hpp"
#include "messages/auth_line.hpp"
#include "messages/validate.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sb {

struct front_door_deps {
  admin_actor admin;
  pool_actor pool;
  store_actor store;
  context_ptr ctx;
  /// Invalid without a shared store: every agent is this daemon's.
  cluster_actor cluster = {};
  /// This node's name ("" without a shared store).
  std::string node = {};
  /// What the connections of this FRONT DOOR may do.
  scope access = scope::admin;
  /// How this node reaches another node's front door (its credential and
  /// TLS settings; host and port are the peer's).
  client::endpoint peer = {};
  /// Sends a sink's test event (invalid: `notify test` is refused).
  deliverer_actor deliverer = {};
};

struct front_door_state {
  front_door_deps deps;
  /// The other nodes' front doors, by "host:port", connected on first use.
  std::unordered_map<std::string, front_door_actor> peers;
  /// Requests waiting for a connection under way, by "host:port": one dial
  /// per peer, however many requests need it at once.
  std::unordered_map<
    std::string,
    std::vector<std::function<void(caf::expected<front_door_actor>)>>>
    dialing;
  static inline const char* name = "front-door";
};

front_door_actor::behavior_type
front_door(front_door_actor::stateful_pointer<front_door_state> self,
           front_door_deps deps);

} // namespace sb
