#pragma once

// The switch engine's decisions, as a plain class: no actors, no I/O, no
// clock of its own. An AGENT owns one, feeds it facts (a report's kind and
// the credential it names, the time, the settings, the switch in flight) and
// acts on what it returns; tests drive it with plain calls.
//
// It keeps what the decisions depend on: the agent's recent assignments
// (epochs, for attribution), the failures per kind on the current
// subscription (thresholds) and the recent switches (budget).
//
// Attribution (SPEC section 1.2): a report is charged to the credential its
// failed request carried. Explicit identity wins (a generation, a token
// fingerprint, a subscription name). Otherwise it is charged to the
// assignment the agent's container was running when the report arrived: an
// assignment is in force only once its token was applied and the settle
// window after that has passed; before, reports still belong to the
// previous one and are coalesced into the switch that left it.

#include "actors/engine_settings.hpp"
#include "messages/kinds.hpp"
#include "messages/time.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sb {

/// An assignment of the agent: generation `generation` ran on `sub_name`
/// (0 / "" = no subscription) with the token whose fingerprint is
/// `token_sha256`.
struct epoch {
  uint64_t generation = 0;
  int64_t sub_id = 0;
  std::string sub_name;
  std::string token_sha256;
  millis committed_at = 0;
  /// When its token was applied (0 = not yet).
  millis applied_at = 0;
};

/// What a report says about the credential its request used.
struct report_identity {
  /// Named, or resolved from the token fingerprint ("" = unknown).
  std::string subscription;
  /// The full fingerprint ("" = unknown).
  std::string token_sha256;
  std::optional<uint64_t> generation;

  bool empty() const {
    return subscription.empty() && token_sha256.empty() && !generation;
  }
};

/// The credential a report is charged to.
struct attribution {
  std::string subscription;
  /// The report said so (rather than being charged by arrival time).
  bool named = false;
  /// The agent's assignment it belongs to; absent when the agent never ran
  /// that credential (or the generation is older than the epochs kept).
  std::optional<uint64_t> generation;
};

/// What the policy needs to know of a report whose event is durable.
struct report_facts {
  failure_kind kind = failure_kind::none;
  /// For ignored reports: why.
  std::string ignore_reason;
  attribution about;
  millis arrived_at = 0;
};

/// What the POOL said of the subscription an observation was about.
struct headroom_facts {
  /// none = unknown.
  std::optional<double> utilization;
  /// The provider said "rejected".
  bool rejected = false;
};

/// "0.97": a utilization for messages and logs.
std::string format_fraction(double x);

/// A proactive switch goes only to a subscription at least this much lower
/// in utilization (an unknown one counts as 0.5).
constexpr double headroom_margin = 0.10;

/// The switch in flight, if any.
struct inflight_facts {
  /// Its commit is done: the current epoch is the one it created.
  bool committed = false;
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
  /// coalesced: the switch the report belongs to.
  std::string switch_from;
  std::string switch_to;
  uint64_t switch_generation = 0;
};

class switch_policy {
public:
  /// At most this many recent epochs are kept for attribution.
  static constexpr size_t max_epochs = 16;

  /// Starts with the assignment the database has.
  explicit switch_policy(epoch initial);

  const epoch& current() const { return epochs_.back(); }

  /// The epoch of `generation`, if kept.
  const epoch* find(uint64_t generation) const;

  /// Charges a report that arrived at `arrived_at` (see the header comment).
  /// Errors: a future generation, or identities that contradict each other.
  caf::expected<attribution> attribute(const report_identity& id,
                                       millis arrived_at,
                                       millis settle_window) const;

  /// Steps 4-7 of SPEC section 1: gates, coalescing, stale, thresholds,
  /// budget. Records the failure for the thresholds and, for a hold, the
  /// alert time.
  decision decide(const report_facts& r, const engine_settings& settings,
                  auto_switch_mode agent_mode,
                  const std::optional<inflight_facts>& inflight, millis now);

  /// An observation (no failure) whose evidence the POOL merged: gates,
  /// coalescing, stale, pressure (status rejected, or utilization at or
  /// above switch-at-utilization) and budget. `switch_now` means a
  /// proactive (headroom) switch.
  decision decide_headroom(const report_facts& r, const headroom_facts& h,
                           const engine_settings& settings,
                           auto_switch_mode agent_mode,
                           const std::optional<inflight_facts>& inflight,
                           millis now);

  /// A switch committed: `next` is the new assignment (not applied yet). A
  /// new subscription starts its threshold counts afresh; an automatic or
  /// headroom switch counts against the budget.
  void committed(const epoch& next, trigger by);

  /// The token of `generation` was applied at `at`: its epoch starts.
  void applied(uint64_t generation, millis at);

  /// The subscription was removed: the agent has none from `at` on.
  void unassigned(millis at);

  /// Fills in the fingerprint of the current epoch if it is not known yet.
  void know_token(const std::string& sha256);

  /// Switches inside the budget window ending at `now`.
  uint32_t recent_switches(millis now, millis window) const;

private:
  static void drop_older(std::vector<millis>& xs, millis cutoff);

  void push(epoch e);

  /// The newest epoch in force at `t`, else the oldest kept.
  const epoch& in_force(millis t, millis settle_window) const;

  /// The newest epoch that ran `sub` (with `sha`, if given).
  const epoch* newest_on(const std::string& sub, const std::string& sha) const;

  decision about_former(const report_facts& r, const epoch& e,
                        const engine_settings& settings,
                        const std::optional<inflight_facts>& inflight) const;

  decision about_current(const report_facts& r, const engine_settings& settings,
                         millis now);

  decision held(const engine_settings& settings, millis now);

  /// The budget check; nothing if a switch is allowed.
  std::optional<decision> over_budget(const engine_settings& settings,
                                      millis now);

  std::vector<epoch> epochs_;
  std::vector<millis> rate_limit_failures_;
  std::vector<millis> auth_failures_;
  std::vector<millis> recent_switches_;
  millis held_alert_at_ = 0;
  /// Concurrency failures on the current subscription: since when they
  /// have persisted, and the last one (a gap longer than the grace ends
  /// the streak).
  millis concurrency_since_ = 0;
  millis concurrency_last_ = 0;

  decision about_concurrency(const report_facts& r,
                             const engine_settings& settings);
};

} // namespace sb
