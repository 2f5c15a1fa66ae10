#pragma once

// The switch flow of an AGENT, shared by its behavior (actors/agent.cpp):
// deciding on a report whose event is durable, selecting, committing and
// applying a switch, recording token applications and retrying failed ones.
// Everything here runs inside the agent actor; nothing blocks.

#include "actors/agent.hpp"
#include "actors/classifier.hpp"

#include <caf/duration.hpp>

#include <functional>
#include <string>

namespace sb::agent_flow {

using agent_ptr = agent_actor::stateful_pointer<agent_state>;
using report_promise = caf::typed_response_promise<report_result>;

// Requests to the local STORE and POOL carry no timer: they answer, or they
// go down and the request fails at once (the ROOT then stops the daemon). A
// timer per request would cost two clock operations on the hot path.
constexpr auto store_timeout = caf::infinite;
constexpr auto pool_timeout = caf::infinite;

/// The daemon's clock.
millis now_of(agent_ptr self);

/// Sends a line to the watchers, if there are any.
void emit(agent_ptr self, const std::string& line);

caf::optional<std::string> name_or_null(const std::string& name);

/// True if the container now runs with the token that was applied.
bool applied_ok(const agent_state& st, const std::string& result);

/// Runs the operations that waited for the switch in flight.
void run_deferred(agent_ptr self);

/// Records an apply result on the agent row and its history row, then calls
/// `done` (also if recording failed: the apply happened either way).
void record_apply(agent_ptr self, uint64_t generation, std::string result,
                  std::function<void(const std::string&)> done);

/// Hands the token of `generation` to the CONTAINER SUPERVISOR.
void apply_token(agent_ptr self, uint64_t generation, secret token,
                 std::function<void(const std::string&)> done);

/// Starts a switch: `trigger` "auto" selects the best alternative, "manual"
/// moves to `target`, "rotation" re-applies the current subscription.
void start_switch(agent_ptr self, std::string trigger, failure_kind kind,
                  uint32_t event_count, report_promise rp,
                  std::string target = {});

/// What deciding needs of a report once its event is recorded.
struct report_facts {
  int32_t status = 0;
  /// The report named the subscription it ran on.
  bool named = false;
  millis arrived_at = 0;
  /// Provider reset instant, 0 = none.
  millis reset_at = 0;
};

/// Steps 4-7 of a report whose event is durable: gates, coalescing, stale,
/// thresholds, budget, then start_switch.
void decide(agent_ptr self, const report_facts& r, const classification& cls,
            const std::string& about, report_promise rp);

/// Records the queued reports' events in one write, then decides on each
/// in order (the event is durable before any gate and before the reply).
void flush_reports(agent_ptr self);

/// True if someone watches (so watch lines are worth formatting).
bool watched(agent_ptr self);

/// Tells the POOL about a failure on `sub`, skipping repeats within a second
/// that would not move the exclusion (bursts send one message, not N).
void tell_pool(agent_ptr self, const std::string& sub, millis at,
               millis reset_at);

} // namespace sb::agent_flow
