#include "actors/switch_policy.hpp"

#include <algorithm>

namespace sb {

namespace {

std::string name_or_none(const std::string& name) {
  return name.empty() ? std::string{"(none)"} : name;
}

decision answer(outcome result, std::string reason) {
  decision d;
  d.result = result;
  d.reason = std::move(reason);
  return d;
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

attribution switch_policy::attribute(const std::string& named,
                                     millis arrived_at) const {
  if (!named.empty())
    return {named, true};
  for (auto i = epochs_.rbegin(); i != epochs_.rend(); ++i)
    if (i->since < arrived_at)
      return {i->sub_name, false};
  return {epochs_.front().sub_name, false};
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
  // A switch is being selected, committed or applied: join it, unless the
  // report names a subscription the switch is not about.
  if (inflight
      && (!r.about.named || r.about.subscription == inflight->from
          || r.about.subscription == inflight->to)) {
    decision d;
    d.verdict = decision::join;
    return d;
  }
  auto& cur = current();
  if (r.about.subscription != cur.sub_name)
    return answer(outcome::stale,
                  "the agent is on '" + name_or_none(cur.sub_name) + "' now");
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
  drop_older(recent_switches_, now - settings.budget_window);
  if (settings.switch_budget > 0
      && recent_switches_.size() >= settings.switch_budget) {
    auto d = held(settings, now);
    d.event_count = count;
    return d;
  }
  decision d;
  d.verdict = decision::switch_now;
  d.event_count = count;
  return d;
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
  }
  if (by == trigger::automatic)
    recent_switches_.push_back(next.since);
  push(next);
}

void switch_policy::unassigned(millis at) {
  push(epoch{current().generation, 0, {}, at});
}

uint32_t switch_policy::recent_switches(millis now, millis window) const {
  return static_cast<uint32_t>(
    std::count_if(recent_switches_.begin(), recent_switches_.end(),
                  [&](millis t) { return t > now - window; }));
}

} // namespace sb
