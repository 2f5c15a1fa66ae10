#pragma once

// The ROOT: starts the daemon's actors in order (STORE, POOL, CONTAINER
// SUPERVISOR, ADMIN with one AGENT per stored agent, FRONT DOOR), publishes
// the FRONT DOOR, runs the periodic retention job through a timer actor, and
// stops everything in order: intake first, then the agents, the supervisor, the
// pool and the store last. Every actor is stopped explicitly: CAF 0.17 hangs at
// exit otherwise. It publishes the doors' state (the intake's counters while
// the guard runs; draining from the first step of shutdown) in the context.

#include "actors/context.hpp"
#include "actors/door.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sb {

class store;

namespace intake {
class basp_guard;
class caf_door;
} // namespace intake

/// Called when a core component stops while the daemon is not shutting down.
using fatal_handler = std::function<void(const std::string& component)>;

/// The actor half of the ROOT: sends `retention` to the ADMIN at start-up and
/// every retention-interval (reconciliation is each agent's own timer while
/// its container is behind), ticks the NOTIFIER at start-up and then only
/// while it has work (actors/notifier.hpp), and watches the core
/// components: if one of them stops unexpectedly, `on_fatal` is called (the
/// daemon then shuts down in order instead of limping on).
root_actor::behavior_type
root(root_actor::pointer self, admin_actor admin,
     std::vector<std::pair<std::string, caf::actor>> components,
     context_ptr ctx, fatal_handler on_fatal,
     notifier_actor notifier = notifier_actor{},
     cluster_actor cluster = cluster_actor{});

class daemon {
public:
  /// Loads the database, reads (or creates) the credential files, spawns
  /// every component and opens the front door on opts.host:opts.port (0 = a
  /// free port): the BASP guard owns that address (and TLS) and hands each
  /// authenticated client to CAF, which listens nowhere. With `cluster_db`
  /// (a second connection to a shared store) the daemon joins the nodes of
  /// the database first and runs only the agents it owns.
  static caf::expected<std::unique_ptr<daemon>>
  start(caf::actor_system& sys, daemon_options opts, std::shared_ptr<store> db,
        clock_ptr clock = nullptr, fatal_handler on_fatal = nullptr,
        std::shared_ptr<store> cluster_db = nullptr);

  ~daemon();

  daemon(const daemon&) = delete;
  daemon& operator=(const daemon&) = delete;

  /// The port the FRONT DOOR listens on (the guard's public port).
  uint16_t port() const { return port_; }

  /// The FRONT DOOR of the admin credential (everything), and of the report
  /// credential (report, observe, read).
  front_door_actor front_door() const { return front_door_; }
  front_door_actor report_door() const { return report_door_; }

  /// The tokens clients present, as read from the credential files.
  const intake::credentials& credentials() const { return creds_; }

  /// A reload: reads the credential files again; connections whose token
  /// changed are closed. Returns an error line, or "" (nothing changed or
  /// the new tokens are in force).
  std::string reload_credentials();

  /// The internal components (in-process tests and introspection; never
  /// published).
  pool_actor pool() const { return pool_; }
  supervisor_actor supervisor() const { return supervisor_; }

  const context_ptr& context() const { return ctx_; }

  /// Hands over a second door (the HTTP front): stopped with the daemon,
  /// after the agents drained.
  void attach(std::unique_ptr<door> d) { doors_.push_back(std::move(d)); }

  /// Ordered shutdown; idempotent.
  void stop();

private:
  /// Publishes the FRONT DOOR behind the guard; sets port_.
  caf::error publish();

  /// The components the ROOT watches, by name.
  std::vector<std::pair<std::string, caf::actor>> components() const;

  explicit daemon(caf::actor_system& sys);

  caf::actor_system& sys_;
  context_ptr ctx_;
  store_actor store_;
  pool_actor pool_;
  supervisor_actor supervisor_;
  admin_actor admin_;
  front_door_actor front_door_;
  front_door_actor report_door_;
  root_actor root_;
  notifier_actor notifier_;
  refresher_actor refresher_;
  deliverer_actor deliverer_;
  cluster_actor cluster_;
  intake::credentials creds_;
  std::unique_ptr<intake::caf_door> caf_door_;
  std::unique_ptr<intake::basp_guard> guard_;
  std::vector<std::unique_ptr<door>> doors_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

} // namespace sb
