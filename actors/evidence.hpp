#pragma once

// What the SUBSCRIPTION POOL knows of one subscription's limits: provider
// evidence (utilization per window, reset instants, status) and its recent
// failures. A plain class, no actors, no clock: the POOL feeds it facts and
// asks it for the subscription's utilization and exclusion at an instant.
//
// The rules (README "Provider evidence"):
// - Newer evidence replaces older, field by field; evidence older than what
//   is kept is ignored.
// - A window's utilization counts until its reset instant passes; without a
//   known reset, for the window's length after it was seen. A status
//   counts until the unified reset, else for 5 hours.
// - A failure with a reset instant excludes until that instant; one without
//   excludes for the exclusion window. The failure reset is only ever
//   extended (a later, shorter retry-after never shortens it).
// - A successful response seen after the newest failure readmits the
//   subscription from the exclusion window (not from a provider reset); one
//   older than the failure never does.
// - Known exhaustion (status rejected, or a window at utilization 1)
//   excludes until that window's reset (else for the exclusion window after
//   it was seen), unless newer evidence says otherwise.

#include "messages/records.hpp"

#include <optional>

namespace sb {

/// How long a status without a reset instant counts.
constexpr millis status_lifetime = 5 * hour_ms;

/// The instant a failed response's evidence says its subscription is back:
/// the latest of its retry-after, its usage-limit text, the unified reset
/// when the status is rejected, and the reset of a window at utilization 1
/// (0 = the response did not say). A 429 with status "allowed" is a
/// throttle, not an exhausted quota: its unified reset does not count.
millis failure_reset(const provider_evidence& e);

/// True if the evidence is of model buckets only (a limit of one model,
/// not of the credential): no reset of its own, no verdict.
bool is_model_only(const provider_evidence& e);

class subscription_evidence {
public:
  subscription_evidence() = default;

  /// Starts from what the STORE kept (the name is not kept here).
  explicit subscription_evidence(const stored_evidence& stored);

  /// Several nodes: the provider evidence another node stored, if it is
  /// newer than this one's (its status and windows replace these; the
  /// failures stay, unless that node saw a success after them). True if it
  /// was taken.
  bool take_newer(const stored_evidence& stored);

  /// A failure read back from the events at boot (see exclusion_seed).
  void seed(const exclusion_seed& seed);

  /// Forgets the failures (they are about to be re-read with another
  /// exclusion window); the provider evidence stays.
  void forget_failures();

  /// A successful response's evidence. True if anything changed.
  bool observed(const provider_evidence& e);

  /// A failure at `at` (arrival), excluding until `reset` when that is
  /// after `at`, with the evidence its response carried (which never
  /// readmits). True if anything changed.
  bool failed(millis at, millis reset, const provider_evidence& e);

  /// The higher utilization of the two windows still in force, 1 while the
  /// provider's status is rejected; none if nothing is known.
  std::optional<double> utilization(millis now) const;

  /// Excluded from selection until this instant (<= now: not excluded).
  millis excluded_until(millis now, millis window) const;

  /// The next instant after `now` at which utilization() changes by time
  /// alone (a window or status running out); 0 if none.
  millis next_change(millis now) const;

  /// The failure reset (0 = none), for `subscription list`.
  millis failure_reset() const { return reset_at_; }

  provider_status status(millis now) const;

  /// What the STORE keeps, under `name`.
  stored_evidence stored(const std::string& name) const;

  /// The list fields of `subscription list` at `now`.
  void describe(subscription_info& info, millis now) const;

private:
  struct window {
    std::optional<double> utilization;
    millis seen_at = 0;
    millis reset_at = 0;
    /// Without a known reset: how long a value counts.
    millis length = 0;

    /// Until when `utilization` counts (0 = nothing known).
    millis valid_until() const;
    bool known(millis now) const { return utilization && now < valid_until(); }
  };

  /// Merges one response's status and windows; true if anything changed.
  bool merge(const provider_evidence& e);
  static bool merge_window(window& w, const usage_window& seen, millis at);
  millis status_until() const;
  bool exhausted_by(const provider_evidence& e) const;

  provider_status status_ = provider_status::unknown;
  millis status_at_ = 0;
  millis status_reset_ = 0;
  window five_hour_{std::nullopt, 0, 0, 5 * hour_ms};
  window seven_day_{std::nullopt, 0, 0, 7 * day_ms};
  millis evidence_at_ = 0;
  millis readmitted_at_ = 0;
  // -- failures
  millis last_failure_at_ = 0;
  millis window_failure_at_ = 0;
  millis reset_at_ = 0;
};

} // namespace sb
