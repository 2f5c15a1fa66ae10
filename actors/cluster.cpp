#include "actors/cluster.hpp"

#include "actors/logging.hpp"
#include "messages/error.hpp"

#include <caf/send.hpp>

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sb {

/// The thread that waits on a LISTEN connection and wakes the CLUSTER when
/// another node committed a change of the shared pool (see cluster.hpp).
/// stop() ends it within one wait (250 ms) or one connection attempt.
class change_watch {
public:
  change_watch(std::shared_ptr<store> db, caf::weak_actor_ptr cluster)
      : db_(std::move(db)), cluster_(std::move(cluster)) {
    thread_ = std::thread{[this] { run(); }};
  }

  ~change_watch() { stop(); }

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }

private:
  void wake() {
    if (auto ptr = caf::actor_cast<caf::strong_actor_ptr>(cluster_))
      caf::anon_send(caf::actor_cast<cluster_actor>(ptr), shared_atom::value);
  }

  /// Waits `d` unless stopped first; false once stopped.
  bool pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> guard{mtx_};
    return !cv_.wait_for(guard, d, [this] { return stopping_; });
  }

  bool stopping() {
    std::lock_guard<std::mutex> guard{mtx_};
    return stopping_;
  }

  void run() {
    std::unique_ptr<store::change_listener> listener;
    bool down = false;
    while (!stopping()) {
      if (!listener) {
        auto opened = db_->listen();
        if (!opened) {
          if (!down)
            SB_WARN("cannot listen for other nodes' changes: {}; reading the "
                    "shared pool every {} ms until it can",
                    render(opened.error()), change_fallback.count());
          down = true;
          wake();
          pause(change_fallback);
          continue;
        }
        if (down)
          SB_INFO("listening for other nodes' changes again");
        down = false;
        listener = std::move(*opened);
        // What was missed while not listening.
        wake();
      }
      auto heard = listener->wait(250);
      if (!heard) {
        SB_WARN("{}", render(heard.error()));
        listener.reset();
        down = true;
        continue;
      }
      if (*heard) {
        wake();
        pause(change_coalesce);
      }
    }
  }

  std::shared_ptr<store> db_;
  caf::weak_actor_ptr cluster_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

namespace {

using self_ptr = cluster_actor::stateful_pointer<cluster_state>;

millis ttl_of(const cluster_state& st) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           st.ctx->opts.lease_ttl)
    .count();
}

/// The view `status` shows: this node and every node of the database.
cluster_status publish_view(cluster_state& st) {
  cluster_status view;
  view.node = st.node;
  view.taken_over = st.taken_over;
  view.taken_over_behind = st.taken_over_behind;
  if (auto nodes = st.db->nodes()) {
    view.nodes = std::move(*nodes);
    for (auto& n : view.nodes)
      if (n.name == st.node)
        view.epoch = n.epoch;
  }
  st.ctx->cluster.publish(std::optional<cluster_status>{view});
  return view;
}

/// The agents taken over, read back for the ADMIN.
void adopt(self_ptr self, const std::vector<std::string>& names) {
  auto& st = self->state;
  std::vector<stored_agent> rows;
  for (auto& name : names) {
    auto row = st.db->agent(name);
    if (row) {
      ++st.taken_over;
      if (!row->container.empty() && row->applied_generation < row->generation)
        ++st.taken_over_behind;
      rows.push_back(std::move(*row));
    } else
      SB_WARN("took over agent {} but cannot read it: {}", name,
              render(row.error()));
  }
  if (rows.empty())
    return;
  SB_WARN("took over {} agent(s) of node(s) whose lease ended", rows.size());
  self->send(st.admin, adopt_atom::value, std::move(rows));
}

/// One node_down event per node whose agents this node took over.
void tell_node_down(cluster_state& st, const std::vector<std::string>& down,
                    size_t agents) {
  for (auto& name : down) {
    notification_info n;
    n.kind = notification_kind::node_down;
    n.priority = notification_priority::high;
    n.reason = "lease_expired";
    n.title = "Node '" + name + "' is down";
    n.message = "The lease of node '" + name + "' ran out; node '" + st.node
                + "' took over " + std::to_string(agents)
                + " agent(s) of nodes that stopped renewing.";
    n.created_at = st.ctx->now();
    if (auto id = st.db->add_notification(n); !id)
      SB_WARN("cannot store the node_down event of {}: {}", name,
              render(id.error()));
  }
}

void renew(self_ptr self) {
  auto& st = self->state;
  if (st.deposed)
    return;
  auto renewed = st.db->renew(ttl_of(st));
  if (!renewed) {
    // The database is away: the lease may run out meanwhile, and then the
    // store fences every commit of this node until it knows more.
    SB_WARN("cannot renew the lease of node {}: {}", st.node,
            render(renewed.error()));
    return;
  }
  if (!*renewed) {
    st.deposed = true;
    SB_ERROR("node {} lost its lease: another node took its agents over; "
             "stopping (a restart joins again)",
             st.node);
    if (st.on_deposed)
      st.on_deposed();
    return;
  }
  // The nodes whose lease ran out with agents: node_down if this node is
  // the one that takes them over.
  std::vector<std::string> down;
  if (auto nodes = st.db->nodes())
    for (auto& n : *nodes)
      if (!n.live && n.agents > 0 && n.name != st.node)
        down.push_back(n.name);
  auto taken = st.db->take_over();
  if (!taken) {
    SB_WARN("cannot take over the agents of expired nodes: {}",
            render(taken.error()));
  } else {
    if (!taken->empty())
      tell_node_down(st, down, taken->size());
    adopt(self, *taken);
  }
  publish_view(st);
}

/// The shared pool as the database holds it, for the POOL.
void read_shared(self_ptr self) {
  auto& st = self->state;
  auto now = st.ctx->now();
  auto snap = st.db->load(now, st.ctx->settings.get()->exclusion_window);
  if (!snap) {
    SB_DEBUG("cannot read the shared pool: {}", render(snap.error()));
    return;
  }
  self->send(st.pool, shared_atom::value,
             std::make_shared<const snapshot>(std::move(*snap)));
}

} // namespace

std::string node_name_of(const daemon_options& opts) {
  if (!opts.node_name.empty())
    return opts.node_name;
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
    return "switchboard";
  return host;
}

cluster_actor::behavior_type cluster(self_ptr self, std::shared_ptr<store> db,
                                     admin_actor admin, pool_actor pool,
                                     context_ptr ctx, std::string node,
                                     std::function<void()> on_deposed) {
  auto& st = self->state;
  st.db = std::move(db);
  st.admin = std::move(admin);
  st.pool = std::move(pool);
  st.ctx = std::move(ctx);
  st.node = std::move(node);
  st.on_deposed = std::move(on_deposed);
  // A clean stop leaves: a restart of this node joins again at once and
  // keeps its agents (they stay this node's until its lease ends).
  st.watch = std::make_shared<change_watch>(
    st.db, caf::actor_cast<caf::weak_actor_ptr>(self->ctrl()));
  self->attach_functor(
    [db = st.db, node = st.node, watch = st.watch](const caf::error& why) {
      watch->stop();
      if (why != caf::exit_reason::user_shutdown)
        return;
      if (auto err = db->leave())
        SB_WARN("node {} could not leave cleanly: {}", node, render(err));
    });
  return {
    [=](lease_atom) { renew(self); },
    [=](shared_atom) { read_shared(self); },
    [=](owner_atom, const std::string& agent)
      -> caf::result<std::string, std::string, uint16_t> {
      auto owner = self->state.db->owner_of(agent);
      if (!owner)
        return std::move(owner.error());
      return {owner->node, owner->host, owner->port};
    },
    [=](status_atom) { return publish_view(self->state); },
    [=](advertise_atom, const std::string& host,
        uint16_t port) -> caf::result<ok_atom> {
      if (auto err = self->state.db->advertise(host, port))
        return err;
      return ok_atom::value;
    },
  };
}

} // namespace sb
