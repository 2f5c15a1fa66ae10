#include "actors/switch_policy.hpp"

#include "messages/error.hpp"

#include <algorithm>
#include <cstdio>

namespace sb {

namespace {

std::string name_or_none(const std::string& name) {
  return name.empty() ? std::string{"(none)"} : name;
}

} // namespace

std::string format_fraction(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", x);
  return buf;
}

namespace {

decision answer(outcome result, std::string reason) {
  decision d;
  d.result = result;
  d.reason = std::move(reason);
  return d;
}

caf::error contradiction(const std::string& what) {
  return make_error(ec::invalid_argument,
                    "the report's credential does not add up: " + what);
}

} // namespace

switch_policy::switch_policy(epoch initial) {
  epochs_.push_back(std::move(initial));
}

void switch_policy::drop_older(std::vector<millis>& xs, millis cutoff) {
  auto keep
    = std::find_if(xs.begin(), xs.end(), [&](millis t) { return t > cutoff; });
  xs.erase(xs.begin(), keep);
}

void switch_policy::push(epoch e) {
  epochs_.push_back(std::move(e));
  if (epochs_.size() > max_epochs)
    epochs_.erase(epochs_.begin());
}

const epoch* switch_policy::find(uint64_t generation) const {
  for (auto i = epochs_.rbegin(); i != epochs_.rend(); ++i)
    if (i->generation == generation)
      return &*i;
  return nullptr;
}

const epoch& switch_policy::in_force(millis t, millis settle_window) const {
  // The newest epoch whose token was applied before t ran the request,
  // unless t is within the settle window after that application: then the
  // one before it did (the request was sent before the change reached the
  // container). A report in the same millisecond still belongs to the
  // previous one (the safe side: it cannot cause a second switch). Two
  // switches close together: a report within the second one's window is
  // charged to the subscription that second switch left, not to an older
  // one.
  for (auto i = epochs_.rbegin(); i != epochs_.rend(); ++i) {
    if (i->applied_at == 0 || t <= i->applied_at)
      continue;
    if (t > i->applied_at + settle_window)
      return *i;
    auto before = std::next(i);
    return before != epochs_.rend() ? *before : *i;
  }
  return epochs_.front();
}

const epoch* switch_policy::newest_on(const std::string& sub,
                                      const std::string& sha) const {
  for (auto i = epochs_.rbegin(); i != epochs_.rend(); ++i)
    if (i->sub_name == sub && (sha.empty() || i->token_sha256 == sha))
      return &*i;
  return nullptr;
}

caf::expected<attribution>
switch_policy::attribute(const report_identity& id, millis arrived_at,
                         millis settle_window) const {
  if (id.empty()) {
    auto& e = in_force(arrived_at, settle_window);
    return attribution{e.sub_name, false, e.generation};
  }
  if (id.generation) {
    auto g = *id.generation;
    if (g > current().generation)
      return make_error(ec::invalid_argument,
                        "generation " + std::to_string(g)
                          + " is in the future: the agent is at generation "
                          + std::to_string(current().generation));
    auto e = find(g);
    if (e == nullptr) // older than the epochs kept: the AGENT looks it up
      return attribution{id.subscription, true, g};
    if (!id.subscription.empty() && id.subscription != e->sub_name)
      return contradiction("generation " + std::to_string(g) + " ran on '"
                           + name_or_none(e->sub_name) + "', not on '"
                           + id.subscription + "'");
    if (!id.token_sha256.empty() && !e->token_sha256.empty()
        && id.token_sha256 != e->token_sha256)
      return contradiction("generation " + std::to_string(g)
                           + " ran with another token");
    return attribution{e->sub_name, true, g};
  }
  auto e = newest_on(id.subscription, id.token_sha256);
  if (e == nullptr)
    return attribution{id.subscription, true, std::nullopt};
  return attribution{e->sub_name, true, e->generation};
}

decision switch_policy::decide(const report_facts& r,
                               const engine_settings& settings,
                               auto_switch_mode agent_mode,
                               const std::optional<inflight_facts>& inflight,
                               millis now) {
  if (r.kind == failure_kind::ignored)
    return answer(outcome::ignored, r.ignore_reason);
  if (!settings.auto_switch)
    return answer(outcome::disabled, "auto-switch is off");
  if (agent_mode == auto_switch_mode::off)
    return answer(outcome::disabled, "auto-switch is off for this agent");
  auto g = r.about.generation;
  if (g && *g == current().generation) {
    // About the assignment in force (or named explicitly): a switch in
    // flight already answers it; otherwise it counts.
    if (inflight) {
      decision d;
      d.verdict = decision::join;
      return d;
    }
    if (r.kind == failure_kind::concurrency)
      return about_concurrency(r, settings);
    return about_current(r, settings, now);
  }
  if (g)
    if (auto e = find(*g))
      return about_former(r, *e, settings, inflight);
  return answer(outcome::stale, "the agent is on '"
                                  + name_or_none(current().sub_name) + "' now");
}

decision switch_policy::about_former(
  const report_facts& r, const epoch& e, const engine_settings& settings,
  const std::optional<inflight_facts>& inflight) const {
  // The switch that left `e` is the epoch right after it.
  auto i = std::find_if(epochs_.begin(), epochs_.end(), [&](const epoch& x) {
    return x.generation == e.generation;
  });
  auto& next = *std::next(i);
  if (inflight && inflight->committed
      && next.generation == current().generation) {
    decision d;
    d.verdict = decision::join;
    return d;
  }
  auto settled_at = next.applied_at + settings.settle_window;
  if (next.applied_at == 0 || r.arrived_at <= settled_at) {
    auto d = answer(
      outcome::coalesced,
      next.applied_at == 0
        ? "charged to '" + name_or_none(e.sub_name) + "': the token of '"
            + name_or_none(next.sub_name) + "' is not applied yet"
        : "charged to '" + name_or_none(e.sub_name) + "': the token of '"
            + name_or_none(next.sub_name) + "' was applied at "
            + format_iso(next.applied_at) + ", reports until "
            + format_iso(settled_at) + " belong to that switch");
    d.switch_from = e.sub_name;
    d.switch_to = next.sub_name;
    d.switch_generation = next.generation;
    return d;
  }
  return answer(outcome::stale, "the agent is on '"
                                  + name_or_none(current().sub_name) + "' now");
}

decision switch_policy::about_current(const report_facts& r,
                                      const engine_settings& settings,
                                      millis now) {
  // Thresholds: failures of this kind on this subscription in the window.
  auto& failures = r.kind == failure_kind::rate_limit ? rate_limit_failures_
                                                      : auth_failures_;
  failures.push_back(r.arrived_at);
  drop_older(failures, r.arrived_at - settings.threshold_window);
  auto count = static_cast<uint32_t>(failures.size());
  auto threshold = r.kind == failure_kind::rate_limit
                     ? settings.rate_limit_threshold
                     : settings.auth_threshold;
  if (count < threshold) {
    auto d = answer(outcome::below_threshold,
                    std::to_string(count) + " of " + std::to_string(threshold)
                      + " " + to_string(r.kind) + " failures within "
                      + format_duration(settings.threshold_window));
    d.event_count = count;
    return d;
  }
  if (auto d = over_budget(settings, now)) {
    d->event_count = count;
    return *d;
  }
  decision d;
  d.verdict = decision::switch_now;
  d.event_count = count;
  return d;
}

decision switch_policy::about_concurrency(const report_facts& r,
                                          const engine_settings& settings) {
  // A gap longer than the grace ends a run: it starts again here.
  auto grace = settings.concurrency_grace;
  auto at = r.arrived_at;
  if (concurrency_last_ == 0 || at - concurrency_last_ > grace)
    concurrency_since_ = at;
  concurrency_last_ = std::max(concurrency_last_, at);
  auto lasted = std::max<millis>(at - concurrency_since_, 0);
  if (lasted < grace) {
    auto d = answer(
      outcome::below_threshold,
      "too many concurrent requests for " + format_duration(lasted)
        + "; the agent moves once they persist " + format_duration(grace));
    d.retry_after_ms = std::min<millis>(grace - lasted, 1000);
    return d;
  }
  if (auto d = over_budget(settings, at))
    return *d;
  decision d;
  d.verdict = decision::switch_now;
  return d;
}

std::optional<decision>
switch_policy::over_budget(const engine_settings& settings, millis now) {
  drop_older(recent_switches_, now - settings.budget_window);
  if (settings.switch_budget > 0
      && recent_switches_.size() >= settings.switch_budget)
    return held(settings, now);
  return std::nullopt;
}

decision switch_policy::decide_headroom(
  const report_facts& r, const headroom_facts& h,
  const engine_settings& settings, auto_switch_mode agent_mode,
  const std::optional<inflight_facts>& inflight, millis now) {
  auto g = r.about.generation;
  bool current_one = g && *g == current().generation;
  auto elsewhere = answer(
    outcome::observed, "evidence about '" + name_or_none(r.about.subscription)
                         + "' recorded; the agent is on '"
                         + name_or_none(current().sub_name) + "'");
  auto& threshold = settings.switch_at_utilization;
  bool pressure
    = h.rejected
      || (threshold && h.utilization && *h.utilization >= *threshold - 1e-9);
  if (!pressure) {
    if (!current_one)
      return elsewhere;
    auto util = h.utilization ? format_fraction(*h.utilization)
                              : std::string{"unknown"};
    return answer(
      outcome::observed,
      "utilization " + util
        + (threshold
             ? " is below switch-at-utilization " + format_fraction(*threshold)
             : std::string{"; switch-at-utilization is off"}));
  }
  if (!settings.auto_switch)
    return answer(outcome::disabled, "auto-switch is off");
  if (agent_mode == auto_switch_mode::off)
    return answer(outcome::disabled, "auto-switch is off for this agent");
  if (current_one) {
    if (inflight) {
      decision d;
      d.verdict = decision::join;
      return d;
    }
    if (auto d = over_budget(settings, now))
      return *d;
    decision d;
    d.verdict = decision::switch_now;
    return d;
  }
  // About an assignment the agent is leaving or left: the switch that left
  // it answers (joined or coalesced), else it is only evidence.
  if (g)
    if (auto e = find(*g)) {
      auto d = about_former(r, *e, settings, inflight);
      if (d.verdict != decision::answer || d.result != outcome::stale)
        return d;
    }
  return elsewhere;
}

decision switch_policy::held(const engine_settings& settings, millis now) {
  auto d = answer(outcome::held, "switch budget of "
                                   + std::to_string(settings.switch_budget)
                                   + " per window used up");
  d.held_until = recent_switches_.front() + settings.budget_window;
  d.retry_after_ms = std::max<millis>(d.held_until - now, 0);
  // One alert per budget window, not one per report.
  if (held_alert_at_ == 0 || now - held_alert_at_ >= settings.budget_window) {
    held_alert_at_ = now;
    d.alert = true;
  }
  return d;
}

void switch_policy::committed(const epoch& next, trigger by) {
  if (next.sub_id != current().sub_id) {
    rate_limit_failures_.clear();
    auth_failures_.clear();
    concurrency_since_ = 0;
    concurrency_last_ = 0;
  }
  if (by == trigger::automatic || by == trigger::headroom)
    recent_switches_.push_back(next.committed_at);
  push(next);
}

void switch_policy::applied(uint64_t generation, millis at) {
  for (auto& e : epochs_)
    if (e.generation == generation && e.applied_at == 0)
      e.applied_at = at;
}

void switch_policy::unassigned(millis at) {
  // No token to apply: in force at once.
  push(epoch{current().generation, 0, {}, {}, at, at});
}

void switch_policy::know_token(const std::string& sha256) {
  if (epochs_.back().token_sha256.empty())
    epochs_.back().token_sha256 = sha256;
}

uint32_t switch_policy::recent_switches(millis now, millis window) const {
  return static_cast<uint32_t>(
    std::count_if(recent_switches_.begin(), recent_switches_.end(),
                  [&](millis t) { return t > now - window; }));
}

} // namespace sb
