#pragma once

// A DOCKER WORKER: a detached actor (its own thread) that owns one connection
// to the Docker engine and one HTTP client for agent servers, and runs one
// blocking container operation at a time for the CONTAINER SUPERVISOR. The
// supervisor keeps a pool of them (switchboard.docker-workers) and never
// gives two operations on one container to workers at the same time.

#include "docker_client/container_ops.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <memory>

namespace sb {

/// What a worker reads before each operation (a reload may change it).
struct worker_settings {
  std::chrono::milliseconds engine_timeout;
  docker::op_settings ops;
};

using worker_settings_source = std::function<worker_settings()>;

struct docker_worker_state {
  std::unique_ptr<docker::docker_api> engine;
  std::unique_ptr<docker::agent_server_client> agents;
  worker_settings_source settings;
  supervisor_actor supervisor;
  static inline const char* name = "docker-worker";
};

/// Spawn with caf::detached.
docker_worker_actor::behavior_type
docker_worker(docker_worker_actor::stateful_pointer<docker_worker_state> self,
              std::string socket_path, worker_settings_source settings,
              supervisor_actor supervisor);

} // namespace sb
