#pragma once

// The FRONT DOOR: the one handle published on the network. It checks every
// request (names, sizes, UTF-8, ranges: bad input gets a clear error and
// reaches no other actor), stamps each failure report with its arrival time
// (the instant attribution is decided against), and routes everything to the
// ADMIN, which owns the directory of AGENTs.

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace sb {

struct front_door_state {
  admin_actor admin;
  context_ptr ctx;
  uint64_t requests = 0;
  uint64_t rejected = 0;
  static inline const char* name = "front-door";
};

front_door_actor::behavior_type
front_door(front_door_actor::stateful_pointer<front_door_state> self,
           admin_actor admin, context_ptr ctx);

/// Checks a report and makes its text fields safe (UTF-8, bounded).
caf::error check_report(failure_report& r, millis now);

/// Checks a container name (Docker's rules: [a-zA-Z0-9][a-zA-Z0-9_.-]*).
caf::error check_container_name(const std::string& name);

} // namespace sb
