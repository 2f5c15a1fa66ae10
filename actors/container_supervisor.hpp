#pragma once

// The CONTAINER SUPERVISOR: owns each container's lifecycle. This first
// version knows only agents without containers; the state machine over a real
// Docker engine replaces it (see the README's roadmap).

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace sb {

struct supervisor_state {
  context_ptr ctx;
  uint64_t operations = 0;
  static inline const char* name = "container-supervisor";
};

supervisor_actor::behavior_type
container_supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
                     context_ptr ctx);

} // namespace sb
