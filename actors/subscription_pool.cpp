#include "actors/subscription_pool.hpp"

#include "actors/logging.hpp"
#include "actors/provider_headers.hpp"
#include "actors/provider_signals.hpp"
#include "actors/timeouts.hpp"
#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "messages/validate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace sb {

namespace {

using self_ptr = pool_actor::stateful_pointer<pool_state>;

/// How long the POOL waits for an AGENT to answer a rotation: the AGENT
/// takes it after the switch in flight, and each of the two may select
/// (pool_request_timeout), commit (store_request_timeout), ask whether an
/// unanswered commit was recorded (store_request_timeout) and wait for the
/// token's application (apply-wait). Only a log line waits for the answer.
caf::timespan rotation_timeout(const daemon_context& ctx) {
  return 2
           * (pool_request_timeout + 2 * store_request_timeout
              + ctx.opts.apply_wait)
         + std::chrono::minutes(1);
}

/// A request with its deadline on the daemon's clock.
template<class Handle, class... Ts>
auto ask(self_ptr self, const Handle& dest, caf::timespan timeout, Ts&&... xs) {
  return request_within(self, *self->state.ctx->clock, dest, timeout,
                        std::forward<Ts>(xs)...);
}

caf::optional<double> to_caf(std::optional<double> x) {
  return x ? caf::optional<double>{*x} : caf::none;
}

subscription_info make_info(const pool_entry& e, millis now, millis window) {
  subscription_info info;
  info.id = e.id;
  info.name = e.name;
  info.provider = e.provider;
  info.pool = e.pool;
  info.fingerprint = e.token_sha256.substr(0, fingerprint_prefix_digits);
  info.agent_count = static_cast<uint32_t>(e.agents());
  auto until = e.evidence.excluded_until(now, window);
  info.excluded_until = until > now ? until : 0;
  info.retired = e.retired;
  info.retired_at = e.retired_at;
  info.max_agents = e.max_agents;
  for (auto& [model, out_until] : e.model_out)
    if (out_until > now)
      info.model_excluded.emplace(model, out_until);
  info.state = e.retired != retire_reason::none ? credential_state::retired
               : e.drained                      ? credential_state::draining
               : info.excluded_until > 0        ? credential_state::cooling
                                                : credential_state::active;
  e.evidence.describe(info, now);
  info.created_at = e.created_at;
  info.updated_at = e.updated_at;
  info.kind = e.terms.kind;
  info.expires_at = e.terms.expires_at;
  info.refreshed_at = e.refreshed_at;
  info.refreshes = e.refreshes;
  if (e.terms.kind == credential_kind::oauth) {
    info.refresh = e.refresh.state;
    info.refresh_detail = e.refresh.detail;
    info.next_refresh_at = e.refresh.next_attempt_at;
  }
  return info;
}

selection make_selection(const pool_entry& e, millis now) {
  selection sel;
  sel.found = true;
  sel.id = e.id;
  sel.name = e.name;
  sel.token = e.token;
  sel.token_sha256 = e.token_sha256;
  sel.terms = e.terms;
  sel.utilization = to_caf(e.evidence.utilization(now));
  return sel;
}

void apply_seeds(pool_state& st, const std::vector<exclusion_seed>& seeds,
                 bool replace) {
  if (replace)
    for (auto& [id, e] : st.subs)
      e.evidence.forget_failures();
  for (auto& seed : seeds)
    if (auto e = st.find(seed.subscription))
      // A reset cleared the failures up to its instant.
      if (seed.last_failure_at > e->cleared_at)
        e->evidence.seed(seed);
  auto now = st.ctx->now();
  auto window = st.ctx->settings.get()->exclusion_window;
  for (auto& [id, e] : st.subs)
    st.update(e, now, window);
}

/// Asks each of `names` that is an AGENT of this node (`xs` is the
/// request), each on its own: one agent's failure stops none of the others,
/// and only a log line waits for the answers.
template<class... Ts>
void ask_agents(self_ptr self, const std::vector<std::string>& names,
                const char* what, Ts... xs) {
  auto dir = self->state.ctx->directory.get();
  for (auto& agent_name : names) {
    auto agent = dir->find(agent_name);
    if (!agent)
      continue;
    ask(self, agent, rotation_timeout(*self->state.ctx), xs...)
      .then(
        [agent_name, what](report_result& res) {
          SB_INFO("agent {}: {} -> {} ({})", agent_name, what,
                  to_string(res.result),
                  res.reason.empty() ? to_string(res.apply) : res.reason);
        },
        [agent_name, what](caf::error& err) {
          SB_WARN("agent {}: {} failed: {}", agent_name, what, render(err));
        });
  }
}

/// Rotation: every agent on the subscription gets the new token through its
/// own actor.
void rotate_agents(self_ptr self, const subscription_change& change) {
  ask_agents(self, change.reloading, "rotation", rotate_atom::value,
             change.info.id);
}

} // namespace

pool_entry* pool_state::find(const std::string& name) {
  auto i = by_name.find(name);
  return i == by_name.end() ? nullptr : find(i->second);
}

pool_entry* pool_state::find(int64_t id) {
  auto i = subs.find(id);
  return i == subs.end() ? nullptr : &i->second;
}

pool_index& pool_state::index_of(int64_t id) {
  auto e = find(id);
  return indexes[e ? e->pool : std::string{}];
}

bool pool_entry::model_excluded(const std::string& model, millis now) const {
  for (auto& [bucket, until] : model_out)
    if (until > now && model_in_bucket(model, bucket))
      return true;
  return false;
}

subscription_standing pool_entry::standing() const {
  return subscription_standing{name,    retired,    retired_at,
                               drained, max_agents, cleared_at};
}

void pool_entry::take_standing(const stored_subscription& s) {
  retired = s.retired;
  retired_at = s.retired_at;
  drained = s.drained;
  max_agents = s.max_agents;
  cleared_at = s.cleared_at;
}

void pool_entry::take_credential(const stored_subscription& s) {
  // A new token (a refresh, a new login) is usable again.
  if (terms.expires_at != s.terms.expires_at || token_sha256 != s.token_sha256)
    lapsed = false;
  terms = s.terms;
  refreshed_at = s.refreshed_at;
  refreshes = s.refreshes;
  if (terms.kind != credential_kind::oauth)
    refresh = credential_status{};
  else if (refresh.name.empty())
    refresh = credential_status{name, refresh_state::ok, {}, 0};
}

void pool_state::place(const pool_entry& e) {
  auto& index = index_of(e.id);
  index.set_out(e.id, e.out());
  index.set_cap(e.id, e.max_agents);
}

int64_t pool_state::seat_of(const std::string& agent) const {
  auto i = seats.find(agent);
  return i == seats.end() ? 0 : i->second;
}

void pool_state::seat(const std::string& agent, int64_t to) {
  if (auto i = seats.find(agent); i != seats.end()) {
    if (i->second == to)
      return;
    if (auto e = find(i->second); e && e->members.erase(agent) > 0)
      index_of(i->second).change_count(i->second, -1);
    seats.erase(i);
  }
  auto e = find(to);
  if (e == nullptr)
    return;
  // An agent taken over from another node was counted there.
  if (e->remote.erase(agent) > 0)
    index_of(to).change_count(to, -1);
  if (e->members.insert(agent).second)
    index_of(to).change_count(to, 1);
  seats[agent] = to;
}

void pool_state::seat_remote(int64_t id,
                             std::unordered_set<std::string> names) {
  auto e = find(id);
  if (e == nullptr)
    return;
  for (auto& name : names)
    if (seat_of(name) == id)
      seat(name, 0);
  auto before = static_cast<int64_t>(e->agents());
  e->remote = std::move(names);
  if (auto delta = static_cast<int64_t>(e->agents()) - before; delta != 0)
    index_of(id).change_count(id, delta);
}

void pool_state::update(pool_entry& e) {
  update(e, ctx->now(), ctx->settings.get()->exclusion_window);
}

void pool_state::update(pool_entry& e, millis now, millis window) {
  auto until = e.evidence.excluded_until(now, window);
  index_of(e.id).set_state(e.id, until > now ? until : 0,
                           e.evidence.utilization(now));
  if (auto next = e.evidence.next_change(now); next != 0)
    changes.emplace(next, e.id);
}

void pool_state::publish_tokens() {
  ctx->tokens.publish(tokens);
}

void pool_state::refresh(millis now) {
  if (changes.empty() || changes.begin()->first > now)
    return;
  auto window = ctx->settings.get()->exclusion_window;
  while (!changes.empty() && changes.begin()->first <= now) {
    auto id = changes.begin()->second;
    changes.erase(changes.begin());
    if (auto e = find(id))
      update(*e, ctx->now(), window);
  }
}

namespace {

void init(self_ptr self, const snapshot& snap) {
  auto& st = self->state;
  for (auto& s : snap.subscriptions) {
    pool_entry e;
    e.id = s.id;
    e.name = s.name;
    e.provider = s.provider;
    e.pool = s.pool;
    e.token = s.token;
    e.token_sha256 = s.token_sha256;
    e.take_credential(s);
    e.created_at = s.created_at;
    e.updated_at = s.updated_at;
    e.take_standing(s);
    st.by_name.emplace(s.name, s.id);
    st.indexes[s.pool].add(s.id, s.name);
    st.place(st.subs.emplace(s.id, std::move(e)).first->second);
  }
  // Every version oldest first, then the current tokens: the last one added
  // per subscription is its current one.
  for (auto& v : snap.token_versions)
    st.tokens.add(v.subscription, v.sha256);
  for (auto& s : snap.subscriptions) {
    st.tokens.add(s.name, s.token_sha256);
    st.tokens.set_provider(s.name, s.provider);
    st.tokens.set_refreshable(s.name, s.terms.kind == credential_kind::oauth);
  }
  st.publish_tokens();
  for (auto& a : snap.agents)
    st.seat(a.name, a.subscription_id);
  // The evidence first: it says which failures a success readmitted.
  for (auto& ev : snap.evidence)
    if (auto e = st.find(ev.subscription))
      e->evidence = subscription_evidence{ev};
  apply_seeds(st, snap.exclusions, false);
}

/// Several nodes: what other nodes wrote to the shared database reaches this
/// pool. New subscriptions and rotated tokens are taken over; the agents of
/// other nodes count where the database has them (this node's own agents
/// keep this pool's view, which includes switches decided and not yet
/// committed); failures recorded anywhere exclude here too (seeds only
/// extend an exclusion); provider evidence newer than this pool's replaces
/// it.
std::vector<std::string> move_agents(self_ptr self, const pool_entry& e);

void merge_shared(self_ptr self, const snapshot& snap) {
  auto& st = self->state;
  bool new_tokens = false;
  std::vector<int64_t> moved;
  std::vector<int64_t> rotated;
  for (auto& s : snap.subscriptions) {
    auto* e = st.find(s.id);
    if (!e) {
      st.by_name[s.name] = s.id;
      st.indexes[s.pool].add(s.id, s.name);
      e = &st.subs[s.id];
      e->id = s.id;
      e->name = s.name;
      e->provider = s.provider;
      e->pool = s.pool;
      st.tokens.set_provider(s.name, s.provider);
      new_tokens = true;
      e->created_at = s.created_at;
      SB_INFO("subscription {} registered by another node", s.name);
    }
    // Another node may have retired, drained, capped or reset it; this
    // node's agents on it then move too.
    if (s.cleared_at > e->cleared_at)
      e->evidence = subscription_evidence{};
    e->take_credential(s);
    st.tokens.set_refreshable(s.name, e->refreshable());
    bool was_out = e->out();
    e->take_standing(s);
    st.place(*e);
    if (!was_out && e->out())
      moved.push_back(e->id);
    if (e->token_sha256 != s.token_sha256) {
      e->suspects = 0;
      e->token = s.token;
      e->token_sha256 = s.token_sha256;
      e->updated_at = s.updated_at;
      st.tokens.add(s.name, s.token_sha256);
      new_tokens = true;
      // A rotation or a refresh on another node: this node's agents on it
      // get the new token too.
      if (!e->members.empty())
        rotated.push_back(e->id);
    }
  }
  if (new_tokens)
    st.publish_tokens();
  // This node's agents as the ADMIN last published them.
  auto dir = st.ctx->directory.get();
  std::unordered_map<int64_t, std::unordered_set<std::string>> remote;
  for (auto& a : snap.agents)
    if (a.subscription_id != 0 && !dir->find(a.name))
      remote[a.subscription_id].insert(a.name);
  for (auto& [id, e] : st.subs) {
    // At boot every agent was counted as this node's until the first read.
    std::vector<std::string> gone;
    for (auto& name : e.members)
      if (!dir->find(name))
        gone.push_back(name);
    for (auto& name : gone)
      st.seat(name, 0);
    st.seat_remote(id, std::move(remote[id]));
  }
  // Provider evidence another node saw more recently than this one: its
  // utilization and status count here too (the failures are re-seeded).
  for (auto& ev : snap.evidence)
    if (auto e = st.find(ev.subscription))
      e->evidence.take_newer(ev);
  apply_seeds(st, snap.exclusions, false);
  for (auto id : moved)
    if (auto e = st.find(id))
      move_agents(self, *e);
  for (auto id : rotated)
    if (auto e = st.find(id)) {
      SB_INFO("subscription {} has a new token from another node ({} agents "
              "of this node get it)",
              e->name, e->members.size());
      std::vector<std::string> names(e->members.begin(), e->members.end());
      std::sort(names.begin(), names.end());
      ask_agents(self, names, "rotation", rotate_atom::value, e->id);
    }
}

/// Stores an event of the POOL's in the outbox (logged if it cannot).
void store_event(self_ptr self, notification_info n) {
  n.created_at = self->state.ctx->now();
  ask(self, self->state.store, store_request_timeout, notify_atom::value,
      std::move(n))
    .then([](int64_t) {},
          [](caf::error& err) {
            SB_WARN("subscription-pool could not store an event: {}",
                    render(err));
          });
}

/// When to look again whether pool `pool` has a candidate: at its earliest
/// return, at least a second and at most a minute from `now`.
void look_again(self_ptr self, const std::string& pool, millis now) {
  auto back = self->state.indexes[pool].earliest_return(0, now);
  auto wait
    = std::clamp<millis>(back > now ? back - now : minute_ms, 1000, minute_ms);
  self->state.ctx->clock->send_later(self, std::chrono::milliseconds(wait),
                                     tick_atom::value, pool);
}

void watch_exhausted(self_ptr self, const std::string& pool, millis now) {
  if (self->state.exhausted_pools.emplace(pool, now).second)
    look_again(self, pool, now);
}

/// The timer of an exhausted pool: a candidate again is one
/// pool_recovered event for the episode.
void check_recovered(self_ptr self, const std::string& pool) {
  auto& st = self->state;
  auto i = st.exhausted_pools.find(pool);
  if (i == st.exhausted_pools.end())
    return;
  auto now = st.ctx->now();
  st.refresh(now);
  if (!st.indexes[pool].best(0, now, std::nullopt, {})) {
    look_again(self, pool, now);
    return;
  }
  auto since = i->second;
  st.exhausted_pools.erase(i);
  SB_INFO("pool {} has a subscription to select again", pool);
  notification_info n;
  n.kind = notification_kind::pool_recovered;
  n.pool = pool;
  n.title = "Pool '" + pool + "' recovered";
  n.message = "Pool '" + pool
              + "' has a subscription to switch to again (it had none since "
              + format_iso(since) + ").";
  store_event(self, std::move(n));
}

/// utilization_high: once per subscription, window and threshold until
/// the window's reset.
void check_utilization(self_ptr self, const pool_entry& e) {
  auto& st = self->state;
  auto ev = e.evidence.stored(e.name);
  auto& o = st.ctx->opts;
  struct window {
    const char* name;
    caf::optional<double> used;
    millis reset;
  };
  for (auto w : {window{"5h", ev.utilization_5h, ev.reset_5h},
                 window{"7d", ev.utilization_7d, ev.reset_7d}}) {
    if (!w.used)
      continue;
    auto percent = *w.used * 100.0;
    bool critical = percent >= static_cast<double>(o.utilization_critical);
    if (!critical && percent < static_cast<double>(o.utilization_warning))
      continue;
    auto key = e.name + "/" + w.name + (critical ? "/critical" : "/warning");
    auto told = st.utilization_told.find(key);
    if (told != st.utilization_told.end() && told->second == w.reset)
      continue;
    st.utilization_told[key] = w.reset;
    if (critical) // the warning of this window is past too
      st.utilization_told[e.name + "/" + w.name + "/warning"] = w.reset;
    notification_info n;
    n.kind = notification_kind::utilization_high;
    n.priority
      = critical ? notification_priority::high : notification_priority::normal;
    n.subscription = e.name;
    n.pool = e.pool;
    n.reason = w.name;
    n.reset_at = w.reset;
    auto shown = std::to_string(static_cast<int>(percent));
    n.title = "Subscription '" + e.name + "' at " + shown + "% of its " + w.name
              + " window";
    n.message = "Subscription '" + e.name + "' of pool '" + e.pool
                + "' has used " + shown + "% of its " + w.name + " window"
                + (w.reset > 0 ? " (it resets at " + format_iso(w.reset) + ")"
                               : std::string{})
                + ".";
    store_event(self, std::move(n));
  }
}

/// Most headroom, then fewest agents (committed or decided), then name,
/// among the subscriptions that are not excluded (and, for a proactive
/// switch, at most at `ceiling`); the agent's count moves in the same step.
selection select(self_ptr self, const std::string& agent, int64_t from,
                 const std::string& pool, const std::string& model,
                 std::optional<double> ceiling) {
  auto& st = self->state;
  auto now = st.ctx->now();
  st.refresh(now);
  auto& index = st.indexes[pool];
  std::function<bool(int64_t)> skip;
  if (!model.empty())
    skip = [&st, &model, now](int64_t id) {
      auto e = st.find(id);
      return e != nullptr && e->model_excluded(model, now);
    };
  auto best = index.best(from, now, ceiling, skip);
  if (!best) {
    ++st.exhausted;
    watch_exhausted(self, pool, now);
    selection none;
    // When any subscription of the pool comes back, the agent's own too.
    none.earliest_reset = index.earliest_return(0, now);
    return none;
  }
  ++st.selections;
  st.seat(agent, *best);
  auto sel = make_selection(*st.find(*best), now);
  if (st.ctx->shared_pool)
    for (auto id : index.peers(*best, from, now, ceiling)) {
      auto own = st.find(id)->members.size() - (id == *best ? 1 : 0);
      sel.balance.push_back(seat_count{id, static_cast<uint32_t>(own)});
    }
  return sel;
}

/// Why `e` is no target of a manual move without --force ("" = it is).
std::string unfit(const pool_entry& e, millis now, millis window) {
  if (e.retired != retire_reason::none)
    return "is retired (" + std::string{to_string(e.retired)} + " since "
           + format_iso(e.retired_at) + ")";
  if (e.drained)
    return "is draining";
  auto until = e.evidence.excluded_until(now, window);
  if (until > now)
    return "is excluded until " + format_iso(until);
  return {};
}

caf::result<selection> assign(self_ptr self, const std::string& agent,
                              const std::string& to, const std::string& pool,
                              bool force) {
  auto& st = self->state;
  auto e = st.find(to);
  if (e == nullptr)
    return make_error(ec::unknown_subscription,
                      "unknown subscription '" + to + "'");
  if (e->pool != pool)
    return make_error(ec::invalid_argument,
                      "subscription '" + to + "' is in pool '" + e->pool + "' ("
                        + to_string(e->provider) + "), agent '" + agent
                        + "' in pool '" + pool
                        + "': an agent only moves within its pool");
  auto now = st.ctx->now();
  if (auto why = unfit(*e, now, st.ctx->settings.get()->exclusion_window);
      !force && !why.empty())
    return make_error(ec::conflict, "subscription '" + to + "' " + why
                                      + "; assign --force puts the agent "
                                        "there anyway");
  st.seat(agent, e->id);
  return make_selection(*e, st.ctx->now());
}

/// Writes one subscription's evidence; `done` runs once it is stored (or
/// the write failed, which is logged: the evidence stays in memory).
template<class F>
void save_evidence(self_ptr self, const pool_entry& e, F done) {
  ask(self, self->state.store, store_request_timeout, evidence_atom::value,
      e.evidence.stored(e.name))
    .then([done](ok_atom) mutable { done(); },
          [done, name = e.name](caf::error& err) mutable {
            SB_WARN("subscription-pool could not store the evidence of {}: {}",
                    name, render(err));
            done();
          });
}

/// Asks every agent of this node on `e` to switch away from it, each
/// through its own AGENT (one switch each); returns their names.
std::vector<std::string> move_agents(self_ptr self, const pool_entry& e) {
  std::vector<std::string> names(e.members.begin(), e.members.end());
  std::sort(names.begin(), names.end());
  ask_agents(self, names, "move", move_atom::value, e.name);
  return names;
}

/// Stores `e`'s standing; `done` runs once it is stored (or the write
/// failed, which is logged and answered).
template<class F>
void save_standing(self_ptr self, const pool_entry& e, F done) {
  ask(self, self->state.store, store_request_timeout, sub_state_atom::value,
      e.standing())
    .then([done](ok_atom) mutable { done(caf::error{}); },
          [done, name = e.name](caf::error& err) mutable {
            SB_WARN("subscription-pool could not store the standing of {}: {}",
                    name, render(err));
            done(err);
          });
}

/// What the provider's answer said, in a sentence.
std::string retire_text(retire_reason why) {
  switch (why) {
  case retire_reason::banned:
    return "the provider does not allow this credential for its "
           "organization (a ban)";
  case retire_reason::disabled:
    return "the provider says the organization has been disabled";
  case retire_reason::not_entitled:
    return "the plan does not include the product, or the account has no "
           "quota until it is paid";
  case retire_reason::dead_credential:
    return "the credential is no longer accepted or has expired: re-login "
           "needed (a new login or token with subscription add)";
  case retire_reason::none:
    break;
  }
  return "unknown";
}

/// A provider said no window brings `e` back: out of selection until a new
/// token or `subscription reset`, its agents moved once, one alert.
void retire(self_ptr self, pool_entry& e, retire_reason why, millis at) {
  if (e.retired != retire_reason::none)
    return;
  auto& st = self->state;
  e.retired = why;
  e.retired_at = at;
  e.suspects = 0;
  st.place(e);
  SB_WARN("subscription {} retired ({}): {}", e.name, to_string(why),
          retire_text(why));
  save_standing(self, e, [](const caf::error&) {});
  notification_info n;
  n.kind = notification_kind::retired;
  n.priority = notification_priority::high;
  n.subscription = e.name;
  n.pool = e.pool;
  n.reason = to_string(why);
  n.title = "Subscription '" + e.name + "' retired (" + to_string(why) + ")";
  n.message = "Subscription '" + e.name + "' of pool '" + e.pool + "' ("
              + to_string(e.provider)
              + ") is out of selection: " + retire_text(why)
              + ". A new token (subscription add) or `switchboard "
                "subscription reset "
              + e.name + "` brings it back.";
  n.created_at = st.ctx->now();
  ask(self, st.store, store_request_timeout, notify_atom::value, std::move(n))
    .then([](int64_t) {},
          [](caf::error& err) {
            SB_WARN("subscription-pool could not store an alert: {}",
                    render(err));
          });
  move_agents(self, e);
}

/// Suspect answers in a row on one token retire at ban-after; any other
/// failure ends the run.
void count_suspect(self_ptr self, pool_entry& e, const provider_evidence& ev,
                   millis at) {
  if (ev.verdict != retire_reason::none) {
    retire(self, e, ev.verdict, at);
    return;
  }
  if (ev.suspect == retire_reason::none) {
    e.suspects = 0;
    return;
  }
  if (e.suspected != ev.suspect)
    e.suspects = 0;
  e.suspected = ev.suspect;
  if (++e.suspects >= self->state.ctx->settings.get()->ban_after)
    retire(self, e, ev.suspect, at);
}

void record_failure(self_ptr self, const std::string& name, millis at,
                    millis reset_at, const provider_evidence& ev) {
  auto& st = self->state;
  auto e = st.find(name);
  if (e == nullptr)
    return;
  auto window = st.ctx->settings.get()->exclusion_window;
  for (auto& m : ev.models) {
    auto& until = e->model_out[m.model];
    until = std::max(until, m.reset_at > at ? m.reset_at : at + window);
  }
  // A limit of one model's bucket only: the credential serves the others.
  bool model_only = reset_at == 0 && is_model_only(ev);
  bool provider_said = !ev.empty();
  if (!model_only && e->evidence.failed(at, reset_at, ev) && provider_said)
    save_evidence(self, *e, [] {});
  count_suspect(self, *e, ev, at);
  st.update(*e);
}

headroom standing(const pool_entry& e, millis now) {
  return headroom{to_caf(e.evidence.utilization(now)), e.evidence.status(now)};
}

/// A successful response's evidence: merged, stored, then answered with the
/// subscription's standing.
caf::result<headroom> observe(self_ptr self, const std::string& name,
                              const provider_evidence& ev) {
  auto& st = self->state;
  auto e = st.find(name);
  if (e == nullptr)
    return make_error(ec::unknown_subscription,
                      "unknown subscription '" + name + "'");
  // A success ends a run of suspect answers.
  e->suspects = 0;
  auto now = st.ctx->now();
  if (!e->evidence.observed(ev))
    return standing(*e, now);
  st.update(*e);
  check_utilization(self, *e);
  auto rp = self->make_response_promise<headroom>();
  save_evidence(self, *e, [self, rp, name]() mutable {
    auto e = self->state.find(name);
    rp.deliver(e ? standing(*e, self->state.ctx->now()) : headroom{});
  });
  return rp;
}

/// A subscription registered (again) under a name whose failures are still
/// recorded starts excluded, as it would after a restart.
void seed_exclusion(self_ptr self, const std::string& name) {
  auto now = self->state.ctx->now();
  auto window = self->state.ctx->settings.get()->exclusion_window;
  ask(self, self->state.store, store_request_timeout, failure_atom::value,
      now - window, now)
    .then(
      [=](std::vector<exclusion_seed>& seeds) {
        seeds.erase(
          std::remove_if(seeds.begin(), seeds.end(),
                         [&](auto& x) { return x.subscription != name; }),
          seeds.end());
        apply_seeds(self->state, seeds, false);
      },
      [=](caf::error& err) {
        SB_WARN("subscription-pool could not read the failures of {}: {}", name,
                render(err));
      });
}

subscription_change upserted(self_ptr self, subscription_upsert& up) {
  auto& st = self->state;
  // New here: registered now, or earlier by a request whose answer did not
  // come in time (the STORE wrote it after all); a rotation of it then
  // registers it too.
  bool known = st.find(up.row.id) != nullptr;
  if (!known)
    st.indexes[up.row.pool].add(up.row.id, up.row.name);
  auto& e = st.subs[up.row.id];
  e.id = up.row.id;
  e.name = up.row.name;
  e.provider = up.row.provider;
  e.pool = up.row.pool;
  e.token = std::move(up.row.token);
  e.token_sha256 = up.row.token_sha256;
  e.take_standing(up.row);
  e.take_credential(up.row);
  // Suspects count on one token.
  e.suspects = 0;
  st.place(e);
  st.tokens.add(e.name, e.token_sha256);
  st.tokens.set_provider(e.name, e.provider);
  st.tokens.set_refreshable(e.name, e.refreshable());
  st.publish_tokens();
  e.created_at = up.row.created_at;
  e.updated_at = up.row.updated_at;
  st.by_name[e.name] = e.id;
  subscription_change change;
  change.rotated = up.rotated;
  change.reloading.assign(e.members.begin(), e.members.end());
  std::sort(change.reloading.begin(), change.reloading.end());
  change.info
    = make_info(e, st.ctx->now(), st.ctx->settings.get()->exclusion_window);
  SB_INFO("subscription {} {}{}", e.name, up.rotated ? "rotated" : "registered",
          up.rotated ? fmt::format(" ({} agents get the new token)",
                                   change.reloading.size())
                     : std::string{});
  if (up.rotated)
    rotate_agents(self, change);
  if (!known)
    seed_exclusion(self, e.name);
  return change;
}

caf::result<subscription_change>
add_subscription(self_ptr self, const subscription_spec& spec) {
  auto rp = self->make_response_promise<subscription_change>();
  ask(self, self->state.store, store_request_timeout, sub_add_atom::value, spec,
      self->state.ctx->now())
    .then(
      [=](subscription_upsert& up) mutable { rp.deliver(upserted(self, up)); },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Drops a subscription the STORE no longer has; returns this node's
/// agents that counted on it.
std::vector<std::string> forget_subscription(pool_state& st,
                                             const std::string& name) {
  std::vector<std::string> members;
  if (auto i = st.by_name.find(name); i != st.by_name.end()) {
    for (auto& agent : st.subs[i->second].members) {
      st.seats.erase(agent);
      members.push_back(agent);
    }
    st.index_of(i->second).remove(i->second);
    st.subs.erase(i->second);
    st.by_name.erase(i);
  }
  st.tokens.remove(name);
  st.publish_tokens();
  return members;
}

void unassign(self_ptr self, const std::vector<std::string>& agents,
              const std::string& name) {
  auto dir = self->state.ctx->directory.get();
  for (auto& agent_name : agents)
    if (auto agent = dir->find(agent_name))
      self->send(agent, unassign_atom::value, name);
}

caf::result<std::vector<std::string>>
remove_subscription(self_ptr self, const std::string& name) {
  auto rp = self->make_response_promise<std::vector<std::string>>();
  ask(self, self->state.store, store_request_timeout, sub_rm_atom::value, name)
    .then(
      [=](std::vector<std::string>& agents) mutable {
        forget_subscription(self->state, name);
        SB_INFO("subscription {} removed; {} agents unassigned", name,
                agents.size());
        unassign(self, agents, name);
        rp.deliver(std::move(agents));
      },
      [=](caf::error& err) mutable {
        // The STORE has no such subscription: an earlier removal whose
        // answer did not come in time went through; this pool follows.
        if (is(err, ec::unknown_subscription) && self->state.find(name)) {
          SB_WARN("subscription {} is gone from the store; forgotten here too",
                  name);
          unassign(self, forget_subscription(self->state, name), name);
        }
        rp.deliver(std::move(err));
      });
  return rp;
}

/// The pool's view of every subscription plus failure counts of the last
/// 24 h and 2 h.
std::vector<subscription_info>
make_list(const pool_state& st, millis now,
          const std::vector<failure_count>& day,
          const std::vector<failure_count>& recent) {
  auto window = st.ctx->settings.get()->exclusion_window;
  std::map<std::string, subscription_info> infos;
  for (auto& [id, e] : st.subs)
    infos.emplace(e.name, make_info(e, now, window));
  for (auto& fc : day)
    if (auto i = infos.find(fc.subscription); i != infos.end()) {
      i->second.failures_24h += fc.count;
      i->second.failures_24h_by_kind[fc.kind] += fc.count;
    }
  for (auto& fc : recent)
    if (auto i = infos.find(fc.subscription); i != infos.end()) {
      i->second.failures_2h += fc.count;
      i->second.failures_2h_by_kind[fc.kind] += fc.count;
    }
  std::vector<subscription_info> result;
  result.reserve(infos.size());
  for (auto& [name, info] : infos)
    result.emplace_back(std::move(info));
  return result;
}

caf::result<std::vector<subscription_info>> list(self_ptr self) {
  auto rp = self->make_response_promise<std::vector<subscription_info>>();
  auto now = self->state.ctx->now();
  auto& store = self->state.store;
  ask(self, store, store_request_timeout, counts_atom::value,
      now - 24 * hour_ms)
    .then(
      [=](std::vector<failure_count>& day) mutable {
        ask(self, self->state.store, store_request_timeout, counts_atom::value,
            now - 2 * hour_ms)
          .then(
            [=](std::vector<failure_count>& recent) mutable {
              rp.deliver(make_list(self->state, now, day, recent));
            },
            [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// The exclusion window changed: rebuild the failure part of exclusions.
void reload_exclusions(self_ptr self) {
  auto now = self->state.ctx->now();
  auto window = self->state.ctx->settings.get()->exclusion_window;
  ask(self, self->state.store, store_request_timeout, failure_atom::value,
      now - window, now)
    .then(
      [=](std::vector<exclusion_seed>& seeds) {
        apply_seeds(self->state, seeds, true);
      },
      [=](caf::error& err) {
        SB_WARN("subscription-pool could not reload exclusions: {}",
                render(err));
      });
}

// -- checks where the data lands ---------------------------------------------

/// A message without a reply that failed its check: logged, and it changes
/// nothing.
void refused(const char* what, const caf::error& err) {
  SB_WARN("subscription-pool refused {}: {}", what, render(err));
}

/// May the sender of the current message say where `agent` counts? That
/// AGENT itself or the ADMIN only (agent_directory::speaks_for).
caf::error check_speaker(self_ptr self, const std::string& agent) {
  if (auto err = validate_name("agent name", agent))
    return err;
  auto dir = self->state.ctx->directory.get();
  if (!dir->find(agent))
    return make_error(ec::unknown_agent, "unknown agent '" + agent + "'");
  if (!dir->speaks_for(agent, self->current_sender()))
    return make_error(ec::forbidden, "only agent '" + agent
                                       + "' itself or the ADMIN may say "
                                         "where it counts");
  return caf::none;
}

caf::error check_id(int64_t id) {
  if (id < 0)
    return make_error(ec::invalid_argument,
                      "a subscription id is never negative, got "
                        + std::to_string(id));
  return caf::none;
}

caf::result<selection> checked_select(self_ptr self, const std::string& agent,
                                      int64_t from, const std::string& pool,
                                      const std::string& model,
                                      std::optional<double> ceiling) {
  if (auto err = check_speaker(self, agent))
    return err;
  if (auto err = check_id(from))
    return err;
  if (auto err = validate_name("pool name", pool))
    return err;
  if (auto err = validate_short_text("model", model))
    return err;
  // An AGENT asks for its utilization minus the margin: within -1..1.
  if (ceiling && !(std::isfinite(*ceiling) && std::abs(*ceiling) <= 1.0))
    return make_error(ec::invalid_argument,
                      "a utilization ceiling is a number from -1 to 1");
  return select(self, agent, from, pool, model, ceiling);
}

caf::result<selection> checked_assign(self_ptr self, const std::string& agent,
                                      int64_t from, const std::string& to,
                                      const std::string& pool, bool force) {
  if (auto err = check_speaker(self, agent))
    return err;
  if (auto err = check_id(from))
    return err;
  if (auto err = validate_name("subscription name", to))
    return err;
  if (auto err = validate_name("pool name", pool))
    return err;
  return assign(self, agent, to, pool, force);
}

/// Undoes a move whose commit failed, and only that move: the agent must
/// count where the move put it (or there, on a subscription removed since).
void release(self_ptr self, const std::string& agent, int64_t moved_from,
             int64_t moved_to) {
  auto err = check_speaker(self, agent);
  if (!err)
    err = check_id(moved_from);
  if (!err)
    err = check_id(moved_to);
  if (err) {
    refused("a release", err);
    return;
  }
  auto& st = self->state;
  auto seat = st.seat_of(agent);
  if (seat == moved_to || (seat == 0 && !st.find(moved_to)))
    st.seat(agent, moved_from);
}

/// An agent counts on `id` (0 = none): the ADMIN after `agent add`, or an
/// AGENT whose selection went unanswered (the POOL may have moved it).
void join(self_ptr self, const std::string& agent, int64_t id) {
  auto err = check_speaker(self, agent);
  if (!err && id != 0 && !self->state.find(id))
    err = make_error(ec::unknown_subscription,
                     "unknown subscription id " + std::to_string(id));
  if (err) {
    refused("a join", err);
    return;
  }
  self->state.seat(agent, id);
}

/// An agent was removed. Said by the AGENT as it goes; once the ADMIN has
/// dropped it from the directory, the word of anyone is true.
void leave(self_ptr self, const std::string& agent, int64_t id) {
  auto err = validate_name("agent name", agent);
  auto dir = self->state.ctx->directory.get();
  if (!err && dir->find(agent)
      && !dir->speaks_for(agent, self->current_sender()))
    err = make_error(ec::forbidden,
                     "only agent '" + agent + "' itself may say that it left");
  if (err) {
    refused("a leave", err);
    return;
  }
  if (self->state.seat_of(agent) == id)
    self->state.seat(agent, 0);
}

/// A failure recorded by an AGENT: when it arrived, the reset instant it
/// announced (bounded as the FRONT DOOR bounds it) and its evidence.
caf::error check_failure(const std::string& name, millis at, millis reset_at,
                         const provider_evidence& ev, millis now) {
  if (auto err = validate_name("subscription name", name))
    return err;
  if (at <= 0 || at > now + max_arrival_ahead)
    return make_error(ec::invalid_argument,
                      "a failure's instant must not be ahead of the daemon's "
                      "clock by more than a minute");
  if (reset_at < 0 || reset_at > now + 366 * day_ms)
    return make_error(ec::invalid_argument,
                      "reset instant must be within a year from now");
  return check_evidence(ev, now);
}

void failure(self_ptr self, const std::string& name, millis at, millis reset_at,
             const provider_evidence& ev) {
  if (auto err = check_failure(name, at, reset_at, ev, self->state.ctx->now()))
    refused("a failure", err);
  else
    record_failure(self, name, at, reset_at, ev);
}

caf::result<headroom> checked_observe(self_ptr self, const std::string& name,
                                      const provider_evidence& ev) {
  if (auto err = validate_name("subscription name", name))
    return err;
  if (auto err = check_evidence(ev, self->state.ctx->now()))
    return err;
  return observe(self, name, ev);
}

caf::result<subscription_change> checked_add(self_ptr self,
                                             const subscription_spec& spec) {
  if (auto err = validate(spec))
    return err;
  return add_subscription(self, spec);
}

caf::result<std::vector<std::string>> checked_remove(self_ptr self,
                                                     const std::string& name) {
  if (auto err = validate_name("subscription name", name))
    return err;
  return remove_subscription(self, name);
}

/// Stores `e`'s standing, then answers with it (a drain: with the agents
/// being moved off it, each asked only once the drain is stored).
caf::result<subscription_state_change>
store_and_answer(self_ptr self, const pool_entry& e, bool drain) {
  auto rp = self->make_response_promise<subscription_state_change>();
  save_standing(
    self, e, [self, rp, name = e.name, drain](const caf::error& err) mutable {
      auto& st = self->state;
      auto e = st.find(name);
      if (err || e == nullptr) {
        rp.deliver(err ? err
                       : make_error(ec::unknown_subscription,
                                    "unknown subscription '" + name + "'"));
        return;
      }
      subscription_state_change change;
      if (drain)
        change.moving = move_agents(self, *e);
      change.info = make_info(*e, st.ctx->now(),
                              st.ctx->settings.get()->exclusion_window);
      rp.deliver(std::move(change));
    });
  return rp;
}

/// drain | undrain | reset, stored before it is answered.
caf::result<subscription_state_change>
change_state(self_ptr self, const std::string& name, subscription_op op) {
  if (auto err = validate_name("subscription name", name))
    return err;
  if (op > subscription_op::reset)
    return make_error(ec::invalid_argument,
                      "unknown operation: drain, undrain or reset");
  auto& st = self->state;
  auto e = st.find(name);
  if (e == nullptr)
    return make_error(ec::unknown_subscription,
                      "unknown subscription '" + name + "'");
  auto now = st.ctx->now();
  switch (op) {
  case subscription_op::drain:
    e->drained = true;
    break;
  case subscription_op::undrain:
    e->drained = false;
    break;
  case subscription_op::reset:
    // Effective at once: no window, no evidence, no run of suspects.
    e->retired = retire_reason::none;
    e->retired_at = 0;
    e->suspects = 0;
    e->cleared_at = now;
    e->evidence = subscription_evidence{};
    e->model_out.clear();
    save_evidence(self, *e, [] {});
    break;
  }
  st.place(*e);
  st.update(*e);
  SB_INFO("subscription {}: {}", name, to_string(op));
  return store_and_answer(self, *e, op == subscription_op::drain);
}

/// At most `max_agents` agents on a subscription (0 = no cap).
caf::result<subscription_state_change>
set_cap(self_ptr self, const std::string& name, uint32_t max_agents) {
  if (auto err = validate_name("subscription name", name))
    return err;
  auto& st = self->state;
  auto e = st.find(name);
  if (e == nullptr)
    return make_error(ec::unknown_subscription,
                      "unknown subscription '" + name + "'");
  e->max_agents = max_agents;
  st.place(*e);
  return store_and_answer(self, *e, false);
}

/// The REFRESHER's word on a credential: shown by `subscription show`; a
/// dead one is retired (its agents moved, one alert).
void refresh_state_changed(self_ptr self, const credential_status& cs) {
  auto& st = self->state;
  auto e = st.find(cs.name);
  if (e == nullptr)
    return;
  auto now = st.ctx->now();
  bool lapsed = e->terms.kind == credential_kind::oauth
                && cs.state == refresh_state::backoff && e->terms.expires_at > 0
                && e->terms.expires_at <= now;
  if (e->terms.kind == credential_kind::oauth) {
    e->refresh = cs;
    if (lapsed)
      e->refresh.detail += "; the access token expired: out of selection";
  }
  if (lapsed != e->lapsed) {
    e->lapsed = lapsed;
    st.place(*e);
    st.tokens.set_refreshable(e->name, e->refreshable());
    st.publish_tokens();
    if (lapsed) {
      SB_WARN("subscription {}: its access token expired and its refresh "
              "fails ({}); out of selection, its agents move",
              e->name, cs.detail);
      move_agents(self, *e);
    }
  }
  if (cs.state == refresh_state::dead)
    retire(self, *e, retire_reason::dead_credential, self->state.ctx->now());
}

/// The counts of `status`: all pools, and each.
pool_status status(pool_state& st) {
  auto now = st.ctx->now();
  st.refresh(now);
  pool_status result;
  result.subscriptions = st.subs.size();
  result.selections = st.selections;
  result.exhausted = st.exhausted;
  for (auto& [id, e] : st.subs) {
    auto& counts = result.pools[e.pool];
    counts.provider = e.provider;
    ++counts.subscriptions;
    counts.agents += e.members.size();
    if (e.terms.expires_at > 0 && e.retired == retire_reason::none
        && (counts.soonest_expiry == 0
            || e.terms.expires_at < counts.soonest_expiry))
      counts.soonest_expiry = e.terms.expires_at;
    // Retired and drained ones are out of selection too.
    if (e.out()) {
      ++counts.excluded;
      ++result.excluded;
    }
  }
  for (auto& [name, index] : st.indexes) {
    auto excluded = index.excluded(now);
    result.excluded += excluded;
    if (auto i = result.pools.find(name); i != result.pools.end())
      i->second.excluded += excluded;
  }
  return result;
}

/// Several nodes: a commit found the pick stale; `seats` are the other
/// nodes' agents on `subs` (an AGENT relays them from the STORE). This
/// node's own agents are never another node's seats.
void seat_others(self_ptr self, const std::vector<int64_t>& subs,
                 const std::vector<agent_seat>& seats) {
  auto& st = self->state;
  auto dir = st.ctx->directory.get();
  std::unordered_map<int64_t, std::unordered_set<std::string>> by_sub;
  for (auto& seat : seats) {
    if (auto err = validate_name("agent name", seat.agent)) {
      refused("the other nodes' seats", err);
      return;
    }
    if (!dir->find(seat.agent))
      by_sub[seat.subscription].insert(seat.agent);
  }
  for (auto id : subs)
    st.seat_remote(id, std::move(by_sub[id]));
}

/// An agent saw its login's access token expired: the REFRESHER renews it.
void ask_refresh(self_ptr self, const std::string& name) {
  auto e = self->state.find(name);
  if (e != nullptr && e->terms.kind == credential_kind::oauth
      && self->state.refresher)
    self->send(self->state.refresher, refresh_atom::value, name);
}

} // namespace

pool_actor::behavior_type
subscription_pool(pool_actor::stateful_pointer<pool_state> self,
                  store_actor store, context_ptr ctx,
                  std::shared_ptr<const snapshot> snap) {
  self->state.store = std::move(store);
  self->state.ctx = std::move(ctx);
  init(self, *snap);
  return {
    [=](tick_atom, const std::string& pool) { check_recovered(self, pool); },
    [=](status_atom) {
      auto& st = self->state;
      st.refresh(st.ctx->now());
      return status(st);
    },
    [=](select_atom, const std::string& agent, int64_t from,
        const std::string& pool, const std::string& model) {
      return checked_select(self, agent, from, pool, model, std::nullopt);
    },
    [=](select_atom, const std::string& agent, int64_t from,
        const std::string& pool, const std::string& model, double ceiling) {
      return checked_select(self, agent, from, pool, model, ceiling);
    },
    [=](assign_atom, const std::string& agent, int64_t from,
        const std::string& to, const std::string& pool, bool force) {
      return checked_assign(self, agent, from, to, pool, force);
    },
    [=](sub_state_atom, const std::string& name, subscription_op op) {
      return change_state(self, name, op);
    },
    [=](sub_set_atom, const std::string& name, uint32_t max_agents) {
      return set_cap(self, name, max_agents);
    },
    [=](release_atom, const std::string& agent, int64_t moved_from,
        int64_t moved_to) { release(self, agent, moved_from, moved_to); },
    [=](failure_atom, const std::string& name, millis at, millis reset_at,
        const provider_evidence& ev) { failure(self, name, at, reset_at, ev); },
    [=](evidence_atom, const std::string& name, const provider_evidence& ev) {
      return checked_observe(self, name, ev);
    },
    [=](token_atom, int64_t id) -> caf::result<selection> {
      if (auto e = self->state.find(id))
        return make_selection(*e, self->state.ctx->now());
      return make_error(ec::unknown_subscription,
                        "unknown subscription id " + std::to_string(id));
    },
    [=](join_atom, const std::string& agent, int64_t id) {
      join(self, agent, id);
    },
    [=](leave_atom, const std::string& agent, int64_t id) {
      leave(self, agent, id);
    },
    [=](sub_add_atom, const subscription_spec& spec) {
      return checked_add(self, spec);
    },
    [=](sub_rm_atom, const std::string& name) {
      return checked_remove(self, name);
    },
    [=](sub_list_atom) { return list(self); },
    [=](settings_atom) { reload_exclusions(self); },
    [=](shared_atom, const std::shared_ptr<const snapshot>& snap) {
      merge_shared(self, *snap);
    },
    [=](refresh_atom, subscription_upsert& up) {
      // Known here unless it was removed meanwhile.
      if (self->state.find(up.row.id) != nullptr)
        upserted(self, up);
    },
    [=](refresh_atom, const credential_status& cs) {
      refresh_state_changed(self, cs);
    },
    [=](refresh_atom, const std::string& name) { ask_refresh(self, name); },
    [=](refresh_atom, const refresher_actor& refresher) {
      self->state.refresher = refresher;
    },
    [=](shared_atom, const std::vector<int64_t>& subs,
        const std::vector<agent_seat>& seats) {
      seat_others(self, subs, seats);
    },
  };
}

} // namespace sb
