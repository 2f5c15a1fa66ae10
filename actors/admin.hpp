#pragma once

// The ADMIN: owns the directory of AGENTs (spawns one per stored agent at boot
// and one per `agent add`, monitors them) and answers every request the FRONT
// DOOR routes to it. Requests about one agent are forwarded to that agent's
// actor, never done around it; subscription requests go to the POOL; reads of
// history go to the STORE. `status` fans out to every component with a
// timeout and reports a component that does not answer instead of failing.

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <string>
#include <unordered_map>
#include <vector>

namespace sb {

struct admin_state {
  std::unordered_map<std::string, agent_actor> agents;
  std::unordered_map<caf::actor_addr, std::string> names;
  std::vector<watcher_actor> watchers;
  store_actor store;
  pool_actor pool;
  supervisor_actor supervisor;
  context_ptr ctx;
  /// Set by `shutdown`: agents still to go down, and who waits for it.
  bool shutting_down = false;
  caf::typed_response_promise<ok_atom> shutdown_promise;
  uint64_t retention_deleted = 0;

  static inline const char* name = "admin";
};

/// Spawns one AGENT per agent in `snap`.
admin_actor::behavior_type
admin(admin_actor::stateful_pointer<admin_state> self, store_actor store,
      pool_actor pool, supervisor_actor supervisor, context_ptr ctx,
      std::shared_ptr<const snapshot> snap);

} // namespace sb
