#include "actors/agent.hpp"

#include "actors/agent_switch.hpp"
#include "actors/classifier.hpp"
#include "actors/logging.hpp"
#include "messages/error.hpp"

#include <caf/scheduled_actor.hpp>

#include <chrono>

namespace sb {

using namespace agent_flow;

namespace {

constexpr size_t max_epochs = 16;

/// The subscription a report is about: the one it names, else the assignment
/// in force when it entered the daemon. A report that entered in the same
/// millisecond as a switch committed counts as before it: the safe side, it
/// cannot cause a second switch.
std::string attribute(const agent_state& st, const failure_report& r) {
  if (!r.subscription.empty())
    return r.subscription;
  for (auto i = st.epochs.rbegin(); i != st.epochs.rend(); ++i)
    if (i->since < r.arrived_at)
      return i->sub_name;
  return st.epochs.empty() ? st.sub_name : st.epochs.front().sub_name;
}

} // namespace

agent_info make_agent_info(const agent_state& st) {
  agent_info info;
  info.name = st.agent_name;
  info.subscription = name_or_null(st.sub_name);
  info.container = name_or_null(st.container);
  info.generation = st.generation;
  info.applied_generation = st.applied_generation;
  info.switching = st.inflight.has_value();
  info.auto_switch = st.auto_switch;
  info.last_apply = st.last_apply;
  info.last_apply_at = st.last_apply_at;
  info.last_switch_at = st.last_switch_at;
  info.recent_switches = static_cast<uint32_t>(st.recent_switches.size());
  return info;
}

agent_actor::behavior_type
agent(agent_actor::stateful_pointer<agent_state> self, stored_agent row,
      agent_deps deps) {
  auto& st = self->state;
  st.agent_name = row.name;
  st.sub_id = row.subscription_id;
  st.sub_name = row.subscription;
  st.container = row.container;
  st.generation = row.generation;
  st.applied_generation = row.applied_generation;
  st.auto_switch = row.auto_switch;
  st.last_apply = row.last_apply;
  st.last_apply_at = row.last_apply_at;
  st.last_switch_at = row.last_switch_at;
  st.store = std::move(deps.store);
  st.pool = std::move(deps.pool);
  st.supervisor = std::move(deps.supervisor);
  st.admin = std::move(deps.admin);
  st.ctx = std::move(deps.ctx);
  st.epochs.push_back(
    assignment_epoch{row.last_switch_at, st.sub_id, st.sub_name});
  return {
    [=](report_atom, failure_report& r) -> caf::result<report_result> {
      auto& st = self->state;
      if (st.removed)
        return make_error(ec::unknown_agent,
                          "agent '" + st.agent_name + "' was removed");
      if (r.arrived_at == 0)
        r.arrived_at = now_of(self);
      auto about = attribute(st, r);
      if (about.empty()) {
        report_result res;
        res.agent = st.agent_name;
        res.result = outcome::no_subscription;
        res.generation = st.generation;
        res.reason = "the agent has no subscription";
        SB_INFO("agent {}: report {} -> no_subscription", st.agent_name,
                r.status);
        return res;
      }
      auto cls = classify(r.status, r.error, r.kind);
      queued_report q;
      q.status = r.status;
      q.named = !r.subscription.empty();
      q.arrived_at = r.arrived_at;
      q.reset_at = r.reset_at != 0        ? r.reset_at
                   : r.retry_after_ms > 0 ? r.arrived_at + r.retry_after_ms
                                          : 0;
      q.kind = cls.kind;
      q.ignore_reason = cls.reason;
      q.about = about;
      q.rp = self->make_response_promise<report_result>();
      SB_DEBUG("agent {}: report {} (execution {}) about {}", st.agent_name,
               r.status, r.execution_id, about);
      event_info ev;
      ev.agent = st.agent_name;
      ev.subscription = std::move(about);
      ev.kind = to_string(cls.kind);
      ev.reason = std::move(cls.reason);
      ev.status = r.status;
      ev.message = std::move(r.error);
      ev.source = std::move(r.source);
      ev.execution_id = std::move(r.execution_id);
      ev.reset_at = q.reset_at;
      ev.at = r.arrived_at;
      auto rp = q.rp;
      st.queued.push_back(std::move(q));
      st.queued_events.push_back(std::move(ev));
      // With nothing else in the mailbox the event goes to the STORE now;
      // with a backlog, the reports queued behind this one join it in one
      // write (a flush message marks the end of the backlog). Each reply
      // still waits for its event.
      if (self->mailbox().empty() && !st.flush_scheduled)
        flush_reports(self);
      else if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
      return rp;
    },
    [=](flush_atom) { flush_reports(self); },
    [=](assign_atom, const std::string& target) {
      auto rp = self->make_response_promise<report_result>();
      auto run = [=]() mutable {
        if (self->state.removed) {
          rp.deliver(make_error(ec::unknown_agent, "agent was removed"));
          return;
        }
        start_switch(self, "manual", failure_kind::none, 0, rp, target);
      };
      if (self->state.inflight)
        self->state.deferred.emplace_back(std::move(run));
      else
        run();
      return rp;
    },
    [=](rotate_atom, int64_t sub_id) {
      auto rp = self->make_response_promise<report_result>();
      auto run = [=]() mutable {
        auto& st = self->state;
        if (st.removed || st.sub_id != sub_id) {
          report_result res;
          res.agent = st.agent_name;
          res.result = outcome::unchanged;
          res.generation = st.generation;
          res.reason = "not on that subscription";
          rp.deliver(std::move(res));
          return;
        }
        start_switch(self, "rotation", failure_kind::none, 0, rp);
      };
      if (self->state.inflight)
        self->state.deferred.emplace_back(std::move(run));
      else
        run();
      return rp;
    },
    [=](unassign_atom, const std::string& name) {
      auto& st = self->state;
      if (st.sub_name != name)
        return;
      SB_INFO("agent {}: unassigned, subscription {} was removed",
              st.agent_name, name);
      st.sub_id = 0;
      st.sub_name.clear();
      st.epochs.push_back(assignment_epoch{now_of(self), 0, {}});
      if (st.epochs.size() > max_epochs)
        st.epochs.erase(st.epochs.begin());
    },
    [=](get_atom) -> caf::result<agent_info> {
      auto& st = self->state;
      auto info = make_agent_info(st);
      info.mailbox = static_cast<uint32_t>(self->mailbox().size());
      if (st.container.empty())
        return info;
      auto rp = self->make_response_promise<agent_info>();
      self
        ->request(st.supervisor, std::chrono::seconds(5), get_atom::value,
                  st.container)
        .then(
          [=](std::string& state) mutable {
            auto i = info;
            i.container_state = std::move(state);
            rp.deliver(std::move(i));
          },
          [=](caf::error& err) mutable {
            auto i = info;
            i.container_state = "unknown: " + render(err);
            rp.deliver(std::move(i));
          });
      return rp;
    },
    [=](agent_set_atom, const std::string& key,
        const std::string& value) -> caf::result<agent_info> {
      auto& st = self->state;
      if (key != "auto-switch")
        return make_error(ec::invalid_argument, "unknown agent setting '" + key
                                                  + "' (known: auto-switch)");
      if (value != "on" && value != "off")
        return make_error(ec::invalid_argument,
                          "auto-switch must be on or off, got '" + value + "'");
      auto rp = self->make_response_promise<agent_info>();
      self
        ->request(st.store, store_timeout, agent_set_atom::value, st.agent_name,
                  value, now_of(self))
        .then(
          [=](ok_atom) mutable {
            self->state.auto_switch = value;
            SB_INFO("agent {}: auto-switch {}", self->state.agent_name, value);
            rp.deliver(make_agent_info(self->state));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](lifecycle_atom, const std::string& op) -> caf::result<std::string> {
      auto& st = self->state;
      if (op != "start" && op != "stop" && op != "restart")
        return make_error(ec::invalid_argument,
                          "unknown container operation '" + op
                            + "' (use start, stop or restart)");
      if (st.container.empty())
        return make_error(ec::invalid_argument,
                          "agent '" + st.agent_name + "' has no container");
      auto rp = self->make_response_promise<std::string>();
      auto run = [=]() mutable {
        auto send_op = [=](secret token) mutable {
          auto& st = self->state;
          container_request req;
          req.agent = st.agent_name;
          req.container = st.container;
          req.op = op;
          req.generation = st.generation;
          req.token = std::move(token);
          auto generation = st.generation;
          auto timeout = st.ctx->opts.health_timeout + st.ctx->opts.stop_timeout
                         + st.ctx->opts.docker_timeout * 4;
          self->request(st.supervisor, timeout, apply_atom::value, req)
            .then(
              [=](std::string& result) mutable {
                // A start or restart bakes the current token into the
                // container when it was behind.
                if (op != "stop" && applied_ok(self->state, result)
                    && generation > self->state.applied_generation)
                  record_apply(self, generation, result,
                               [](const std::string&) {});
                rp.deliver(std::move(result));
              },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        };
        // The token comes from the POOL even for a stop, so every operation
        // reaches the supervisor in the order this agent received it.
        auto& st = self->state;
        if (st.sub_id == 0)
          send_op(secret{});
        else
          self->request(st.pool, pool_timeout, token_atom::value, st.sub_id)
            .then(
              [=](selection& sel) mutable { send_op(std::move(sel.token)); },
              [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      };
      // After the switch in flight, like everything else for this agent.
      if (st.inflight)
        st.deferred.emplace_back(std::move(run));
      else
        run();
      return rp;
    },
    [=](delete_atom) {
      auto rp = self->make_response_promise<std::string>();
      auto run = [=]() mutable {
        auto& st = self->state;
        self
          ->request(st.store, store_timeout, agent_rm_atom::value,
                    st.agent_name)
          .then(
            [=](ok_atom) mutable {
              auto& st = self->state;
              st.removed = true;
              self->send(st.pool, leave_atom::value, st.agent_name, st.sub_id);
              SB_INFO("agent {} removed", st.agent_name);
              rp.deliver(st.agent_name);
              self->quit();
            },
            [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      };
      if (self->state.inflight)
        self->state.deferred.emplace_back(std::move(run));
      else
        run();
      return rp;
    },
    [=](reconcile_atom) {
      auto& st = self->state;
      st.reconcile_timer = false;
      if (st.removed || st.inflight || st.applying != 0 || st.sub_id == 0
          || st.applied_generation >= st.generation)
        return;
      SB_INFO("agent {}: container is behind (applied {} < {}), applying "
              "again",
              st.agent_name, st.applied_generation, st.generation);
      auto generation = st.generation;
      self->request(st.pool, pool_timeout, token_atom::value, st.sub_id)
        .then(
          [=](selection& sel) {
            if (self->state.generation != generation)
              return; // a newer switch took over
            apply_token(self, generation, std::move(sel.token),
                        [](const std::string&) {});
          },
          [=](caf::error& err) {
            SB_WARN("agent {}: reconcile failed: {}", self->state.agent_name,
                    render(err));
          });
    },
  };
}

} // namespace sb