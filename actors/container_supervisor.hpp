#pragma once

// The CONTAINER SUPERVISOR: owns each container's lifecycle. Per container it
// keeps a state machine and a queue of pending operations; operations on one
// container run strictly one after another, operations on different
// containers run in parallel on a pool of detached DOCKER WORKERS (blocking
// calls never run on the scheduler's threads). After every operation the
// state is what Docker's `inspect` says, not what a status code implied.
//
// States and transitions (an operation moves a settled state through one
// transitional state; the worker's final inspect decides where it lands):
//
//              start                      apply (hot-reload)
//   stopped ─────────▶ starting ──┐    running ─────▶ reloading ──┐
//      ▲                          │       ▲   │                   │ 404,
//      transport │ stop                     │       │   │ stop              │
//      error, timeout
//   stopping ◀────────────────────┼───────┼───┘                   ▼
//      │                          └──────▶│◀──────────────── recreating
//      └────────▶ stopped                 │    (stale token on start/restart
//                                         │     also goes through recreating)
//   absent: no such container (404)       │
//   failed: the last operation failed; the next one starts from Docker's truth
//
// Commands carry the agent's generation: an apply for a generation already
// queued or in flight is coalesced (it gets that operation's result), a later
// apply absorbs an earlier queued one, and an apply older than the generation
// already applied is dropped ("superseded").
//
// A worker that has not answered an operation within the bound of its own
// timeouts (live_options::worker_op_timeout) is stuck in something those
// timeouts do not cover: its operation fails (the container goes to failed,
// so the next operation starts from Docker's truth), the worker is let go
// (it stops once its call returns; what it reports meanwhile is ignored)
// and a fresh worker takes its place, so the container's queue moves on.

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sb {

/// True if the supervisor may move a container from `from` to `to` during an
/// operation. Settled states reported by `inspect` are always accepted.
bool can_transition(lifecycle from, lifecycle to);

/// One queued or running operation and everyone waiting for its result
/// (an inspect answers with the state, the others with their outcome).
struct pending_op {
  container_op op = container_op::apply;
  uint64_t generation = 0;
  secret token;
  token_terms terms;
  /// The worker running it (invalid while queued).
  docker_worker_actor worker;
  std::vector<caf::typed_response_promise<apply_outcome>> waiters;
  std::vector<caf::typed_response_promise<lifecycle>> inspectors;
};

struct container_entry {
  lifecycle state = lifecycle::unknown;
  std::optional<pending_op> current;
  std::deque<pending_op> queue;
  /// Highest generation whose token this supervisor applied or baked in.
  uint64_t applied_generation = 0;
  apply_outcome last_result;
  std::string container_id;
  uint64_t operations = 0;
};

struct supervisor_state {
  std::map<std::string, container_entry> containers;
  std::vector<docker_worker_actor> idle;
  size_t workers = 0;
  /// Containers whose next operation waits for a free worker, in order.
  std::deque<std::string> ready;
  context_ptr ctx;
  uint64_t operations = 0;
  uint64_t coalesced = 0;
  uint64_t superseded = 0;
  /// What the last operation found of the engine (supervisor_status).
  engine_state engine = engine_state::unknown;
  std::string engine_error;
  static inline const char* name = "container-supervisor";
};

supervisor_actor::behavior_type
container_supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
                     context_ptr ctx);

} // namespace sb
