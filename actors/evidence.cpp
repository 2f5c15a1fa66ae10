#include "actors/evidence.hpp"

#include <algorithm>

namespace sb {

namespace {

std::optional<double> from_caf(const caf::optional<double>& x) {
  return x ? std::optional<double>{*x} : std::nullopt;
}

caf::optional<double> to_caf(const std::optional<double>& x) {
  return x ? caf::optional<double>{*x} : caf::none;
}

} // namespace

millis failure_reset(const provider_evidence& e) {
  auto result = std::max(e.retry_at, e.text_reset_at);
  if (e.status == provider_status::rejected)
    result = std::max(result, e.reset_at);
  for (auto* w : {&e.five_hour, &e.seven_day})
    if (w->utilization && *w->utilization >= 1.0)
      result = std::max(result, w->reset_at);
  return result;
}

bool is_model_only(const provider_evidence& e) {
  return !e.models.empty() && failure_reset(e) == 0
         && e.verdict == retire_reason::none
         && e.suspect == retire_reason::none;
}

subscription_evidence::subscription_evidence(const stored_evidence& s)
    : status_(s.status), status_at_(s.status_at),
      status_reset_(s.status_reset), five_hour_{from_caf(s.utilization_5h),
                                                s.utilization_5h_at, s.reset_5h,
                                                5 * hour_ms},
      seven_day_{from_caf(s.utilization_7d), s.utilization_7d_at, s.reset_7d,
                 7 * day_ms},
      evidence_at_(s.evidence_at), readmitted_at_(s.readmitted_at) {
  // nop
}

millis subscription_evidence::window::valid_until() const {
  if (!utilization)
    return 0;
  return reset_at != 0 ? reset_at : seen_at + length;
}

bool subscription_evidence::take_newer(const stored_evidence& s) {
  if (s.evidence_at <= evidence_at_)
    return false;
  subscription_evidence theirs{s};
  // The failures stay this node's own (seeded from the database as well).
  theirs.last_failure_at_ = last_failure_at_;
  theirs.window_failure_at_
    = s.readmitted_at > window_failure_at_ ? 0 : window_failure_at_;
  theirs.reset_at_ = reset_at_;
  *this = theirs;
  return true;
}

void subscription_evidence::seed(const exclusion_seed& seed) {
  last_failure_at_ = std::max(last_failure_at_, seed.last_failure_at);
  // A success after these failures readmitted the subscription already.
  if (seed.window_failure_at > readmitted_at_)
    window_failure_at_ = std::max(window_failure_at_, seed.window_failure_at);
  reset_at_ = std::max(reset_at_, seed.reset_at);
}

void subscription_evidence::forget_failures() {
  last_failure_at_ = 0;
  window_failure_at_ = 0;
  reset_at_ = 0;
}

bool subscription_evidence::merge_window(window& w, const usage_window& seen,
                                         millis at) {
  if (!seen.utilization && seen.reset_at == 0)
    return false;
  if (at < w.seen_at)
    return false; // older than what we know
  if (seen.utilization) {
    w.utilization = *seen.utilization;
    w.seen_at = at;
  }
  if (seen.reset_at != 0)
    w.reset_at = seen.reset_at;
  else if (w.reset_at <= at)
    w.reset_at = 0; // the reset we knew belonged to a window that is over
  return true;
}

bool subscription_evidence::merge(const provider_evidence& e) {
  bool changed = false;
  if (e.status != provider_status::unknown && e.at >= status_at_) {
    status_ = e.status;
    status_at_ = e.at;
    status_reset_ = e.reset_at;
    changed = true;
  }
  changed |= merge_window(five_hour_, e.five_hour, e.at);
  changed |= merge_window(seven_day_, e.seven_day, e.at);
  if (changed && e.at > evidence_at_)
    evidence_at_ = e.at;
  return changed;
}

bool subscription_evidence::exhausted_by(const provider_evidence& e) const {
  auto full = [](const usage_window& w) {
    return w.utilization && *w.utilization >= 1.0;
  };
  return e.status == provider_status::rejected || full(e.five_hour)
         || full(e.seven_day);
}

bool subscription_evidence::observed(const provider_evidence& e) {
  bool changed = merge(e);
  // Readmission: only evidence newer than every failure, and only from the
  // exclusion window (a provider reset instant stands).
  if (window_failure_at_ != 0 && e.at > last_failure_at_ && !exhausted_by(e)) {
    window_failure_at_ = 0;
    readmitted_at_ = e.at;
    changed = true;
  }
  return changed;
}

bool subscription_evidence::failed(millis at, millis reset,
                                   const provider_evidence& e) {
  bool changed = merge(e);
  if (at > last_failure_at_) {
    last_failure_at_ = at;
    changed = true;
  }
  if (reset > at) {
    if (reset > reset_at_) {
      reset_at_ = reset;
      changed = true;
    }
  } else if (at > window_failure_at_) {
    window_failure_at_ = at;
    changed = true;
  }
  return changed;
}

millis subscription_evidence::status_until() const {
  if (status_ == provider_status::unknown)
    return 0;
  return status_reset_ != 0 ? status_reset_ : status_at_ + status_lifetime;
}

provider_status subscription_evidence::status(millis now) const {
  return now < status_until() ? status_ : provider_status::unknown;
}

std::optional<double> subscription_evidence::utilization(millis now) const {
  if (status(now) == provider_status::rejected)
    return 1.0;
  std::optional<double> result;
  for (auto* w : {&five_hour_, &seven_day_})
    if (w->known(now))
      result = std::max(result.value_or(0.0), *w->utilization);
  return result;
}

millis subscription_evidence::excluded_until(millis now, millis window) const {
  auto until = reset_at_;
  if (window_failure_at_ != 0)
    until = std::max(until, window_failure_at_ + window);
  // Known exhaustion: until the reset that ends it.
  if (status(now) == provider_status::rejected)
    until = std::max(until,
                     status_reset_ != 0 ? status_reset_ : status_at_ + window);
  for (auto* w : {&five_hour_, &seven_day_})
    if (w->known(now) && *w->utilization >= 1.0)
      until
        = std::max(until, w->reset_at != 0 ? w->reset_at : w->seen_at + window);
  return until;
}

millis subscription_evidence::next_change(millis now) const {
  millis next = 0;
  auto consider = [&](millis t) {
    if (t > now && (next == 0 || t < next))
      next = t;
  };
  consider(status_until());
  consider(five_hour_.valid_until());
  consider(seven_day_.valid_until());
  return next;
}

stored_evidence subscription_evidence::stored(const std::string& name) const {
  stored_evidence s;
  s.subscription = name;
  s.status = status_;
  s.status_at = status_at_;
  s.status_reset = status_reset_;
  s.utilization_5h = to_caf(five_hour_.utilization);
  s.utilization_5h_at = five_hour_.seen_at;
  s.reset_5h = five_hour_.reset_at;
  s.utilization_7d = to_caf(seven_day_.utilization);
  s.utilization_7d_at = seven_day_.seen_at;
  s.reset_7d = seven_day_.reset_at;
  s.evidence_at = evidence_at_;
  s.readmitted_at = readmitted_at_;
  return s;
}

void subscription_evidence::describe(subscription_info& info,
                                     millis now) const {
  auto show
    = [now](const window& w, caf::optional<double>& util, millis& reset) {
        if (w.known(now))
          util = *w.utilization;
        if (w.reset_at > now)
          reset = w.reset_at;
      };
  show(five_hour_, info.utilization_5h, info.reset_5h_at);
  show(seven_day_, info.utilization_7d, info.reset_7d_at);
  info.status = status(now);
  info.evidence_at = evidence_at_;
  info.reset_at = reset_at_;
}

} // namespace sb
