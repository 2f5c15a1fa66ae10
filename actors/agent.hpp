#pragma once

// An AGENT: one actor per agent. Its mailbox serializes every failure report,
// manual reassignment, rotation and token application for that agent, so N
// concurrent failures give exactly one switch, one token application and one
// notification by construction.
//
// A report goes through (SPEC section 1):
//   1. no subscription  -> no_subscription, nothing recorded
//   2. attribution      -> switch_policy::attribute
//   3. record the event -> durable before any gate and before the reply
//   4-7. policy         -> switch_policy::decide: ignored, disabled,
//                          coalesced into the switch in flight, stale,
//                          below_threshold, held, or switch
//   7. select           -> no_alternative (earliest reset known)
//   8. commit           -> assignment, generation + 1, history row and
//                          notification in one transaction
//   9. apply            -> the CONTAINER SUPERVISOR applies the token
//  10. reply            -> switched (first report), coalesced (others)
//
// An observation (the headers of a successful response) is attributed the
// same way; its evidence goes to the POOL, and if it shows the agent's
// current subscription at its limit (switch_policy::decide_headroom) the
// same flow runs with trigger `headroom`, to a subscription with clearly
// more headroom, without a failure event.
//
// The state is a class that holds `self` and owns the switch flow as
// methods; the behavior only dispatches to it. Steps 7-9 run as
// request(...).then(...) with `inflight_` set, never as a blocking wait:
// the actor keeps answering status requests meanwhile, and the flag is what
// turns a second failure into a coalesced one. (Small vectors rather than
// deques: a fleet has 100,000 agents.)
//
// No request waits forever (actors/timeouts.hpp): every request to the
// STORE, the POOL and the SUPERVISOR has a deadline and an error arm that
// answers the callers, releases what was reserved and clears the flag. A
// commit the STORE did not answer in time may still be written after: its
// callers get an error at once, and the switch stays in flight (later
// reports join it) until the STORE says whether generation + 1 was recorded;
// then it goes on as committed, or is released.
//
// Every message that carries data from outside (report, observe, assign,
// agent_set, lifecycle) is checked as the FRONT DOOR checks it, the report's
// arrival stamp included (messages/validate.hpp); a bad one gets the FRONT
// DOOR's error and changes nothing.
//
// What other actors own it reads as they publish it (actors/context.hpp):
// the settings, the token index and the directory (whether anybody
// watches), each loaded once for the message or the report it serves.

#include "actors/classifier.hpp"
#include "actors/context.hpp"
#include "actors/switch_policy.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sb {

/// The collaborators every AGENT needs.
struct agent_deps {
  store_actor store;
  pool_actor pool;
  supervisor_actor supervisor;
  admin_actor admin;
  context_ptr ctx;
};

/// What a report_result answers, for the metrics.
enum class reply_for : uint8_t { report, observation, command };

/// The promise of a report_result that counts itself in the metrics when it
/// is delivered (actors/metrics.hpp): outcome, kind and the time since the
/// request arrived. Copies share nothing; deliver through one of them once.
class report_promise {
public:
  report_promise() = default;

  report_promise(caf::typed_response_promise<report_result> rp,
                 const daemon_context* ctx, reply_for what, millis arrived_at)
      : rp_(std::move(rp)), ctx_(ctx), what_(what), arrived_at_(arrived_at) {
    // nop
  }

  /// What the report was classified as (counted with its outcome).
  void classified(failure_kind kind) { kind_ = kind; }

  void deliver(report_result res);

  void deliver(caf::error err);

  /// For a handler's return value.
  const caf::typed_response_promise<report_result>& promise() const {
    return rp_;
  }

private:
  void count(std::optional<outcome> result);

  caf::typed_response_promise<report_result> rp_;
  const daemon_context* ctx_ = nullptr;
  reply_for what_ = reply_for::command;
  failure_kind kind_ = failure_kind::none;
  millis arrived_at_ = 0;
};

class agent_state {
public:
  using pointer = agent_actor::stateful_pointer<agent_state>;

  explicit agent_state(pointer self) : self_(self) {
    // nop
  }

  void init(const stored_agent& row, agent_deps deps);

  // -- handlers
  // ----------------------------------------------------------------

  caf::result<report_result> report(failure_report& r);
  caf::result<report_result> observe(observation& o);
  void flush();
  caf::result<report_result> assign(std::string target, bool force);
  caf::result<report_result> rotate(int64_t sub_id);
  /// Subscription `sub_name` went out of selection: switch away from it.
  caf::result<report_result> move_off(std::string sub_name);
  void unassign(const std::string& sub_name);
  caf::result<agent_info> info();
  caf::result<agent_info> set_auto_switch(auto_switch_mode mode);
  caf::result<apply_outcome> container_command(container_op op);
  caf::result<std::string> remove();
  void reconcile();
  void apply_wait_over(uint64_t generation);

  /// The introspection record (without the container's state).
  agent_info snapshot() const;

  static inline const char* name = "agent";

private:
  /// A report whose event waits to be recorded with the next flush.
  struct queued_report {
    int32_t status = 0;
    report_facts facts;
    millis reset_at = 0;
    /// What the failed response's headers and text said.
    provider_evidence evidence;
    report_promise rp;
  };

  /// A credential change that is being selected, committed or applied.
  struct inflight_switch {
    trigger by = trigger::automatic;
    int64_t from_id = 0;
    std::string from_name;
    int64_t to_id = 0;
    std::string to_name;
    failure_kind kind = failure_kind::none;
    uint32_t event_count = 0;
    /// headroom: the utilization that started it.
    std::optional<double> from_utilization;
    /// The commit is done: the current epoch is this switch's.
    bool committed = false;
    /// The generation it committed (0 before).
    uint64_t generation = 0;
    /// Replies waiting for this switch; the first one started it.
    std::vector<report_promise> waiters;
    /// manual: also onto an excluded, draining or retired subscription.
    bool force = false;
    /// A report started it: what it said (for the watchers' report line).
    std::optional<report_facts> started_by;
    int32_t status = 0;
    /// Several nodes: picks the store found stale (another node's agents
    /// made the pick the worse one); past max_repicks the next commit goes
    /// unchecked.
    uint32_t repicks = 0;
    /// The STORE did not answer the commit of `pick` (made at `commit_at`)
    /// in time: whether it was recorded is not known yet.
    bool unresolved = false;
    /// A request asking the STORE that is under way.
    bool resolving = false;
    std::optional<selection> pick;
    millis commit_at = 0;
    /// The first waiter was answered already (with the commit's timeout):
    /// every waiter left joined the switch.
    bool starter_answered = false;
  };

  // -- checks where the data lands
  // ----------------------------------------------------

  /// The FRONT DOOR's checks of a report (its text made safe), plus: it is
  /// for this agent, its arrival stamp is plausible, the credential it
  /// names exists (and is resolved as the FRONT DOOR resolves it).
  caf::error check(failure_report& r, const token_index& tokens) const;
  caf::error check(observation& o, const token_index& tokens) const;
  caf::error check_addressee(const std::string& name) const;

  // -- reports
  // -----------------------------------------------------------------

  /// Attributes a report or an observation (SPEC section 1.2), looking a
  /// generation older than the epochs kept up in the switch history, then
  /// runs `next` with the credential it is charged to. `tokens` is the
  /// index the message's checks loaded.
  using attributed = std::function<void(attribution, report_promise)>;
  caf::result<report_result> attribute(const report_identity& id,
                                       millis arrived_at, reply_for what,
                                       const token_index& tokens,
                                       attributed next);

  /// A promise of the current request's reply, counted as `what`.
  report_promise make_promise(reply_for what, millis arrived_at);
  void enqueue(failure_report& r, attribution about, report_promise rp);
  classification judge(const failure_report& r, const attribution& about,
                       queued_report& q);
  /// `settings` as loaded for the message that decides.
  void decide(queued_report& q, const engine_settings& settings);
  void answer(const queued_report& q, const decision& d);
  void tell_pool(const std::string& sub, millis at, millis reset_at,
                 const provider_evidence& evidence);

  // -- observations
  // ------------------------------------------------------------

  void observed(attribution about, provider_evidence ev, millis arrived_at,
                report_promise rp);
  void decide_headroom(const report_facts& facts, const headroom& h,
                       report_promise rp);

  // -- the switch flow
  // ---------------------------------------------------------

  void start_switch(trigger by, failure_kind kind, uint32_t event_count,
                    report_promise rp, std::string target = {},
                    std::optional<double> from_utilization = {},
                    bool force = false);
  /// Asks the POOL for the destination of the switch in flight.
  void request_selection(std::string target);
  void selected(selection sel);
  /// The store found the pick stale: the POOL learns where the other
  /// nodes' agents are and picks again.
  void repick(const selection& sel, switch_commit& c);
  void no_alternative(const selection& sel);
  void no_headroom();
  switch_record notification_of(switch_record rec, const selection& sel) const;
  void commit(selection sel);
  void committed(const switch_commit& c, const selection& sel, millis at);
  /// The STORE did not answer the commit in time: the callers get an error
  /// now, and the switch waits in flight for resolve_commit().
  void commit_unanswered(selection sel, millis at);
  /// Asks the STORE whether the unanswered commit was recorded (a read
  /// runs after every write sent before it); asked again after
  /// resolve_retry while the STORE cannot say.
  void resolve_commit();
  void commit_resolved(bool recorded);
  /// Answers the switch of `generation` with its application's result.
  void reply_applied(uint64_t generation, const apply_outcome& result);
  void finish(report_result res);
  void finish_error(const caf::error& err);

  // -- token applications
  // ------------------------------------------------------

  using apply_done = std::function<void(const apply_outcome&)>;
  void apply_token(uint64_t generation, secret token, token_terms terms,
                   apply_done done);
  void record_apply(uint64_t generation, apply_outcome result, apply_done done);
  void schedule_retry(const apply_outcome& result, uint64_t generation);
  /// An agent_behind event once its committed token waits behind-after.
  void check_behind(const apply_outcome& result);

  // -- helpers
  // -----------------------------------------------------------------

  /// Runs `f` now, or after the switch in flight (in arrival order).
  void when_idle(std::function<void()> f);
  void run_deferred();
  millis now() const { return ctx_->now(); }
  /// A request with its deadline on the daemon's clock
  /// (actors/timeouts.hpp).
  template<class Handle, class... Ts>
  auto ask(const Handle& dest, caf::timespan timeout, Ts&&... xs);
  /// Whether anybody watches (the ADMIN's directory as published).
  bool watched() const { return ctx_->directory.get()->watchers() > 0; }
  /// Sends a decision to the watchers (through the ADMIN), stamped now.
  void emit(watch_event ev);

  /// The watch event of an answered report or observation.
  watch_event report_event(const report_facts& facts, int32_t status,
                           const report_result& res) const;
  /// Stores an alert of this agent in the outbox; `facts` gives its
  /// fields (subscription, from, reason, reset_at; the pool is the
  /// agent's).
  void store_alert(notification_kind kind, std::string title,
                   std::string message, notification_info facts = {});
  report_result result_of(const inflight_switch& inf) const;
  /// Answers every queued report with `err` (removal).
  void drop_pending(const caf::error& err);
  /// Removes the agent once nothing is in flight (see remove()).
  void try_remove();

  pointer self_;
  // -- what the database says
  // --------------------------------------------------
  std::string agent_name_;
  /// Its pool: selection never leaves it.
  std::string pool_name_;
  std::string container_;
  uint64_t applied_generation_ = 0;
  auto_switch_mode auto_switch_ = auto_switch_mode::on;
  apply_outcome last_apply_;
  millis last_apply_at_ = 0;
  millis last_switch_at_ = 0;
  // -- engine state
  // ------------------------------------------------------------
  std::optional<switch_policy> policy_;
  std::optional<inflight_switch> inflight_;
  /// Operations that wait until the switch in flight is done.
  std::vector<std::function<void()>> deferred_;
  /// Reports received since the last flush: recorded in one write when the
  /// mailbox holds no more reports (a flush message to itself marks the
  /// end of what is queued).
  std::vector<queued_report> queued_;
  std::vector<event_info> queued_events_;
  bool flush_scheduled_ = false;
  /// Event writes in flight; a removed agent quits once they are answered.
  uint32_t flushing_ = 0;
  /// The last failure told to the POOL (to skip repeats within a second).
  std::string told_sub_;
  /// The model of the newest report or observation that named one.
  std::string model_;
  millis told_at_ = 0;
  millis told_reset_ = 0;
  /// The last "pool exhausted" alert: when, and the reset it announced.
  millis exhausted_alert_at_ = 0;
  millis exhausted_alert_reset_ = 0;
  /// Generation being applied (0 = none).
  uint64_t applying_ = 0;
  /// Wait before the next retry of a failed application, and when it is due.
  caf::timespan retry_delay_{0};
  millis retry_at_ = 0;
  /// A reconcile timer is pending.
  bool reconcile_timer_ = false;
  /// The generation an agent_behind event was raised for (once each).
  uint64_t behind_told_ = 0;
  bool removed_ = false;
  /// A removal was asked for: new reports are refused, and the agent is
  /// deleted once its switch and event writes in flight are done.
  std::optional<caf::typed_response_promise<std::string>> removal_;
  // -- collaborators
  // -----------------------------------------------------------
  store_actor store_;
  pool_actor pool_;
  supervisor_actor supervisor_;
  admin_actor admin_;
  context_ptr ctx_;
};

agent_actor::behavior_type agent(agent_state::pointer self, stored_agent row,
                                 agent_deps deps);

} // namespace sb
