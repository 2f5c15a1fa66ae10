#include "actors/agent_switch.hpp"

#include "actors/logging.hpp"
#include "messages/error.hpp"

#include <caf/scheduled_actor.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>

namespace sb::agent_flow {

namespace {

constexpr size_t max_epochs = 16;

} // namespace

millis now_of(agent_ptr self) {
  return self->state.ctx->clock();
}

static std::shared_ptr<const engine_settings> settings_of(agent_ptr self) {
  return self->state.ctx->board.get();
}

/// Sends a line to the watchers, if there are any.
void emit(agent_ptr self, const std::string& line) {
  if (self->state.ctx->watchers.load() > 0)
    self->send(self->state.admin, watch_atom::value, line);
}

void flush_reports(agent_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.queued.empty())
    return;
  auto reports = std::make_shared<std::vector<queued_report>>();
  reports->swap(st.queued);
  std::vector<event_info> events;
  events.swap(st.queued_events);
  self->request(st.store, store_timeout, event_atom::value, std::move(events))
    .then(
      [=](std::vector<int64_t>&) {
        for (auto& q : *reports) {
          classification cls{q.kind, q.ignore_reason};
          if (q.kind != failure_kind::ignored)
            tell_pool(self, q.about, q.arrived_at, q.reset_at);
          report_facts facts{q.status, q.named, q.arrived_at, q.reset_at};
          decide(self, facts, cls, q.about, q.rp);
        }
      },
      [=](caf::error& err) {
        SB_ERROR("agent {}: could not record {} failure event(s): {}",
                 self->state.agent_name, reports->size(), render(err));
        for (auto& q : *reports)
          q.rp.deliver(err);
      });
}

bool watched(agent_ptr self) {
  return self->state.ctx->watchers.load() > 0;
}

void tell_pool(agent_ptr self, const std::string& sub, millis at,
               millis reset_at) {
  auto& st = self->state;
  bool same = sub == st.told_sub;
  if (same && at < st.told_at + 1000 && reset_at <= st.told_reset)
    return;
  st.told_reset = same ? std::max(st.told_reset, reset_at) : reset_at;
  st.told_sub = sub;
  st.told_at = at;
  self->send(st.pool, failure_atom::value, sub, at, reset_at);
}

caf::optional<std::string> name_or_null(const std::string& name) {
  if (name.empty())
    return caf::none;
  return name;
}

static void drop_older(std::vector<millis>& xs, millis cutoff) {
  auto keep
    = std::find_if(xs.begin(), xs.end(), [&](millis t) { return t > cutoff; });
  xs.erase(xs.begin(), keep);
}

/// True if the container now runs with the token that was applied. An agent
/// without a container has nothing to apply; a named container that is gone
/// stays behind, so the reconciler keeps reporting it.
bool applied_ok(const agent_state& st, const std::string& result) {
  return result == "hot_reloaded" || result == "restarted"
         || result == "started" || result == "running"
         || (result == "no_container" && st.container.empty());
}

/// A failed application is retried with exponential backoff (a fresh
/// failure doubles the wait, up to switchboard.retry-max). not_running and a
/// vanished container are no failures to retry quickly: while the container
/// stays behind, the agent checks it again every reconcile-interval (the
/// periodic reconciler, without a broadcast to every agent of the fleet).
static void schedule_retry(agent_ptr self, const std::string& result) {
  auto& st = self->state;
  if (result.rfind("failed", 0) != 0) {
    st.retry_delay = caf::timespan{0};
    if (st.applied_generation < st.generation && !st.reconcile_timer) {
      st.reconcile_timer = true;
      self->delayed_send(self, st.ctx->opts.reconcile_interval,
                         reconcile_atom::value);
    }
    return;
  }
  auto& o = st.ctx->opts;
  st.retry_delay = st.retry_delay.count() == 0
                     ? o.retry_initial
                     : std::min(st.retry_delay * 2, o.retry_max);
  SB_WARN("agent {}: token application failed ({}); retrying in {} ms",
          st.agent_name, result,
          std::chrono::duration_cast<std::chrono::milliseconds>(st.retry_delay)
            .count());
  self->delayed_send(self, st.retry_delay, reconcile_atom::value);
}

void run_deferred(agent_ptr self) {
  auto& st = self->state;
  while (!st.inflight && !st.deferred.empty()) {
    auto f = std::move(st.deferred.front());
    st.deferred.erase(st.deferred.begin());
    f();
  }
}

/// Ends the switch in flight: the first waiter gets `res`, the others the
/// same result as `coalesced`.
static void finish(agent_ptr self, report_result res) {
  auto& st = self->state;
  auto inf = std::move(*st.inflight);
  st.inflight.reset();
  for (size_t i = 0; i < inf.waiters.size(); ++i) {
    auto r = res;
    if (i > 0) {
      r.reason = std::string{"joined the switch in flight ("}
                 + to_string(res.result) + ")";
      r.result = outcome::coalesced;
    }
    inf.waiters[i].deliver(std::move(r));
  }
  if (inf.waiters.size() > 1)
    SB_INFO("agent {}: {} reports coalesced into one {}", st.agent_name,
            inf.waiters.size() - 1, to_string(res.result));
  run_deferred(self);
}

static void finish_error(agent_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto inf = std::move(*st.inflight);
  st.inflight.reset();
  SB_ERROR("agent {}: {} switch failed: {}", st.agent_name, inf.trigger,
           render(err));
  for (auto& rp : inf.waiters)
    rp.deliver(err);
  run_deferred(self);
}

/// Records an apply result on the agent row and its history row, then calls
/// `done` (also if recording failed: the apply happened either way).
void record_apply(agent_ptr self, uint64_t generation, std::string result,
                  std::function<void(const std::string&)> done) {
  auto& st = self->state;
  if (st.applying == generation)
    st.applying = 0;
  if (result == "superseded") {
    // A newer generation was applied meanwhile: nothing to record.
    done(result);
    return;
  }
  apply_record rec;
  rec.agent = st.agent_name;
  rec.generation = generation;
  rec.result = result;
  rec.applied = applied_ok(st, result);
  rec.at = now_of(self);
  st.last_apply = result;
  st.last_apply_at = rec.at;
  if (rec.applied && generation > st.applied_generation)
    st.applied_generation = generation;
  if (generation == st.generation)
    schedule_retry(self, result);
  SB_INFO("agent {}: token of generation {} applied: {}", st.agent_name,
          generation, result);
  if (watched(self))
    emit(self, "apply " + st.agent_name + " generation "
                 + std::to_string(generation) + " " + result);
  self->request(st.store, store_timeout, applied_atom::value, rec)
    .then([=](ok_atom) { done(result); },
          [=](caf::error& err) {
            SB_WARN("agent {}: could not record apply result: {}",
                    self->state.agent_name, render(err));
            done(result);
          });
}

/// Hands the token of `generation` to the CONTAINER SUPERVISOR.
void apply_token(agent_ptr self, uint64_t generation, secret token,
                 std::function<void(const std::string&)> done) {
  auto& st = self->state;
  container_request req;
  req.agent = st.agent_name;
  req.container = st.container;
  req.op = "apply";
  req.generation = generation;
  req.token = std::move(token);
  st.applying = generation;
  auto timeout = st.ctx->opts.health_timeout + st.ctx->opts.stop_timeout
                 + st.ctx->opts.docker_timeout * 4;
  self->request(st.supervisor, timeout, apply_atom::value, std::move(req))
    .then(
      [=](std::string& result) {
        record_apply(self, generation, std::move(result), done);
      },
      [=](caf::error& err) {
        record_apply(self, generation, "failed: " + render(err), done);
      });
}

/// Puts a high-priority alert about this agent into the notification outbox.
static void store_alert(agent_ptr self, std::string kind, std::string title,
                        std::string message) {
  auto& st = self->state;
  notification_info n;
  n.agent = st.agent_name;
  n.kind = std::move(kind);
  n.priority = "high";
  n.title = std::move(title);
  n.message = std::move(message);
  n.created_at = now_of(self);
  self->request(st.store, store_timeout, notify_atom::value, n)
    .then([](int64_t) {},
          [=](caf::error& err) {
            SB_WARN("agent {}: could not store alert: {}",
                    self->state.agent_name, render(err));
          });
}

static std::string phrase(failure_kind kind) {
  switch (kind) {
  case failure_kind::rate_limit:
    return "a rate-limit error";
  case failure_kind::auth:
    return "an authentication failure";
  default:
    return "a manual reassignment";
  }
}

/// Commits the switch in flight to `sel` and applies it.
static void commit_and_apply(agent_ptr self, selection sel) {
  auto& st = self->state;
  auto& inf = *st.inflight;
  inf.to_id = sel.id;
  inf.to_name = sel.name;
  switch_record rec;
  rec.agent = st.agent_name;
  rec.from_id = inf.from_id;
  rec.from_name = inf.from_name;
  rec.to_id = sel.id;
  rec.to_name = sel.name;
  rec.trigger = inf.trigger;
  rec.failure_kind = to_string(inf.kind);
  rec.event_count = inf.event_count;
  rec.expected_generation = st.generation;
  rec.at = now_of(self);
  if (inf.trigger == "auto") {
    rec.notify = true;
    rec.title = "Subscription auto-switched to '" + sel.name + "'";
    rec.message = "Agent '" + st.agent_name
                  + "' was automatically switched from subscription '"
                  + inf.from_name + "' to '" + sel.name + "' after "
                  + phrase(inf.kind) + " (" + std::to_string(inf.event_count)
                  + " failure(s) within the threshold window); '" + sel.name
                  + "' had the fewest agents among the "
                  + "subscriptions without a recent failure.";
  }
  self->request(st.store, store_timeout, commit_atom::value, rec)
    .then(
      [=](switch_commit& c) {
        auto& st = self->state;
        auto& inf = *st.inflight;
        st.generation = c.generation;
        st.sub_id = sel.id;
        st.sub_name = sel.name;
        if (inf.trigger != "rotation") {
          st.last_switch_at = rec.at;
          st.epochs.push_back(assignment_epoch{rec.at, sel.id, sel.name});
          if (st.epochs.size() > max_epochs)
            st.epochs.erase(st.epochs.begin());
          st.rate_limit_failures.clear();
          st.auth_failures.clear();
        }
        if (inf.trigger == "auto")
          st.recent_switches.push_back(rec.at);
        SB_INFO("agent {}: {} {} -> {} committed (generation {}, {} "
                "events)",
                st.agent_name, inf.trigger,
                inf.from_name.empty() ? "(none)" : inf.from_name, sel.name,
                c.generation, inf.event_count);
        if (watched(self))
          emit(self, "switch " + st.agent_name + " "
                       + (inf.from_name.empty() ? "(none)" : inf.from_name)
                       + " -> " + sel.name + " generation "
                       + std::to_string(c.generation) + " (" + inf.trigger
                       + ")");
        if (st.ctx->opts.fault_crash_after_commit) {
          SB_ERROR("test fault point: killing the daemon after the commit");
          spdlog::default_logger()->flush();
          std::raise(SIGKILL);
        }
        auto generation = c.generation;
        apply_token(self, generation, sel.token,
                    [=](const std::string& result) {
                      auto& inf = *self->state.inflight;
                      report_result res;
                      res.agent = self->state.agent_name;
                      res.result = inf.trigger == "auto"     ? outcome::switched
                                   : inf.trigger == "manual" ? outcome::assigned
                                                             : outcome::rotated;
                      res.from = name_or_null(inf.from_name);
                      res.to = name_or_null(inf.to_name);
                      res.generation = generation;
                      res.failure_kind = to_string(inf.kind);
                      res.event_count = inf.event_count;
                      res.apply = result;
                      finish(self, std::move(res));
                    });
      },
      [=](caf::error& err) {
        auto& inf = *self->state.inflight;
        self->send(self->state.pool, release_atom::value,
                   self->state.agent_name, inf.from_id, sel.id);
        finish_error(self, err);
      });
}

/// Starts a switch: `trigger` "auto" selects the best alternative, "manual"
/// moves to `target`, "rotation" re-applies the current subscription.
void start_switch(agent_ptr self, std::string trigger, failure_kind kind,
                  uint32_t event_count, report_promise rp, std::string target) {
  auto& st = self->state;
  inflight_switch inf;
  inf.trigger = trigger;
  inf.from_id = st.sub_id;
  inf.from_name = st.sub_name;
  inf.kind = kind;
  inf.event_count = event_count;
  inf.waiters.push_back(std::move(rp));
  st.inflight = std::move(inf);
  auto on_selected = [=](selection& sel) {
    auto& st = self->state;
    auto& inf = *st.inflight;
    report_result res;
    res.agent = st.agent_name;
    res.from = name_or_null(inf.from_name);
    res.generation = st.generation;
    res.failure_kind = to_string(inf.kind);
    res.event_count = inf.event_count;
    if (!sel.found) {
      auto now = now_of(self);
      res.result = outcome::no_alternative;
      res.reset_at = sel.earliest_reset;
      res.retry_after_ms
        = sel.earliest_reset > now ? sel.earliest_reset - now : 0;
      res.reason = "every other subscription is excluded or there is none";
      SB_WARN("agent {}: no alternative to {} (earliest reset {})",
              st.agent_name, inf.from_name,
              sel.earliest_reset == 0 ? std::string{"unknown"}
                                      : format_iso(sel.earliest_reset));
      // At most one "pool exhausted" alert per agent per hour.
      if (st.exhausted_alert_at == 0
          || now - st.exhausted_alert_at >= hour_ms) {
        st.exhausted_alert_at = now;
        store_alert(self, "pool_exhausted",
                    "No alternative subscription for '" + st.agent_name + "'",
                    "Agent '" + st.agent_name + "' failed on '" + inf.from_name
                      + "' and every other subscription is excluded"
                      + (sel.earliest_reset == 0
                           ? std::string{"."}
                           : "; the earliest known reset is "
                               + format_iso(sel.earliest_reset) + "."));
      }
      finish(self, std::move(res));
      return;
    }
    if (inf.trigger == "manual" && sel.id == st.sub_id) {
      res.result = outcome::unchanged;
      res.to = name_or_null(sel.name);
      res.reason = "the agent is on that subscription already";
      finish(self, std::move(res));
      return;
    }
    commit_and_apply(self, std::move(sel));
  };
  auto on_error = [=](caf::error& err) { finish_error(self, err); };
  if (trigger == "auto")
    self
      ->request(st.pool, pool_timeout, select_atom::value, st.agent_name,
                st.sub_id)
      .then(on_selected, on_error);
  else if (trigger == "manual")
    self
      ->request(st.pool, pool_timeout, assign_atom::value, st.agent_name,
                st.sub_id, target)
      .then(on_selected, on_error);
  else
    self->request(st.pool, pool_timeout, token_atom::value, st.sub_id)
      .then(on_selected, on_error);
}

/// Steps 4-7 of a report whose event is durable.
void decide(agent_ptr self, const report_facts& r, const classification& cls,
            const std::string& about, report_promise rp) {
  auto& st = self->state;
  report_result res;
  res.agent = st.agent_name;
  res.from = name_or_null(about);
  res.generation = st.generation;
  res.failure_kind = to_string(cls.kind);
  auto done = [&](outcome o, std::string reason) {
    res.result = o;
    res.reason = std::move(reason);
    SB_INFO("agent {}: report {} on {} -> {} ({})", st.agent_name, r.status,
            about, to_string(o), res.reason);
    if (watched(self))
      emit(self, "report " + st.agent_name + " " + std::to_string(r.status)
                   + " on " + about + " -> " + to_string(o));
    rp.deliver(res);
  };
  if (st.removed) {
    rp.deliver(make_error(ec::unknown_agent,
                          "agent '" + st.agent_name + "' was removed"));
    return;
  }
  if (cls.kind == failure_kind::ignored) {
    done(outcome::ignored, cls.reason);
    return;
  }
  auto settings = settings_of(self);
  if (!settings->auto_switch) {
    done(outcome::disabled, "auto-switch is off");
    return;
  }
  if (st.auto_switch == "off") {
    done(outcome::disabled, "auto-switch is off for this agent");
    return;
  }
  if (st.inflight) {
    auto& inf = *st.inflight;
    // A switch is being selected, committed or applied: join it, unless the
    // report names a subscription the switch is not about.
    if (!r.named || about == inf.from_name || about == inf.to_name) {
      inf.waiters.push_back(std::move(rp));
      return;
    }
  }
  if (about != st.sub_name) {
    res.to = name_or_null(st.sub_name);
    res.retry_after_ms = 0;
    done(outcome::stale,
         "the agent is on '"
           + (st.sub_name.empty() ? std::string{"(none)"} : st.sub_name)
           + "' now");
    return;
  }
  // Thresholds: failures of this kind on this subscription in the window.
  auto at = r.arrived_at;
  auto& failures = cls.kind == failure_kind::rate_limit ? st.rate_limit_failures
                                                        : st.auth_failures;
  failures.push_back(at);
  drop_older(failures, at - settings->threshold_window);
  res.event_count = static_cast<uint32_t>(failures.size());
  auto threshold = cls.kind == failure_kind::rate_limit
                     ? settings->rate_limit_threshold
                     : settings->auth_threshold;
  if (failures.size() < threshold) {
    done(outcome::below_threshold,
         std::to_string(failures.size()) + " of " + std::to_string(threshold)
           + " " + to_string(cls.kind) + " failures within "
           + std::to_string(settings->threshold_window / 1000) + "s");
    return;
  }
  // Budget: at most N switches per window; past it, hold and alert once.
  auto now = now_of(self);
  drop_older(st.recent_switches, now - settings->budget_window);
  if (settings->switch_budget > 0
      && st.recent_switches.size() >= settings->switch_budget) {
    auto until = st.recent_switches.front() + settings->budget_window;
    res.retry_after_ms = until > now ? until - now : 0;
    if (st.held_alert_at == 0
        || now - st.held_alert_at >= settings->budget_window) {
      st.held_alert_at = now;
      store_alert(self, "held",
                  "Agent '" + st.agent_name + "' held on '" + st.sub_name + "'",
                  "Agent '" + st.agent_name + "' switched "
                    + std::to_string(st.recent_switches.size())
                    + " times within the budget window; it stays on '"
                    + st.sub_name + "' until " + format_iso(until)
                    + " instead of flapping.");
      SB_WARN("agent {}: switch budget used up; held until {}", st.agent_name,
              format_iso(until));
    }
    done(outcome::held, "switch budget of "
                          + std::to_string(settings->switch_budget)
                          + " per window used up");
    return;
  }
  start_switch(self, "auto", cls.kind, res.event_count, std::move(rp));
}

} // namespace sb::agent_flow
