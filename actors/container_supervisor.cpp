#include "actors/container_supervisor.hpp"

#include "actors/logging.hpp"
#include "docker_client/docker_worker.hpp"
#include "messages/error.hpp"

#include <algorithm>
#include <chrono>

namespace sb {

namespace {

using self_ptr = supervisor_actor::stateful_pointer<supervisor_state>;

/// The state an operation passes through before its result is known.
lifecycle transitional_state(const std::string& op, lifecycle current) {
  if (op == "apply")
    return current == lifecycle::running ? lifecycle::reloading : current;
  if (op == "start")
    return current == lifecycle::running ? current : lifecycle::starting;
  if (op == "stop" || op == "restart")
    return current == lifecycle::stopped ? current : lifecycle::stopping;
  return current;
}

bool success(const std::string& result) {
  return result == "hot_reloaded" || result == "restarted"
         || result == "started" || result == "running";
}

void move_to(self_ptr self, const std::string& name, container_entry& e,
             lifecycle to, bool settled) {
  if (!settled && !can_transition(e.state, to)) {
    ++self->state.illegal_transitions;
    SB_WARN("container {}: unexpected transition {} -> {}", name,
            to_string(e.state), to_string(to));
  }
  if (e.state != to)
    SB_DEBUG("container {}: {} -> {}", name, to_string(e.state), to_string(to));
  e.state = to;
}

void dispatch(self_ptr self);

/// Marks the container as ready for its next operation, if it has one.
void schedule(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& e = st.containers[name];
  if (e.current || e.queue.empty())
    return;
  if (std::find(st.ready.begin(), st.ready.end(), name) == st.ready.end())
    st.ready.push_back(name);
  dispatch(self);
}

void finish(self_ptr self, const std::string& name, docker_job_result res,
            docker_worker_actor worker) {
  auto& st = self->state;
  st.idle.push_back(std::move(worker));
  auto& e = st.containers[name];
  auto op = std::move(*e.current);
  e.current.reset();
  move_to(self, name, e, parse_lifecycle(res.state), true);
  e.last_result = res.result;
  if (!res.container_id.empty())
    e.container_id = res.container_id;
  bool baked = op.op == "apply" || op.op == "start" || op.op == "restart";
  if (baked && success(res.result) && !op.token.value.empty())
    e.applied_generation = std::max(e.applied_generation, op.generation);
  if (op.op != "inspect")
    SB_INFO("container {}: {} (generation {}) -> {} [{}]", name, op.op,
            op.generation, res.result, to_string(e.state));
  // `inspect` answers with the state, the operations with their result.
  auto reply
    = op.op == "inspect" ? std::string{to_string(e.state)} : res.result;
  for (auto& rp : op.waiters)
    rp.deliver(reply);
  schedule(self, name);
  dispatch(self);
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  while (!st.idle.empty() && !st.ready.empty()) {
    auto name = st.ready.front();
    st.ready.pop_front();
    auto& e = st.containers[name];
    if (e.current || e.queue.empty())
      continue;
    // An apply whose generation an earlier operation (a start or restart
    // that baked the token in) already applied has nothing left to do.
    while (!e.queue.empty() && e.queue.front().op == "apply"
           && e.queue.front().generation <= e.applied_generation) {
      ++st.superseded;
      for (auto& rp : e.queue.front().waiters)
        rp.deliver(std::string{"superseded"});
      e.queue.pop_front();
    }
    if (e.queue.empty())
      continue;
    e.current = std::move(e.queue.front());
    e.queue.pop_front();
    ++e.operations;
    ++st.operations;
    auto worker = st.idle.back();
    st.idle.pop_back();
    move_to(self, name, e, transitional_state(e.current->op, e.state), false);
    docker_job job{name, e.current->op, e.current->token};
    self->request(worker, caf::infinite, apply_atom::value, std::move(job))
      .then(
        [=](docker_job_result& res) {
          finish(self, name, std::move(res), worker);
        },
        [=](caf::error& err) {
          finish(self, name,
                 docker_job_result{"failed: " + render(err), "failed", {}},
                 worker);
        });
  }
}

/// Queues an operation, coalescing applies by generation.
caf::typed_response_promise<std::string> enqueue(self_ptr self,
                                                 const container_request& req) {
  auto& st = self->state;
  auto rp = self->make_response_promise<std::string>();
  auto& e = st.containers[req.container];
  if (req.op == "apply") {
    if (req.generation <= e.applied_generation && !e.current
        && e.queue.empty()) {
      ++st.superseded;
      rp.deliver(std::string{"superseded"});
      return rp;
    }
    if (e.current && e.current->op == "apply"
        && e.current->generation == req.generation) {
      ++st.coalesced;
      e.current->waiters.push_back(rp);
      return rp;
    }
    // The last queued operation is an apply: it absorbs this one.
    if (!e.queue.empty() && e.queue.back().op == "apply") {
      auto& last = e.queue.back();
      ++st.coalesced;
      if (req.generation >= last.generation) {
        last.generation = req.generation;
        last.token = req.token;
      }
      last.waiters.push_back(rp);
      return rp;
    }
  }
  container_op op;
  op.op = req.op;
  op.generation = req.generation;
  op.token = req.token;
  op.waiters.push_back(rp);
  e.queue.push_back(std::move(op));
  schedule(self, req.container);
  return rp;
}

} // namespace

const char* to_string(lifecycle x) {
  switch (x) {
  case lifecycle::unknown:
    return "unknown";
  case lifecycle::absent:
    return "absent";
  case lifecycle::stopped:
    return "stopped";
  case lifecycle::starting:
    return "starting";
  case lifecycle::running:
    return "running";
  case lifecycle::stopping:
    return "stopping";
  case lifecycle::reloading:
    return "reloading";
  case lifecycle::recreating:
    return "recreating";
  case lifecycle::failed:
    return "failed";
  }
  return "unknown";
}

lifecycle parse_lifecycle(const std::string& text) {
  for (auto x : {lifecycle::absent, lifecycle::stopped, lifecycle::starting,
                 lifecycle::running, lifecycle::stopping, lifecycle::reloading,
                 lifecycle::recreating, lifecycle::failed})
    if (text == to_string(x))
      return x;
  return lifecycle::unknown;
}

bool can_transition(lifecycle from, lifecycle to) {
  using l = lifecycle;
  if (to == l::failed || from == to || from == l::unknown || from == l::failed)
    return true;
  switch (to) {
  case l::starting:
    return from == l::stopped;
  case l::stopping:
    return from == l::running;
  case l::reloading:
    return from == l::running;
  case l::recreating:
    return from == l::running || from == l::stopped || from == l::reloading
           || from == l::starting || from == l::stopping;
  default:
    // Settled states come from inspect.
    return true;
  }
}

supervisor_actor::behavior_type
container_supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
                     context_ptr ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  auto& o = st.ctx->opts;
  docker::op_settings settings;
  settings.token_env = o.token_env;
  settings.default_agent_port = o.agent_port;
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  settings.reload_timeout = duration_cast<milliseconds>(o.reload_timeout);
  settings.health_timeout = duration_cast<milliseconds>(o.health_timeout);
  settings.stop_timeout
    = std::chrono::duration_cast<std::chrono::seconds>(o.stop_timeout);
  auto docker_timeout = duration_cast<milliseconds>(o.docker_timeout);
  st.workers = o.docker_workers;
  for (size_t i = 0; i < st.workers; ++i)
    st.idle.push_back(self->spawn<caf::detached + caf::linked>(
      docker_worker, o.docker_socket, docker_timeout, settings,
      caf::actor_cast<supervisor_actor>(self)));
  return {
    [=](status_atom) {
      auto& st = self->state;
      component_status cs;
      cs.name = "container-supervisor";
      cs.state = "running";
      std::map<std::string, size_t> by_state;
      size_t queued = 0;
      for (auto& [name, e] : st.containers) {
        ++by_state[to_string(e.state)];
        queued += e.queue.size();
      }
      cs.details["containers"] = std::to_string(st.containers.size());
      for (auto& [state, n] : by_state)
        cs.details["state." + state] = std::to_string(n);
      cs.details["queued"] = std::to_string(queued);
      cs.details["workers"] = std::to_string(st.workers);
      cs.details["workers_busy"] = std::to_string(st.workers - st.idle.size());
      cs.details["operations"] = std::to_string(st.operations);
      cs.details["coalesced"] = std::to_string(st.coalesced);
      cs.details["superseded"] = std::to_string(st.superseded);
      cs.details["docker_socket"] = st.ctx->opts.docker_socket;
      return cs;
    },
    [=](apply_atom, const container_request& req) -> caf::result<std::string> {
      if (req.container.empty())
        return std::string{"no_container"};
      if (req.op != "apply" && req.op != "start" && req.op != "stop"
          && req.op != "restart")
        return make_error(ec::invalid_argument,
                          "unknown container operation '" + req.op + "'");
      return enqueue(self, req);
    },
    [=](get_atom, const std::string& container) -> caf::result<std::string> {
      auto& e = self->state.containers[container];
      if (e.state != lifecycle::unknown || e.current)
        return std::string{to_string(e.state)};
      // Not seen yet: ask Docker (through the same queue).
      auto rp = self->make_response_promise<std::string>();
      container_op op;
      op.op = "inspect";
      op.waiters.push_back(rp);
      e.queue.push_back(std::move(op));
      schedule(self, container);
      return rp;
    },
    [=](progress_atom, const std::string& container, const std::string& state) {
      auto& e = self->state.containers[container];
      move_to(self, container, e, parse_lifecycle(state), false);
    },
  };
}

} // namespace sb
