#pragma once

// An AGENT: one actor per agent. Its mailbox serializes every failure report,
// manual reassignment, rotation and token application for that agent, so N
// concurrent failures give exactly one switch, one token application and one
// notification by construction.
//
// A report goes through (SPEC section 1):
//   1. no subscription         -> no_subscription, nothing recorded
//   2. attribution             -> the named subscription, or the assignment
//                                 in force when the report entered the daemon
//   3. record the event        -> durable before any gate and before the reply
//   4. gates                   -> ignored; disabled (global or per agent)
//   5. in flight / stale       -> coalesced into the running switch; stale if
//                                 about a subscription the agent has left
//   6. policy                  -> below_threshold; held (switch budget)
//   7. select                  -> no_alternative (earliest reset known)
//   8. commit                  -> assignment, generation + 1, history row and
//                                 notification in one transaction
//   9. apply                   -> the CONTAINER SUPERVISOR applies the token
//  10. reply                   -> switched (first report), coalesced (others)
//
// (Small vectors rather than deques: an empty std::deque allocates half a
// kilobyte, and a fleet has 100,000 agents.)
//
// Steps 7-9 run as request(...).then(...) with `inflight` set, never as a
// blocking wait: the actor keeps answering status requests meanwhile, and the
// flag is what turns a second failure into a coalesced one.

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sb {

/// Since `since`, the agent was on `sub_name` (attribution by arrival time).
struct assignment_epoch {
  millis since = 0;
  int64_t sub_id = 0;
  std::string sub_name;
};

/// A credential change that is being selected, committed or applied.
struct inflight_switch {
  /// "auto", "manual" or "rotation".
  std::string trigger;
  int64_t from_id = 0;
  std::string from_name;
  int64_t to_id = 0;
  std::string to_name;
  failure_kind kind = failure_kind::none;
  uint32_t event_count = 0;
  /// Replies waiting for this switch; the first one started it.
  std::vector<caf::typed_response_promise<report_result>> waiters;
};

/// A report whose event waits to be recorded with the next flush.
struct queued_report {
  /// Status, named, arrival and reset of the report.
  int32_t status = 0;
  bool named = false;
  millis arrived_at = 0;
  millis reset_at = 0;
  failure_kind kind = failure_kind::none;
  std::string ignore_reason;
  std::string about;
  caf::typed_response_promise<report_result> rp;
};

struct agent_state {
  // -- what the database says ------------------------------------------------
  std::string agent_name;
  int64_t sub_id = 0;
  std::string sub_name;
  std::string container;
  uint64_t generation = 0;
  uint64_t applied_generation = 0;
  std::string auto_switch = "on";
  std::string last_apply;
  millis last_apply_at = 0;
  millis last_switch_at = 0;

  // -- engine state ----------------------------------------------------------
  /// Recent assignments, oldest first, for attribution by arrival time.
  std::vector<assignment_epoch> epochs;
  std::optional<inflight_switch> inflight;
  /// Operations that must wait until the switch in flight is done.
  std::vector<std::function<void()>> deferred;
  /// Failure times on the current subscription, per kind (thresholds).
  std::vector<millis> rate_limit_failures;
  std::vector<millis> auth_failures;
  /// Commit times of recent switches (budget).
  std::vector<millis> recent_switches;
  millis held_alert_at = 0;
  /// The last failure told to the POOL (to skip repeats within a second).
  std::string told_sub;
  millis told_at = 0;
  millis told_reset = 0;
  millis exhausted_alert_at = 0;
  /// Reports received since the last flush and their events: recorded in
  /// one write when the mailbox holds no more reports (a flush message to
  /// itself marks the end of what is queued).
  std::vector<queued_report> queued;
  std::vector<event_info> queued_events;
  bool flush_scheduled = false;
  /// Token applications in flight (generation being applied).
  uint64_t applying = 0;
  /// Wait before the next retry of a failed application (0 = none due).
  caf::timespan retry_delay{0};
  /// A reconcile timer is pending (the agent checks itself every
  /// switchboard.reconcile-interval while its container is behind).
  bool reconcile_timer = false;
  bool removed = false;

  // -- collaborators ---------------------------------------------------------
  store_actor store;
  pool_actor pool;
  supervisor_actor supervisor;
  admin_actor admin;
  context_ptr ctx;

  static inline const char* name = "agent";
};

/// The collaborators every AGENT needs.
struct agent_deps {
  store_actor store;
  pool_actor pool;
  supervisor_actor supervisor;
  admin_actor admin;
  context_ptr ctx;
};

agent_actor::behavior_type
agent(agent_actor::stateful_pointer<agent_state> self, stored_agent row,
      agent_deps deps);

/// Builds the introspection record from the state.
agent_info make_agent_info(const agent_state& st);

} // namespace sb
