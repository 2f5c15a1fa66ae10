#pragma once

// What `switchboard status` shows: each component answers the ADMIN with a
// record of typed counters; the ADMIN fans the request out with a deadline
// and lists a component that did not answer in time as `unresponsive`
// (its record is then absent), never failing the whole report.

#include "messages/kinds.hpp"
#include "messages/time.hpp"

#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sb {

/// Whether a component answered, and if not, why.
struct component_health {
  std::string name;
  health state = health::running;
  /// For unresponsive: what the request ended with.
  std::string error;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_health& x) {
  return f(caf::meta::type_name("sb::component_health"), x.name, x.state,
           x.error);
}

bool operator==(const component_health& x, const component_health& y);

struct store_status {
  std::string path;
  uint64_t commits = 0;
  uint64_t writes = 0;
  uint64_t failed_commits = 0;
  uint64_t failed_writes = 0;
  uint64_t largest_batch = 0;
  /// Batches that had a failing write and ran again write by write.
  uint64_t isolated_batches = 0;
  /// Writes waiting for the next commit.
  uint64_t pending = 0;
  /// The database took a write lock when asked (BEGIN IMMEDIATE, then
  /// ROLLBACK); if not, why.
  bool writable = true;
  std::string write_error;
  /// Notifications in the outbox not delivered yet.
  uint64_t notifications_pending = 0;
  /// This node's agents whose generation is ahead of the one applied to
  /// their container, and those with a container (as the database has
  /// them: /readyz and /metrics ask no AGENT).
  uint64_t agents_behind = 0;
  uint64_t containers = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_status& x) {
  return f(caf::meta::type_name("sb::store_status"), x.path, x.commits,
           x.writes, x.failed_commits, x.failed_writes, x.largest_batch,
           x.isolated_batches, x.pending, x.writable, x.write_error,
           x.notifications_pending, x.agents_behind, x.containers);
}

bool operator==(const store_status& x, const store_status& y);

/// One pool's share of the POOL's status.
struct pool_counts {
  provider_kind provider = provider_kind::anthropic;
  uint64_t subscriptions = 0;
  /// Its subscriptions excluded from selection right now.
  uint64_t excluded = 0;
  /// This node's agents that count on one of its subscriptions.
  uint64_t agents = 0;
  /// The soonest expiry of a credential in it that is not retired (0 =
  /// none known).
  millis soonest_expiry = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_counts& x) {
  return f(caf::meta::type_name("sb::pool_counts"), x.provider, x.subscriptions,
           x.excluded, x.agents, x.soonest_expiry);
}

bool operator==(const pool_counts& x, const pool_counts& y);

struct pool_status {
  uint64_t subscriptions = 0;
  /// Subscriptions excluded from selection right now.
  uint64_t excluded = 0;
  uint64_t selections = 0;
  /// Selections that found no alternative.
  uint64_t exhausted = 0;
  /// Per pool, by name.
  std::map<std::string, pool_counts> pools;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_status& x) {
  return f(caf::meta::type_name("sb::pool_status"), x.subscriptions, x.excluded,
           x.selections, x.exhausted, x.pools);
}

bool operator==(const pool_status& x, const pool_status& y);

struct supervisor_status {
  uint64_t containers = 0;
  /// Containers per lifecycle state.
  std::map<lifecycle, uint64_t> by_state;
  uint64_t queued = 0;
  uint64_t workers = 0;
  uint64_t workers_busy = 0;
  uint64_t operations = 0;
  uint64_t coalesced = 0;
  uint64_t superseded = 0;
  std::string docker_socket;
  /// What the last Docker operation found (unreachable: engine_error says
  /// why).
  engine_state engine = engine_state::unknown;
  std::string engine_error;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, supervisor_status& x) {
  return f(caf::meta::type_name("sb::supervisor_status"), x.containers,
           x.by_state, x.queued, x.workers, x.workers_busy, x.operations,
           x.coalesced, x.superseded, x.docker_socket, x.engine,
           x.engine_error);
}

bool operator==(const supervisor_status& x, const supervisor_status& y);

struct admin_status {
  uint64_t agents = 0;
  uint64_t watchers = 0;
  /// Failure events deleted by retention since start.
  uint64_t retention_deleted = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, admin_status& x) {
  return f(caf::meta::type_name("sb::admin_status"), x.agents, x.watchers,
           x.retention_deleted);
}

bool operator==(const admin_status& x, const admin_status& y);

/// The network intake in front of the FRONT DOOR (intake/basp_guard.hpp).
struct intake_status {
  uint64_t open_connections = 0;
  uint64_t max_connections = 0;
  uint64_t accepted = 0;
  /// Refused: over max-connections or out of descriptors.
  uint64_t refused = 0;
  /// Closed: a message over max-message-size, a bad header, a client that
  /// did not read its answers, a TLS handshake that failed or took too long.
  uint64_t closed_oversize = 0;
  uint64_t closed_bad_header = 0;
  uint64_t closed_slow_reader = 0;
  uint64_t tls_failures = 0;
  /// Answer bytes waiting for clients now.
  uint64_t buffered = 0;
  /// Refused: no credential, or a wrong one.
  uint64_t refused_auth = 0;
  /// Closed: a frame addressed to anything but the front door, or of a kind
  /// a client never sends (a second handshake, a forged response, ...).
  uint64_t closed_forbidden = 0;
  /// Closed: the credential and first frame, or a message once started,
  /// did not arrive in time.
  uint64_t closed_timeout = 0;
  /// Closed to make room: a connection that had not authenticated yet, when
  /// every slot was taken.
  uint64_t evicted = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, intake_status& x) {
  return f(caf::meta::type_name("sb::intake_status"), x.open_connections,
           x.max_connections, x.accepted, x.refused, x.closed_oversize,
           x.closed_bad_header, x.closed_slow_reader, x.tls_failures,
           x.buffered, x.refused_auth, x.closed_forbidden, x.closed_timeout,
           x.evicted);
}

bool operator==(const intake_status& x, const intake_status& y);

/// One daemon of a shared (PostgreSQL) store, as the database has it.
struct node_status {
  std::string name;
  /// Where its front door is reached.
  std::string host;
  uint16_t port = 0;
  int64_t epoch = 0;
  /// Its lease runs.
  bool live = false;
  /// Agents it owns.
  uint64_t agents = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("sb::node_status"), x.name, x.host, x.port,
           x.epoch, x.live, x.agents);
}

bool operator==(const node_status& x, const node_status& y);

/// This daemon among the nodes of a shared store (the CLUSTER's view,
/// refreshed at each lease renewal).
struct cluster_status {
  std::string node;
  int64_t epoch = 0;
  /// Agents taken over from nodes whose lease ended, since start.
  uint64_t taken_over = 0;
  /// Of those, the ones whose container was behind: they reconcile on this
  /// node's engine, which fails (and `agent show` says why) when their
  /// container is on the lost host.
  uint64_t taken_over_behind = 0;
  std::vector<node_status> nodes;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("sb::cluster_status"), x.node, x.epoch,
           x.taken_over, x.taken_over_behind, x.nodes);
}

bool operator==(const cluster_status& x, const cluster_status& y);

struct status_info {
  std::string version;
  std::string protocol;
  millis started_at = 0;
  int64_t uptime_ms = 0;
  uint64_t agents = 0;
  /// From the POOL; absent while it does not answer.
  caf::optional<uint64_t> subscriptions;
  /// Every component, sorted by name, answered or not.
  std::vector<component_health> components;
  admin_status admin;
  caf::optional<intake_status> intake;
  caf::optional<store_status> store;
  caf::optional<pool_status> pool;
  caf::optional<supervisor_status> supervisor;
  /// Several nodes on a shared store only.
  caf::optional<cluster_status> cluster;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_info& x) {
  return f(caf::meta::type_name("sb::status_info"), x.version, x.protocol,
           x.started_at, x.uptime_ms, x.agents, x.subscriptions, x.components,
           x.admin, x.intake, x.store, x.pool, x.supervisor, x.cluster);
}

bool operator==(const status_info& x, const status_info& y);

} // namespace sb
