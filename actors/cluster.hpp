#pragma once

// The CLUSTER: this daemon as one node of several sharing a PostgreSQL store
// (switchboard.store = postgresql). Every agent belongs to one node, the one
// that added it. The node holds a lease row in the database (on the server's
// clock), renewed every third of switchboard.lease-ttl on the ROOT's timer;
// only the owner's AGENT decides and commits for an agent, and the store
// fences each commit on (owner, lease epoch, expected generation), so a
// deposed owner's late commit changes nothing. On each renewal the node also
// takes over the agents of every node whose lease ended (at most one node
// wins each) and hands them to the ADMIN. A node that finds its own lease
// gone (taken over while it was away) stops: `on_deposed` shuts the daemon
// down, and a restart joins again with a fresh epoch.
//
// It reads the shared pool (subscriptions, assignments, failures and
// provider evidence of every node) and hands it to the POOL whenever another
// node committed a change to it: each such commit runs pg_notify before
// COMMIT, and a thread of the CLUSTER waits on a connection that LISTENs
// (change_watch), waking the CLUSTER at most every change_coalesce. A read
// every shared_refresh is the safety net for a notification missed while
// the listening connection was down; while it cannot listen, the thread
// wakes the CLUSTER every change_fallback instead. So a subscription
// excluded on one node is excluded on all within a second. Where the other
// nodes' agents sit decides the switches of this node's POOL only as a
// first guess: the store checks each automatic switch against the shared
// database under a lock (store::lock_selection).
//
// The FRONT DOOR asks it who owns an agent it does not have, to forward the
// request there. It publishes the view of the nodes that `status` shows
// (daemon_context::cluster) at each renewal. A detached actor with its own
// connection to the database: its blocking calls never hold up the group
// commit.

#include "actors/context.hpp"
#include "messages/actors.hpp"
#include "persistence/store.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <memory>
#include <string>

namespace sb {

/// The safety net: a read of the shared pool at least this often.
constexpr auto shared_refresh = std::chrono::milliseconds(2000);

/// At most one read per this much when notifications keep coming.
constexpr auto change_coalesce = std::chrono::milliseconds(200);

/// Without a listening connection: a read this often.
constexpr auto change_fallback = std::chrono::milliseconds(500);

class change_watch;

struct cluster_state {
  std::shared_ptr<store> db;
  admin_actor admin;
  pool_actor pool;
  context_ptr ctx;
  std::function<void()> on_deposed;
  /// This node's name (switchboard.node-name or the host name).
  std::string node;
  bool deposed = false;
  uint64_t taken_over = 0;
  uint64_t taken_over_behind = 0;
  /// Stopped (its thread joined) when the CLUSTER exits.
  std::shared_ptr<change_watch> watch;
  static inline const char* name = "cluster";
};

/// Spawn with caf::detached, after `db->join()`.
cluster_actor::behavior_type
cluster(cluster_actor::stateful_pointer<cluster_state> self,
        std::shared_ptr<store> db, admin_actor admin, pool_actor pool,
        context_ptr ctx, std::string node, std::function<void()> on_deposed);

/// switchboard.node-name, or the host name when it is empty.
std::string node_name_of(const daemon_options& opts);

} // namespace sb
