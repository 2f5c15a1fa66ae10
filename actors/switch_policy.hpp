#pragma once

// The switch engine's decisions, as a plain class: no actors, no I/O, no
// clock of its own. An AGENT owns one, feeds it facts (a report's kind and
// the credential it names, the time, the settings, the switch in flight) and
// acts on what it returns; tests drive it with plain calls.
//
// It keeps what the decisions depend on: the agent's recent assignments
// (epochs, for attribution), the failures per kind on the current
// subscription (thresholds) and the recent switches (budget).

#include "actors/engine_settings.hpp"
#include "messages/kinds.hpp"
#include "messages/time.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sb {

/// An assignment of the agent: from `since` on, generation `generation`
/// ran on `sub_name` (0 / "" = no subscription).
struct epoch {
  uint64_t generation = 0;
  int64_t sub_id = 0;
  std::string sub_name;
  millis since = 0;
};

/// The credential a report is charged to.
struct attribution {
  std::string subscription;
  /// The report named it (rather than being charged by arrival time).
  bool named = false;
};

/// What the policy needs to know of a report whose event is durable.
struct report_facts {
  failure_kind kind = failure_kind::none;
  /// For ignored reports: why.
  std::string ignore_reason;
  attribution about;
  millis arrived_at = 0;
};

/// The switch in flight, if any: from and to (to is "" while selecting).
struct inflight_facts {
  std::string from;
  std::string to;
};

/// What to do with a report.
struct decision {
  enum verdict_type {
    /// Answer now with `result` and `reason`.
    answer,
    /// Join the switch in flight (same answer, coalesced).
    join,
    /// Start an automatic switch.
    switch_now,
  };
  verdict_type verdict = answer;
  outcome result = outcome::ignored;
  std::string reason;
  /// Failures of this kind inside the threshold window, this one included.
  uint32_t event_count = 0;
  int64_t retry_after_ms = 0;
  /// held: this is the first hold of the budget window, raise one alert.
  bool alert = false;
  /// held: when the budget allows a switch again.
  millis held_until = 0;
};

class switch_policy {
public:
  /// At most this many recent epochs are kept for attribution.
  static constexpr size_t max_epochs = 16;

  /// Starts with the assignment the database has.
  explicit switch_policy(epoch initial);

  const epoch& current() const { return epochs_.back(); }

  /// The subscription a report is about: the one it names, else the
  /// assignment in force when it entered the daemon. A report that entered
  /// in the same millisecond as a switch committed counts as before it: the
  /// safe side, it cannot cause a second switch.
  attribution attribute(const std::string& named, millis arrived_at) const;

  /// Steps 4-7 of SPEC section 1: gates, coalescing, stale, thresholds,
  /// budget. Records the failure for the thresholds and, for a hold, the
  /// alert time.
  decision decide(const report_facts& r, const engine_settings& settings,
                  auto_switch_mode agent_mode,
                  const std::optional<inflight_facts>& inflight, millis now);

  /// A switch committed: `next` is the new assignment. A new subscription
  /// starts its threshold counts afresh; an automatic switch counts
  /// against the budget.
  void committed(const epoch& next, trigger by);

  /// The subscription was removed: the agent has none from `at` on.
  void unassigned(millis at);

  /// Switches inside the budget window ending at `now`.
  uint32_t recent_switches(millis now, millis window) const;

private:
  static void drop_older(std::vector<millis>& xs, millis cutoff);

  void push(epoch e);

  decision held(const engine_settings& settings, millis now);

  std::vector<epoch> epochs_;
  std::vector<millis> rate_limit_failures_;
  std::vector<millis> auth_failures_;
  std::vector<millis> recent_switches_;
  millis held_alert_at_ = 0;
};

} // namespace sb
