#pragma once

// The SUBSCRIPTION POOL: owns the set of subscriptions, grouped in pools
// (each of one provider; selection never leaves an agent's pool), which agent
// is on which (counting switches decided but not yet applied), and each
// subscription's exclusion. "Pick the best alternative" and "move the agent's
// count there" are one step of this one actor, so concurrent switches of
// different agents spread over the pool instead of piling onto the same
// least-loaded subscription.
//
// Each subscription's provider evidence and failures live in a
// subscription_evidence (actors/evidence.hpp), which says how long it is
// excluded and how much headroom it has; the index (actors/pool_index.hpp)
// orders the candidates by headroom, then agent count, then name. A switch
// never clears the old subscription's failures, so a drained subscription
// stays out (no ping-pong), and a failure's reset instant only grows.
//
// Checks where the data lands: every message that carries names, numbers or
// instants from outside is checked as the FRONT DOOR checks it, and a bad
// one changes nothing (a request gets the FRONT DOOR's error; a message
// without a reply is logged and dropped). Where an agent counts moves only
// on the word of that AGENT itself or of the ADMIN (agent_directory::
// speaks_for), so no stray join, leave, release or selection can count an
// agent twice, count a stranger, or take a count away.
//
// It publishes the token index (every fingerprint of every subscription) for
// the FRONT DOOR and the AGENTs, and reads the ADMIN's directory and
// settings as published (actors/context.hpp), loaded once per message.

#include "actors/context.hpp"
#include "actors/evidence.hpp"
#include "actors/pool_index.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace sb {

struct pool_entry {
  int64_t id = 0;
  std::string name;
  provider_kind provider = provider_kind::anthropic;
  std::string pool;
  secret token;
  std::string token_sha256;
  /// The kind of credential, its token's expiry and scopes (delivered with
  /// the token); oauth: the refresher's word, its last refresh, how many.
  token_terms terms;
  credential_status refresh;
  millis refreshed_at = 0;
  uint64_t refreshes = 0;
  millis created_at = 0;
  millis updated_at = 0;
  /// This node's agents on this subscription, committed or decided.
  std::unordered_set<std::string> members;
  /// Several nodes: the other nodes' agents on it, as the shared database
  /// had them when last read (CLUSTER) or at a stale commit (AGENT).
  std::unordered_set<std::string> remote;

  size_t agents() const { return members.size() + remote.size(); }
  subscription_evidence evidence;
  /// Its standing: out of selection while retired or drained; at most
  /// max_agents agents (0 = no cap); failures up to cleared_at (a reset)
  /// exclude no more.
  retire_reason retired = retire_reason::none;
  millis retired_at = 0;
  bool drained = false;
  uint32_t max_agents = 0;
  millis cleared_at = 0;
  /// Suspect failures in a row on its current token, and what they
  /// suspect (provider_evidence::suspect).
  uint32_t suspects = 0;
  retire_reason suspected = retire_reason::none;
  /// Model buckets that are out: bucket -> until when.
  std::map<std::string, millis> model_out;

  /// An oauth login whose access token expired while its refresh keeps
  /// failing: out of selection until a refresh or a new login.
  bool lapsed = false;

  bool out() const {
    return drained || lapsed || retired != retire_reason::none;
  }

  /// A 401 "OAuth token has expired" on it asks for a refresh.
  bool refreshable() const {
    return terms.kind == credential_kind::oauth && !lapsed;
  }

  /// True if a bucket that the model `model` is in is out at `now`.
  bool model_excluded(const std::string& model, millis now) const;

  subscription_standing standing() const;
  void take_standing(const stored_subscription& s);
  /// Its credential's kind, expiry, scopes and refreshes as stored.
  void take_credential(const stored_subscription& s);
};

struct pool_state {
  std::map<int64_t, pool_entry> subs;
  std::unordered_map<std::string, int64_t> by_name;
  /// Per pool: its candidates ordered for selection; kept in step with
  /// `subs`.
  std::map<std::string, pool_index> indexes;
  store_actor store;
  /// Given by the ROOT once spawned; asked to refresh an expired token.
  refresher_actor refresher;
  context_ptr ctx;
  /// Every token version of every subscription: this pool's own, published
  /// (a copy) after each change for the FRONT DOOR and the AGENTs.
  token_index tokens;
  uint64_t selections = 0;
  uint64_t exhausted = 0;
  /// Pools a selection found without any candidate, and since when: a
  /// timer looks until one has a subscription again (pool_recovered).
  std::map<std::string, millis> exhausted_pools;
  /// utilization_high events raised: "subscription/window/level" -> the
  /// window's reset they were raised for (again only for a new window).
  std::map<std::string, millis> utilization_told;

  /// The subscription each of this node's agents counts on (one at most).
  std::unordered_map<std::string, int64_t> seats;

  pool_entry* find(const std::string& name);
  pool_entry* find(int64_t id);

  /// The index of the pool subscription `id` is in (an empty one if the
  /// subscription is unknown).
  pool_index& index_of(int64_t id);

  /// Tells the index whether `e` is out (retired, drained) and its cap.
  void place(const pool_entry& e);

  /// The subscription `agent` counts on (0 = none).
  int64_t seat_of(const std::string& agent) const;

  /// Counts `agent` on `to` (0 = none) and on no other subscription: an
  /// agent of this node counts once, whatever a message said about it.
  void seat(const std::string& agent, int64_t to);

  /// Several nodes: the other nodes' agents on subscription `id` are
  /// `names` now (none of them is this node's any more).
  void seat_remote(int64_t id, std::unordered_set<std::string> names);

  /// Recomputes the index's view of one subscription (exclusion and
  /// utilization) and when it changes next by time alone.
  void update(pool_entry& e);
  /// The same with the instant and the exclusion window already loaded.
  void update(pool_entry& e, millis now, millis window);

  /// Publishes `tokens` (daemon_context::tokens).
  void publish_tokens();

  /// Updates the subscriptions whose utilization ran out by `now`.
  void refresh(millis now);

  /// When a subscription's utilization changes by time alone (a window's
  /// reset passing): instant, id.
  std::set<std::pair<millis, int64_t>> changes;

  static inline const char* name = "subscription-pool";
};

/// `snap` seeds subscriptions, memberships and exclusions (read once).
pool_actor::behavior_type
subscription_pool(pool_actor::stateful_pointer<pool_state> self,
                  store_actor store, context_ptr ctx,
                  std::shared_ptr<const snapshot> snap);

} // namespace sb
