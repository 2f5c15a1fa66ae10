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
  provider_kind provider = provider_kind::anthropic;
  std::string pool = default_pool;
  /// Its standing (subscription_standing): retired, drained, capped, and
  /// when `subscription reset` last cleared it.
  retire_reason retired = retire_reason::none;
  millis retired_at = 0;
  bool drained = false;
  uint32_t max_agents = 0;
  millis cleared_at = 0;
  secret token;
  /// SHA-256 of the token (messages/fingerprint.hpp).
  std::string token_sha256;
  millis created_at = 0;
  millis updated_at = 0;
  /// The kind of credential, the token's expiry and scopes.
  token_terms terms;
  /// oauth: when the refresher last renewed it, how often so far.
  millis refreshed_at = 0;
  uint64_t refreshes = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_subscription& x) {
  return f(caf::meta::type_name("sb::stored_subscription"), x.id, x.name,
           x.provider, x.pool, x.retired, x.retired_at, x.drained, x.max_agents,
           x.cleared_at, x.token, x.token_sha256, x.created_at, x.updated_at,
           x.terms, x.refreshed_at, x.refreshes);
}

/// A credential with a lifecycle as the refresher schedules it (an oauth
/// login, or a token with a known expiry): nothing secret.
struct stored_credential {
  std::string name;
  credential_kind kind = credential_kind::oauth;
  provider_kind provider = provider_kind::anthropic;
  std::string pool;
  /// When the access token expires, and when it was issued (its lifetime
  /// is the difference).
  millis expires_at = 0;
  millis issued_at = 0;
  millis refreshed_at = 0;
  uint64_t refreshes = 0;
  retire_reason retired = retire_reason::none;
  /// Fingerprint of the stored refresh token (which one a refresh spends).
  std::string refresh_sha256;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_credential& x) {
  return f(caf::meta::type_name("sb::stored_credential"), x.name, x.kind,
           x.provider, x.pool, x.expires_at, x.issued_at, x.refreshed_at,
           x.refreshes, x.retired, x.refresh_sha256);
}

/// The refresher's hold on one credential across every node
/// (store::claim_refresh): while it runs, no other node refreshes it.
struct refresh_claim {
  /// false: another node holds it until `held_until`; nothing else is set
  /// but `cred`.
  bool claimed = false;
  millis held_until = 0;
  /// The credential as stored right now.
  stored_credential cred;
  secret refresh_token;
  /// "" = the provider's configured endpoint.
  std::string token_url;
  /// Fingerprint of a refresh token the provider rejected ("" = none).
  std::string rejected_sha256;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, refresh_claim& x) {
  return f(caf::meta::type_name("sb::refresh_claim"), x.claimed, x.held_until,
           x.cred, x.refresh_token, x.token_url, x.rejected_sha256);
}

/// A token endpoint's answer to a refresh, to commit
/// (store::complete_refresh).
struct refresh_grant {
  std::string name;
  /// The node whose claim it was ("" = a store without nodes).
  std::string node;
  secret access_token;
  /// Empty: the answer had none and the stored one stays.
  secret refresh_token;
  /// Codex: empty keeps the stored one.
  secret id_token;
  millis expires_at = 0;
  /// Empty: the stored scopes stay.
  std::vector<std::string> scopes;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, refresh_grant& x) {
  return f(caf::meta::type_name("sb::refresh_grant"), x.name, x.node,
           x.access_token, x.refresh_token, x.id_token, x.expires_at, x.scopes);
}

/// What one call of a token endpoint came to (docker_client/oauth_client).
struct refresh_outcome {
  enum class verdict : uint8_t {
    /// A new access token: `grant`.
    granted,
    /// 429, 5xx, no answer, an answer that is not a grant: try again later
    /// (not before `retry_after` when the endpoint said so).
    transient,
    /// The provider rejected the refresh token (invalid_grant,
    /// refresh_token_reused, _expired, _invalidated).
    rejected,
  };
  verdict result = verdict::transient;
  refresh_grant grant;
  /// Retry-After in ms (0 = none said).
  millis retry_after = 0;
  /// What happened, without a token: "HTTP 429", "invalid_grant", ...
  std::string detail;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, refresh_outcome& x) {
  return f(caf::meta::type_name("sb::refresh_outcome"), x.result, x.grant,
           x.retry_after, x.detail);
}

/// The refresher's word on one credential, for the POOL (which shows it in
/// `subscription show` and retires a dead one).
struct credential_status {
  std::string name;
  refresh_state state = refresh_state::ok;
  /// backoff: what failed; dead: what the provider said.
  std::string detail;
  millis next_attempt_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, credential_status& x) {
  return f(caf::meta::type_name("sb::credential_status"), x.name, x.state,
           x.detail, x.next_attempt_at);
}

/// A subscription's standing as the POOL decides it and the STORE keeps it
/// (one UPDATE of its row).
struct subscription_standing {
  std::string name;
  retire_reason retired = retire_reason::none;
  millis retired_at = 0;
  bool drained = false;
  uint32_t max_agents = 0;
  /// `subscription reset`: failures recorded up to here exclude no more.
  millis cleared_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        subscription_standing& x) {
  return f(caf::meta::type_name("sb::subscription_standing"), x.name, x.retired,
           x.retired_at, x.drained, x.max_agents, x.cleared_at);
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
  std::string pool = default_pool;
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
  return f(caf::meta::type_name("sb::stored_agent"), x.id, x.name, x.pool,
           x.subscription_id, x.subscription, x.container, x.generation,
           x.applied_generation, x.auto_switch, x.last_apply, x.last_apply_at,
           x.last_switch_at, x.created_at);
}

/// Several nodes: how many of this node's agents sit on a candidate
/// subscription when the POOL picked (the switching agent not counted). The
/// store adds the other nodes' agents as the database has them.
struct seat_count {
  int64_t subscription = 0;
  uint32_t agents = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, seat_count& x) {
  return f(caf::meta::type_name("sb::seat_count"), x.subscription, x.agents);
}

/// Several nodes: an agent of another node and its subscription, as the
/// shared database has it.
struct agent_seat {
  std::string agent;
  int64_t subscription = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_seat& x) {
  return f(caf::meta::type_name("sb::agent_seat"), x.agent, x.subscription);
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
  /// Several nodes: `to_id` and the candidates that tied with it in
  /// headroom, with this node's agents on each. Not empty: the store commits
  /// only if `to_id` still has no more agents than any of them once the
  /// other nodes' agents are counted, under the selection lock (see
  /// store::lock_selection). Empty: no such check (one node, manual).
  std::vector<seat_count> balance;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, switch_record& x) {
  return f(caf::meta::type_name("sb::switch_record"), x.agent, x.from_id,
           x.from_name, x.to_id, x.to_name, x.by, x.kind, x.event_count,
           x.expected_generation, x.at, x.notify, x.title, x.message,
           x.balance);
}

/// What a committed switch wrote.
struct switch_commit {
  uint64_t generation = 0;
  int64_t history_id = 0;
  /// 0 when no notification was written.
  int64_t notification_id = 0;
  /// Nothing was written: the balance check found `to_id` more loaded than
  /// another candidate. `others` has the other nodes' agents on the
  /// candidates, for the POOL to pick again.
  bool stale = false;
  std::vector<agent_seat> others;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, switch_commit& x) {
  return f(caf::meta::type_name("sb::switch_commit"), x.generation,
           x.history_id, x.notification_id, x.stale, x.others);
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

/// One usage window of a subscription (5 hours, 7 days) as a provider
/// response showed it.
struct usage_window {
  /// 0..1 (none = the response did not say).
  caf::optional<double> utilization;
  /// When the window resets (0 = not said).
  millis reset_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, usage_window& x) {
  return f(caf::meta::type_name("sb::usage_window"), x.utilization, x.reset_at);
}

/// One model's bucket that a response says is out (Anthropic's 7d_oi, a
/// Codex per-model family, a Gemini per-model quota): a limit of that
/// model only, not of the credential.
struct model_limit {
  /// The bucket's name as the provider gives it ("opus", "gpt-5-codex");
  /// an agent's model is in it if the model's name contains it.
  std::string model;
  /// When it comes back (0 = not said).
  millis reset_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_limit& x) {
  return f(caf::meta::type_name("sb::model_limit"), x.model, x.reset_at);
}

/// At most this many model buckets are read from one response.
constexpr size_t max_model_limits = 8;

/// What one provider response says about its subscription's limits, read
/// from its headers and error text by parse_evidence()
/// (actors/provider_headers.hpp). Every instant is absolute and bounded.
struct provider_evidence {
  /// When the provider produced the response: its Date header when that is
  /// plausible, else when the daemon received it.
  millis at = 0;
  /// anthropic-ratelimit-unified-status.
  provider_status status = provider_status::unknown;
  /// anthropic-ratelimit-unified-reset (0 = not said).
  millis reset_at = 0;
  usage_window five_hour;
  usage_window seven_day;
  /// retry-after, as an instant (0 = not said).
  millis retry_at = 0;
  /// A usage-limit text of the error body ("Claude AI usage limit
  /// reached|<epoch>", "... resets at 4pm"), as an instant (0 = none).
  millis text_reset_at = 0;
  /// The answer says no window will bring the credential back (a ban, a
  /// plan without the product); none = it did not.
  retire_reason verdict = retire_reason::none;
  /// The answer looks like one that retires the credential when it
  /// repeats on the same token (an intermittent 403 "Permission denied",
  /// a 401 "Invalid authentication credentials"): ban-after in a row do.
  retire_reason suspect = retire_reason::none;
  /// Model buckets the answer says are out.
  std::vector<model_limit> models;

  /// True if the response said nothing the daemon reads.
  bool empty() const {
    return status == provider_status::unknown && reset_at == 0
           && !five_hour.utilization && five_hour.reset_at == 0
           && !seven_day.utilization && seven_day.reset_at == 0 && retry_at == 0
           && text_reset_at == 0 && verdict == retire_reason::none
           && suspect == retire_reason::none && models.empty();
  }
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, provider_evidence& x) {
  return f(caf::meta::type_name("sb::provider_evidence"), x.at, x.status,
           x.reset_at, x.five_hour, x.seven_day, x.retry_at, x.text_reset_at,
           x.verdict, x.suspect, x.models);
}

/// The provider evidence the POOL keeps for one subscription, as the STORE
/// writes it (one row per subscription; actors/evidence.hpp merges it).
struct stored_evidence {
  std::string subscription;
  provider_status status = provider_status::unknown;
  millis status_at = 0;
  /// anthropic-ratelimit-unified-reset seen with the status (0 = none).
  millis status_reset = 0;
  caf::optional<double> utilization_5h;
  millis utilization_5h_at = 0;
  millis reset_5h = 0;
  caf::optional<double> utilization_7d;
  millis utilization_7d_at = 0;
  millis reset_7d = 0;
  /// The newest evidence of any kind.
  millis evidence_at = 0;
  /// A successful response newer than the failures readmitted the
  /// subscription at this instant: failures without a reset instant up to
  /// here no longer exclude it.
  millis readmitted_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_evidence& x) {
  return f(caf::meta::type_name("sb::stored_evidence"), x.subscription,
           x.status, x.status_at, x.status_reset, x.utilization_5h,
           x.utilization_5h_at, x.reset_5h, x.utilization_7d,
           x.utilization_7d_at, x.reset_7d, x.evidence_at, x.readmitted_at);
}

bool operator==(const stored_evidence& x, const stored_evidence& y);

/// Per subscription: the newest failure inside the window, the newest one
/// of those that carried no reset instant (it excludes for the exclusion
/// window) and the latest provider reset instant still ahead, from which the
/// POOL rebuilds its exclusions.
struct exclusion_seed {
  std::string subscription;
  millis last_failure_at = 0;
  millis window_failure_at = 0;
  millis reset_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, exclusion_seed& x) {
  return f(caf::meta::type_name("sb::exclusion_seed"), x.subscription,
           x.last_failure_at, x.window_failure_at, x.reset_at);
}

/// Failure counts of one subscription since a cutoff, by kind.
struct failure_count {
  std::string subscription;
  failure_kind kind = failure_kind::none;
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
  std::vector<stored_evidence> evidence;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, snapshot& x) {
  return f(caf::meta::type_name("sb::snapshot"), x.subscriptions, x.agents,
           x.settings, x.exclusions, x.token_versions, x.evidence);
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
  token_terms terms;
  /// With found == false: the earliest instant a candidate comes back.
  millis earliest_reset = 0;
  /// The pick's utilization (none = unknown).
  caf::optional<double> utilization;
  /// Several nodes, automatic picks: for switch_record::balance.
  std::vector<seat_count> balance;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, selection& x) {
  return f(caf::meta::type_name("sb::selection"), x.found, x.id, x.name,
           x.token, x.token_sha256, x.terms, x.earliest_reset, x.utilization,
           x.balance);
}

/// The POOL's answer to an observation: the subscription's standing with
/// the evidence merged.
struct headroom {
  /// none = unknown (utilization 1 while the provider rejects).
  caf::optional<double> utilization;
  provider_status status = provider_status::unknown;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, headroom& x) {
  return f(caf::meta::type_name("sb::headroom"), x.utilization, x.status);
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
  token_terms terms;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, container_request& x) {
  return f(caf::meta::type_name("sb::container_request"), x.agent, x.container,
           x.op, x.generation, x.token, x.terms);
}

/// One operation for a docker worker.
struct docker_job {
  std::string container;
  container_op op = container_op::apply;
  /// The agent generation the token belongs to (told to the agent server).
  uint64_t generation = 0;
  secret token;
  token_terms terms;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, docker_job& x) {
  return f(caf::meta::type_name("sb::docker_job"), x.container, x.op,
           x.generation, x.token, x.terms);
}

/// What a docker worker reports back: the operation's result, the lifecycle
/// state that `inspect` showed afterwards, and the container id.
struct docker_job_result {
  apply_outcome result;
  lifecycle state = lifecycle::unknown;
  std::string container_id;
  /// The engine answered (false: unreachable or no answer in time).
  bool engine_answered = true;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, docker_job_result& x) {
  return f(caf::meta::type_name("sb::docker_job_result"), x.result, x.state,
           x.container_id, x.engine_answered);
}

} // namespace sb
