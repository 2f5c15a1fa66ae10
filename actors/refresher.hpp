#pragma once

// The REFRESHER: the one holder and spender of refresh tokens for the whole
// fleet (docs/credentials.md). A login's refresh token is single-use: if two
// holders refreshed the same credential, the second would log every agent
// out. So containers get access tokens only, and this actor renews each
// oauth credential before its access token expires:
//
//   tick (refresh-interval) -> list the oauth credentials (STORE)
//     due? (refresh_due: refresh-ahead of its lifetime, jitter) or asked
//     (an agent saw "OAuth token has expired")
//   -> claim it in the STORE (one holder across every node, for a lease)
//   -> a detached worker POSTs the refresh token to the token endpoint
//   -> granted: the STORE commits the new refresh token with the new access
//      token in one transaction, then the POOL rotates every agent on it
//      (the ordinary token application: hot reload, generation fencing)
//   -> 429 / 5xx / no answer: backoff (refresh_backoff, Retry-After wins);
//      the access token serves while it lives; an alert when it would
//      expire before the next attempt
//   -> rejected (invalid_grant, refresh_token_reused, ...): re-read the
//      STORE; another node rotated it: use that; the stored token itself
//      was rejected: dead, never sent again, the POOL retires the
//      subscription (alert, its agents moved).

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <optional>
#include <random>
#include <string>

namespace sb {

/// When to refresh an access token issued at `issued_at` that expires at
/// `expires_at`: when `ahead_percent` of its lifetime is left, but at least
/// `min_ahead` before it expires, and never earlier than half its lifetime
/// (a token of a few seconds is not refreshed at once, again and again).
/// `jitter` in [0, 1) moves it up to a tenth of that margin earlier, so
/// credentials imported together do not refresh together.
millis refresh_due(millis expires_at, millis issued_at, uint64_t ahead_percent,
                   millis min_ahead, double jitter);

/// The wait after the `failures`-th failed attempt in a row: `base`
/// doubling up to `cap`, +-20% by `jitter` in [0, 1); a longer
/// `retry_after` (the endpoint's Retry-After) wins.
millis refresh_backoff(uint32_t failures, millis base, millis cap,
                       millis retry_after, double jitter);

/// What the REFRESHER knows of one credential.
struct refresher_entry {
  stored_credential cred;
  credential_status status;
  /// Failed attempts in a row; no attempt before next_attempt.
  uint32_t failures = 0;
  millis next_attempt = 0;
  /// Where in its margin this credential refreshes (refresh_due).
  double jitter = 0;
  bool in_flight = false;
  /// An agent saw its access token expired: refresh at the next chance.
  bool urgent = false;
  /// The expiry an "expires before it can be refreshed" alert was sent for.
  millis warned_for = 0;
  /// The fingerprint of the refresh token the worker in flight sent.
  std::string sent_sha256;
  /// A grant the STORE did not take yet (its refresh token is spent):
  /// committed again at each tick until it is.
  std::optional<refresh_grant> unsaved;
  /// Its commit is on the way to the STORE.
  bool committing = false;
  /// The status the POOL was told last (it shows it), and whether it was
  /// told that the access token lapsed during a backoff.
  credential_status told;
  bool lapse_told = false;
};

struct refresher_state {
  static inline const char* name = "refresher";
  std::map<std::string, refresher_entry> creds;
  store_actor store;
  pool_actor pool;
  context_ptr ctx;
  bool listing = false;
  std::mt19937_64 rng{std::random_device{}()};
};

using refresher_ptr = refresher_actor::stateful_pointer<refresher_state>;

refresher_actor::behavior_type refresher(refresher_ptr self, store_actor store,
                                         pool_actor pool, context_ptr ctx);

} // namespace sb
