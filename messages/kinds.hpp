#pragma once

// The kinds the daemon branches on, as enums on the wire and in the code.
// Text appears only at the edges: the JSON and tables of the CLI, the log,
// and the database columns. Each enum has to_string() and a parser; an
// enum travels over CAF as its underlying integer.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

/// What the classifier makes of a failure.
enum class failure_kind : uint8_t {
  none = 0,
  rate_limit,
  auth,
  ignored,
  /// "Too many concurrent requests": the credential is not exhausted; the
  /// agent moves only if they persist past concurrency-grace.
  concurrency,
};

/// What happened to a report (or a manual reassignment, a rotation).
enum class outcome : uint8_t {
  switched,
  coalesced,
  stale,
  disabled,
  ignored,
  no_subscription,
  no_alternative,
  held,
  below_threshold,
  assigned,
  rotated,
  unchanged,
  /// An observation was recorded and started no switch.
  observed,
};

/// Why an agent's credential changed.
enum class trigger : uint8_t {
  /// A failure report switched it ("auto").
  automatic,
  /// `switchboard assign`.
  manual,
  /// The token of its subscription was replaced.
  rotation,
  /// Provider evidence showed its subscription near or at its limit
  /// (switch before the wall; no failure event).
  headroom,
};

/// What the provider says of a subscription's limits
/// (anthropic-ratelimit-unified-status).
enum class provider_status : uint8_t {
  unknown,
  allowed,
  allowed_warning,
  rejected,
};

/// Whose credential a subscription is: which provider's signals its
/// failures and observations are read with. A pool holds one provider.
enum class provider_kind : uint8_t { anthropic, codex, openai, gemini };

/// Why a provider's answer says a credential will not serve again by time
/// alone (none = it may; a window ends).
enum class retire_reason : uint8_t {
  none,
  /// The organization may not use this kind of credential (403
  /// permission_error "OAuth authentication is currently not allowed").
  banned,
  /// "This organization has been disabled."
  disabled,
  /// The plan does not include the product (usage_not_included), or the
  /// account has no quota until someone pays (insufficient_quota).
  not_entitled,
  /// 401 "Invalid authentication credentials" on its current token: a new
  /// login is needed.
  dead_credential,
};

/// Where a subscription stands for selection (`subscription list`).
enum class credential_state : uint8_t {
  /// Selectable.
  active,
  /// Excluded until a window ends.
  cooling,
  /// `subscription drain`: out of selection until `undrain`.
  draining,
  /// A provider said no window will bring it back: out until a new token
  /// or `subscription reset`.
  retired,
};

/// What a subscription's credential is (docs/credentials.md).
enum class credential_kind : uint8_t {
  /// One string used until it is replaced: a setup token, an API key. It
  /// may have a known expiry (warned 30 days ahead, retired when it passes).
  token,
  /// A login: a short-lived access token and a single-use refresh token
  /// that only the daemon holds and spends (actors/refresher.hpp).
  oauth,
};

/// Where the refresher stands with an oauth credential.
enum class refresh_state : uint8_t {
  /// Not an oauth credential.
  none,
  /// The last refresh (or the import) worked; the next one is scheduled.
  ok,
  /// The token endpoint failed for a while (429, 5xx, no answer): retried
  /// later; the access token serves while it lives.
  backoff,
  /// The provider rejected the stored refresh token: a new login is needed.
  dead,
};

/// What an operator does to a subscription's standing.
enum class subscription_op : uint8_t { drain, undrain, reset };

/// An operation on an agent's container.
enum class container_op : uint8_t { apply, start, stop, restart, inspect };

/// The lifecycle of one container as the CONTAINER SUPERVISOR knows it.
enum class lifecycle : uint8_t {
  unknown,
  absent,
  stopped,
  starting,
  running,
  stopping,
  reloading,
  recreating,
  failed,
};

/// The result of a container operation (a token application included).
enum class apply_result : uint8_t {
  /// Nothing was applied (yet).
  none,
  /// The agent server took the token; the container kept running.
  hot_reloaded,
  /// The container was recreated with the token.
  restarted,
  /// The container was started (recreated first if its token was stale).
  started,
  /// The container was stopped.
  stopped,
  /// It runs, with the current token already.
  running,
  /// It is stopped: its next start bakes the token in.
  not_running,
  /// There is no such container.
  no_container,
  /// A newer generation was applied meanwhile.
  superseded,
  /// The operation failed (the detail says why); it is retried.
  failed,
  /// Still running when the reply could wait no longer (apply-wait).
  pending,
};

/// Per-agent auto-switch: follow the global setting, or never switch.
enum class auto_switch_mode : uint8_t { on, off };

/// How a component answered the ADMIN's status request.
enum class health : uint8_t { running, unresponsive };

/// What the last Docker operation found of the engine.
enum class engine_state : uint8_t { unknown, reachable, unreachable };

/// What a watch event is about ("switch" for `switched`).
enum class watch_kind : uint8_t { report, observation, switched, apply };

/// What a notification of the outbox is about ("switch" for `switched`).
enum class notification_kind : uint8_t {
  switched,
  held,
  pool_exhausted,
  /// A subscription was retired (banned, disabled, not entitled, dead).
  retired,
  /// A credential expires soon (a static token within 30 days) or before
  /// the refresher could renew it.
  expiring,
  /// A pool that had no selectable subscription has one again.
  pool_recovered,
  /// The refresh of an oauth login fails (backing off) while its access
  /// token still lives.
  refresh_failing,
  /// A subscription's utilization of one window reached a threshold.
  utilization_high,
  /// A committed token not applied to an agent's container for behind-after.
  agent_behind,
  /// Another node's lease ran out and its agents were taken over.
  node_down,
};

/// How urgent a notification is.
enum class notification_priority : uint8_t { normal, high };

/// Where a notification is in the outbox.
enum class notification_status : uint8_t { pending, delivered };

const char* to_string(failure_kind x);
const char* to_string(outcome x);
const char* to_string(trigger x);
const char* to_string(container_op x);
const char* to_string(lifecycle x);
const char* to_string(apply_result x);
const char* to_string(auto_switch_mode x);
const char* to_string(health x);
const char* to_string(provider_status x);
const char* to_string(provider_kind x);
const char* to_string(retire_reason x);
const char* to_string(credential_state x);
const char* to_string(subscription_op x);
const char* to_string(credential_kind x);
const char* to_string(refresh_state x);
const char* to_string(engine_state x);
const char* to_string(watch_kind x);
const char* to_string(notification_kind x);
const char* to_string(notification_priority x);
const char* to_string(notification_status x);

/// Parses the text to_string() gives; nothing on any other text.
template<class Enum>
std::optional<Enum> parse_kind(std::string_view text);

/// True if the container runs with the token of the operation afterwards:
/// the one place that decides "applied". An agent without a container has
/// nothing to apply; a named container that is gone stays behind.
bool token_applied(apply_result x, bool has_container);

/// True if the result is a success of the operation (no retry needed).
bool succeeded(apply_result x);

} // namespace sb
