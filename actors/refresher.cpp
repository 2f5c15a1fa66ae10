#include "actors/refresher.hpp"

#include "actors/logging.hpp"
#include "actors/timeouts.hpp"
#include "docker_client/http.hpp"
#include "docker_client/oauth_client.hpp"
#include "messages/backoff.hpp"
#include "messages/error.hpp"
#include "messages/time.hpp"

#include <caf/blocking_actor.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace sb {

millis refresh_due(millis expires_at, millis issued_at, uint64_t ahead_percent,
                   millis min_ahead, double jitter) {
  auto lifetime = std::max<millis>(expires_at - issued_at, 0);
  auto ahead = std::max<millis>(
    static_cast<millis>(lifetime * static_cast<double>(ahead_percent) / 100.0),
    min_ahead);
  ahead = std::min(ahead, lifetime / 2);
  auto spread = static_cast<millis>(ahead * 0.1 * std::clamp(jitter, 0.0, 1.0));
  return expires_at - ahead - spread;
}

millis refresh_backoff(uint32_t failures, millis base, millis cap,
                       millis retry_after, double jitter) {
  return backoff_wait(failures, base, cap, 0.2, jitter, retry_after);
}

namespace {

using self_ptr = refresher_ptr;

template<class Handle, class... Ts>
auto ask(self_ptr self, const Handle& dest, caf::timespan timeout, Ts&&... xs) {
  return request_within(self, *self->state.ctx->clock, dest, timeout,
                        std::forward<Ts>(xs)...);
}

millis ms(caf::timespan x) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(x).count();
}

double uniform(self_ptr self) {
  return std::uniform_real_distribution<double>{0.0, 1.0}(self->state.rng);
}

/// How long a claim holds: two calls of the endpoint and a margin, so a
/// node that died mid-refresh blocks the others no longer.
millis claim_lease(const daemon_options& o) {
  return 2 * ms(o.refresh_timeout) + 10000;
}

void tell_pool(self_ptr self, refresher_entry& e) {
  e.status.name = e.cred.name;
  e.told = e.status;
  self->send(self->state.pool, refresh_atom::value, e.status);
}

/// The POOL shows the next attempt too: told when it moved.
void tell_pool_if_changed(self_ptr self, refresher_entry& e) {
  auto& t = e.told;
  if (t.name != e.cred.name || t.state != e.status.state
      || t.detail != e.status.detail
      || t.next_attempt_at != e.status.next_attempt_at)
    tell_pool(self, e);
}

void alert(self_ptr self, const refresher_entry& e, std::string title,
           std::string message,
           notification_kind kind = notification_kind::expiring) {
  notification_info n;
  n.kind = kind;
  n.priority = notification_priority::high;
  n.subscription = e.cred.name;
  n.pool = e.cred.pool;
  n.reason = e.status.detail;
  n.title = std::move(title);
  n.message = std::move(message);
  n.created_at = self->state.ctx->now();
  ask(self, self->state.store, store_request_timeout, notify_atom::value,
      std::move(n))
    .then([](int64_t) {},
          [name = e.cred.name](caf::error& err) {
            SB_WARN("refresher could not store an alert about {}: {}", name,
                    render(err));
          });
}

/// The access token expires before the next attempt: one alert per
/// expiry.
void warn_if_late(self_ptr self, refresher_entry& e) {
  auto& c = e.cred;
  if (e.next_attempt < c.expires_at || e.warned_for == c.expires_at)
    return;
  e.warned_for = c.expires_at;
  SB_WARN("credential {} expires at {} before its refresh can be tried again "
          "({})",
          c.name, format_iso(c.expires_at), e.status.detail);
  alert(
    self, e, "Credential '" + c.name + "' expires before it can be refreshed",
    "The access token of subscription '" + c.name + "' (pool '" + c.pool
      + "') expires at " + format_iso(c.expires_at)
      + " and its token endpoint keeps failing (" + e.status.detail
      + "). Its agents are switched away when their requests fail; check "
        "the endpoint (anthropic-token-url, codex-token-url, --token-url).");
}

void schedule(self_ptr self, refresher_entry& e) {
  auto& o = self->state.ctx->opts;
  e.status.next_attempt_at
    = std::max(e.next_attempt,
               refresh_due(e.cred.expires_at, e.cred.issued_at, o.refresh_ahead,
                           ms(o.refresh_ahead_min), e.jitter));
}

void start(self_ptr self, refresher_entry& e);

/// Takes in what the STORE lists: new credentials, new expiries (another
/// node refreshed, a new login was imported), and drops removed ones.
void take_list(self_ptr self, std::vector<stored_credential>& list) {
  auto& st = self->state;
  std::map<std::string, refresher_entry> next;
  for (auto& c : list) {
    auto i = st.creds.find(c.name);
    auto& e = next[c.name];
    if (i != st.creds.end())
      e = std::move(i->second);
    else
      e.jitter = uniform(self);
    bool renewed = e.cred.refresh_sha256 != c.refresh_sha256
                   || e.cred.expires_at != c.expires_at;
    e.cred = std::move(c);
    if (renewed && e.status.state != refresh_state::ok && !e.in_flight
        && e.cred.retired == retire_reason::none) {
      // A new login (or another node's refresh) ends a backoff or a death.
      e.failures = 0;
      e.next_attempt = 0;
      e.status.state = refresh_state::ok;
      e.status.detail.clear();
      e.lapse_told = false;
    }
    schedule(self, e);
    if (e.cred.kind == credential_kind::oauth)
      tell_pool_if_changed(self, e);
  }
  st.creds = std::move(next);
}

void commit_grant(self_ptr self, const std::string& name);

/// How long before a static token expires its alert comes.
constexpr millis static_warning = 30 * day_ms;

/// A token of known expiry (no refresh): one alert 30 days ahead; retired
/// when it passes (its agents moved, one alert).
void watch_static(self_ptr self, refresher_entry& e, millis now) {
  auto& c = e.cred;
  if (now >= c.expires_at) {
    e.status.state = refresh_state::dead;
    e.status.detail = "the token expired at " + format_iso(c.expires_at);
    SB_WARN("the token of subscription {} expired at {}: a new token is "
            "needed",
            c.name, format_iso(c.expires_at));
    tell_pool(self, e);
    return;
  }
  if (now < c.expires_at - static_warning || e.warned_for == c.expires_at)
    return;
  e.warned_for = c.expires_at;
  auto days = (c.expires_at - now) / day_ms;
  SB_WARN("the token of subscription {} expires at {} (in {} days)", c.name,
          format_iso(c.expires_at), days);
  alert(self, e,
        "Token of '" + c.name + "' expires in " + std::to_string(days)
          + " days",
        "The token of subscription '" + c.name + "' (pool '" + c.pool
          + "') expires at " + format_iso(c.expires_at)
          + ". Add a new one before then (`switchboard subscription add "
          + c.name + " --token-file FILE`); when it passes, the subscription "
          + "is retired and its agents are moved.");
}

void tick(self_ptr self) {
  auto& st = self->state;
  st.ctx->clock->send_later(self, st.ctx->opts.refresh_interval,
                            tick_atom::value);
  if (st.listing)
    return;
  st.listing = true;
  ask(self, st.store, store_request_timeout, refresh_atom::value)
    .then(
      [self](std::vector<stored_credential>& list) {
        auto& st = self->state;
        st.listing = false;
        take_list(self, list);
        auto now = st.ctx->now();
        for (auto& [name, e] : st.creds) {
          if (e.unsaved) {
            commit_grant(self, name);
            continue;
          }
          if (e.in_flight || e.cred.retired != retire_reason::none
              || e.status.state == refresh_state::dead)
            continue;
          if (e.cred.kind == credential_kind::token) {
            watch_static(self, e, now);
            continue;
          }
          if (e.status.state == refresh_state::backoff && !e.lapse_told
              && now >= e.cred.expires_at) {
            // The POOL takes it out of selection (its agents move).
            e.lapse_told = true;
            tell_pool(self, e);
          }
          if (now >= e.status.next_attempt_at
              || (e.urgent && now >= e.next_attempt))
            start(self, e);
        }
      },
      [self](caf::error& err) {
        self->state.listing = false;
        SB_WARN("refresher cannot list the credentials: {}", render(err));
      });
}

/// The token endpoint, client id and user agent of a credential.
docker::oauth_call call_for(const daemon_options& o, const refresh_claim& c) {
  docker::oauth_call call;
  bool codex = c.cred.provider == provider_kind::codex;
  call.url = !c.token_url.empty() ? c.token_url
             : codex              ? o.codex_token_url
                                  : o.anthropic_token_url;
  call.client_id = codex ? o.codex_client_id : o.anthropic_client_id;
  call.user_agent = o.oauth_user_agent;
  call.refresh_token = c.refresh_token;
  call.timeout
    = std::chrono::duration_cast<std::chrono::milliseconds>(o.refresh_timeout);
  return call;
}

/// The blocking call, in a worker of its own; its answer comes back as a
/// message.
void spend(self_ptr self, const refresh_claim& claim) {
  auto call = call_for(self->state.ctx->opts, claim);
  auto me = caf::actor_cast<refresher_actor>(self);
  auto clock = self->state.ctx->clock;
  auto name = claim.cred.name;
  self->system().spawn<caf::detached>(
    [me, clock, name, call](caf::blocking_actor*) {
      docker::http_client http;
      auto out = docker::refresh_access_token(http, call, clock->now());
      caf::anon_send(me, refresh_atom::value, name, std::move(out));
    });
}

void claimed(self_ptr self, refresher_entry& e, refresh_claim& claim);

void start(self_ptr self, refresher_entry& e) {
  auto& st = self->state;
  e.in_flight = true;
  ask(self, st.store, store_request_timeout, refresh_atom::value, e.cred.name,
      st.ctx->now(), claim_lease(st.ctx->opts))
    .then(
      [self, name = e.cred.name](refresh_claim& claim) {
        auto i = self->state.creds.find(name);
        if (i != self->state.creds.end())
          claimed(self, i->second, claim);
      },
      [self, name = e.cred.name](caf::error& err) {
        SB_WARN("refresher cannot claim {}: {}", name, render(err));
        if (auto i = self->state.creds.find(name); i != self->state.creds.end())
          i->second.in_flight = false;
      });
}

void release(self_ptr self, const std::string& name,
             const std::string& rejected) {
  ask(self, self->state.store, store_request_timeout, release_atom::value, name,
      rejected)
    .then([](ok_atom) {},
          [name](caf::error& err) {
            SB_WARN("refresher cannot release its claim on {}: {}", name,
                    render(err));
          });
}

void declare_dead(self_ptr self, refresher_entry& e, const std::string& why) {
  e.status.state = refresh_state::dead;
  e.status.detail = why;
  e.status.next_attempt_at = 0;
  self->state.ctx->stats->credential_refreshed("dead");
  SB_WARN("credential {} is dead ({}): re-login needed; its refresh token is "
          "never sent again",
          e.cred.name, why);
  tell_pool(self, e);
}

void claimed(self_ptr self, refresher_entry& e, refresh_claim& claim) {
  auto now = self->state.ctx->now();
  bool same_chain = claim.cred.refresh_sha256 == e.cred.refresh_sha256;
  e.cred = claim.cred;
  if (!claim.claimed) {
    // Another node refreshes it now: look again when its claim ends.
    e.in_flight = false;
    e.next_attempt = claim.held_until;
    schedule(self, e);
    return;
  }
  if (!claim.rejected_sha256.empty()
      && claim.rejected_sha256 == claim.cred.refresh_sha256) {
    // The provider rejected this very token before: never again.
    e.in_flight = false;
    release(self, e.cred.name, {});
    declare_dead(self, e, "the provider rejected its refresh token");
    return;
  }
  schedule(self, e);
  if (!e.urgent && now < e.status.next_attempt_at && !same_chain) {
    // Someone refreshed it since the last look: not due any more.
    e.in_flight = false;
    release(self, e.cred.name, {});
    return;
  }
  e.urgent = false;
  e.sent_sha256 = claim.cred.refresh_sha256;
  spend(self, claim);
}

void commit_grant(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto i = st.creds.find(name);
  if (i == st.creds.end() || !i->second.unsaved || i->second.committing)
    return;
  i->second.committing = true;
  auto grant = *i->second.unsaved;
  ask(self, st.store, store_request_timeout, refresh_atom::value, grant,
      st.ctx->now())
    .then(
      [self, name](subscription_upsert& up) {
        auto& st = self->state;
        auto i = st.creds.find(name);
        if (i != st.creds.end()) {
          auto& e = i->second;
          e.unsaved.reset();
          e.committing = false;
          e.in_flight = false;
          e.failures = 0;
          e.next_attempt = 0;
          e.cred.expires_at = up.row.terms.expires_at;
          e.cred.issued_at = st.ctx->now();
          e.cred.refreshes = up.row.refreshes;
          e.cred.refreshed_at = up.row.refreshed_at;
          e.jitter = uniform(self);
          e.status.state = refresh_state::ok;
          e.status.detail.clear();
          e.lapse_told = false;
          schedule(self, e);
          tell_pool(self, e);
        }
        SB_INFO("credential {} refreshed; its access token expires at {}", name,
                format_iso(up.row.terms.expires_at));
        self->send(st.pool, refresh_atom::value, std::move(up));
      },
      [self, name](caf::error& err) {
        if (auto i = self->state.creds.find(name); i != self->state.creds.end())
          i->second.committing = false;
        // Its old refresh token is spent: this grant is the only way on.
        SB_ERROR("refresher cannot store the refreshed credential {}: {} "
                 "(trying again)",
                 name, render(err));
      });
}

void granted(self_ptr self, refresher_entry& e, refresh_outcome& out) {
  self->state.ctx->stats->credential_refreshed("ok");
  out.grant.name = e.cred.name;
  e.unsaved = std::move(out.grant);
  commit_grant(self, e.cred.name);
}

void failed(self_ptr self, refresher_entry& e, const refresh_outcome& out) {
  auto& o = self->state.ctx->opts;
  auto now = self->state.ctx->now();
  e.in_flight = false;
  ++e.failures;
  e.next_attempt = now
                   + refresh_backoff(e.failures, ms(o.refresh_backoff),
                                     ms(o.refresh_backoff_max), out.retry_after,
                                     uniform(self));
  e.status.state = refresh_state::backoff;
  e.status.detail = out.detail;
  schedule(self, e);
  self->state.ctx->stats->credential_refreshed("backoff");
  SB_WARN("refresh of {} failed ({}); attempt {} in a row, next at {}",
          e.cred.name, out.detail, e.failures, format_iso(e.next_attempt));
  release(self, e.cred.name, {});
  tell_pool(self, e);
  // One blip is ordinary; the second failure in a row is news, once per
  // streak (the first working refresh ends it).
  if (e.failures == 2)
    alert(self, e, "Refresh of credential '" + e.cred.name + "' is failing",
          "The token endpoint of subscription '" + e.cred.name + "' (pool '"
            + e.cred.pool + "') failed twice in a row (" + out.detail
            + "); the next attempt is at " + format_iso(e.next_attempt)
            + ". The access token still works until "
            + format_iso(e.cred.expires_at) + ".",
          notification_kind::refresh_failing);
  warn_if_late(self, e);
}

/// The provider rejected the refresh token sent: what the STORE holds
/// now decides. Another node rotated it meanwhile: use that.
void rejected(self_ptr self, refresher_entry& e, const refresh_outcome& out) {
  auto& st = self->state;
  ask(self, st.store, store_request_timeout, refresh_atom::value, e.cred.name,
      st.ctx->now(), claim_lease(st.ctx->opts))
    .then(
      [self, name = e.cred.name, out](refresh_claim& claim) {
        auto i = self->state.creds.find(name);
        if (i == self->state.creds.end())
          return;
        auto& e = i->second;
        e.in_flight = false;
        e.cred = claim.cred;
        if (claim.cred.refresh_sha256 != e.sent_sha256) {
          SB_INFO("credential {}: the provider rejected a refresh token that "
                  "was replaced meanwhile (another node's refresh or a new "
                  "login); using the stored one",
                  name);
          self->state.ctx->stats->credential_refreshed("recovered");
          release(self, name, {});
          schedule(self, e);
          return;
        }
        release(self, name, e.sent_sha256);
        declare_dead(self, e,
                     "the provider rejected its refresh token (" + out.detail
                       + ")");
      },
      [self, name = e.cred.name](caf::error& err) {
        SB_WARN("refresher cannot re-read {}: {}", name, render(err));
        if (auto i = self->state.creds.find(name); i != self->state.creds.end())
          i->second.in_flight = false;
      });
}

void answered(self_ptr self, const std::string& name, refresh_outcome& out) {
  auto i = self->state.creds.find(name);
  if (i == self->state.creds.end())
    return;
  auto& e = i->second;
  switch (out.result) {
  case refresh_outcome::verdict::granted:
    granted(self, e, out);
    return;
  case refresh_outcome::verdict::rejected:
    rejected(self, e, out);
    return;
  case refresh_outcome::verdict::transient:
    failed(self, e, out);
    return;
  }
}

} // namespace

refresher_actor::behavior_type refresher(refresher_ptr self, store_actor store,
                                         pool_actor pool, context_ptr ctx) {
  self->state.store = std::move(store);
  self->state.pool = std::move(pool);
  self->state.ctx = std::move(ctx);
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) { tick(self); },
    [=](refresh_atom, const std::string& name) {
      auto i = self->state.creds.find(name);
      if (i == self->state.creds.end() || i->second.urgent)
        return;
      auto& e = i->second;
      auto now = self->state.ctx->now();
      // The stored token still lives for a while: the agent had an older
      // one, and gets the stored one with the rotation of the last refresh.
      if (e.cred.expires_at - now > std::max<millis>(
            5000, (e.cred.expires_at - e.cred.issued_at) / 2)) {
        SB_INFO("credential {}: an agent's access token expired, the stored "
                "one lives until {}",
                name, format_iso(e.cred.expires_at));
        return;
      }
      SB_INFO("credential {}: an agent's access token expired; refreshing "
              "it now",
              name);
      e.urgent = true;
    },
    [=](refresh_atom, const std::string& name, refresh_outcome& out) {
      answered(self, name, out);
    },
    [=](status_atom) {
      std::vector<credential_status> out;
      for (auto& [name, e] : self->state.creds)
        out.push_back(e.status);
      return out;
    },
  };
}

} // namespace sb
