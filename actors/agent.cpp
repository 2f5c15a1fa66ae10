#include "actors/agent.hpp"

#include "actors/evidence.hpp"
#include "actors/logging.hpp"
#include "actors/provider_headers.hpp"
#include "actors/provider_signals.hpp"
#include "actors/test_hooks.hpp"
#include "actors/timeouts.hpp"
#include "messages/error.hpp"
#include "messages/validate.hpp"

#include <caf/scheduled_actor.hpp>

#include <algorithm>
#include <chrono>

namespace sb {

namespace {

// Requests to the STORE and the POOL wait at most store_request_timeout and
// pool_request_timeout (actors/timeouts.hpp): a STORE or POOL that is stuck,
// not down, must not hold the callers' replies and the switch flag forever. The
// timer this costs per request is what CAF's own request timeout costs.

/// How long an AGENT waits before it asks again whether an unanswered
/// commit was recorded, while the STORE cannot say (each question waits up
/// to store_request_timeout itself): a STORE that is stuck is not asked in a
/// loop.
constexpr auto resolve_retry = std::chrono::seconds(10);

/// How long `agent show` waits for the container's state (on CAF's clock,
/// not the daemon's: a read for a person, answered within real seconds
/// also while a test's manual clock stands still).
constexpr auto container_state_timeout = std::chrono::seconds(5);

/// Several nodes: stale picks of one switch before its commit goes without
/// the balance check (so a storm on other nodes cannot hold it off).
constexpr uint32_t max_repicks = 8;

/// How long a removed agent keeps answering unknown_agent before it quits.
constexpr auto removal_grace = std::chrono::seconds(1);

caf::optional<std::string> name_or_null(const std::string& name) {
  if (name.empty())
    return caf::none;
  return name;
}

std::string name_or_none(const std::string& name) {
  return name.empty() ? std::string{"(none)"} : name;
}

std::string phrase(failure_kind kind) {
  switch (kind) {
  case failure_kind::rate_limit:
    return "a rate-limit error";
  case failure_kind::auth:
    return "an authentication failure";
  case failure_kind::concurrency:
    return "too many concurrent requests";
  default:
    return "a manual reassignment";
  }
}

outcome outcome_of(trigger by) {
  switch (by) {
  case trigger::automatic:
    return outcome::switched;
  case trigger::manual:
    return outcome::assigned;
  case trigger::rotation:
    return outcome::rotated;
  case trigger::headroom:
    return outcome::switched;
  }
  return outcome::switched;
}

std::string utilization_text(std::optional<double> u) {
  return u ? "utilization " + format_fraction(*u)
           : std::string{"utilization unknown"};
}

std::optional<double> from_caf(const caf::optional<double>& x) {
  return x ? std::optional<double>{*x} : std::nullopt;
}

caf::error removed_error(const std::string& name) {
  return make_error(ec::unknown_agent, "agent '" + name + "' was removed");
}

/// The fields of an agent's log lines about a switch or a token
/// application: top-level members of a json log line.
log_fields agent_fields(const std::string& agent,
                        const std::string& subscription, uint64_t generation) {
  auto fields = log_kv("agent", agent, "generation", generation);
  if (!subscription.empty())
    fields.emplace_back("subscription", subscription);
  return fields;
}

} // namespace

template<class Handle, class... Ts>
auto agent_state::ask(const Handle& dest, caf::timespan timeout, Ts&&... xs) {
  return request_within(self_, *ctx_->clock, dest, timeout,
                        std::forward<Ts>(xs)...);
}

// -- set-up ------------------------------------------------------------------

void agent_state::init(const stored_agent& row, agent_deps deps) {
  agent_name_ = row.name;
  pool_name_ = row.pool;
  container_ = row.container;
  applied_generation_ = row.applied_generation;
  auto_switch_ = row.auto_switch;
  last_apply_ = row.last_apply;
  last_apply_at_ = row.last_apply_at;
  last_switch_at_ = row.last_switch_at;
  // The assignment the database has; if its token is applied, its epoch
  // started at the last application (or when the agent was added).
  auto applied = row.applied_generation >= row.generation
                   ? std::max(row.last_apply_at, row.created_at)
                   : millis{0};
  policy_.emplace(epoch{row.generation,
                        row.subscription_id,
                        row.subscription,
                        {},
                        row.last_switch_at,
                        applied});
  store_ = std::move(deps.store);
  pool_ = std::move(deps.pool);
  supervisor_ = std::move(deps.supervisor);
  admin_ = std::move(deps.admin);
  ctx_ = std::move(deps.ctx);
}

agent_info agent_state::snapshot() const {
  auto& cur = policy_->current();
  agent_info info;
  info.name = agent_name_;
  info.pool = pool_name_;
  info.model = model_;
  info.subscription = name_or_null(cur.sub_name);
  info.container = name_or_null(container_);
  info.generation = cur.generation;
  info.applied_generation = applied_generation_;
  info.switching = inflight_.has_value();
  info.auto_switch = auto_switch_;
  info.last_apply = last_apply_;
  info.last_apply_at = last_apply_at_;
  info.last_switch_at = last_switch_at_;
  info.retry_at = retry_at_;
  info.epoch_started_at = cur.applied_at;
  auto settings = ctx_->settings.get();
  if (cur.applied_at != 0)
    info.settle_until = cur.applied_at + settings->settle_window;
  info.recent_switches
    = policy_->recent_switches(now(), settings->budget_window);
  return info;
}

// -- counted replies ---------------------------------------------------------

namespace {

/// A window that ends within this is worth waiting for: the caller may
/// retry after retry_after_ms.
constexpr millis retry_soon = 5 * minute_ms;

/// What the caller should do next (report_result::retryable): retry now
/// when the agent has a credential that should serve, later when what
/// stopped it ends soon, else not at all.
void advise(report_result& res, millis now) {
  if (res.reset_at != 0 && res.reset_at <= now)
    res.reset_at = 0;
  switch (res.result) {
  case outcome::switched:
  case outcome::coalesced:
  case outcome::stale:
  case outcome::assigned:
  case outcome::rotated:
  case outcome::unchanged:
  case outcome::below_threshold:
    res.retryable = true;
    break;
  case outcome::no_alternative:
    res.retry_after_ms = res.reset_at == 0 ? 0 : res.reset_at - now;
    res.retryable = res.reset_at != 0 && res.retry_after_ms <= retry_soon;
    break;
  default:
    res.retryable = res.retry_after_ms > 0 && res.retry_after_ms <= retry_soon;
    break;
  }
}

} // namespace

void report_promise::deliver(report_result res) {
  count(res.result);
  if (what_ == reply_for::report && ctx_ != nullptr)
    advise(res, ctx_->now());
  rp_.deliver(std::move(res));
}

void report_promise::deliver(caf::error err) {
  count(std::nullopt);
  rp_.deliver(std::move(err));
}

void report_promise::count(std::optional<outcome> result) {
  if (ctx_ == nullptr)
    return;
  switch (what_) {
  case reply_for::report: {
    auto took = std::max<millis>(ctx_->now() - arrived_at_, 0);
    ctx_->stats->report_answered(result, kind_,
                                 static_cast<double>(took) / 1000.0);
    break;
  }
  case reply_for::observation:
    ctx_->stats->observation_answered(result);
    break;
  case reply_for::command:
    break;
  }
}

// -- checks where the data lands ---------------------------------------------

caf::error agent_state::check_addressee(const std::string& name) const {
  if (name != agent_name_)
    return make_error(ec::invalid_argument, "a message for agent '" + name
                                              + "' reached agent '"
                                              + agent_name_ + "'");
  return caf::none;
}

caf::error agent_state::check(failure_report& r,
                              const token_index& tokens) const {
  if (auto err = check_report(r, now()))
    return err;
  if (auto err = check_addressee(r.agent))
    return err;
  if (auto err = check_arrival(r.arrived_at, now()))
    return err;
  return resolve_identity(tokens, r.subscription, r.token_sha256);
}

caf::error agent_state::check(observation& o, const token_index& tokens) const {
  if (auto err = check_observation(o))
    return err;
  if (auto err = check_addressee(o.agent))
    return err;
  if (auto err = check_arrival(o.arrived_at, now()))
    return err;
  return resolve_identity(tokens, o.subscription, o.token_sha256);
}

// -- reports -----------------------------------------------------------------

caf::result<report_result> agent_state::report(failure_report& r) {
  if (r.arrived_at == 0)
    r.arrived_at = now();
  auto tokens = ctx_->tokens.get();
  if (auto err = check(r, *tokens)) {
    SB_DEBUG("agent {}: report refused: {}", agent_name_, render(err));
    make_promise(reply_for::report, now()).deliver(std::move(err));
    return caf::delegated<report_result>{};
  }
  if (removed_ || removal_) {
    make_promise(reply_for::report, r.arrived_at)
      .deliver(removed_error(agent_name_));
    return caf::delegated<report_result>{};
  }
  report_identity id{r.subscription, r.token_sha256,
                     r.generation ? std::optional<uint64_t>{*r.generation}
                                  : std::nullopt};
  return attribute(id, r.arrived_at, reply_for::report, *tokens,
                   [this, r](attribution about, report_promise rp) mutable {
                     enqueue(r, std::move(about), std::move(rp));
                   });
}

caf::result<report_result> agent_state::observe(observation& o) {
  if (o.arrived_at == 0)
    o.arrived_at = now();
  auto tokens = ctx_->tokens.get();
  if (auto err = check(o, *tokens)) {
    SB_DEBUG("agent {}: observation refused: {}", agent_name_, render(err));
    make_promise(reply_for::observation, now()).deliver(std::move(err));
    return caf::delegated<report_result>{};
  }
  if (removed_ || removal_) {
    make_promise(reply_for::observation, o.arrived_at)
      .deliver(removed_error(agent_name_));
    return caf::delegated<report_result>{};
  }
  if (!o.model.empty())
    model_ = o.model;
  report_identity id{o.subscription, o.token_sha256,
                     o.generation ? std::optional<uint64_t>{*o.generation}
                                  : std::nullopt};
  return attribute(id, o.arrived_at, reply_for::observation, *tokens,
                   [this, headers = std::move(o.headers),
                    at = o.arrived_at](attribution about, report_promise rp) {
                     // Read with the signals of the credential's provider.
                     auto provider
                       = ctx_->tokens.get()->provider(about.subscription);
                     auto ev = parse_evidence(headers, {}, at, provider);
                     observed(std::move(about), ev, at, std::move(rp));
                   });
}

caf::result<report_result> agent_state::attribute(const report_identity& id,
                                                  millis arrived_at,
                                                  reply_for what,
                                                  const token_index& tokens,
                                                  attributed next) {
  policy_->know_token(tokens.current(policy_->current().sub_name));
  auto about
    = policy_->attribute(id, arrived_at, ctx_->settings.get()->settle_window);
  auto rp = make_promise(what, arrived_at);
  if (!about) {
    rp.deliver(std::move(about.error()));
    return rp.promise();
  }
  if (about->named && about->generation && about->subscription.empty()
      && !policy_->find(*about->generation)) {
    // A generation older than the assignments kept in memory: the switch
    // history knows which subscription it ran on.
    ask(store_, store_request_timeout, generation_atom::value, agent_name_,
        *about->generation)
      .then(
        [next, rp, a = *about](std::string& sub) mutable {
          a.subscription = std::move(sub);
          next(std::move(a), rp);
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp.promise();
  }
  next(std::move(*about), rp);
  return rp.promise();
}

report_promise agent_state::make_promise(reply_for what, millis arrived_at) {
  return report_promise{self_->make_response_promise<report_result>(),
                        ctx_.get(), what, arrived_at};
}

/// How a report is classified, with its provider's evidence in `q`: a
/// verdict makes it an auth failure, an expired access token of a login a
/// refresh (not a switch), a limit of one model's bucket concerns only an
/// agent on that model.
classification agent_state::judge(const failure_report& r,
                                  const attribution& about, queued_report& q) {
  auto cls = classify(r.status, r.error, r.kind);
  q.status = r.status;
  q.evidence = parse_evidence(r.headers, r.error, r.arrived_at,
                              ctx_->tokens.get()->provider(about.subscription));
  // An answer no window lifts (a disabled organization answers 400) is a
  // failure of the credential whatever its status.
  if (q.evidence.verdict != retire_reason::none
      && cls.reason == "not_a_switch_failure") {
    cls.kind = failure_kind::auth;
    cls.reason.clear();
  }
  if (cls.kind == failure_kind::auth
      && q.evidence.verdict == retire_reason::none)
    q.evidence.suspect = suspected(r.status, r.error);
  if (cls.kind == failure_kind::auth && access_token_expired(r.status, r.error)
      && ctx_->tokens.get()->refreshable(about.subscription)) {
    // The daemon refreshes it (actors/refresher.hpp); its agents get the new
    // access token by rotation. Not a reason to leave the subscription.
    cls.kind = failure_kind::ignored;
    cls.reason = "access_token_expired";
    self_->send(pool_, refresh_atom::value, about.subscription);
  }
  if (is_model_only(q.evidence) && cls.kind != failure_kind::ignored) {
    // A limit of one model's bucket: it moves only an agent on that model.
    bool ours = r.model.empty();
    for (auto& m : q.evidence.models)
      ours = ours || model_in_bucket(r.model, m.model);
    cls.reason = ours ? "model_bucket" : "another_models_limit";
    if (!ours)
      cls.kind = failure_kind::ignored;
  }
  return cls;
}

void agent_state::enqueue(failure_report& r, attribution about,
                          report_promise rp) {
  if (about.subscription.empty()) {
    report_result res;
    res.agent = agent_name_;
    res.result = outcome::no_subscription;
    res.generation = policy_->current().generation;
    res.reason = "the agent has no subscription";
    SB_INFO("agent {}: report {} -> no_subscription", agent_name_, r.status);
    rp.deliver(std::move(res));
    return;
  }
  if (!r.model.empty())
    model_ = r.model;
  queued_report q;
  auto cls = judge(r, about, q);
  rp.classified(cls.kind);
  // The latest instant anything says the subscription is back, bounded like
  // the headers' resets (the past is ignored, more than 8 days clamped).
  auto hint = std::max(
    {r.reset_at, r.retry_after_ms > 0 ? r.arrived_at + r.retry_after_ms : 0,
     failure_reset(q.evidence)});
  q.reset_at = bound_reset(hint, r.arrived_at).value_or(0);
  q.rp = std::move(rp);
  SB_DEBUG("agent {}: report {} (execution {}) about {}", agent_name_, r.status,
           r.execution_id, about.subscription);
  event_info ev;
  ev.agent = agent_name_;
  ev.subscription = about.subscription;
  ev.kind = cls.kind;
  ev.reason = cls.reason;
  ev.status = r.status;
  ev.message = std::move(r.error);
  ev.source = std::move(r.source);
  ev.execution_id = std::move(r.execution_id);
  ev.reset_at = q.reset_at;
  ev.at = r.arrived_at;
  q.facts = report_facts{cls.kind, std::move(cls.reason), std::move(about),
                         r.arrived_at};
  queued_.push_back(std::move(q));
  queued_events_.push_back(std::move(ev));
  // With nothing else in the mailbox the event goes to the STORE now; with
  // a backlog, the reports queued behind this one join it in one write (a
  // flush message marks the end of the backlog). Each reply still waits for
  // its event.
  if (!flush_scheduled_) {
    if (self_->mailbox().empty()) {
      flush();
    } else {
      flush_scheduled_ = true;
      self_->send(self_, flush_atom::value);
    }
  }
}

void agent_state::flush() {
  flush_scheduled_ = false;
  if (queued_.empty())
    return;
  auto reports = std::make_shared<std::vector<queued_report>>();
  reports->swap(queued_);
  std::vector<event_info> events;
  events.swap(queued_events_);
  ++flushing_;
  ask(store_, store_request_timeout, event_atom::value, std::move(events))
    .then(
      [this, reports](std::vector<int64_t>&) {
        --flushing_;
        auto settings = ctx_->settings.get();
        for (auto& q : *reports) {
          // A concurrency cap excludes nothing; a model's bucket is told
          // even when the report was not this agent's.
          auto kind = q.facts.kind;
          if (kind == failure_kind::rate_limit || kind == failure_kind::auth)
            tell_pool(q.facts.about.subscription, q.facts.arrived_at,
                      q.reset_at, q.evidence);
          else if (kind == failure_kind::ignored && !q.evidence.models.empty())
            tell_pool(q.facts.about.subscription, q.facts.arrived_at, 0,
                      q.evidence);
          decide(q, *settings);
        }
        try_remove();
      },
      [this, reports](caf::error& err) {
        --flushing_;
        SB_ERROR("agent {}: could not record {} failure event(s): {}",
                 agent_name_, reports->size(), render(err));
        for (auto& q : *reports)
          q.rp.deliver(err);
        try_remove();
      });
}

void agent_state::tell_pool(const std::string& sub, millis at, millis reset_at,
                            const provider_evidence& evidence) {
  // Bursts send one message, not N: repeats within a second that would not
  // move the exclusion and carry no provider evidence are skipped.
  bool same = sub == told_sub_;
  if (same && at < told_at_ + 1000 && reset_at <= told_reset_
      && evidence.empty())
    return;
  told_reset_ = same ? std::max(told_reset_, reset_at) : reset_at;
  told_sub_ = sub;
  told_at_ = at;
  self_->send(pool_, failure_atom::value, sub, at, reset_at, evidence);
}

// -- observations ------------------------------------------------------------

void agent_state::observed(attribution about, provider_evidence ev,
                           millis arrived_at, report_promise rp) {
  report_result res;
  res.agent = agent_name_;
  res.generation = policy_->current().generation;
  res.from = name_or_null(about.subscription);
  if (about.subscription.empty()) {
    res.result = outcome::no_subscription;
    res.reason = "the agent has no subscription";
    rp.deliver(std::move(res));
    return;
  }
  if (ev.empty()) {
    res.result = outcome::observed;
    res.reason = "no rate-limit header the daemon reads; nothing recorded";
    rp.deliver(std::move(res));
    return;
  }
  report_facts facts{failure_kind::none, {}, std::move(about), arrived_at};
  auto sub = facts.about.subscription;
  ask(pool_, pool_request_timeout, evidence_atom::value, sub, std::move(ev))
    .then([this, facts, rp](headroom& h) { decide_headroom(facts, h, rp); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

void agent_state::decide_headroom(const report_facts& facts, const headroom& h,
                                  report_promise rp) {
  if (removed_ || removal_) {
    rp.deliver(removed_error(agent_name_));
    return;
  }
  std::optional<inflight_facts> inflight;
  if (inflight_)
    inflight = inflight_facts{inflight_->committed};
  auto util = from_caf(h.utilization);
  auto d = policy_->decide_headroom(
    facts, headroom_facts{util, h.status == provider_status::rejected},
    *ctx_->settings.get(), auto_switch_, inflight, now());
  switch (d.verdict) {
  case decision::join:
    inflight_->waiters.push_back(std::move(rp));
    return;
  case decision::switch_now:
    start_switch(trigger::headroom, failure_kind::none, 0, std::move(rp), {},
                 util.value_or(1.0));
    return;
  case decision::answer:
    break;
  }
  queued_report q;
  q.facts = facts;
  q.rp = std::move(rp);
  answer(q, d);
}

void agent_state::decide(queued_report& q, const engine_settings& settings) {
  if (removed_ || removal_) {
    q.rp.deliver(removed_error(agent_name_));
    return;
  }
  std::optional<inflight_facts> inflight;
  if (inflight_)
    inflight = inflight_facts{inflight_->committed};
  auto d = policy_->decide(q.facts, settings, auto_switch_, inflight, now());
  switch (d.verdict) {
  case decision::join:
    inflight_->waiters.push_back(std::move(q.rp));
    return;
  case decision::switch_now:
    start_switch(trigger::automatic, q.facts.kind, d.event_count,
                 std::move(q.rp));
    inflight_->started_by = q.facts;
    inflight_->status = q.status;
    return;
  case decision::answer:
    break;
  }
  if (d.alert) {
    auto& sub = policy_->current().sub_name;
    notification_info facts;
    facts.subscription = sub;
    facts.reason = "switch_budget";
    store_alert(notification_kind::held,
                "Agent '" + agent_name_ + "' held on '" + sub + "'",
                "Agent '" + agent_name_ + "' switched "
                  + std::to_string(
                    policy_->recent_switches(now(), settings.budget_window))
                  + " times within the budget window; it stays on '" + sub
                  + "' until " + format_iso(d.held_until)
                  + " instead of flapping.",
                std::move(facts));
    SB_WARN("agent {}: switch budget used up; held until {}", agent_name_,
            format_iso(d.held_until));
  }
  answer(q, d);
}

void agent_state::answer(const queued_report& q, const decision& d) {
  auto& about = q.facts.about.subscription;
  report_result res;
  res.result = d.result;
  res.agent = agent_name_;
  res.from = name_or_null(about);
  res.generation = policy_->current().generation;
  if (d.result == outcome::stale)
    res.to = name_or_null(policy_->current().sub_name);
  if (d.result == outcome::coalesced) {
    // The switch the report belongs to.
    res.from = name_or_null(d.switch_from);
    res.to = name_or_null(d.switch_to);
    res.generation = d.switch_generation;
  }
  res.kind = q.facts.kind;
  res.reason = d.reason;
  res.event_count = d.event_count;
  res.retry_after_ms = d.retry_after_ms;
  // An observation has no status: it is no failure.
  auto what = q.facts.kind == failure_kind::none
                ? std::string{"observation"}
                : "report " + std::to_string(q.status);
  SB_INFO("agent {}: {} on {} -> {} ({})", agent_name_, what, about,
          to_string(d.result), d.reason);
  if (watched())
    emit(report_event(q.facts, q.status, res));
  auto rp = q.rp;
  rp.deliver(std::move(res));
}

// -- the switch flow ---------------------------------------------------------

void agent_state::start_switch(trigger by, failure_kind kind,
                               uint32_t event_count, report_promise rp,
                               std::string target,
                               std::optional<double> from_utilization,
                               bool force) {
  auto& cur = policy_->current();
  inflight_switch inf;
  inf.by = by;
  inf.force = force;
  inf.from_id = cur.sub_id;
  inf.from_name = cur.sub_name;
  inf.kind = kind;
  inf.event_count = event_count;
  inf.from_utilization = from_utilization;
  inf.waiters.push_back(std::move(rp));
  inflight_ = std::move(inf);
  request_selection(std::move(target));
}

void agent_state::request_selection(std::string target) {
  auto& inf = *inflight_;
  auto& cur = policy_->current();
  auto on_selected = [this](selection& sel) { selected(std::move(sel)); };
  auto on_error = [this, from = cur.sub_id](caf::error& err) {
    // Unanswered in time, the POOL may still move the agent's count to a
    // pick nobody commits: it is told where the agent stays (it takes the
    // two messages in the order sent).
    if (err == caf::sec::request_timeout)
      self_->send(pool_, join_atom::value, agent_name_, from);
    finish_error(err);
  };
  switch (inf.by) {
  case trigger::automatic:
    ask(pool_, pool_request_timeout, select_atom::value, agent_name_,
        cur.sub_id, pool_name_, model_)
      .then(on_selected, on_error);
    break;
  case trigger::manual:
    ask(pool_, pool_request_timeout, assign_atom::value, agent_name_,
        cur.sub_id, std::move(target), pool_name_, inf.force)
      .then(on_selected, on_error);
    break;
  case trigger::rotation:
    ask(pool_, pool_request_timeout, token_atom::value, cur.sub_id)
      .then(on_selected, on_error);
    break;
  case trigger::headroom:
    // Only to a subscription with clearly more headroom.
    ask(pool_, pool_request_timeout, select_atom::value, agent_name_,
        cur.sub_id, pool_name_, model_, *inf.from_utilization - headroom_margin)
      .then(on_selected, on_error);
    break;
  }
}

void agent_state::selected(selection sel) {
  if (!sel.found && inflight_->by == trigger::headroom) {
    no_headroom();
    return;
  }
  if (!sel.found) {
    no_alternative(sel);
    return;
  }
  if (inflight_->by == trigger::manual && sel.id == policy_->current().sub_id) {
    auto res = result_of(*inflight_);
    res.result = outcome::unchanged;
    res.to = name_or_null(sel.name);
    res.reason = "the agent is on that subscription already";
    finish(std::move(res));
    return;
  }
  commit(std::move(sel));
}

void agent_state::no_alternative(const selection& sel) {
  auto t = now();
  auto res = result_of(*inflight_);
  res.result = outcome::no_alternative;
  res.reset_at = sel.earliest_reset;
  res.retry_after_ms = std::max<millis>(sel.earliest_reset - t, 0);
  res.reason = "every other subscription is excluded or there is none";
  auto& from = inflight_->from_name;
  auto reset_text = sel.earliest_reset == 0 ? std::string{"unknown"}
                                            : format_iso(sel.earliest_reset);
  SB_WARN("agent {}: no alternative to {} (earliest reset {})", agent_name_,
          from, reset_text);
  // One "pool exhausted" alert per agent per reset instant: again only once
  // the instant it announced has passed (or, with no instant known, after
  // an hour), not once per report.
  bool first = exhausted_alert_at_ == 0;
  bool announced_passed
    = exhausted_alert_reset_ != 0 && t >= exhausted_alert_reset_;
  bool hour_passed
    = exhausted_alert_reset_ == 0 && t - exhausted_alert_at_ >= hour_ms;
  if (first || announced_passed || hour_passed) {
    exhausted_alert_at_ = t;
    exhausted_alert_reset_ = sel.earliest_reset;
    notification_info facts;
    facts.subscription = from;
    facts.from = from;
    facts.reason = to_string(inflight_->kind);
    facts.reset_at = sel.earliest_reset;
    store_alert(
      notification_kind::pool_exhausted,
      "No alternative subscription for '" + agent_name_ + "'",
      "Agent '" + agent_name_ + "' failed on '" + from + "' after "
        + phrase(inflight_->kind) + " and every other subscription is excluded"
        + (sel.earliest_reset == 0
             ? std::string{"; no reset instant is known."}
             : "; the earliest comes back at " + reset_text + " (in "
                 + format_duration(std::max<millis>(
                   (sel.earliest_reset - t) / minute_ms * minute_ms, minute_ms))
                 + ")."),
      std::move(facts));
  }
  finish(std::move(res));
}

void agent_state::no_headroom() {
  // A proactive switch with nowhere better to go: the agent stays, nothing
  // is written.
  auto res = result_of(*inflight_);
  res.result = outcome::observed;
  res.reason = "no subscription at least " + format_fraction(headroom_margin)
               + " lower in utilization than "
               + format_fraction(*inflight_->from_utilization)
               + "; the agent stays on '" + inflight_->from_name + "'";
  SB_INFO("agent {}: {} near its limit, {}", agent_name_, inflight_->from_name,
          res.reason);
  finish(std::move(res));
}

void agent_state::commit(selection sel) {
  auto& inf = *inflight_;
  inf.to_id = sel.id;
  inf.to_name = sel.name;
  switch_record rec;
  rec.agent = agent_name_;
  rec.from_id = inf.from_id;
  rec.from_name = inf.from_name;
  rec.to_id = sel.id;
  rec.to_name = sel.name;
  rec.by = inf.by;
  rec.kind = inf.kind;
  rec.event_count = inf.event_count;
  rec.expected_generation = policy_->current().generation;
  rec.at = now();
  if (inf.repicks < max_repicks)
    rec.balance = sel.balance;
  rec = notification_of(std::move(rec), sel);
  auto at = rec.at;
  ask(store_, store_request_timeout, commit_atom::value, std::move(rec))
    .then(
      [this, sel, at](switch_commit& c) {
        if (c.stale)
          repick(sel, c);
        else
          committed(c, sel, at);
      },
      [this, sel, at](caf::error& err) {
        if (err == caf::sec::request_timeout) {
          commit_unanswered(sel, at);
          return;
        }
        // Not written (the STORE answers a write only once its
        // transaction committed or failed): the move is undone.
        self_->send(pool_, release_atom::value, agent_name_, inflight_->from_id,
                    sel.id);
        finish_error(err);
      });
}

void agent_state::commit_unanswered(selection sel, millis at) {
  auto& inf = *inflight_;
  auto secs
    = std::chrono::duration_cast<std::chrono::seconds>(store_request_timeout);
  SB_ERROR("agent {}: the STORE did not answer the commit of the switch {} -> "
           "{} within {} s; the switch stays in flight until the STORE says "
           "whether it was recorded",
           agent_name_, name_or_none(inf.from_name), sel.name, secs.count());
  auto err = make_error(ec::unavailable,
                        "the STORE did not answer the commit of agent '"
                          + agent_name_ + "' switching to '" + sel.name
                          + "' within " + std::to_string(secs.count())
                          + " s; whether it was recorded is not known yet");
  // The callers get their answer within the timeout; reports that come
  // meanwhile join the switch and get its outcome once it is known.
  for (auto& rp : inf.waiters)
    rp.deliver(err);
  inf.waiters.clear();
  inf.starter_answered = true;
  inf.unresolved = true;
  inf.pick = std::move(sel);
  inf.commit_at = at;
  resolve_commit();
}

void agent_state::resolve_commit() {
  auto& inf = *inflight_;
  if (inf.resolving)
    return;
  inf.resolving = true;
  auto generation = policy_->current().generation + 1;
  ask(store_, store_request_timeout, generation_atom::value, agent_name_,
      generation)
    .then(
      [this](std::string& sub) {
        inflight_->resolving = false;
        commit_resolved(sub == inflight_->pick->name);
      },
      [this, generation](caf::error& err) {
        inflight_->resolving = false;
        // "No generation N": the commit was not written.
        if (is(err, ec::invalid_argument)) {
          commit_resolved(false);
          return;
        }
        SB_WARN("agent {}: the STORE cannot say yet whether generation {} was "
                "recorded ({}); asking again in {} s",
                agent_name_, generation, render(err),
                std::chrono::duration_cast<std::chrono::seconds>(resolve_retry)
                  .count());
        ctx_->clock->send_later(self_, resolve_retry, reconcile_atom::value);
      });
}

void agent_state::commit_resolved(bool recorded) {
  auto& inf = *inflight_;
  inf.unresolved = false;
  auto sel = std::move(*inf.pick);
  inf.pick.reset();
  auto generation = policy_->current().generation + 1;
  if (recorded) {
    SB_WARN("agent {}: the switch to {} was recorded after all (generation "
            "{}); it goes on",
            agent_name_, sel.name, generation);
    switch_commit c;
    c.generation = generation;
    committed(c, sel, inf.commit_at);
    return;
  }
  self_->send(pool_, release_atom::value, agent_name_, inf.from_id, sel.id);
  finish_error(make_error(
    ec::unavailable, "the switch of agent '" + agent_name_ + "' to '" + sel.name
                       + "' was not recorded (the STORE did not answer "
                         "its commit in time); the agent stays on '"
                       + name_or_none(inf.from_name) + "'"));
}

void agent_state::repick(const selection& sel, switch_commit& c) {
  auto& inf = *inflight_;
  ++inf.repicks;
  ctx_->stats->repicked();
  SB_DEBUG("agent {}: {} has more agents than another candidate once the "
           "other nodes' are counted; picking again ({} of {})",
           agent_name_, sel.name, inf.repicks, max_repicks);
  std::vector<int64_t> subs;
  for (auto& b : sel.balance)
    subs.push_back(b.subscription);
  // In this order at the POOL (one sender): undo the move, learn the seats,
  // pick again.
  self_->send(pool_, release_atom::value, agent_name_, inf.from_id, sel.id);
  self_->send(pool_, shared_atom::value, std::move(subs), std::move(c.others));
  request_selection({});
}

switch_record agent_state::notification_of(switch_record rec,
                                           const selection& sel) const {
  auto& inf = *inflight_;
  auto to_util = utilization_text(from_caf(sel.utilization));
  if (inf.by == trigger::automatic) {
    rec.notify = true;
    rec.title = "Subscription auto-switched to '" + sel.name + "'";
    rec.message = "Agent '" + agent_name_
                  + "' was automatically switched from subscription '"
                  + inf.from_name + "' to '" + sel.name + "' after "
                  + phrase(inf.kind) + " (" + std::to_string(inf.event_count)
                  + " failure(s) within the threshold window); '" + sel.name
                  + "' had the most headroom (" + to_util
                  + ") and the fewest agents among the subscriptions "
                    "without a recent failure.";
  } else if (inf.by == trigger::headroom) {
    rec.notify = true;
    rec.title = "Subscription switched to '" + sel.name + "' before its limit";
    rec.message = "Agent '" + agent_name_ + "' was switched from '"
                  + inf.from_name + "' to '" + sel.name
                  + "' before hitting the limit: the provider reported '"
                  + inf.from_name + "' at "
                  + utilization_text(inf.from_utilization) + "; '" + sel.name
                  + "' is at " + to_util + ".";
  }
  return rec;
}

void agent_state::committed(const switch_commit& c, const selection& sel,
                            millis at) {
  auto& inf = *inflight_;
  inf.committed = true;
  ctx_->stats->switched(inf.by);
  policy_->committed(
    epoch{c.generation, sel.id, sel.name, sel.token_sha256, at, 0}, inf.by);
  if (inf.by != trigger::rotation)
    last_switch_at_ = at;
  SB_INFO_WITH(agent_fields(agent_name_, sel.name, c.generation),
               "agent {}: {} {} -> {} committed (generation {}, {} events)",
               agent_name_, to_string(inf.by), name_or_none(inf.from_name),
               sel.name, c.generation, inf.event_count);
  if (watched()) {
    watch_event ev;
    ev.kind = watch_kind::switched;
    ev.agent = agent_name_;
    ev.from = name_or_null(inf.from_name);
    ev.to = name_or_null(sel.name);
    ev.generation = c.generation;
    ev.outcome = to_string(inf.by);
    ev.line = "switch " + agent_name_ + " " + name_or_none(inf.from_name)
              + " -> " + sel.name + " generation "
              + std::to_string(c.generation) + " (" + to_string(inf.by) + ")";
    emit(std::move(ev));
  }
  fault_point(test_hook::crash_after_commit);
  auto generation = c.generation;
  inf.generation = generation;
  // The reply waits for the application, but at most apply-wait: a hung
  // engine must not hold the callers' replies hostage. The application goes
  // on either way.
  ctx_->clock->send_later(self_, ctx_->opts.apply_wait, apply_wait_atom::value,
                          generation);
  apply_token(generation, sel.token, sel.terms,
              [this, generation](const apply_outcome& result) {
                reply_applied(generation, result);
              });
}

void agent_state::reply_applied(uint64_t generation,
                                const apply_outcome& result) {
  // Already answered (apply-wait passed) or another switch by now.
  if (!inflight_ || inflight_->generation != generation)
    return;
  auto res = result_of(*inflight_);
  res.result = outcome_of(inflight_->by);
  res.to = name_or_null(inflight_->to_name);
  res.apply = result;
  finish(std::move(res));
}

void agent_state::apply_wait_over(uint64_t generation) {
  if (!inflight_ || inflight_->generation != generation)
    return;
  SB_WARN(
    "agent {}: the token of generation {} is not applied after {} ms; "
    "answering now, the application goes on",
    agent_name_, generation,
    std::chrono::duration_cast<std::chrono::milliseconds>(ctx_->opts.apply_wait)
      .count());
  reply_applied(generation, apply_outcome{apply_result::pending, {}});
}

report_result agent_state::result_of(const inflight_switch& inf) const {
  report_result res;
  res.agent = agent_name_;
  res.from = name_or_null(inf.from_name);
  res.generation = policy_->current().generation;
  res.kind = inf.kind;
  res.event_count = inf.event_count;
  return res;
}

void agent_state::finish(report_result res) {
  auto inf = std::move(*inflight_);
  inflight_.reset();
  for (size_t i = 0; i < inf.waiters.size(); ++i) {
    auto r = res;
    if (i > 0 || inf.starter_answered) {
      r.reason = std::string{"joined the switch in flight ("}
                 + to_string(res.result) + ")";
      r.result = outcome::coalesced;
    }
    if (i == 0 && !inf.starter_answered && inf.started_by && watched())
      emit(report_event(*inf.started_by, inf.status, r));
    inf.waiters[i].deliver(std::move(r));
  }
  auto joined = inf.waiters.size() - (inf.starter_answered ? 0 : 1);
  if (!inf.waiters.empty() && joined > 0)
    SB_INFO("agent {}: {} requests coalesced into one {}", agent_name_, joined,
            to_string(res.result));
  run_deferred();
}

void agent_state::finish_error(const caf::error& err) {
  auto inf = std::move(*inflight_);
  inflight_.reset();
  // A request the POOL refused (another pool, a retired target without
  // --force, an unknown name) is the caller's mistake, not the daemon's.
  if (is(err, ec::conflict) || is(err, ec::invalid_argument)
      || is(err, ec::unknown_subscription))
    SB_INFO("agent {}: {} switch refused: {}", agent_name_, to_string(inf.by),
            render(err));
  else
    SB_ERROR("agent {}: {} switch failed: {}", agent_name_, to_string(inf.by),
             render(err));
  for (auto& rp : inf.waiters)
    rp.deliver(err);
  run_deferred();
}

// -- token applications ------------------------------------------------------

void agent_state::apply_token(uint64_t generation, secret token,
                              token_terms terms, apply_done done) {
  container_request req;
  req.agent = agent_name_;
  req.container = container_;
  req.op = container_op::apply;
  req.generation = generation;
  req.token = std::move(token);
  req.terms = std::move(terms);
  applying_ = generation;
  // Measured on the steady clock: a duration, not an instant of the daemon.
  auto started = std::chrono::steady_clock::now();
  auto count = [stats = ctx_->stats, started](const apply_outcome& result) {
    std::chrono::duration<double> took
      = std::chrono::steady_clock::now() - started;
    stats->token_applied(result.result, took.count());
  };
  ask(supervisor_, ctx_->live.get()->container_op_timeout(), apply_atom::value,
      std::move(req))
    .then(
      [this, generation, done, count](apply_outcome& result) {
        count(result);
        record_apply(generation, std::move(result), done);
      },
      [this, generation, done, count](caf::error& err) {
        auto result = apply_failed(render(err));
        count(result);
        record_apply(generation, std::move(result), done);
      });
}

void agent_state::record_apply(uint64_t generation, apply_outcome result,
                               apply_done done) {
  if (applying_ == generation)
    applying_ = 0;
  if (result.result == apply_result::superseded) {
    // A newer generation was applied meanwhile: nothing to record.
    done(result);
    return;
  }
  apply_record rec;
  rec.agent = agent_name_;
  rec.generation = generation;
  rec.result = result;
  rec.applied = token_applied(result.result, !container_.empty());
  rec.at = now();
  last_apply_ = result;
  last_apply_at_ = rec.at;
  if (rec.applied && generation > applied_generation_)
    applied_generation_ = generation;
  if (rec.applied)
    policy_->applied(generation, rec.at);
  // One line per application: applied (how), not applied (why; with the
  // retry when one is scheduled), or what happened instead.
  bool retry = generation == policy_->current().generation
               && result.result == apply_result::failed;
  auto* ep = policy_->find(generation);
  auto fields
    = agent_fields(agent_name_, ep ? ep->sub_name : std::string{}, generation);
  if (rec.applied)
    SB_INFO_WITH(fields, "agent {}: token of generation {} applied ({})",
                 agent_name_, generation, to_string(result.result));
  else if (!retry)
    SB_WARN_WITH(fields, "agent {}: token of generation {} not applied: {}",
                 agent_name_, generation,
                 result.result == apply_result::failed ? result.detail
                                                       : to_string(result));
  if (generation == policy_->current().generation)
    schedule_retry(result, generation);
  if (watched()) {
    watch_event ev;
    ev.kind = watch_kind::apply;
    ev.agent = agent_name_;
    ev.generation = generation;
    ev.apply = to_string(result);
    ev.line = "apply " + agent_name_ + " generation "
              + std::to_string(generation) + " " + to_string(result);
    emit(std::move(ev));
  }
  ask(store_, store_request_timeout, applied_atom::value, std::move(rec))
    .then([done, result](ok_atom) { done(result); },
          [this, done, result](caf::error& err) {
            SB_WARN("agent {}: could not record apply result: {}", agent_name_,
                    render(err));
            done(result);
          });
}

void agent_state::check_behind(const apply_outcome& result) {
  auto cur = policy_->current();
  auto waited = now() - cur.committed_at;
  auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
                 ctx_->opts.behind_after)
                 .count();
  if (applied_generation_ >= cur.generation || cur.sub_id == 0
      || behind_told_ == cur.generation || cur.committed_at == 0
      || waited < limit)
    return;
  behind_told_ = cur.generation;
  notification_info facts;
  facts.subscription = cur.sub_name;
  facts.reason = to_string(result.result);
  store_alert(
    notification_kind::agent_behind, "Agent '" + agent_name_ + "' is behind",
    "The token of generation " + std::to_string(cur.generation)
      + " (subscription '" + cur.sub_name + "') was committed at "
      + format_iso(cur.committed_at)
      + " and is not applied to the agent's container yet ("
      + (result.detail.empty() ? to_string(result.result) : result.detail)
      + "); it is tried again.",
    std::move(facts));
}

void agent_state::schedule_retry(const apply_outcome& result,
                                 uint64_t generation) {
  check_behind(result);
  // A failed application is retried with exponential backoff (a fresh
  // failure doubles the wait, up to retry-max). not_running and a vanished
  // container are no failures to retry quickly: while the container stays
  // behind, the agent checks it again every reconcile-interval.
  auto& o = ctx_->opts;
  if (result.result != apply_result::failed) {
    retry_delay_ = caf::timespan{0};
    retry_at_ = 0;
    if (applied_generation_ < policy_->current().generation
        && !reconcile_timer_) {
      reconcile_timer_ = true;
      ctx_->clock->send_later(self_, o.reconcile_interval,
                              reconcile_atom::value);
    }
    return;
  }
  retry_delay_ = retry_delay_.count() == 0
                   ? o.retry_initial
                   : std::min(retry_delay_ * 2, o.retry_max);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(retry_delay_);
  retry_at_ = now() + ms.count();
  auto* ep = policy_->find(generation);
  SB_WARN_WITH(
    agent_fields(agent_name_, ep ? ep->sub_name : std::string{}, generation),
    "agent {}: token of generation {} not applied: {}; retrying in "
    "{} ms",
    agent_name_, generation, result.detail, ms.count());
  ctx_->clock->send_later(self_, retry_delay_, reconcile_atom::value);
}

void agent_state::reconcile() {
  if (inflight_ && inflight_->unresolved) {
    resolve_commit();
    return;
  }
  reconcile_timer_ = false;
  retry_at_ = 0;
  auto cur = policy_->current();
  if (removed_ || inflight_ || applying_ != 0 || cur.sub_id == 0
      || applied_generation_ >= cur.generation)
    return;
  // A retry was announced with the failure; a plain reconcile says why.
  if (retry_delay_.count() == 0)
    SB_INFO("agent {}: container is behind (applied {} < {}), applying again",
            agent_name_, applied_generation_, cur.generation);
  ask(pool_, pool_request_timeout, token_atom::value, cur.sub_id)
    .then(
      [this, generation = cur.generation](selection& sel) {
        if (policy_->current().generation != generation)
          return; // a newer switch took over
        apply_token(generation, std::move(sel.token), std::move(sel.terms),
                    [](const apply_outcome&) {});
      },
      [this, generation = cur.generation](caf::error& err) {
        // Retried like a failed application (schedule_retry says so).
        if (policy_->current().generation == generation && !inflight_)
          schedule_retry(
            apply_failed("reconcile could not get the token: " + render(err)),
            generation);
        else
          SB_WARN("agent {}: reconcile failed: {}", agent_name_, render(err));
      });
}

// -- other requests ----------------------------------------------------------

caf::result<report_result> agent_state::assign(std::string target, bool force) {
  if (auto err = validate_name("subscription name", target))
    return err;
  auto rp = make_promise(reply_for::command, now());
  when_idle([this, rp, target, force]() mutable {
    if (removed_ || removal_) {
      rp.deliver(removed_error(agent_name_));
      return;
    }
    start_switch(trigger::manual, failure_kind::none, 0, rp, target,
                 std::nullopt, force);
  });
  return rp.promise();
}

caf::result<report_result> agent_state::move_off(std::string sub_name) {
  if (auto err = validate_name("subscription name", sub_name))
    return err;
  auto rp = make_promise(reply_for::command, now());
  when_idle([this, rp, sub_name]() mutable {
    if (removed_ || removal_ || policy_->current().sub_name != sub_name) {
      report_result res;
      res.agent = agent_name_;
      res.result = outcome::unchanged;
      res.generation = policy_->current().generation;
      res.reason = "not on '" + sub_name + "'";
      rp.deliver(std::move(res));
      return;
    }
    SB_INFO("agent {}: moving off {} (out of selection)", agent_name_,
            sub_name);
    start_switch(trigger::automatic, failure_kind::none, 0, rp);
  });
  return rp.promise();
}

caf::result<report_result> agent_state::rotate(int64_t sub_id) {
  auto rp = make_promise(reply_for::command, now());
  when_idle([this, rp, sub_id]() mutable {
    if (removed_ || removal_ || policy_->current().sub_id != sub_id) {
      report_result res;
      res.agent = agent_name_;
      res.result = outcome::unchanged;
      res.generation = policy_->current().generation;
      res.reason = "not on that subscription";
      rp.deliver(std::move(res));
      return;
    }
    start_switch(trigger::rotation, failure_kind::none, 0, rp);
  });
  return rp.promise();
}

void agent_state::unassign(const std::string& sub_name) {
  if (policy_->current().sub_name != sub_name)
    return;
  SB_INFO("agent {}: unassigned, subscription {} was removed", agent_name_,
          sub_name);
  policy_->unassigned(now());
}

caf::result<agent_info> agent_state::info() {
  if (removed_)
    return removed_error(agent_name_);
  auto result = snapshot();
  result.mailbox = static_cast<uint32_t>(self_->mailbox().size());
  if (container_.empty())
    return result;
  auto rp = self_->make_response_promise<agent_info>();
  self_
    ->request(supervisor_, container_state_timeout, get_atom::value, container_)
    .then(
      [rp, result](lifecycle state) mutable {
        result.container_state = state;
        rp.deliver(std::move(result));
      },
      [rp, result](caf::error&) mutable { rp.deliver(std::move(result)); });
  return rp;
}

caf::result<agent_info> agent_state::set_auto_switch(auto_switch_mode mode) {
  if (mode != auto_switch_mode::on && mode != auto_switch_mode::off)
    return make_error(ec::invalid_argument, "auto-switch is on or off");
  if (removed_ || removal_)
    return removed_error(agent_name_);
  auto rp = self_->make_response_promise<agent_info>();
  ask(store_, store_request_timeout, agent_set_atom::value, agent_name_, mode,
      now())
    .then(
      [this, rp, mode](ok_atom) mutable {
        auto_switch_ = mode;
        SB_INFO("agent {}: auto-switch {}", agent_name_, to_string(mode));
        rp.deliver(snapshot());
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<apply_outcome> agent_state::container_command(container_op op) {
  if (op != container_op::start && op != container_op::stop
      && op != container_op::restart)
    return make_error(ec::invalid_argument,
                      "unknown container operation (use start, stop or "
                      "restart)");
  if (removed_ || removal_)
    return removed_error(agent_name_);
  if (container_.empty())
    return make_error(ec::invalid_argument,
                      "agent '" + agent_name_ + "' has no container");
  auto rp = self_->make_response_promise<apply_outcome>();
  // The token comes from the POOL even for a stop, so every operation reaches
  // the supervisor in the order this agent received it; and after the switch
  // in flight, like everything else for this agent.
  auto send_op = [this, rp, op](secret token, token_terms terms) mutable {
    auto generation = policy_->current().generation;
    container_request req{agent_name_, container_,       op,
                          generation,  std::move(token), std::move(terms)};
    ask(supervisor_, ctx_->live.get()->container_op_timeout(),
        apply_atom::value, std::move(req))
      .then(
        [this, rp, op, generation](apply_outcome& result) mutable {
          // A start or restart bakes the current token into the container
          // when it was behind.
          if (op != container_op::stop && token_applied(result.result, true)
              && generation > applied_generation_)
            record_apply(generation, result, [](const apply_outcome&) {});
          rp.deliver(std::move(result));
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  };
  when_idle([this, rp, send_op]() mutable {
    auto sub_id = policy_->current().sub_id;
    if (sub_id == 0) {
      send_op(secret{}, token_terms{});
      return;
    }
    ask(pool_, pool_request_timeout, token_atom::value, sub_id)
      .then(
        [send_op](selection& sel) mutable {
          send_op(std::move(sel.token), std::move(sel.terms));
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  });
  return rp;
}

caf::result<std::string> agent_state::remove() {
  if (removal_)
    return make_error(ec::unknown_agent,
                      "agent '" + agent_name_ + "' is being removed");
  removal_ = self_->make_response_promise<std::string>();
  // Reports received but not recorded yet: answered now, nothing recorded.
  drop_pending(removed_error(agent_name_));
  try_remove();
  return *removal_;
}

void agent_state::try_remove() {
  // Only once nothing is in flight: a switch half done, or events being
  // written, would otherwise leave the pool's count or a reply behind.
  if (!removal_ || removed_ || inflight_ || flushing_ > 0)
    return;
  ask(store_, store_request_timeout, agent_rm_atom::value, agent_name_)
    .then(
      [this](ok_atom) {
        removed_ = true;
        self_->send(pool_, leave_atom::value, agent_name_,
                    policy_->current().sub_id);
        SB_INFO("agent {} removed", agent_name_);
        removal_->deliver(agent_name_);
        // The ADMIN drops it from the directory on this reply, but a door
        // may have looked it up just before and still deliver a request:
        // answered unknown_agent for a moment rather than bounced by a dead
        // actor. CAF's clock, not the daemon's: a test's manual clock must
        // not keep a removed agent alive at shutdown.
        self_->delayed_send(self_, removal_grace, shutdown_atom::value);
      },
      [this](caf::error& err) {
        removal_->deliver(std::move(err));
        removal_.reset();
      });
}

// -- helpers -----------------------------------------------------------------

void agent_state::when_idle(std::function<void()> f) {
  if (inflight_)
    deferred_.emplace_back(std::move(f));
  else
    f();
}

void agent_state::run_deferred() {
  while (!inflight_ && !deferred_.empty()) {
    auto f = std::move(deferred_.front());
    deferred_.erase(deferred_.begin());
    f();
  }
  try_remove();
}

void agent_state::drop_pending(const caf::error& err) {
  for (auto& q : queued_)
    q.rp.deliver(err);
  queued_.clear();
  queued_events_.clear();
}

void agent_state::emit(watch_event ev) {
  ev.at = now();
  self_->send(admin_, watch_atom::value, std::move(ev));
}

watch_event agent_state::report_event(const report_facts& facts, int32_t status,
                                      const report_result& res) const {
  // An observation has no status: it is no failure.
  bool report = facts.kind != failure_kind::none;
  auto& about = facts.about.subscription;
  watch_event ev;
  ev.kind = report ? watch_kind::report : watch_kind::observation;
  ev.agent = agent_name_;
  ev.from = name_or_null(about);
  ev.to = res.to;
  ev.generation = res.generation;
  ev.outcome = to_string(res.result);
  ev.status = report ? status : 0;
  ev.line = std::string{to_string(ev.kind)} + " " + agent_name_
            + (report ? " " + std::to_string(status) : std::string{}) + " on "
            + about + " -> " + ev.outcome;
  return ev;
}

void agent_state::store_alert(notification_kind kind, std::string title,
                              std::string message, notification_info n) {
  n.agent = agent_name_;
  n.pool = pool_name_;
  n.kind = kind;
  n.priority = notification_priority::high;
  n.title = std::move(title);
  n.message = std::move(message);
  n.created_at = now();
  ask(store_, store_request_timeout, notify_atom::value, std::move(n))
    .then([](int64_t) {},
          [this](caf::error& err) {
            SB_WARN("agent {}: could not store alert: {}", agent_name_,
                    render(err));
          });
}

// -- the behavior ------------------------------------------------------------

agent_actor::behavior_type agent(agent_state::pointer self, stored_agent row,
                                 agent_deps deps) {
  auto& st = self->state;
  st.init(row, std::move(deps));
  return {
    [&st](report_atom, failure_report& r) { return st.report(r); },
    [&st](observe_atom, observation& o) { return st.observe(o); },
    [&st](flush_atom) { st.flush(); },
    [&st](assign_atom, std::string& target, bool force) {
      return st.assign(std::move(target), force);
    },
    [&st](move_atom, std::string& sub_name) {
      return st.move_off(std::move(sub_name));
    },
    [&st](rotate_atom, int64_t sub_id) { return st.rotate(sub_id); },
    [&st](unassign_atom, const std::string& name) { st.unassign(name); },
    [&st](get_atom) { return st.info(); },
    [&st](agent_set_atom, auto_switch_mode mode) {
      return st.set_auto_switch(mode);
    },
    [&st](lifecycle_atom, container_op op) { return st.container_command(op); },
    [&st](delete_atom) { return st.remove(); },
    [&st](reconcile_atom) { st.reconcile(); },
    [&st](apply_wait_atom, uint64_t generation) {
      st.apply_wait_over(generation);
    },
    [self](shutdown_atom) { self->quit(); },
  };
}

} // namespace sb
