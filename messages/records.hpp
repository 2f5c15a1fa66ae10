#pragma once

// Internal message types: what the STORE, the POOL and the AGENTs exchange
// inside the daemon. They never cross the network (some carry tokens) and are
// not registered for it.

#include "messages/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sb {

/// A subscription row, token included.
struct stored_subscription {
  int64_t id = 0;
  std::string name;
  secret token;
  /// SHA-256 of the token (messages/fingerprint.hpp).
  std::string token_sha256;
  millis created_at = 0;
  millis updated_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_subscription& x) {
  return f(caf::meta::type_name("sb::stored_subscription"), x.id, x.name,
           x.token, x.token_sha256, x.created_at, x.updated_at);
}

/// The answer of an upsert: the row and whether it existed (rotation).
struct subscription_upsert {
  stored_subscription row;
  bool rotated = false;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_upsert& x) {
  return f(caf::meta::type_name("sb::subscription_upsert"), x.row, x.rotated);
}

/// An agent row.
struct stored_agent {
  int64_t id = 0;
  std::string name;
  /// 0 when the agent has no subscription.
  int64_t subscription_id = 0;
  std::string subscription;
  std::string container;
  uint64_t generation = 0;
  uint64_t applied_generation = 0;
  auto_switch_mode auto_switch = auto_switch_mode::on;
  apply_outcome last_apply;
  millis last_apply_at = 0;
  millis last_switch_at = 0;
  millis created_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_agent& x) {
  return f(caf::meta::type_name("sb::stored_agent"), x.id, x.name,
           x.subscription_id, x.subscription, x.container, x.generation,
           x.applied_generation, x.auto_switch, x.last_apply, x.last_apply_at,
           x.last_switch_at, x.created_at);
}

/// A change of an agent's credential, committed in one transaction:
/// assignment, generation + 1 (fenced on `expected_generation`), a history
/// row and, if `notify`, one notification.
struct switch_record {
  std::string agent;
  /// 0 = none.
  int64_t from_id = 0;
  std::string from_name;
  /// 0 = unassign.
  int64_t to_id = 0;
  std::string to_name;
  trigger by = trigger::automatic;
  failure_kind kind = failure_kind::none;
  uint32_t event_count = 0;
  uint64_t expected_generation = 0;
  millis at = 0;
  bool notify = false;
  std::string title;
  std::string message;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, switch_record& x) {
  return f(caf::meta::type_name("sb::switch_record"), x.agent, x.from_id,
           x.from_name, x.to_id, x.to_name, x.by, x.kind, x.event_count,
           x.expected_generation, x.at, x.notify, x.title, x.message);
}

/// What a committed switch wrote.
struct switch_commit {
  uint64_t generation = 0;
  int64_t history_id = 0;
  /// 0 when no notification was written.
  int64_t notification_id = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, switch_commit& x) {
  return f(caf::meta::type_name("sb::switch_commit"), x.generation,
           x.history_id, x.notification_id);
}

/// The outcome of one token application, recorded on the agent row and on the
/// history row of that generation.
struct apply_record {
  std::string agent;
  uint64_t generation = 0;
  apply_outcome result;
  /// True if the container now runs with this generation's token.
  bool applied = false;
  millis at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, apply_record& x) {
  return f(caf::meta::type_name("sb::apply_record"), x.agent, x.generation,
           x.result, x.applied, x.at);
}

/// Per subscription: the newest failure inside the window and the latest
/// provider reset instant, from which the POOL rebuilds its exclusions.
struct exclusion_seed {
  std::string subscription;
  millis last_failure_at = 0;
  millis reset_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, exclusion_seed& x) {
  return f(caf::meta::type_name("sb::exclusion_seed"), x.subscription,
           x.last_failure_at, x.reset_at);
}

/// Failure counts of one subscription since a cutoff, by kind.
struct failure_count {
  std::string subscription;
  std::string kind;
  uint32_t count = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure_count& x) {
  return f(caf::meta::type_name("sb::failure_count"), x.subscription, x.kind,
           x.count);
}

/// One token a subscription had (or has): the fingerprint of every version
/// is kept, so a report naming a rotated-away token is still attributed.
struct token_version {
  std::string subscription;
  std::string sha256;
  millis created_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_version& x) {
  return f(caf::meta::type_name("sb::token_version"), x.subscription, x.sha256,
           x.created_at);
}

/// Everything the daemon loads at boot.
struct snapshot {
  std::vector<stored_subscription> subscriptions;
  std::vector<stored_agent> agents;
  settings_map settings;
  std::vector<exclusion_seed> exclusions;
  std::vector<token_version> token_versions;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot& x) {
  return f(caf::meta::type_name("sb::snapshot"), x.subscriptions, x.agents,
           x.settings, x.exclusions, x.token_versions);
}

} // namespace sb

namespace sb {

/// The POOL's answer to "pick an alternative" (or "resolve this name").
struct selection {
  bool found = false;
  int64_t id = 0;
  std::string name;
  secret token;
  std::string token_sha256;
  /// With found == false: the earliest instant a candidate comes back.
  millis earliest_reset = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, selection& x) {
  return f(caf::meta::type_name("sb::selection"), x.found, x.id, x.name,
           x.token, x.token_sha256, x.earliest_reset);
}

/// A token application or a lifecycle operation for one agent's container,
/// fenced by the agent's generation.
struct container_request {
  std::string agent;
  std::string container;
  container_op op = container_op::apply;
  uint64_t generation = 0;
  /// The token of `generation` (empty when the agent has no subscription).
  secret token;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_request& x) {
  return f(caf::meta::type_name("sb::container_request"), x.agent, x.container,
           x.op, x.generation, x.token);
}

/// One operation for a docker worker.
struct docker_job {
  std::string container;
  container_op op = container_op::apply;
  /// The agent generation the token belongs to (told to the agent server).
  uint64_t generation = 0;
  secret token;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, docker_job& x) {
  return f(caf::meta::type_name("sb::docker_job"), x.container, x.op,
           x.generation, x.token);
}

/// What a docker worker reports back: the operation's result, the lifecycle
/// state that `inspect` showed afterwards, and the container id.
struct docker_job_result {
  apply_outcome result;
  lifecycle state = lifecycle::unknown;
  std::string container_id;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, docker_job_result& x) {
  return f(caf::meta::type_name("sb::docker_job_result"), x.result, x.state,
           x.container_id);
}

} // namespace sb
