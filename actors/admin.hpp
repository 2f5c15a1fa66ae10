#pragma once

// The ADMIN: owns the directory of AGENTs (spawns one per stored agent at boot
// and one per `agent add`, monitors them, removes them), the runtime settings,
// the watchers and the status report. It publishes the directory (its agents
// and how many watchers listen) and the runtime settings for the actors that
// read them without a message (actors/context.hpp). `status` fans out to
// every component with a deadline; a component that does not answer in time
// is listed as unresponsive and never fails the report.

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace sb {

struct admin_state {
  agent_directory::map_type agents;
  /// `agents` as last published in the directory (daemon_context).
  std::shared_ptr<const agent_directory::map_type> listed;
  std::unordered_map<caf::actor_addr, std::string> names;
  std::vector<watcher_actor> watchers;
  store_actor store;
  pool_actor pool;
  supervisor_actor supervisor;
  context_ptr ctx;
  /// How long `status` waits for each component.
  caf::timespan status_timeout = std::chrono::seconds(3);
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
