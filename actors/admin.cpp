#include "actors/admin.hpp"

#include "actors/agent.hpp"
#include "actors/fan_in.hpp"
#include "actors/logging.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <chrono>

namespace sb {

namespace {

using self_ptr = admin_actor::stateful_pointer<admin_state>;

constexpr auto store_timeout = std::chrono::seconds(60);
constexpr auto agent_timeout = std::chrono::seconds(30);
constexpr uint32_t retention_batch = 1000;

/// Publishes the directory: the agents again if they changed (a copy the
/// readers share), the watchers always. While the daemon shuts down, the
/// agents going down one by one are published once, when all are gone.
void publish_directory(self_ptr self, bool agents_changed = true) {
  auto& st = self->state;
  if (agents_changed && st.shutting_down && !st.agents.empty())
    return;
  if (agents_changed || !st.listed)
    st.listed = std::make_shared<const agent_directory::map_type>(st.agents);
  st.ctx->directory.publish(agent_directory{
    st.listed, self->address(), static_cast<uint32_t>(st.watchers.size())});
}

/// Spawns an AGENT; the caller publishes the directory.
agent_actor spawn_agent(self_ptr self, stored_agent row) {
  auto& st = self->state;
  agent_deps deps{st.store, st.pool, st.supervisor,
                  caf::actor_cast<admin_actor>(self), st.ctx};
  auto name = row.name;
  // Lazily initialized: an agent costs nothing until its first message, so
  // a fleet of 100,000 boots in well under a second.
  auto handle
    = self->spawn<caf::lazy_init>(agent, std::move(row), std::move(deps));
  self->monitor(handle);
  st.names[handle.address()] = name;
  st.agents[name] = handle;
  return handle;
}

void forget_agent(self_ptr self, const std::string& name,
                  const caf::actor_addr& addr) {
  auto& st = self->state;
  auto i = st.agents.find(name);
  if (i != st.agents.end() && i->second.address() == addr) {
    st.agents.erase(i);
    publish_directory(self);
  }
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  // A watcher went away?
  auto w = std::find_if(
    st.watchers.begin(), st.watchers.end(),
    [&](const watcher_actor& x) { return x.address() == dm.source; });
  if (w != st.watchers.end()) {
    st.watchers.erase(w);
    publish_directory(self, false);
    return;
  }
  auto i = st.names.find(dm.source);
  if (i == st.names.end())
    return;
  auto name = i->second;
  st.names.erase(i);
  forget_agent(self, name, dm.source);
  if (dm.reason && dm.reason != caf::exit_reason::user_shutdown
      && dm.reason != caf::exit_reason::normal)
    SB_ERROR("agent {} stopped unexpectedly: {}", name, render(dm.reason));
  if (st.shutting_down && st.agents.empty()) {
    st.shutdown_promise.deliver(ok_atom::value);
    self->quit();
  }
}

/// Asks one component for its status record; `field` is where it goes.
template<class Status, class Handle>
void ask_status(self_ptr self, fan_in<status_info>& fi, const char* name,
                const Handle& handle,
                caf::optional<Status> status_info::*field) {
  fi.ask<Status>(
    self, handle, self->state.status_timeout,
    [name, field](status_info& info, Status& x) {
      info.*field = std::move(x);
      info.components.push_back({name, health::running, {}});
    },
    [name](status_info& info, const caf::error& err) {
      info.components.push_back({name, health::unresponsive, render(err)});
    },
    status_atom::value);
}

/// The per-subscription gauges of the scrape that asks for this status
/// (actors/metrics.hpp): the POOL's list, handed to the metrics. Nothing
/// in the status itself; a POOL that does not answer is listed already.
void gather_subscription_gauges(self_ptr self, fan_in<status_info>& fi) {
  auto& st = self->state;
  fi.ask<std::vector<subscription_info>>(
    self, st.pool, st.status_timeout,
    [stats = st.ctx->stats](status_info&, std::vector<subscription_info>& xs) {
      stats->subscriptions_listed(xs);
    },
    [](status_info&, const caf::error&) {}, sub_list_atom::value);
}

caf::result<status_info> status(self_ptr self) {
  auto& st = self->state;
  status_info info;
  info.version = version();
  info.protocol = protocol_version();
  info.started_at = st.ctx->started_at;
  info.uptime_ms = st.ctx->now() - st.ctx->started_at;
  info.agents = st.agents.size();
  info.admin
    = admin_status{st.agents.size(), st.watchers.size(), st.retention_deleted};
  info.components.push_back({"admin", health::running, {}});
  if (auto doors = st.ctx->doors.get(); doors->intake) {
    auto g = doors->intake();
    info.intake
      = intake_status{g.open_connections,
                      st.ctx->opts.max_connections,
                      g.accepted,
                      g.refused_over_capacity + g.refused_no_descriptors,
                      g.closed_oversize,
                      g.closed_bad_header,
                      g.closed_slow_reader,
                      g.tls_failures,
                      g.buffered,
                      g.refused_auth,
                      g.closed_forbidden,
                      g.closed_handshake_timeout + g.closed_message_timeout,
                      g.evicted};
    info.components.push_back({"intake", health::running, {}});
  }
  if (auto c = st.ctx->cluster.get(); *c) {
    info.cluster = **c;
    info.components.push_back({"cluster", health::running, {}});
  }
  auto rp = self->make_response_promise<status_info>();
  fan_in<status_info> fi{rp, std::move(info), [](status_info& x) {
                           if (x.pool)
                             x.subscriptions = x.pool->subscriptions;
                           std::sort(
                             x.components.begin(), x.components.end(),
                             [](auto& a, auto& b) { return a.name < b.name; });
                         }};
  ask_status(self, fi, "store", st.store, &status_info::store);
  ask_status(self, fi, "subscription-pool", st.pool, &status_info::pool);
  ask_status(self, fi, "container-supervisor", st.supervisor,
             &status_info::supervisor);
  gather_subscription_gauges(self, fi);
  return rp;
}

caf::result<std::vector<agent_info>> list_agents(self_ptr self) {
  auto rp = self->make_response_promise<std::vector<agent_info>>();
  fan_in<std::vector<agent_info>> fi{
    rp, {}, [](std::vector<agent_info>& xs) {
      std::sort(xs.begin(), xs.end(),
                [](auto& a, auto& b) { return a.name < b.name; });
    }};
  for (auto& [name, handle] : self->state.agents) {
    fi.ask<agent_info>(
      self, handle, agent_timeout,
      [](std::vector<agent_info>& xs, agent_info& x) {
        xs.push_back(std::move(x));
      },
      [name = name](std::vector<agent_info>& xs, const caf::error&) {
        agent_info x;
        x.name = name;
        xs.push_back(std::move(x));
      },
      get_atom::value);
  }
  return rp;
}

caf::result<agent_info> add_agent(self_ptr self, agent_spec& spec) {
  auto& st = self->state;
  if (st.shutting_down)
    return make_error(ec::shutting_down, "the daemon is shutting down");
  if (st.agents.count(spec.name) > 0)
    return make_error(ec::duplicate_agent,
                      "agent '" + spec.name + "' exists already");
  auto rp = self->make_response_promise<agent_info>();
  self
    ->request(st.store, store_timeout, agent_add_atom::value, spec,
              st.ctx->now())
    .then(
      [=](stored_agent& row) mutable {
        auto& st = self->state;
        SB_INFO("agent {} added (subscription {}, container {})", row.name,
                row.subscription.empty() ? "(none)" : row.subscription,
                row.container.empty() ? "(none)" : row.container);
        agent_info info;
        info.name = row.name;
        info.pool = row.pool;
        if (!row.subscription.empty())
          info.subscription = row.subscription;
        if (!row.container.empty())
          info.container = row.container;
        info.auto_switch = row.auto_switch;
        auto sub_id = row.subscription_id;
        // In the directory first: the POOL counts only agents it finds there.
        spawn_agent(self, std::move(row));
        publish_directory(self);
        if (sub_id != 0)
          self->send(st.pool, join_atom::value, info.name, sub_id);
        rp.deliver(std::move(info));
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<std::string> remove_agent(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto i = st.agents.find(name);
  if (i == st.agents.end())
    return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
  auto handle = i->second;
  auto rp = self->make_response_promise<std::string>();
  self->request(handle, agent_timeout, delete_atom::value)
    .then(
      [=](std::string& removed) mutable {
        forget_agent(self, removed, handle.address());
        rp.deliver(std::move(removed));
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<settings_map> set_setting(self_ptr self, const std::string& key,
                                      const std::string& value) {
  auto& st = self->state;
  auto norm = normalize_setting(key, value);
  if (!norm)
    return norm.error();
  auto rp = self->make_response_promise<settings_map>();
  self
    ->request(st.store, store_timeout, setting_atom::value, key, *norm,
              st.ctx->now())
    .then(
      [=](ok_atom) mutable {
        auto& st = self->state;
        auto before = st.ctx->settings.get();
        auto next = *before;
        static_cast<void>(apply_setting(next, key, *norm));
        auto window_changed = next.exclusion_window != before->exclusion_window;
        st.ctx->settings.publish(next);
        if (window_changed)
          self->send(st.pool, settings_atom::value);
        SB_INFO("setting {} = {}", key, *norm);
        rp.deliver(to_settings_map(next));
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

void run_retention(self_ptr self) {
  auto& st = self->state;
  auto days = st.ctx->settings.get()->events_retention_days;
  if (days == 0)
    return;
  auto cutoff = st.ctx->now() - static_cast<millis>(days) * day_ms;
  self
    ->request(st.store, store_timeout, retention_atom::value, cutoff,
              retention_batch)
    .then(
      [=](uint64_t deleted) {
        self->state.retention_deleted += deleted;
        if (deleted > 0)
          SB_INFO("retention deleted {} events older than {}", deleted,
                  format_iso(cutoff));
        // A full batch means there may be more: go on, one batch per message
        // so other work interleaves.
        if (deleted == retention_batch)
          self->send(self, retention_atom::value);
      },
      [=](caf::error& err) { SB_WARN("retention failed: {}", render(err)); });
}

caf::result<ok_atom> shutdown(self_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<ok_atom>();
  st.shutting_down = true;
  if (st.agents.empty()) {
    rp.deliver(ok_atom::value);
    self->quit();
    return rp;
  }
  st.shutdown_promise = rp;
  for (auto& [name, handle] : st.agents)
    self->send_exit(handle, caf::exit_reason::user_shutdown);
  return rp;
}

ok_atom add_watcher(self_ptr self, watcher_actor& w) {
  auto& st = self->state;
  self->monitor(w);
  st.watchers.push_back(std::move(w));
  publish_directory(self, false);
  return ok_atom::value;
}

/// Agents taken over from a node whose lease ended: they become this node's
/// AGENTs, and those whose container is behind apply their token again
/// (reconcile; it fails, and says so, when their engine is not this one).
void adopt(self_ptr self, std::vector<stored_agent>& rows) {
  auto& st = self->state;
  for (auto& row : rows) {
    if (st.agents.count(row.name) != 0)
      continue;
    bool behind
      = row.subscription_id != 0 && row.applied_generation < row.generation;
    auto name = row.name;
    auto handle = spawn_agent(self, std::move(row));
    SB_INFO("agent {}: now owned by this node", name);
    if (behind)
      self->send(handle, reconcile_atom::value);
  }
  publish_directory(self);
}

void init(self_ptr self, const snapshot& snap) {
  auto& st = self->state;
  st.agents.reserve(snap.agents.size());
  st.names.reserve(snap.agents.size());
  for (auto& row : snap.agents) {
    // The reconciler at boot: agents whose container is behind apply their
    // token again (a switch committed before a crash, a failed apply).
    bool behind
      = row.subscription_id != 0 && row.applied_generation < row.generation;
    auto handle = spawn_agent(self, row);
    if (behind)
      self->send(handle, reconcile_atom::value);
  }
  // One publication for the whole fleet. The POOL takes word of where an
  // agent counts from its AGENT and from the ADMIN only (the directory's
  // owner; agent_directory::speaks_for).
  publish_directory(self);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
}

} // namespace

admin_actor::behavior_type
admin(admin_actor::stateful_pointer<admin_state> self, store_actor store,
      pool_actor pool, supervisor_actor supervisor, context_ptr ctx,
      std::shared_ptr<const snapshot> snap) {
  auto& st = self->state;
  st.store = std::move(store);
  st.pool = std::move(pool);
  st.supervisor = std::move(supervisor);
  st.ctx = std::move(ctx);
  init(self, *snap);
  return {
    [=](status_atom) { return status(self); },
    [=](agent_add_atom, agent_spec& spec) { return add_agent(self, spec); },
    [=](agent_ls_atom) { return list_agents(self); },
    [=](agent_rm_atom, const std::string& name) {
      return remove_agent(self, name);
    },
    [=](settings_atom) {
      return to_settings_map(*self->state.ctx->settings.get());
    },
    [=](setting_atom, const std::string& key, const std::string& value) {
      return set_setting(self, key, value);
    },
    [=](watch_atom, watcher_actor& w) { return add_watcher(self, w); },
    [=](watch_atom, const watch_event& ev) {
      // Anonymous: a watcher is a client's actor, and a message from the
      // ADMIN would put the ADMIN's handle on the wire.
      for (auto& w : self->state.watchers)
        caf::anon_send(w, watch_atom::value, ev);
    },
    [=](retention_atom) { run_retention(self); },
    [=](adopt_atom, std::vector<stored_agent>& rows) { adopt(self, rows); },
    [=](shutdown_atom) { return shutdown(self); },
  };
}

} // namespace sb
