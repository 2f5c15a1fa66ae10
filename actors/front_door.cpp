#include "actors/front_door.hpp"

#include "client/connect.hpp"
#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "messages/register.hpp"
#include "messages/validate.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iterator>
#include <memory>
#include <set>

namespace sb {

namespace {

using self_ptr = front_door_actor::stateful_pointer<front_door_state>;

constexpr size_t max_short_text = 256;

caf::error check_short(const char* what, const std::string& value) {
  if (value.size() > max_short_text)
    return make_error(ec::invalid_argument,
                      std::string{what} + " is longer than "
                        + std::to_string(max_short_text) + " bytes");
  if (!valid_utf8(value))
    return make_error(ec::invalid_argument,
                      std::string{what} + " is not valid UTF-8");
  return caf::none;
}

caf::error unknown_agent(const std::string& name) {
  return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
}

constexpr auto owner_timeout = std::chrono::seconds(5);
/// A read or a backup chunk of the STORE's (it may be busy with a large
/// group commit, never for this long).
constexpr auto store_timeout = std::chrono::seconds(60);
/// The ADMIN and the POOL: a status fans out with 3 s deadlines, a list asks
/// every AGENT (30 s each at most), a rotation reaches every AGENT on the
/// subscription.
constexpr auto component_timeout = std::chrono::minutes(2);

/// An AGENT's answer can wait for its token application (apply-wait) and
/// for the switch it joined: generous, never unbounded.
caf::timespan agent_timeout(const daemon_context& ctx) {
  return ctx.opts.apply_wait + std::chrono::minutes(2);
}

/// Asks `dest` and answers the client from here: a reply never comes from
/// another actor than the FRONT DOOR, so no other actor's handle ever
/// reaches a client (`delegate` would let the AGENT, the POOL or the ADMIN
/// answer, and put their ids on the wire).
template<class T, class Handle, class... Ts>
caf::result<T> ask(self_ptr self, const Handle& dest, caf::timespan timeout,
                   Ts&&... xs) {
  auto rp = self->make_response_promise<T>();
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .then([rp](T& x) mutable { rp.deliver(std::move(x)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// The report credential may report, observe and read; everything that
/// changes something needs the admin credential.
caf::error needs_admin(self_ptr self, const char* what) {
  if (self->state.deps.access == scope::admin)
    return caf::none;
  return make_error(ec::forbidden,
                    std::string{what}
                      + " needs the admin credential: this client has the "
                        "report credential, which may report, observe and "
                        "read");
}

/// Connects to another node's front door: TCP (and TLS), this node's
/// credential, CAF's handshake. Blocking, so in a detached actor of its
/// own, one per connection attempt.
using dialer_actor = caf::typed_actor<
  replies<caf::connect_atom, std::string, uint16_t>::with<front_door_actor>>;

dialer_actor::behavior_type dialer(dialer_actor::pointer self,
                                   client::endpoint ep) {
  return {
    [=](caf::connect_atom, const std::string& host,
        uint16_t port) mutable -> caf::result<front_door_actor> {
      ep.host = host;
      ep.port = port;
      auto door = client::connect(self->system(), ep, owner_timeout);
      self->quit();
      if (!door)
        return std::move(door.error());
      return std::move(*door);
    },
  };
}
constexpr auto forward_timeout = std::chrono::seconds(60);
/// A node's part of `agent list`: a list, no container work to wait for.
constexpr auto list_timeout = std::chrono::seconds(5);

/// Sends the request to a connected peer; `done` gets its answer (as
/// caf::expected<T>) or an error after `timeout`.
template<class T, class Done, class... Ts>
void send_to_peer(self_ptr self, const std::string& key, front_door_actor peer,
                  caf::timespan timeout, Done done, Ts... xs) {
  self->request(peer, timeout, std::move(xs)...)
    .then([done](T& x) mutable { done(caf::expected<T>{std::move(x)}); },
          [self, key, done](caf::error& err) mutable {
            // A peer that failed is connected afresh next time.
            self->state.peers.erase(key);
            done(caf::expected<T>{std::move(err)});
          });
}

/// Connects to the front door of `node` at host:port (once) and sends it
/// the request; `done` gets the answer. `whose` names the node in errors.
template<class T, class Done, class... Ts>
void to_peer(self_ptr self, const std::string& whose, const std::string& host,
             uint16_t port, caf::timespan timeout, Done done, Ts... xs) {
  auto key = host + ":" + std::to_string(port);
  auto i = self->state.peers.find(key);
  if (i != self->state.peers.end()) {
    send_to_peer<T>(self, key, i->second, timeout, std::move(done),
                    std::move(xs)...);
    return;
  }
  auto& waiting = self->state.dialing[key];
  waiting.emplace_back([=](caf::expected<front_door_actor> peer) mutable {
    if (peer)
      send_to_peer<T>(self, key, *peer, timeout, done, xs...);
    else
      done(caf::expected<T>{make_error(
        ec::unavailable,
        whose + " at " + key + " does not answer: " + render(peer.error()))});
  });
  // One connection per peer: a burst's requests wait for the dial under
  // way instead of each opening its own (CAF keeps one route per node and
  // drops what was sent over a connection it closes as a duplicate).
  if (waiting.size() > 1)
    return;
  // The other nodes' guards authenticate this node as any client: its
  // admin credential (and, with TLS, its certificate).
  auto dial = self->spawn<caf::detached>(dialer, self->state.deps.peer);
  auto release = [self, key](caf::expected<front_door_actor> peer) {
    auto waiters = std::move(self->state.dialing[key]);
    self->state.dialing.erase(key);
    for (auto& f : waiters)
      f(peer);
  };
  self->request(dial, owner_timeout * 2, caf::connect_atom::value, host, port)
    .then(
      [=](front_door_actor& peer) {
        // CAF drops what is sent to the proxy of a node whose connection
        // closed: forget it when that happens, so the next request connects
        // afresh (and fails at once if the node is gone).
        self->monitor(peer);
        self->state.peers[key] = peer;
        release(peer);
      },
      [=](caf::error& err) { release(std::move(err)); });
}

/// Hands an answer (or error) to the requester.
template<class T>
auto deliver_to(caf::typed_response_promise<T> rp) {
  return [rp](caf::expected<T> x) mutable {
    if (x)
      rp.deliver(std::move(*x));
    else
      rp.deliver(std::move(x.error()));
  };
}

/// `done`, with an error of CAF's (a timeout, a lost connection) saying
/// which node it came from; the daemon's own errors pass as they are.
template<class Done>
auto named(const std::string& node, Done done) {
  return [node, done](auto x) mutable {
    if (!x && x.error().category() != error_category)
      x = make_error(ec::unavailable,
                     "the agent's owner, node '" + node
                       + "', did not answer: " + render(x.error()));
    done(std::move(x));
  };
}

/// A request for an agent this node does not run (`xs`, as the FRONT DOOR
/// takes it): to its owner, if another node owns it.
template<class T, class... Ts>
caf::result<T> forward(self_ptr self, const std::string& name, Ts... xs) {
  auto& d = self->state.deps;
  if (!d.cluster)
    return unknown_agent(name);
  auto rp = self->make_response_promise<T>();
  self->request(d.cluster, owner_timeout, owner_atom::value, name)
    .then(
      [=](std::string& node, std::string& host, uint16_t port) mutable {
        if (node.empty() || port == 0)
          rp.deliver(unknown_agent(name));
        else if (node == self->state.deps.node)
          rp.deliver(make_error(ec::unavailable,
                                "agent '" + name
                                  + "' is being taken over by this node; "
                                    "try again"));
        else
          to_peer<T>(self, "the agent's owner, node '" + node + "'", host, port,
                     forward_timeout, named(node, deliver_to(rp)), xs...);
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

using agent_list = std::vector<agent_info>;

/// This node's agents from the ADMIN, each marked with this node's name,
/// to `done` (as caf::expected<agent_list>).
template<class Done>
void list_here(self_ptr self, Done done) {
  auto& d = self->state.deps;
  self->request(d.admin, forward_timeout, agent_ls_atom::value)
    .then(
      [done, node = d.node](agent_list& xs) mutable {
        for (auto& x : xs)
          x.node = node;
        done(caf::expected<agent_list>{std::move(xs)});
      },
      [done](caf::error& err) mutable {
        done(caf::expected<agent_list>{std::move(err)});
      });
}

/// The parts of a fleet-wide list as they come in; answers once all did,
/// or at the first error.
struct fleet_list {
  caf::typed_response_promise<agent_list> rp;
  agent_list all;
  size_t waiting = 0;
  bool answered = false;

  void add(caf::expected<agent_list> part) {
    if (answered)
      return;
    if (!part) {
      answered = true;
      rp.deliver(std::move(part.error()));
      return;
    }
    std::move(part->begin(), part->end(), std::back_inserter(all));
    if (--waiting > 0)
      return;
    answered = true;
    std::sort(all.begin(), all.end(),
              [](auto& a, auto& b) { return a.name < b.name; });
    rp.deliver(std::move(all));
  }
};

/// Several nodes: another node's part of `agent list` (the node named is
/// this one).
caf::result<agent_list> list_node(self_ptr self, const std::string& node) {
  if (node != self->state.deps.node)
    return make_error(ec::invalid_argument, "this is node '"
                                              + self->state.deps.node
                                              + "', not '" + node + "'");
  auto rp = self->make_response_promise<agent_list>();
  list_here(self, deliver_to(rp));
  return rp;
}

/// Several nodes: the agents of every node whose lease runs (as the
/// database says now), each with its node: this node's from the ADMIN, the
/// others' from their front doors. A live node that does not answer fails
/// the list (its agents would be missing without a word); a node whose
/// lease ended is left out (its agents show up with the node that takes
/// them over).
caf::result<agent_list> list_fleet(self_ptr self) {
  auto& d = self->state.deps;
  if (!d.cluster)
    return ask<agent_list>(self, d.admin, component_timeout,
                           agent_ls_atom::value);
  auto rp = self->make_response_promise<agent_list>();
  self->request(d.cluster, owner_timeout, status_atom::value)
    .then(
      [=](cluster_status& view) mutable {
        auto& here = self->state.deps.node;
        std::vector<node_status> others;
        for (auto& n : view.nodes)
          if (n.name != here && n.live && n.port != 0)
            others.push_back(n);
        auto g = std::make_shared<fleet_list>();
        g->rp = rp;
        g->waiting = others.size() + 1;
        list_here(self,
                  [g](caf::expected<agent_list> x) { g->add(std::move(x)); });
        for (auto& n : others) {
          auto whose = "node '" + n.name + "'";
          auto done = [g, whose](caf::expected<agent_list> x) {
            if (!x)
              x = make_error(ec::unavailable,
                             whose + " did not list its agents ("
                               + render(x.error())
                               + "); its lease still runs: once it ends, "
                                 "another node takes its agents over and "
                                 "lists them");
            g->add(std::move(x));
          };
          to_peer<agent_list>(self, whose, n.host, n.port, list_timeout,
                              std::move(done), agent_ls_atom::value, n.name);
        }
      },
      [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Hands a request for one agent to its AGENT (`xs`), if the directory
/// knows it; else `elsewhere()` (forward() to the owner).
template<class T, class Elsewhere, class... Ts>
caf::result<T> to_agent(self_ptr self, const std::string& name,
                        Elsewhere elsewhere, Ts&&... xs) {
  if (auto err = validate_name("agent name", name))
    return err;
  auto agent = self->state.deps.ctx->directory.get()->find(name);
  if (!agent)
    return elsewhere();
  return ask<T>(self, agent, agent_timeout(*self->state.deps.ctx),
                std::forward<Ts>(xs)...);
}

/// Asks the STORE and answers the requester from here.
template<class T, class... Ts>
caf::result<T> read_store(self_ptr self, const query& q, Ts... xs) {
  if (auto err = validate_query(q))
    return err;
  auto rp = self->make_response_promise<T>();
  self->request(self->state.deps.store, store_timeout, std::move(xs)..., q)
    .then([rp](T& result) mutable { rp.deliver(std::move(result)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// An online backup: the STORE copies the database into a private file of
/// the daemon's, and the client reads it chunk by chunk (the daemon never
/// writes a path a client names).
caf::result<backup_info> start_backup(self_ptr self) {
  if (auto err = needs_admin(self, "backup"))
    return err;
  auto rp = self->make_response_promise<backup_info>();
  self->request(self->state.deps.store, store_timeout, backup_atom::value)
    .then([rp](backup_info& x) mutable { rp.deliver(std::move(x)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<backup_chunk> read_backup(self_ptr self, std::string& id,
                                      uint64_t offset) {
  if (auto err = needs_admin(self, "backup"))
    return err;
  auto rp = self->make_response_promise<backup_chunk>();
  self
    ->request(self->state.deps.store, store_timeout, backup_atom::value,
              std::move(id), offset)
    .then([rp](backup_chunk& x) mutable { rp.deliver(std::move(x)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Where a report or an observation goes: its AGENT, or an error.
template<class T>
caf::expected<agent_actor> route(self_ptr self, T& x, caf::error checked) {
  if (checked)
    return checked;
  auto& ctx = *self->state.deps.ctx;
  x.arrived_at = ctx.now();
  if (auto err
      = resolve_identity(*ctx.tokens.get(), x.subscription, x.token_sha256))
    return err;
  auto agent = ctx.directory.get()->find(x.agent);
  if (!agent && !self->state.deps.cluster)
    return unknown_agent(x.agent);
  // Invalid: another node may run it (forward()).
  return agent;
}

caf::result<report_result> route_report(self_ptr self, failure_report& r) {
  auto agent = route(self, r, check_report(r, self->state.deps.ctx->now()));
  if (!agent) {
    self->state.deps.ctx->stats->report_answered(
      std::nullopt, failure_kind::none, std::nullopt);
    return std::move(agent.error());
  }
  if (!*agent)
    return forward<report_result>(self, r.agent, report_atom::value, r);
  return ask<report_result>(self, *agent, agent_timeout(*self->state.deps.ctx),
                            report_atom::value, std::move(r));
}

caf::result<report_result> route_observation(self_ptr self, observation& o) {
  auto agent = route(self, o, check_observation(o));
  if (!agent) {
    self->state.deps.ctx->stats->observation_answered(std::nullopt);
    return std::move(agent.error());
  }
  if (!*agent)
    return forward<report_result>(self, o.agent, observe_atom::value, o);
  return ask<report_result>(self, *agent, agent_timeout(*self->state.deps.ctx),
                            observe_atom::value, std::move(o));
}

caf::result<agent_info> add_agent(self_ptr self, agent_spec& spec) {
  if (auto err = needs_admin(self, "agent add"))
    return err;
  if (auto err = validate_name("agent name", spec.name))
    return err;
  if (!spec.subscription.empty())
    if (auto err = validate_name("subscription name", spec.subscription))
      return err;
  if (!spec.container.empty())
    if (auto err = check_container_name(spec.container))
      return err;
  if (auto err = validate_pool(spec.pool))
    return err;
  return ask<agent_info>(self, self->state.deps.admin, component_timeout,
                         agent_add_atom::value, std::move(spec));
}

caf::result<subscription_change> add_subscription(self_ptr self,
                                                  subscription_spec& spec) {
  if (auto err = needs_admin(self, "subscription add"))
    return err;
  if (auto err = validate(spec))
    return err;
  return ask<subscription_change>(self, self->state.deps.pool,
                                  component_timeout, sub_add_atom::value,
                                  std::move(spec));
}

caf::result<std::vector<std::string>> remove_subscription(self_ptr self,
                                                          std::string& name) {
  if (auto err = needs_admin(self, "subscription remove"))
    return err;
  if (auto err = validate_name("subscription name", name))
    return err;
  return ask<std::vector<std::string>>(self, self->state.deps.pool,
                                       component_timeout, sub_rm_atom::value,
                                       std::move(name));
}

caf::result<std::string> remove_agent(self_ptr self, std::string& name) {
  if (auto err = needs_admin(self, "agent remove"))
    return err;
  if (auto err = validate_name("agent name", name))
    return err;
  return ask<std::string>(self, self->state.deps.admin, component_timeout,
                          agent_rm_atom::value, std::move(name));
}

caf::result<report_result> assign(self_ptr self, std::string& name,
                                  std::string& sub, bool force) {
  if (auto err = needs_admin(self, "assign"))
    return err;
  if (auto err = validate_name("subscription name", sub))
    return err;
  auto elsewhere = [=] {
    return forward<report_result>(self, name, assign_atom::value, name, sub,
                                  force);
  };
  return to_agent<report_result>(self, name, elsewhere, assign_atom::value,
                                 std::move(sub), force);
}

caf::result<subscription_state_change>
change_subscription(self_ptr self, std::string& name, subscription_op op) {
  if (auto err = needs_admin(self, "subscription drain/undrain/reset"))
    return err;
  if (auto err = validate_name("subscription name", name))
    return err;
  if (op > subscription_op::reset)
    return make_error(ec::invalid_argument,
                      "unknown operation: drain, undrain or reset");
  return ask<subscription_state_change>(
    self, self->state.deps.pool, component_timeout, sub_state_atom::value,
    std::move(name), op);
}

caf::result<subscription_state_change>
cap_subscription(self_ptr self, std::string& name, uint32_t max_agents) {
  if (auto err = needs_admin(self, "subscription set"))
    return err;
  if (auto err = validate_name("subscription name", name))
    return err;
  return ask<subscription_state_change>(self, self->state.deps.pool,
                                        component_timeout, sub_set_atom::value,
                                        std::move(name), max_agents);
}

caf::result<apply_outcome> container_command(self_ptr self, std::string& name,
                                             container_op op) {
  if (auto err = needs_admin(self, "agent start/stop/restart"))
    return err;
  if (op != container_op::start && op != container_op::stop
      && op != container_op::restart)
    return make_error(ec::invalid_argument,
                      "unknown container operation (use start, stop or "
                      "restart)");
  auto elsewhere = [=] {
    return forward<apply_outcome>(self, name, lifecycle_atom::value, name, op);
  };
  return to_agent<apply_outcome>(self, name, elsewhere, lifecycle_atom::value,
                                 op);
}

caf::result<settings_map> set_setting(self_ptr self, std::string& key,
                                      std::string& value) {
  if (auto err = needs_admin(self, "settings set"))
    return err;
  if (auto err = check_short("setting key", key))
    return err;
  if (auto err = check_short("setting value", value))
    return err;
  return ask<settings_map>(self, self->state.deps.admin, component_timeout,
                           setting_atom::value, std::move(key),
                           std::move(value));
}

caf::result<agent_info> set_agent(self_ptr self, std::string& name,
                                  auto_switch_mode mode) {
  if (auto err = needs_admin(self, "agent set"))
    return err;
  auto elsewhere = [=] {
    return forward<agent_info>(self, name, agent_set_atom::value, name, mode);
  };
  return to_agent<agent_info>(self, name, elsewhere, agent_set_atom::value,
                              mode);
}

/// A watcher must live on the node of the client that asks (a handle of
/// the daemon's own actors, or of another client's, is refused). In the
/// daemon's own process (the HTTP front's streams) only the actor that asks
/// may be its own watcher.
caf::result<ok_atom> add_watcher(self_ptr self, watcher_actor& w) {
  auto sender = self->current_sender();
  bool remote
    = w && sender && w.node() != self->node() && w.node() == sender->node();
  bool itself = w && sender && sender->node() == self->node()
                && w.address() == caf::actor_cast<caf::actor_addr>(sender);
  if (!remote && !itself)
    return make_error(ec::invalid_argument,
                      "the watcher must be an actor of the client that asks");
  return ask<ok_atom>(self, self->state.deps.admin, component_timeout,
                      watch_atom::value, std::move(w));
}

/// A peer node's front door went down: it is connected afresh next time.
void forget_peers_on_down(self_ptr self) {
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& peers = self->state.peers;
    for (auto i = peers.begin(); i != peers.end();)
      if (i->second.address() == dm.source)
        i = peers.erase(i);
      else
        ++i;
  });
}

caf::result<agent_info> get_agent(self_ptr self, std::string& name) {
  auto elsewhere = [=] {
    return forward<agent_info>(self, name, agent_get_atom::value, name);
  };
  return to_agent<agent_info>(self, name, elsewhere, get_atom::value);
}

caf::result<sink_info> add_sink(self_ptr self, sink_spec& spec) {
  if (auto err = needs_admin(self, "notify add"))
    return err;
  if (auto err = validate(spec))
    return err;
  auto& d = self->state.deps;
  return ask<sink_info>(self, d.store, store_timeout, sink_add_atom::value,
                        std::move(spec), d.ctx->now());
}

caf::result<ok_atom> remove_sink(self_ptr self, std::string& name) {
  if (auto err = needs_admin(self, "notify remove"))
    return err;
  if (auto err = validate_name("sink name", name))
    return err;
  return ask<ok_atom>(self, self->state.deps.store, store_timeout,
                      sink_rm_atom::value, std::move(name));
}

caf::result<delivery_record> test_sink(self_ptr self, std::string& name) {
  if (auto err = needs_admin(self, "notify test"))
    return err;
  if (auto err = validate_name("sink name", name))
    return err;
  if (!self->state.deps.deliverer)
    return make_error(ec::unavailable, "this daemon delivers no notifications");
  return ask<delivery_record>(self, self->state.deps.deliverer,
                              std::chrono::seconds(30), sink_test_atom::value,
                              std::move(name));
}

caf::result<std::vector<delivery_failure>> failed_deliveries(self_ptr self,
                                                             uint32_t limit) {
  if (limit == 0 || limit > max_query_limit)
    return make_error(ec::invalid_argument,
                      "the limit must be from 1 to "
                        + std::to_string(max_query_limit));
  return ask<std::vector<delivery_failure>>(
    self, self->state.deps.store, store_timeout, delivery_atom::value, limit);
}

} // namespace

front_door_actor::behavior_type
front_door(front_door_actor::stateful_pointer<front_door_state> self,
           front_door_deps deps) {
  self->state.deps = std::move(deps);
  auto& d = self->state.deps;
  forget_peers_on_down(self);
  return {
    [](ping_atom) { return std::string{protocol_version()}; },
    [=, &d](status_atom) {
      return ask<status_info>(self, d.admin, component_timeout,
                              status_atom::value);
    },
    [=](report_atom, failure_report& r) { return route_report(self, r); },
    [=](observe_atom, observation& o) { return route_observation(self, o); },
    [=](sub_add_atom, subscription_spec& spec) {
      return add_subscription(self, spec);
    },
    [=, &d](sub_list_atom) {
      return ask<std::vector<subscription_info>>(
        self, d.pool, component_timeout, sub_list_atom::value);
    },
    [=](sub_rm_atom, std::string& name) {
      return remove_subscription(self, name);
    },
    [=](agent_add_atom, agent_spec& spec) { return add_agent(self, spec); },
    [=](agent_ls_atom) { return list_fleet(self); },
    [=](agent_ls_atom, const std::string& node) {
      return list_node(self, node);
    },
    [=](agent_get_atom, std::string& name) { return get_agent(self, name); },
    [=](agent_rm_atom, std::string& name) { return remove_agent(self, name); },
    [=](agent_set_atom, std::string& name, auto_switch_mode mode) {
      return set_agent(self, name, mode);
    },
    [=](assign_atom, std::string& name, std::string& sub) {
      return assign(self, name, sub, false);
    },
    [=](assign_atom, std::string& name, std::string& sub, bool force) {
      return assign(self, name, sub, force);
    },
    [=](sub_state_atom, std::string& name, subscription_op op) {
      return change_subscription(self, name, op);
    },
    [=](sub_set_atom, std::string& name, uint32_t max_agents) {
      return cap_subscription(self, name, max_agents);
    },
    [=](lifecycle_atom, std::string& name, container_op op) {
      return container_command(self, name, op);
    },
    [=, &d](settings_atom) {
      return ask<settings_map>(self, d.admin, component_timeout,
                               settings_atom::value);
    },
    [=](setting_atom, std::string& key, std::string& value) {
      return set_setting(self, key, value);
    },
    [=](events_atom, query& q) {
      return read_store<event_page>(self, q, events_atom::value);
    },
    [=](history_atom, query& q) {
      return read_store<history_page>(self, q, history_atom::value);
    },
    [=](notes_atom, query& q) {
      return read_store<notification_page>(self, q, notes_atom::value);
    },
    [=](watch_atom, watcher_actor& w) { return add_watcher(self, w); },
    [=](sink_add_atom, sink_spec& spec) { return add_sink(self, spec); },
    [=](sink_rm_atom, std::string& name) { return remove_sink(self, name); },
    [=, &d](sink_show_atom) {
      return ask<std::vector<sink_status>>(self, d.store, store_timeout,
                                           sink_show_atom::value);
    },
    [=](sink_test_atom, std::string& name) { return test_sink(self, name); },
    [=](delivery_atom, uint32_t limit) {
      return failed_deliveries(self, limit);
    },
    [=](backup_atom) { return start_backup(self); },
    [=](backup_atom, std::string& id, uint64_t offset) {
      return read_backup(self, id, offset);
    },
  };
}

} // namespace sb
