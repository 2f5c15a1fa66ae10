#include "actors/root.hpp"

#include "actors/admin.hpp"
#include "actors/cluster.hpp"
#include "actors/container_supervisor.hpp"
#include "actors/deliverer.hpp"
#include "actors/front_door.hpp"
#include "actors/logging.hpp"
#include "actors/notifier.hpp"
#include "actors/refresher.hpp"
#include "actors/subscription_pool.hpp"
#include "intake/basp_guard.hpp"
#include "intake/caf_door.hpp"
#include "intake/token_files.hpp"
#include "messages/error.hpp"
#include "persistence/store.hpp"
#include "persistence/store_actor.hpp"

#include <caf/actor_registry.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

namespace sb {

namespace {

/// Sends `exit` and waits for the actor to go down; kills it after `grace`.
template<class Handle>
void stop_and_wait(caf::scoped_actor& self, const Handle& handle,
                   std::chrono::milliseconds grace) {
  if (!handle)
    return;
  self->monitor(handle);
  self->send_exit(handle, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive_while([&] { return !down; })(
    [&](caf::down_msg& dm) {
      if (dm.source == handle.address())
        down = true;
    },
    caf::after(grace) >>
      [&] {
        SB_WARN("a component did not stop within {} ms; killing it",
                grace.count());
        self->send_exit(handle, caf::exit_reason::kill);
        down = true;
      });
}

} // namespace

root_actor::behavior_type
root(root_actor::pointer self, admin_actor admin,
     std::vector<std::pair<std::string, caf::actor>> components,
     context_ptr ctx, fatal_handler on_fatal, notifier_actor notifier,
     cluster_actor cluster) {
  auto names = std::make_shared<std::map<caf::actor_addr, std::string>>();
  for (auto& [name, handle] : components) {
    self->monitor(handle);
    names->emplace(handle.address(), name);
  }
  self->set_down_handler([=](caf::down_msg& dm) {
    auto i = names->find(dm.source);
    auto name = i == names->end() ? std::string{"a component"} : i->second;
    SB_ERROR("{} stopped unexpectedly ({}); shutting down", name,
             render(dm.reason));
    if (on_fatal)
      on_fatal(name);
  });
  auto retention = ctx->opts.retention_interval;
  self->send(self, retention_atom::value);
  if (notifier) {
    // A reload wakes the notifier through the registry (wake_notifier).
    auto& reg = self->system().registry();
    reg.put(notifier_wake_name, caf::actor_cast<caf::strong_actor_ptr>(self));
    self->attach_functor([&reg, me = self->address()] {
      if (caf::actor_cast<caf::actor_addr>(reg.get(notifier_wake_name)) == me)
        reg.erase(notifier_wake_name);
    });
    self->send(self, tick_atom::value);
  }
  if (cluster) {
    self->send(self, lease_atom::value);
    self->send(self, shared_atom::value);
  }
  return {
    [=](retention_atom) {
      self->send(admin, retention_atom::value);
      ctx->clock->send_later(self, retention, retention_atom::value);
    },
    [=](tick_atom) {
      // From the notifier: it has more to do, one round per notify-interval.
      // Any other (start-up, this timer, a commit, a reload): a round now.
      if (!notifier)
        return;
      auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (from == notifier.address())
        ctx->clock->send_later(self, ctx->live.get()->notify_interval,
                               tick_atom::value);
      else
        self->send(notifier, tick_atom::value);
    },
    [=](lease_atom) {
      self->send(cluster, lease_atom::value);
      ctx->clock->send_later(self, ctx->opts.lease_ttl / 3, lease_atom::value);
    },
    [=](shared_atom) {
      self->send(cluster, shared_atom::value);
      ctx->clock->send_later(self, shared_refresh, shared_atom::value);
    },
  };
}

namespace {

/// Joins the nodes of a shared store as `node`; both connections act for it
/// (the main one's commits are fenced on its epoch).
caf::error join_nodes(store& db, store& cluster_db, const std::string& node,
                      caf::timespan ttl) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  auto epoch = cluster_db.join(node, ms);
  if (!epoch)
    return epoch.error();
  db.set_node(node, *epoch);
  SB_INFO("node {} joined the shared database (lease epoch {}, lease {} ms)",
          node, *epoch, ms);
  return caf::none;
}

/// The snapshot with only the agents `db`'s node owns (the ADMIN runs
/// those; the POOL counts every agent).
std::shared_ptr<const snapshot> owned_part(const snapshot& snap, store& db) {
  auto owned = db.owned_agents();
  auto part = std::make_shared<snapshot>(snap);
  if (!owned) {
    SB_WARN("cannot list the agents of this node: {}", render(owned.error()));
    part->agents.clear();
    return part;
  }
  std::set<std::string> mine{owned->begin(), owned->end()};
  part->agents.erase(std::remove_if(part->agents.begin(), part->agents.end(),
                                    [&](const stored_agent& a) {
                                      return mine.count(a.name) == 0;
                                    }),
                     part->agents.end());
  return part;
}

/// The credentials of the two scopes, from their files (created at the
/// first start). Nothing of a token appears in an error.
caf::expected<intake::credentials> load_credentials(const daemon_options& o,
                                                    bool create) {
  intake::credentials creds;
  for (auto [key, path, out] :
       {std::tuple{"switchboard.admin-token-file", &o.admin_token_file,
                   &creds.admin_token},
        std::tuple{"switchboard.report-token-file", &o.report_token_file,
                   &creds.report_token}}) {
    auto file = create ? intake::load_or_create_token(*path, key)
                       : intake::load_token(*path, key);
    if (!file.error.empty())
      return make_error(ec::invalid_argument, file.error);
    if (file.created)
      SB_INFO("created the {} credential in {} (mode 0640): whoever may "
              "read it may use it",
              std::string_view{key}.substr(12, 5) == "admin" ? "admin"
                                                             : "report",
              *path);
    *out = std::move(file.token);
  }
  if (creds.admin_token == creds.report_token)
    return make_error(ec::invalid_argument,
                      "switchboard.admin-token-file and "
                      "switchboard.report-token-file hold the same token: "
                      "the report credential would administer");
  return creds;
}

/// How this node reaches other nodes' front doors: as any client, with its
/// admin credential and, with TLS, its own certificate (checked by their
/// tls-ca), checking theirs against its tls-ca.
client::endpoint peer_endpoint(const daemon_options& o,
                               const intake::credentials& creds) {
  client::endpoint ep;
  ep.token = creds.admin_token;
  if (!o.tls_certificate.empty()) {
    ep.tls_ca = o.tls_ca;
    ep.tls_certificate = o.tls_certificate;
    ep.tls_key = o.tls_key;
    ep.tls_unverified = o.tls_ca.empty();
  }
  return ep;
}

/// Loads what the database holds into `snap` and returns the runtime
/// settings: built-in defaults, then the config file, then what was set at
/// run time (the database); the exclusions cover the window they give.
caf::expected<engine_settings> load_state(const daemon_options& opts, store& db,
                                          millis now, snapshot& snap) {
  auto defaults = make_engine_settings(opts.settings);
  if (!defaults)
    return defaults.error();
  auto loaded = db.load(now, defaults->exclusion_window);
  if (!loaded)
    return loaded.error();
  snap = std::move(*loaded);
  auto merged = opts.settings;
  for (auto& [key, value] : snap.settings)
    merged[key] = value;
  auto settings = make_engine_settings(merged);
  if (!settings)
    return make_error(ec::invalid_argument, "stored settings are invalid: "
                                              + render(settings.error()));
  if (settings->exclusion_window != defaults->exclusion_window) {
    auto seeds = db.exclusion_seeds(now - settings->exclusion_window, now);
    if (!seeds)
      return seeds.error();
    snap.exclusions = std::move(*seeds);
  }
  return settings;
}

} // namespace

caf::expected<std::unique_ptr<daemon>>
daemon::start(caf::actor_system& sys, daemon_options opts,
              std::shared_ptr<store> db, clock_ptr clock,
              fatal_handler on_fatal, std::shared_ptr<store> cluster_db) {
  if (!clock)
    clock = std::make_shared<wall_clock>();
  std::string node;
  if (cluster_db) {
    node = node_name_of(opts);
    auto joined = join_nodes(*db, *cluster_db, node, opts.lease_ttl);
    if (joined)
      return joined;
  }
  auto creds = load_credentials(opts, true);
  if (!creds)
    return creds.error();
  auto snap_value = snapshot{};
  auto settings = load_state(opts, *db, clock->now(), snap_value);
  if (!settings)
    return settings.error();
  auto snap = std::make_shared<const snapshot>(std::move(snap_value));
  std::unique_ptr<daemon> d{new daemon(sys)};
  d->ctx_ = std::make_shared<daemon_context>(std::move(opts), *settings,
                                             std::move(clock),
                                             static_cast<bool>(cluster_db));
  auto& ctx = d->ctx_;
  d->creds_ = std::move(*creds);
  auto outbox = std::make_shared<outbox_signal>();
  d->store_ = sys.spawn<caf::detached>(
    store_actor_impl, std::move(db), [c = ctx->clock] { return c->now(); },
    [stats = ctx->stats, outbox, ctx](size_t n) {
      stats->store_committed(n);
      outbox->committed(*ctx);
    });
  d->pool_ = sys.spawn(subscription_pool, d->store_, ctx, snap);
  d->supervisor_ = sys.spawn(container_supervisor, ctx);
  d->admin_ = sys.spawn(sb::admin, d->store_, d->pool_, d->supervisor_, ctx,
                        cluster_db ? owned_part(*snap, *cluster_db) : snap);
  if (cluster_db) {
    std::function<void()> deposed = [on_fatal] {
      if (on_fatal)
        on_fatal("cluster");
    };
    d->cluster_
      = sys.spawn<caf::detached>(cluster, std::move(cluster_db), d->admin_,
                                 d->pool_, ctx, node, std::move(deposed));
  }
  // The sinks' deliveries (the outbox to webhooks, Slack, ...).
  d->deliverer_ = sys.spawn(deliverer, d->store_, ctx);
  front_door_deps doors{d->admin_, d->pool_, d->store_, ctx, d->cluster_, node};
  doors.deliverer = d->deliverer_;
  doors.peer = peer_endpoint(ctx->opts, d->creds_);
  doors.access = scope::admin;
  d->front_door_ = sys.spawn(sb::front_door, doors);
  doors.access = scope::report;
  d->report_door_ = sys.spawn(sb::front_door, doors);
  // Always there: a reload may set notify-command later.
  d->notifier_ = sys.spawn<caf::detached>(notifier, d->store_, ctx, outbox);
  // The one refresher of this node's logins (the STORE's claims make it one
  // in the fleet).
  d->refresher_ = sys.spawn(refresher, d->store_, d->pool_, ctx);
  caf::anon_send(d->pool_, refresh_atom::value, d->refresher_);
  d->root_ = sys.spawn(root, d->admin_, d->components(), ctx,
                       std::move(on_fatal), d->notifier_, d->cluster_);
  SB_INFO("loaded {} subscriptions and {} agents", snap->subscriptions.size(),
          snap->agents.size());
  if (auto err = d->publish()) {
    d->stop();
    return err;
  }
  spdlog::default_logger()->flush();
  return d;
}

std::vector<std::pair<std::string, caf::actor>> daemon::components() const {
  std::vector<std::pair<std::string, caf::actor>> out = {
    {"store", caf::actor_cast<caf::actor>(store_)},
    {"subscription-pool", caf::actor_cast<caf::actor>(pool_)},
    {"container-supervisor", caf::actor_cast<caf::actor>(supervisor_)},
    {"admin", caf::actor_cast<caf::actor>(admin_)},
    {"front-door", caf::actor_cast<caf::actor>(front_door_)},
    {"front-door (report)", caf::actor_cast<caf::actor>(report_door_)},
    {"notifier", caf::actor_cast<caf::actor>(notifier_)},
    {"refresher", caf::actor_cast<caf::actor>(refresher_)},
    {"deliverer", caf::actor_cast<caf::actor>(deliverer_)},
  };
  if (cluster_)
    out.emplace_back("cluster", caf::actor_cast<caf::actor>(cluster_));
  return out;
}

caf::error daemon::publish() {
  // CAF listens nowhere: the guard owns the public address (TLS included),
  // authenticates each client, checks every frame it sends (CAF 0.17 would
  // allocate whatever a header claims, and deliver to any actor it can find)
  // and hands the connection to CAF as one end of a socketpair.
  auto& o = ctx_->opts;
  caf_door_ = std::make_unique<intake::caf_door>(
    sys_, caf::actor_cast<caf::strong_actor_ptr>(front_door_),
    caf::actor_cast<caf::strong_actor_ptr>(report_door_),
    sys_.message_types<front_door_actor>(),
    intake::input_type_names<front_door_actor>(sys_));
  intake::guard_options g;
  g.host = o.host;
  g.port = o.port;
  g.hand_over = [door = caf_door_.get()](int fd, scope s) {
    return door->hand_over(fd, s);
  };
  g.rules = caf_door_->rules();
  g.admin_door = front_door_.id();
  g.report_door = report_door_.id();
  g.tokens = creds_;
  g.max_message_size = o.max_message_size;
  g.max_buffered = o.max_buffered;
  g.max_buffered_total = o.max_buffered_total;
  g.max_pending_requests = o.max_pending_requests;
  g.max_pending_total = o.max_pending_total;
  g.tls_certificate = o.tls_certificate;
  g.tls_key = o.tls_key;
  g.tls_ca = o.tls_ca;
  g.max_connections = intake::connection_capacity(o.max_connections);
  if (g.max_connections < o.max_connections)
    SB_WARN("switchboard.max-connections lowered from {} to {}: each client "
            "needs three descriptors and ulimit -n allows that many",
            o.max_connections, g.max_connections);
  auto started = intake::basp_guard::start(g);
  if (!started)
    return make_error(ec::unavailable, started.error);
  guard_ = std::move(started.guard);
  port_ = guard_->port();
  ctx_->doors.publish(
    door_state{[guard = guard_.get()] { return guard->stats(); }, false});
  SB_INFO("listening on {}:{}{}", o.host, port_,
          o.tls_certificate.empty() ? "" : " (TLS)");
  if (cluster_) {
    auto host = o.advertise_host.empty() ? o.host : o.advertise_host;
    caf::scoped_actor self{sys_};
    caf::error failed;
    self
      ->request(cluster_, std::chrono::seconds(10), advertise_atom::value, host,
                port_)
      .receive([](ok_atom) {}, [&](caf::error& err) { failed = err; });
    if (failed)
      return failed;
    SB_INFO("node {}:{} advertised to the other nodes", host, port_);
  }
  return caf::none;
}

daemon::daemon(caf::actor_system& sys) : sys_(sys) {
  // nop
}

daemon::~daemon() {
  stop();
}

std::string daemon::reload_credentials() {
  auto fresh = load_credentials(ctx_->opts, false);
  if (!fresh)
    return render(fresh.error());
  if (fresh->admin_token == creds_.admin_token
      && fresh->report_token == creds_.report_token)
    return {};
  creds_ = std::move(*fresh);
  if (guard_)
    guard_->set_credentials(creds_);
  for (auto& d : doors_)
    d->set_credentials(creds_);
  SB_INFO("credentials reloaded: connections of a changed credential are "
          "closed");
  return {};
}

void daemon::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  SB_INFO("shutting down");
  if (ctx_) {
    auto doors = *ctx_->doors.get();
    doors.draining = true;
    ctx_->doors.publish(doors);
  }
  caf::scoped_actor self{sys_};
  using namespace std::chrono_literals;
  // 1. Intake: no new requests.
  if (guard_) {
    ctx_->doors.publish(door_state{nullptr, true});
    guard_->stop();
  }
  if (caf_door_)
    caf_door_->close();
  stop_and_wait(self, root_, 2s);
  stop_and_wait(self, front_door_, 2s);
  stop_and_wait(self, report_door_, 2s);
  // 2. Agents: the ADMIN stops every AGENT, then itself.
  if (admin_) {
    self->request(admin_, 5s, shutdown_atom::value)
      .receive([](ok_atom) {},
               [&](caf::error& err) {
                 SB_WARN("agents did not stop cleanly: {}", render(err));
                 self->send_exit(admin_, caf::exit_reason::kill);
               });
    stop_and_wait(self, admin_, 2s);
  }
  // The other doors answered "draining" meanwhile.
  for (auto& d : doors_)
    d->stop();
  // 3. The rest, in order: notifier, supervisor, pool, store.
  stop_and_wait(self, notifier_,
                2s
                  + std::chrono::duration_cast<std::chrono::milliseconds>(
                    ctx_->live.get()->notify_timeout));
  stop_and_wait(self, refresher_, 2s);
  stop_and_wait(self, deliverer_, 2s);
  stop_and_wait(self, supervisor_, 5s);
  stop_and_wait(self, cluster_, 5s);
  stop_and_wait(self, pool_, 2s);
  stop_and_wait(self, store_, 5s);
  SB_INFO("stopped");
  spdlog::default_logger()->flush();
}

} // namespace sb
