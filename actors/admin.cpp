#include "actors/admin.hpp"

#include "actors/agent.hpp"
#include "actors/logging.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"

#include <caf/actor_cast.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <chrono>

namespace sb {

namespace {

using self_ptr = admin_actor::stateful_pointer<admin_state>;

constexpr auto store_timeout = std::chrono::seconds(60);
constexpr auto status_timeout = std::chrono::seconds(3);
constexpr auto agent_timeout = std::chrono::seconds(30);
constexpr uint32_t retention_batch = 1000;

caf::error unknown_agent(const std::string& name) {
  return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
}

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
  st.ctx->directory.put(name, handle);
  return handle;
}

void on_down(self_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  // A watcher went away?
  auto w = std::find_if(
    st.watchers.begin(), st.watchers.end(),
    [&](const watcher_actor& x) { return x.address() == dm.source; });
  if (w != st.watchers.end()) {
    st.watchers.erase(w);
    st.ctx->watchers = static_cast<uint32_t>(st.watchers.size());
    return;
  }
  auto i = st.names.find(dm.source);
  if (i == st.names.end())
    return;
  auto name = i->second;
  st.names.erase(i);
  auto j = st.agents.find(name);
  if (j != st.agents.end() && j->second.address() == dm.source) {
    st.ctx->directory.erase(name, j->second);
    st.agents.erase(j);
  }
  if (dm.reason && dm.reason != caf::exit_reason::user_shutdown
      && dm.reason != caf::exit_reason::normal)
    SB_ERROR("agent {} stopped unexpectedly: {}", name, render(dm.reason));
  if (st.shutting_down && st.agents.empty()) {
    st.shutdown_promise.deliver(ok_atom::value);
    self->quit();
  }
}

/// Asks the STORE and answers the requester from here.
template<class T, class... Ts>
caf::typed_response_promise<T> forward_read(self_ptr self, Ts... xs) {
  auto rp = self->make_response_promise<T>();
  self->request(self->state.store, store_timeout, std::move(xs)...)
    .then([=](T& result) mutable { rp.deliver(std::move(result)); },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Collects the answers of a fan-out and delivers them when all are in.
template<class T>
struct collector {
  std::vector<T> items;
  size_t missing = 0;
};

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
  st.agents.reserve(snap->agents.size());
  st.names.reserve(snap->agents.size());
  for (auto& row : snap->agents) {
    // The reconciler at boot: agents whose container is behind apply their
    // token again (a switch committed before a crash, a failed apply).
    bool behind
      = row.subscription_id != 0 && row.applied_generation < row.generation;
    auto handle = spawn_agent(self, row);
    if (behind)
      self->send(handle, reconcile_atom::value);
  }
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  return {
    [=](ping_atom) { return std::string{protocol_version()}; },
    [=](status_atom) {
      auto& st = self->state;
      auto rp = self->make_response_promise<status_info>();
      auto info = std::make_shared<status_info>();
      info->version = version();
      info->protocol = protocol_version();
      info->started_at = st.ctx->started_at;
      info->uptime_ms = st.ctx->clock() - st.ctx->started_at;
      info->agents = st.agents.size();
      component_status own;
      own.name = "admin";
      own.state = "running";
      own.details["agents"] = std::to_string(st.agents.size());
      own.details["watchers"] = std::to_string(st.watchers.size());
      own.details["retention_deleted"] = std::to_string(st.retention_deleted);
      info->components.push_back(std::move(own));
      std::vector<std::pair<std::string, status_client_actor>> parts = {
        {"store", caf::actor_cast<status_client_actor>(st.store)},
        {"subscription-pool", caf::actor_cast<status_client_actor>(st.pool)},
        {"container-supervisor",
         caf::actor_cast<status_client_actor>(st.supervisor)},
      };
      auto missing = std::make_shared<size_t>(parts.size());
      auto done = [=]() mutable {
        if (--*missing > 0)
          return;
        for (auto& c : info->components)
          if (c.name == "subscription-pool")
            info->subscriptions = std::stoull(c.details["subscriptions"]);
        std::sort(info->components.begin(), info->components.end(),
                  [](auto& x, auto& y) { return x.name < y.name; });
        rp.deliver(std::move(*info));
      };
      for (auto& [name, handle] : parts) {
        auto component = name;
        self
          ->request<caf::message_priority::high>(handle, status_timeout,
                                                 status_atom::value)
          .then(
            [=](component_status& cs) mutable {
              info->components.push_back(std::move(cs));
              done();
            },
            [=](caf::error& err) mutable {
              component_status cs;
              cs.name = component;
              cs.state = "error: " + render(err);
              info->components.push_back(std::move(cs));
              done();
            });
      }
      return rp;
    },
    [=](report_atom, failure_report& r) -> caf::result<report_result> {
      auto& st = self->state;
      auto i = st.agents.find(r.agent);
      if (i == st.agents.end())
        return unknown_agent(r.agent);
      return self->delegate(i->second, report_atom::value, std::move(r));
    },
    [=](sub_add_atom, std::string& name,
        secret& token) -> caf::result<subscription_change> {
      auto rp = self->make_response_promise<subscription_change>();
      self
        ->request(self->state.pool, store_timeout, sub_add_atom::value,
                  std::move(name), std::move(token))
        .then(
          [=](subscription_change& change) mutable {
            // Rotation: every agent on it gets the new token through its own
            // actor; one agent's failure does not stop the others.
            for (auto& agent_name : change.reloading) {
              auto i = self->state.agents.find(agent_name);
              if (i == self->state.agents.end())
                continue;
              self
                ->request(i->second, caf::infinite, rotate_atom::value,
                          change.info.id)
                .then(
                  [=](report_result& res) {
                    SB_INFO("agent {}: rotation -> {} ({})", agent_name,
                            to_string(res.result), res.apply);
                  },
                  [=](caf::error& err) {
                    SB_WARN("agent {}: rotation failed: {}", agent_name,
                            render(err));
                  });
            }
            rp.deliver(std::move(change));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](sub_list_atom) {
      return self->delegate(self->state.pool, sub_list_atom::value);
    },
    [=](sub_rm_atom, std::string& name) {
      auto rp = self->make_response_promise<std::vector<std::string>>();
      self->request(self->state.pool, store_timeout, sub_rm_atom::value, name)
        .then(
          [=](std::vector<std::string>& agents) mutable {
            for (auto& agent_name : agents)
              if (auto i = self->state.agents.find(agent_name);
                  i != self->state.agents.end())
                self->send(i->second, unassign_atom::value, name);
            rp.deliver(std::move(agents));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](agent_add_atom, agent_spec& spec) -> caf::result<agent_info> {
      auto& st = self->state;
      if (st.shutting_down)
        return make_error(ec::shutting_down, "the daemon is shutting down");
      if (st.agents.count(spec.name) > 0)
        return make_error(ec::duplicate_agent,
                          "agent '" + spec.name + "' exists already");
      auto rp = self->make_response_promise<agent_info>();
      self
        ->request(st.store, store_timeout, agent_add_atom::value, spec,
                  st.ctx->clock())
        .then(
          [=](stored_agent& row) mutable {
            auto& st = self->state;
            if (row.subscription_id != 0)
              self->send(st.pool, join_atom::value, row.name,
                         row.subscription_id);
            agent_state tmp;
            tmp.agent_name = row.name;
            tmp.sub_name = row.subscription;
            tmp.container = row.container;
            tmp.auto_switch = row.auto_switch;
            auto info = make_agent_info(tmp);
            spawn_agent(self, std::move(row));
            SB_INFO("agent {} added (subscription {}, container {})", info.name,
                    info.subscription.value_or("(none)"),
                    info.container.value_or("(none)"));
            rp.deliver(std::move(info));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](agent_ls_atom) {
      auto& st = self->state;
      auto rp = self->make_response_promise<std::vector<agent_info>>();
      if (st.agents.empty()) {
        rp.deliver(std::vector<agent_info>{});
        return rp;
      }
      auto col = std::make_shared<collector<agent_info>>();
      col->missing = st.agents.size();
      col->items.reserve(st.agents.size());
      auto done = [=]() mutable {
        if (--col->missing > 0)
          return;
        std::sort(col->items.begin(), col->items.end(),
                  [](auto& x, auto& y) { return x.name < y.name; });
        rp.deliver(std::move(col->items));
      };
      for (auto& [name, handle] : st.agents) {
        auto agent_name = name;
        self->request(handle, agent_timeout, get_atom::value)
          .then(
            [=](agent_info& info) mutable {
              col->items.push_back(std::move(info));
              done();
            },
            [=](caf::error& err) mutable {
              agent_info info;
              info.name = agent_name;
              info.container_state = "unknown: " + render(err);
              col->items.push_back(std::move(info));
              done();
            });
      }
      return rp;
    },
    [=](agent_get_atom, std::string& name) -> caf::result<agent_info> {
      auto& st = self->state;
      auto i = st.agents.find(name);
      if (i == st.agents.end())
        return unknown_agent(name);
      return self->delegate(i->second, get_atom::value);
    },
    [=](agent_rm_atom, std::string& name) -> caf::result<std::string> {
      auto& st = self->state;
      auto i = st.agents.find(name);
      if (i == st.agents.end())
        return unknown_agent(name);
      auto handle = i->second;
      auto rp = self->make_response_promise<std::string>();
      self->request(handle, agent_timeout, delete_atom::value)
        .then(
          [=](std::string& removed) mutable {
            auto& st = self->state;
            auto j = st.agents.find(removed);
            if (j != st.agents.end() && j->second == handle) {
              st.ctx->directory.erase(removed, handle);
              st.agents.erase(j);
            }
            rp.deliver(std::move(removed));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](agent_set_atom, std::string& name, std::string& key,
        std::string& value) -> caf::result<agent_info> {
      auto& st = self->state;
      auto i = st.agents.find(name);
      if (i == st.agents.end())
        return unknown_agent(name);
      return self->delegate(i->second, agent_set_atom::value, std::move(key),
                            std::move(value));
    },
    [=](assign_atom, std::string& name,
        std::string& sub) -> caf::result<report_result> {
      auto& st = self->state;
      auto i = st.agents.find(name);
      if (i == st.agents.end())
        return unknown_agent(name);
      return self->delegate(i->second, assign_atom::value, std::move(sub));
    },
    [=](lifecycle_atom, std::string& name,
        std::string& op) -> caf::result<std::string> {
      auto& st = self->state;
      auto i = st.agents.find(name);
      if (i == st.agents.end())
        return unknown_agent(name);
      return self->delegate(i->second, lifecycle_atom::value, std::move(op));
    },
    [=](settings_atom) {
      return to_settings_map(*self->state.ctx->board.get());
    },
    [=](setting_atom, std::string& key,
        std::string& value) -> caf::result<settings_map> {
      auto& st = self->state;
      auto norm = normalize_setting(key, value);
      if (!norm)
        return norm.error();
      auto rp = self->make_response_promise<settings_map>();
      self
        ->request(st.store, store_timeout, setting_atom::value, key, *norm,
                  st.ctx->clock())
        .then(
          [=](ok_atom) mutable {
            auto& st = self->state;
            auto next = *st.ctx->board.get();
            apply_setting(next, key, *norm);
            auto window_changed
              = next.exclusion_window != st.ctx->board.get()->exclusion_window;
            st.ctx->board.set(next);
            if (window_changed)
              self->send(st.pool, settings_atom::value);
            SB_INFO("setting {} = {}", key, *norm);
            rp.deliver(to_settings_map(next));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    // Reads of history: asked of the STORE and answered here. The detached
    // STORE never answers a remote client itself: a detached actor that
    // replied to a remote node can stay referenced by the network layer and
    // hang CAF's shutdown.
    [=](events_atom, query& q) {
      return forward_read<std::vector<event_info>>(self, events_atom::value,
                                                   std::move(q));
    },
    [=](history_atom, query& q) {
      return forward_read<std::vector<history_info>>(self, history_atom::value,
                                                     std::move(q));
    },
    [=](notes_atom, query& q) {
      return forward_read<std::vector<notification_info>>(
        self, notes_atom::value, std::move(q));
    },
    [=](watch_atom, watcher_actor& w) {
      auto& st = self->state;
      self->monitor(w);
      st.watchers.push_back(std::move(w));
      st.ctx->watchers = static_cast<uint32_t>(st.watchers.size());
      return ok_atom::value;
    },
    [=](watch_atom, std::string& line) {
      for (auto& w : self->state.watchers)
        self->send(w, watch_atom::value, line);
    },
    [=](retention_atom) {
      auto& st = self->state;
      auto days = st.ctx->board.get()->events_retention_days;
      if (days == 0)
        return;
      auto cutoff = st.ctx->clock() - static_cast<millis>(days) * day_ms;
      self
        ->request(st.store, store_timeout, retention_atom::value, cutoff,
                  retention_batch)
        .then(
          [=](uint64_t deleted) {
            self->state.retention_deleted += deleted;
            if (deleted > 0)
              SB_INFO("retention deleted {} events older than {}", deleted,
                      format_iso(cutoff));
            // A full batch means there may be more: go on, one batch per
            // message so other work interleaves.
            if (deleted == retention_batch)
              self->send(self, retention_atom::value);
          },
          [=](caf::error& err) {
            SB_WARN("retention failed: {}", render(err));
          });
    },
    [=](shutdown_atom) {
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
    },
  };
}

} // namespace sb
