#include "actors/container_supervisor.hpp"

#include "actors/logging.hpp"
#include "actors/test_hooks.hpp"
#include "actors/timeouts.hpp"
#include "docker_client/docker_worker.hpp"
#include "messages/error.hpp"
#include "messages/validate.hpp"

#include <algorithm>
#include <chrono>

namespace sb {

namespace {

using self_ptr = supervisor_actor::stateful_pointer<supervisor_state>;

/// The state an operation passes through before its result is known.
lifecycle transitional_state(container_op op, lifecycle current) {
  switch (op) {
  case container_op::apply:
    return current == lifecycle::running ? lifecycle::reloading : current;
  case container_op::start:
    return current == lifecycle::running ? current : lifecycle::starting;
  case container_op::stop:
  case container_op::restart:
    return current == lifecycle::stopped ? current : lifecycle::stopping;
  case container_op::inspect:
    break;
  }
  return current;
}

/// True if the operation puts the token of its generation into the container.
bool bakes_token(container_op op) {
  return op == container_op::apply || op == container_op::start
         || op == container_op::restart;
}

void move_to(const std::string& name, container_entry& e, lifecycle to,
             bool settled) {
  if (!settled && !can_transition(e.state, to))
    SB_WARN("container {}: unexpected transition {} -> {}", name,
            to_string(e.state), to_string(to));
  if (e.state != to)
    SB_DEBUG("container {}: {} -> {}", name, to_string(e.state), to_string(to));
  e.state = to;
}

void dispatch(self_ptr self);

docker_worker_actor spawn_worker(self_ptr self);

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
  move_to(name, e, res.state, true);
  e.last_result = res.result;
  if (res.engine_answered) {
    st.engine = engine_state::reachable;
    st.engine_error.clear();
  } else {
    if (st.engine != engine_state::unreachable)
      SB_WARN("the Docker engine at {} does not answer: {}",
              st.ctx->opts.docker_socket, res.result.detail);
    st.engine = engine_state::unreachable;
    st.engine_error = res.result.detail;
  }
  if (!res.container_id.empty())
    e.container_id = res.container_id;
  if (bakes_token(op.op) && succeeded(res.result.result)
      && !op.token.value.empty())
    e.applied_generation = std::max(e.applied_generation, op.generation);
  if (op.op != container_op::inspect)
    SB_INFO("container {}: {} (generation {}) -> {} [{}]", name,
            to_string(op.op), op.generation, to_string(res.result),
            to_string(e.state));
  for (auto& rp : op.waiters)
    rp.deliver(res.result);
  for (auto& rp : op.inspectors)
    rp.deliver(e.state);
  schedule(self, name);
  dispatch(self);
}

/// A worker that did not answer in time (or failed): its operation fails,
/// the container goes to failed, and a fresh worker takes its place.
void worker_failed(self_ptr self, const std::string& name,
                   docker_worker_actor worker, const caf::error& err) {
  docker_job_result res{apply_failed(render(err)), lifecycle::failed, {}};
  if (err == caf::sec::request_timeout) {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(
      self->state.ctx->live.get()->worker_op_timeout());
    res.result.detail = "the docker worker did not finish the operation within "
                        + std::to_string(secs.count()) + " s; given up";
    // Stuck past every timeout of its own: the engine did not answer it
    // (status says so until an operation finds it again).
    res.engine_answered = false;
  }
  SB_ERROR("container {}: {}; the next operation runs on a fresh worker", name,
           res.result.detail);
  // It may be blocked in a call still: unlinked, it stops once that call
  // returns (its late answer is dropped, its progress ignored).
  self->unlink_from(worker);
  self->send_exit(worker, caf::exit_reason::user_shutdown);
  finish(self, name, std::move(res), spawn_worker(self));
}

/// Drops queued applies whose generation a start or restart that baked the
/// token in already applied: they have nothing left to do.
void drop_superseded(supervisor_state& st, container_entry& e) {
  while (!e.queue.empty() && e.queue.front().op == container_op::apply
         && e.queue.front().generation <= e.applied_generation) {
    ++st.superseded;
    for (auto& rp : e.queue.front().waiters)
      rp.deliver(apply_outcome{apply_result::superseded, {}});
    e.queue.pop_front();
  }
}

void dispatch(self_ptr self) {
  auto& st = self->state;
  // The pool grows while operations wait, up to docker-workers: a storm of
  // slow token applications runs side by side instead of in waves.
  while (st.idle.empty() && st.ready.size() > 0
         && st.workers < st.ctx->opts.docker_workers) {
    st.idle.push_back(spawn_worker(self));
    ++st.workers;
  }
  while (!st.idle.empty() && !st.ready.empty()) {
    auto name = st.ready.front();
    st.ready.pop_front();
    auto& e = st.containers[name];
    if (e.current)
      continue;
    drop_superseded(st, e);
    if (e.queue.empty())
      continue;
    e.current = std::move(e.queue.front());
    e.queue.pop_front();
    ++e.operations;
    ++st.operations;
    auto worker = st.idle.back();
    st.idle.pop_back();
    move_to(name, e, transitional_state(e.current->op, e.state), false);
    e.current->worker = worker;
    docker_job job{name, e.current->op, e.current->generation, e.current->token,
                   e.current->terms};
    auto timeout = st.ctx->live.get()->worker_op_timeout();
    request_within(self, *st.ctx->clock, worker, timeout, apply_atom::value,
                   std::move(job))
      .then(
        [=](docker_job_result& res) {
          finish(self, name, std::move(res), worker);
        },
        [=](caf::error& err) { worker_failed(self, name, worker, err); });
  }
}

/// Queues an operation, coalescing applies by generation.
caf::typed_response_promise<apply_outcome>
enqueue(self_ptr self, const container_request& req) {
  auto& st = self->state;
  auto rp = self->make_response_promise<apply_outcome>();
  auto& e = st.containers[req.container];
  if (req.op == container_op::apply) {
    if (req.generation <= e.applied_generation && !e.current
        && e.queue.empty()) {
      ++st.superseded;
      rp.deliver(apply_outcome{apply_result::superseded, {}});
      return rp;
    }
    if (e.current && e.current->op == container_op::apply
        && e.current->generation == req.generation) {
      ++st.coalesced;
      e.current->waiters.push_back(rp);
      return rp;
    }
    // The last queued operation is an apply: it absorbs this one.
    if (!e.queue.empty() && e.queue.back().op == container_op::apply) {
      auto& last = e.queue.back();
      ++st.coalesced;
      if (req.generation >= last.generation) {
        last.generation = req.generation;
        last.token = req.token;
        last.terms = req.terms;
      }
      last.waiters.push_back(rp);
      return rp;
    }
  }
  pending_op op;
  op.op = req.op;
  op.generation = req.generation;
  op.token = req.token;
  op.terms = req.terms;
  op.waiters.push_back(rp);
  e.queue.push_back(std::move(op));
  schedule(self, req.container);
  return rp;
}

caf::result<lifecycle> state_of(self_ptr self, const std::string& container) {
  auto& e = self->state.containers[container];
  if (e.state != lifecycle::unknown || e.current)
    return e.state;
  // Not seen yet: ask Docker (through the same queue).
  auto rp = self->make_response_promise<lifecycle>();
  pending_op op;
  op.op = container_op::inspect;
  op.inspectors.push_back(rp);
  e.queue.push_back(std::move(op));
  schedule(self, container);
  return rp;
}

supervisor_status status_of(const supervisor_state& st) {
  supervisor_status s;
  s.containers = st.containers.size();
  for (auto& [name, e] : st.containers) {
    ++s.by_state[e.state];
    s.queued += e.queue.size();
  }
  s.workers = st.workers;
  s.workers_busy = st.workers - st.idle.size();
  s.operations = st.operations;
  s.coalesced = st.coalesced;
  s.superseded = st.superseded;
  s.docker_socket = st.ctx->opts.docker_socket;
  s.engine = st.engine;
  s.engine_error = st.engine_error;
  return s;
}

/// Workers started at once; more start when operations wait.
constexpr size_t initial_workers = 4;

void spawn_workers(self_ptr self) {
  auto& st = self->state;
  st.workers = std::min<size_t>(initial_workers, st.ctx->opts.docker_workers);
  for (size_t i = 0; i < st.workers; ++i)
    st.idle.push_back(spawn_worker(self));
}

/// A worker's state changed mid-operation: taken from the worker running
/// the container's operation only (not from one given up on, nor from
/// anybody else).
void progress(self_ptr self, const std::string& container, lifecycle state) {
  auto& containers = self->state.containers;
  auto i = containers.find(container);
  if (i == containers.end() || !i->second.current
      || caf::actor_cast<caf::strong_actor_ptr>(i->second.current->worker)
           != self->current_sender())
    return;
  move_to(container, i->second, state, false);
}

caf::result<apply_outcome> apply(self_ptr self, const container_request& req) {
  if (req.container.empty())
    return apply_outcome{apply_result::no_container, {}};
  if (auto err = check_container_name(req.container))
    return err;
  if (req.op != container_op::apply && req.op != container_op::start
      && req.op != container_op::stop && req.op != container_op::restart)
    return make_error(ec::invalid_argument,
                      "unknown container operation (apply, start, stop or "
                      "restart)");
  return enqueue(self, req);
}

caf::result<lifecycle> checked_state_of(self_ptr self,
                                        const std::string& container) {
  if (auto err = check_container_name(container))
    return err;
  return state_of(self, container);
}

docker_worker_actor spawn_worker(self_ptr self) {
  auto& st = self->state;
  auto& o = st.ctx->opts;
  // Fixed for the process: the socket, the variable, the port, the secret.
  // Read before each operation: the timeouts (a reload changes them).
  auto settings = [ctx = st.ctx] {
    // On the worker's thread, before each operation (and once at its
    // start): where a test hangs a real worker (test_hooks.hpp).
    fault_point(test_hook::hang_docker_worker);
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    auto live = ctx->live.get();
    worker_settings s;
    s.engine_timeout = duration_cast<milliseconds>(live->docker_timeout);
    s.ops.token_env = ctx->opts.token_env;
    s.ops.default_agent_port = ctx->opts.agent_port;
    s.ops.agent_secret_file = ctx->opts.agent_secret_file;
    s.ops.reload_timeout = duration_cast<milliseconds>(live->reload_timeout);
    s.ops.health_timeout = duration_cast<milliseconds>(live->health_timeout);
    s.ops.stop_timeout
      = std::chrono::duration_cast<std::chrono::seconds>(live->stop_timeout);
    return s;
  };
  return self->spawn<caf::detached + caf::linked>(
    docker_worker, o.docker_socket, worker_settings_source{settings},
    caf::actor_cast<supervisor_actor>(self));
}

} // namespace

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
  self->state.ctx = std::move(ctx);
  spawn_workers(self);
  return {
    [=](status_atom) { return status_of(self->state); },
    [=](apply_atom, const container_request& req) { return apply(self, req); },
    [=](get_atom, const std::string& container) {
      return checked_state_of(self, container);
    },
    [=](progress_atom, const std::string& container, lifecycle state) {
      progress(self, container, state);
    },
  };
}

} // namespace sb
