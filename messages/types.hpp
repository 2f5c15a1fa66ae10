#pragma once

// The message types of the wire protocol. Each has a 0.17-style inspect()
// beside it, is registered for the network in add_message_types(), and has
// an operator== that lists every field once more: the protocol test
// round-trips a value with every field set, so a field left out of
// inspect() fails it. Timestamps are `millis` (0 = none); nullable names
// are caf::optional. Component status types live in messages/status.hpp.

#include "messages/kinds.hpp"
#include "messages/time.hpp"

#include <caf/detail/stringification_inspector.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sb {

// -- secrets
// --------------------------------------------------------------------

/// A token. Travels over the wire as is (loopback or TLS) but never prints:
/// deep_to_string and friends show "<redacted>".
struct secret {
  std::string value;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, secret& x) {
  return f(caf::meta::type_name("sb::secret"), x.value);
}

/// The overload CAF's stringification picks: never the value.
inline void inspect(caf::detail::stringification_inspector& f, secret&) {
  std::string redacted = "<redacted>";
  f(caf::meta::type_name("sb::secret"), redacted);
}

bool operator==(const secret& x, const secret& y);

// -- token applications
// ---------------------------------------------------------

/// The result of a container operation and, when it failed, why.
struct apply_outcome {
  apply_result result = apply_result::none;
  /// For `failed`: one line saying what went wrong (never a token).
  std::string detail;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, apply_outcome& x) {
  return f(caf::meta::type_name("sb::apply_outcome"), x.result, x.detail);
}

bool operator==(const apply_outcome& x, const apply_outcome& y);

/// "hot_reloaded", "failed: <detail>", ... ("" for none).
std::string to_string(const apply_outcome& x);

/// Reads what to_string() wrote (a database column); unknown text is a
/// failure with that text as its detail.
apply_outcome parse_apply_outcome(const std::string& text);

/// A failed outcome with its reason.
apply_outcome apply_failed(std::string why);

// -- provider responses
// -----------------------------------------------------------

/// One header of the provider's HTTP response, as the caller saw it. The
/// daemon reads the rate-limit headers it knows (actors/provider_headers.hpp)
/// and ignores the others.
struct http_header {
  std::string name;
  std::string value;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_header& x) {
  return f(caf::meta::type_name("sb::http_header"), x.name, x.value);
}

bool operator==(const http_header& x, const http_header& y);

// -- the live stream (switchboard watch)
// ------------------------------------------

/// One decision as it happens: a report or observation answered, a switch
/// committed, a token application ended.
struct watch_event {
  /// When it happened in the daemon.
  millis at = 0;
  watch_kind kind = watch_kind::report;
  std::string agent;
  caf::optional<std::string> from;
  caf::optional<std::string> to;
  uint64_t generation = 0;
  /// report/observation: its outcome; switch: its trigger.
  std::string outcome;
  /// apply: the result ("hot_reloaded", "failed: ...").
  std::string apply;
  /// report: the HTTP status.
  int32_t status = 0;
  /// The line `switchboard watch` prints.
  std::string line;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, watch_event& x) {
  return f(caf::meta::type_name("sb::watch_event"), x.at, x.kind, x.agent,
           x.from, x.to, x.generation, x.outcome, x.apply, x.status, x.line);
}

bool operator==(const watch_event& x, const watch_event& y);

// -- failure reports
// --------------------------------------------------------------

/// A failure report as a client sends it; the FRONT DOOR stamps `arrived_at`.
struct failure_report {
  std::string agent;
  /// HTTP status of the failed request (0 when only `kind` is given).
  int32_t status = 0;
  /// Explicit kind instead of a status: rate_limit or auth (none = use the
  /// status).
  failure_kind kind = failure_kind::none;
  /// Error text; truncated to a bound and made valid UTF-8 on arrival.
  std::string error;
  /// Which credential the failed request used, if the caller knows it
  /// (explicit identity wins over attribution by time): the subscription,
  /// the SHA-256 of the token (or a prefix of 12+ hex digits), or the agent
  /// generation whose token it was. Empty / absent = unknown.
  std::string subscription;
  std::string token_sha256;
  caf::optional<uint64_t> generation;
  std::string execution_id;
  std::string source;
  /// Provider hint: retry after this many milliseconds (0 = none).
  int64_t retry_after_ms = 0;
  /// Provider hint: absolute reset instant (0 = none).
  millis reset_at = 0;
  /// The failed response's headers (rate-limit evidence; may be empty).
  std::vector<http_header> headers;
  /// When the report entered the daemon (set by the FRONT DOOR).
  millis arrived_at = 0;
  /// The model the failed request asked for ("" = not said): a limit of
  /// that model's bucket moves only agents on that model.
  std::string model;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure_report& x) {
  return f(caf::meta::type_name("sb::failure_report"), x.agent, x.status,
           x.kind, x.error, x.subscription, x.token_sha256, x.generation,
           x.execution_id, x.source, x.retry_after_ms, x.reset_at, x.headers,
           x.arrived_at, x.model);
}

bool operator==(const failure_report& x, const failure_report& y);

/// The headers of a *successful* response of an agent: evidence about its
/// subscription's limits, no failure. Identity as in a failure report.
struct observation {
  std::string agent;
  std::vector<http_header> headers;
  std::string subscription;
  std::string token_sha256;
  caf::optional<uint64_t> generation;
  std::string source;
  /// When the observation entered the daemon (set by the FRONT DOOR).
  millis arrived_at = 0;
  /// The model the request asked for ("" = not said).
  std::string model;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, observation& x) {
  return f(caf::meta::type_name("sb::observation"), x.agent, x.headers,
           x.subscription, x.token_sha256, x.generation, x.source, x.arrived_at,
           x.model);
}

bool operator==(const observation& x, const observation& y);

/// The answer to a report or a reassignment. Every reply names its outcome.
struct report_result {
  outcome result = outcome::ignored;
  std::string agent;
  caf::optional<std::string> from;
  caf::optional<std::string> to;
  uint64_t generation = 0;
  /// none for a manual reassignment or a rotation.
  failure_kind kind = failure_kind::none;
  /// Why: the ignore reason, the gate that stopped it, or a short note.
  std::string reason;
  /// Failure events on `from` inside the policy window, this one included.
  uint32_t event_count = 0;
  /// The token application of the switch (none when nothing was applied).
  apply_outcome apply;
  /// Hint for the caller: retry after this many milliseconds.
  int64_t retry_after_ms = 0;
  /// For no_alternative: the earliest known reset instant in the pool
  /// ("earliest_reset" in JSON; never in the past, 0 = none known).
  millis reset_at = 0;
  /// Retrying the failed request should work: the agent has a credential
  /// that should serve now, or the window that stopped it ends within
  /// retry_after_ms.
  bool retryable = false;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, report_result& x) {
  return f(caf::meta::type_name("sb::report_result"), x.result, x.agent, x.from,
           x.to, x.generation, x.kind, x.reason, x.event_count, x.apply,
           x.retry_after_ms, x.reset_at, x.retryable);
}

bool operator==(const report_result& x, const report_result& y);

// -- subscriptions and agents
// -----------------------------------------------------

struct subscription_info {
  int64_t id = 0;
  std::string name;
  /// Whose credential it is, and the pool selection keeps it in.
  provider_kind provider = provider_kind::anthropic;
  std::string pool;
  /// The first 12 hex digits of the current token's SHA-256.
  std::string fingerprint;
  uint32_t agent_count = 0;
  /// Where it stands for selection.
  credential_state state = credential_state::active;
  /// For retired: why, and since when.
  retire_reason retired = retire_reason::none;
  millis retired_at = 0;
  /// At most this many agents are put on it by selection (0 = no cap).
  uint32_t max_agents = 0;
  /// Model buckets out: model -> until when (a limit of one model).
  std::map<std::string, millis> model_excluded;
  /// Excluded from selection until this instant (0 = selectable).
  millis excluded_until = 0;
  /// Latest provider reset instant a failure carried (0 = none).
  millis reset_at = 0;
  /// Provider evidence (none = not known, or its window's reset passed).
  caf::optional<double> utilization_5h;
  caf::optional<double> utilization_7d;
  millis reset_5h_at = 0;
  millis reset_7d_at = 0;
  provider_status status = provider_status::unknown;
  /// When the newest evidence was seen (0 = never).
  millis evidence_at = 0;
  uint32_t failures_2h = 0;
  uint32_t failures_24h = 0;
  std::map<failure_kind, uint32_t> failures_2h_by_kind;
  std::map<failure_kind, uint32_t> failures_24h_by_kind;
  millis created_at = 0;
  millis updated_at = 0;
  /// token or oauth; when the current token expires (0 = unknown).
  credential_kind kind = credential_kind::token;
  millis expires_at = 0;
  /// oauth: the refresher's state, why (backoff, dead), its next attempt,
  /// when it last refreshed and how often so far.
  refresh_state refresh = refresh_state::none;
  std::string refresh_detail;
  millis next_refresh_at = 0;
  millis refreshed_at = 0;
  uint64_t refreshes = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_info& x) {
  return f(caf::meta::type_name("sb::subscription_info"), x.id, x.name,
           x.provider, x.pool, x.fingerprint, x.agent_count, x.state, x.retired,
           x.retired_at, x.max_agents, x.model_excluded, x.excluded_until,
           x.reset_at, x.utilization_5h, x.utilization_7d, x.reset_5h_at,
           x.reset_7d_at, x.status, x.evidence_at, x.failures_2h,
           x.failures_24h, x.failures_2h_by_kind, x.failures_24h_by_kind,
           x.created_at, x.updated_at, x.kind, x.expires_at, x.refresh,
           x.refresh_detail, x.next_refresh_at, x.refreshed_at, x.refreshes);
}

bool operator==(const subscription_info& x, const subscription_info& y);

/// What an agent's CLI needs beside a token to accept it (the credential
/// document an agent server writes, docs/containers.md): which kind of
/// credential it comes from, when it expires and its scopes.
struct token_terms {
  credential_kind kind = credential_kind::token;
  /// 0 = unknown.
  millis expires_at = 0;
  std::vector<std::string> scopes;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_terms& x) {
  return f(caf::meta::type_name("sb::token_terms"), x.kind, x.expires_at,
           x.scopes);
}

bool operator==(const token_terms& x, const token_terms& y);

/// The pool a subscription or an agent is in when none is named.
constexpr const char* default_pool = "default";

/// `subscription add`: a new subscription, or a new token for one (a
/// rotation keeps its provider and pool; naming others is an error).
struct subscription_spec {
  std::string name;
  secret token;
  /// none = anthropic for a new subscription, its own for a rotation.
  caf::optional<provider_kind> provider;
  /// "" = default_pool for a new subscription, its own for a rotation.
  std::string pool;
  /// none = no cap for a new subscription, unchanged for a rotation.
  caf::optional<uint32_t> max_agents;
  /// token: `token` is used until it is replaced (`terms.expires_at` = its
  /// known expiry, 0 = none). oauth: `token` is the access token, it
  /// expires at `terms.expires_at`, and `refresh_token` renews it.
  token_terms terms = {};
  /// oauth only: the single-use refresh token (never leaves the daemon).
  secret refresh_token = {};
  /// oauth only: this credential's token endpoint ("" = the provider's,
  /// switchboard.anthropic-token-url or codex-token-url).
  std::string token_url = {};
  /// Codex only: the id token and account id of its auth.json.
  secret id_token = {};
  std::string account_id = {};
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_spec& x) {
  return f(caf::meta::type_name("sb::subscription_spec"), x.name, x.token,
           x.provider, x.pool, x.max_agents, x.terms, x.refresh_token,
           x.token_url, x.id_token, x.account_id);
}

bool operator==(const subscription_spec& x, const subscription_spec& y);

/// The answer to `subscription drain | undrain | reset | set`: the
/// subscription afterwards and the agents that are being moved off it.
struct subscription_state_change {
  subscription_info info;
  std::vector<std::string> moving;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        subscription_state_change& x) {
  return f(caf::meta::type_name("sb::subscription_state_change"), x.info,
           x.moving);
}

bool operator==(const subscription_state_change& x,
                const subscription_state_change& y);

/// The answer to `subscription add`.
struct subscription_change {
  subscription_info info;
  /// True if the name existed and its token was replaced.
  bool rotated = false;
  /// Agents on the subscription that get the new token.
  std::vector<std::string> reloading;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_change& x) {
  return f(caf::meta::type_name("sb::subscription_change"), x.info, x.rotated,
           x.reloading);
}

bool operator==(const subscription_change& x, const subscription_change& y);

struct agent_spec {
  std::string name;
  std::string subscription;
  std::string container;
  /// "" = the pool of `subscription`, else default_pool.
  std::string pool;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_spec& x) {
  return f(caf::meta::type_name("sb::agent_spec"), x.name, x.subscription,
           x.container, x.pool);
}

bool operator==(const agent_spec& x, const agent_spec& y);

struct agent_info {
  std::string name;
  /// Selection never leaves it.
  std::string pool;
  /// The model of its newest report or observation that named one.
  std::string model;
  caf::optional<std::string> subscription;
  caf::optional<std::string> container;
  uint64_t generation = 0;
  uint64_t applied_generation = 0;
  /// True while a switch is in flight.
  bool switching = false;
  auto_switch_mode auto_switch = auto_switch_mode::on;
  /// The CONTAINER SUPERVISOR's view (unknown without a container or when
  /// the supervisor did not answer).
  lifecycle container_state = lifecycle::unknown;
  apply_outcome last_apply;
  millis last_apply_at = 0;
  millis last_switch_at = 0;
  /// When the current assignment's token was applied (its epoch started;
  /// 0 = not applied yet), and until when reports that do not name their
  /// credential are still charged to the previous one (settle window).
  millis epoch_started_at = 0;
  millis settle_until = 0;
  /// When a failed token application is tried again (0 = none due).
  millis retry_at = 0;
  /// Messages waiting in the agent's mailbox.
  uint32_t mailbox = 0;
  /// Switches inside the budget window.
  uint32_t recent_switches = 0;
  /// Several nodes: the node that owns and runs it, in `agent list`
  /// ("" = a daemon of its own).
  std::string node;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, agent_info& x) {
  return f(caf::meta::type_name("sb::agent_info"), x.name, x.pool, x.model,
           x.subscription, x.container, x.generation, x.applied_generation,
           x.switching, x.auto_switch, x.container_state, x.last_apply,
           x.last_apply_at, x.last_switch_at, x.epoch_started_at,
           x.settle_until, x.retry_at, x.mailbox, x.recent_switches, x.node);
}

bool operator==(const agent_info& x, const agent_info& y);

// -- history
// ----------------------------------------------------------------------

/// Filter for `events`, `history` and `notifications` (empty = any), newest
/// first. One answer is one page: at most `limit` items (at most
/// max_page_items) and about max_page_bytes; `before` is the cursor a page
/// hands out (only items with a smaller id; 0 = from the newest).
struct query {
  std::string agent;
  std::string subscription;
  uint32_t limit = 50;
  int64_t before = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, query& x) {
  return f(caf::meta::type_name("sb::query"), x.agent, x.subscription, x.limit,
           x.before);
}

/// The most items one page holds, whatever `limit` asks for.
constexpr uint32_t max_page_items = 1000;

/// A page stops growing once its items' text passes this many bytes, so no
/// single answer (and nothing a client that never reads makes the daemon
/// hold per request) is larger than about this.
constexpr size_t max_page_bytes = 256 * 1024;

/// One page of a read: `next` is the cursor for the following page (the
/// query's `before`), 0 when there is nothing more.
template<class T>
struct page {
  std::vector<T> items;
  int64_t next = 0;
};

template<class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, page<T>& x) {
  return f(caf::meta::type_name("sb::page"), x.items, x.next);
}

template<class T>
bool operator==(const page<T>& x, const page<T>& y) {
  return x.items == y.items && x.next == y.next;
}

bool operator==(const query& x, const query& y);

struct event_info {
  int64_t id = 0;
  std::string agent;
  std::string subscription;
  failure_kind kind = failure_kind::none;
  std::string reason;
  int32_t status = 0;
  std::string message;
  std::string source;
  std::string execution_id;
  millis reset_at = 0;
  millis at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_info& x) {
  return f(caf::meta::type_name("sb::event_info"), x.id, x.agent,
           x.subscription, x.kind, x.reason, x.status, x.message, x.source,
           x.execution_id, x.reset_at, x.at);
}

bool operator==(const event_info& x, const event_info& y);

struct history_info {
  int64_t id = 0;
  std::string agent;
  caf::optional<std::string> from;
  caf::optional<std::string> to;
  trigger by = trigger::automatic;
  failure_kind kind = failure_kind::none;
  uint32_t event_count = 0;
  uint64_t generation = 0;
  /// The token application; none while it is pending.
  apply_outcome apply;
  millis at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, history_info& x) {
  return f(caf::meta::type_name("sb::history_info"), x.id, x.agent, x.from,
           x.to, x.by, x.kind, x.event_count, x.generation, x.apply, x.at);
}

bool operator==(const history_info& x, const history_info& y);

struct notification_info {
  int64_t id = 0;
  std::string agent;
  notification_kind kind = notification_kind::switched;
  std::string title;
  std::string message;
  notification_priority priority = notification_priority::normal;
  notification_status status = notification_status::pending;
  millis created_at = 0;
  /// What it is about, as fields a machine reads ("" / 0 = not known or
  /// not part of it): the subscription concerned, its pool, a switch's
  /// from and to, the cause (a failure kind, a retirement reason, a
  /// window), and the earliest reset of an exhausted pool.
  std::string subscription = {};
  std::string pool = {};
  std::string from = {};
  std::string to = {};
  std::string reason = {};
  millis reset_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification_info& x) {
  return f(caf::meta::type_name("sb::notification_info"), x.id, x.agent, x.kind,
           x.title, x.message, x.priority, x.status, x.created_at,
           x.subscription, x.pool, x.from, x.to, x.reason, x.reset_at);
}

bool operator==(const notification_info& x, const notification_info& y);

/// Runtime settings as the CLI sees them: key -> value.
using settings_map = std::map<std::string, std::string>;

using event_page = page<event_info>;
using history_page = page<history_info>;
using notification_page = page<notification_info>;

// -- backup
// -----------------------------------------------------------------------

/// An online copy of the database, made by the daemon into a private file
/// and read by the client chunk by chunk (the daemon never writes a path a
/// client names).
struct backup_info {
  /// Names the copy in backup_chunk requests; random, unguessable.
  std::string id;
  uint64_t size = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_info& x) {
  return f(caf::meta::type_name("sb::backup_info"), x.id, x.size);
}

bool operator==(const backup_info& x, const backup_info& y);

/// At most this many bytes per chunk.
constexpr uint64_t max_backup_chunk = 256 * 1024;

struct backup_chunk {
  std::string bytes;
  /// The copy ends with this chunk (the daemon deletes its file).
  bool last = false;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_chunk& x) {
  return f(caf::meta::type_name("sb::backup_chunk"), x.bytes, x.last);
}

bool operator==(const backup_chunk& x, const backup_chunk& y);

} // namespace sb
