#pragma once

// Every typed actor interface of the daemon, in one header. The FRONT DOOR is
// the only one published on the network; the others are internal. Handlers
// marked INTERNAL are messages an actor sends to itself.

#include "messages/atoms.hpp"
#include "messages/records.hpp"
#include "messages/sinks.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace sb {

template<class... Ts>
using replies = caf::replies_to<Ts...>;

/// A client of `watch`: receives one line per decision.
using watcher_actor = caf::typed_actor<caf::reacts_to<watch_atom, watch_event>>;

/// The FRONT DOOR: the one published handle. Checks every request, stamps
/// arrival on reports and routes each request to the actor that owns it:
/// agent requests to the AGENT (through the directory), subscription
/// requests to the POOL, reads of history to the STORE, the directory,
/// settings and status to the ADMIN.
using front_door_actor = caf::typed_actor<
  /// Returns the protocol version; a cheap liveness check.
  replies<ping_atom>::with<std::string>,
  /// Version, uptime, counts and each component's status.
  replies<status_atom>::with<status_info>,
  /// A failure report for one agent.
  replies<report_atom, failure_report>::with<report_result>,
  /// The headers of a successful response of one agent (provider evidence).
  replies<observe_atom, observation>::with<report_result>,
  /// Registers a subscription, or rotates its token if the name exists.
  replies<sub_add_atom, subscription_spec>::with<subscription_change>,
  replies<sub_list_atom>::with<std::vector<subscription_info>>,
  /// Removes a subscription; returns the agents that lost their assignment.
  replies<sub_rm_atom, std::string>::with<std::vector<std::string>>,
  replies<agent_add_atom, agent_spec>::with<agent_info>,
  /// Every agent (several nodes: of every node whose lease runs).
  replies<agent_ls_atom>::with<std::vector<agent_info>>,
  /// Several nodes: the agents of the named node (the one asked).
  replies<agent_ls_atom, std::string>::with<std::vector<agent_info>>,
  replies<agent_get_atom, std::string>::with<agent_info>,
  replies<agent_rm_atom, std::string>::with<std::string>,
  /// Per-agent auto-switch: agent, mode.
  replies<agent_set_atom, std::string, auto_switch_mode>::with<agent_info>,
  /// Manual reassignment: agent, subscription.
  replies<assign_atom, std::string, std::string>::with<report_result>,
  /// The same; with `force` also onto an excluded, draining or retired
  /// subscription.
  replies<assign_atom, std::string, std::string, bool>::with<report_result>,
  /// drain | undrain | reset a subscription.
  replies<sub_state_atom, std::string,
          subscription_op>::with<subscription_state_change>,
  /// At most N agents on a subscription (0 = no cap).
  replies<sub_set_atom, std::string, uint32_t>::with<subscription_state_change>,
  /// Container lifecycle: agent, start | stop | restart.
  replies<lifecycle_atom, std::string, container_op>::with<apply_outcome>,
  replies<settings_atom>::with<settings_map>,
  replies<setting_atom, std::string, std::string>::with<settings_map>,
  /// Reads of history, one page each (messages/types.hpp: query, page).
  replies<events_atom, query>::with<event_page>,
  replies<history_atom, query>::with<history_page>,
  replies<notes_atom, query>::with<notification_page>,
  /// Subscribes a watcher to the live stream of decisions. The watcher must
  /// live on the requesting client's node.
  replies<watch_atom, watcher_actor>::with<ok_atom>,
  /// Notification sinks: add (or change) one, remove one, list them with
  /// how their deliveries went, send one a test event.
  replies<sink_add_atom, sink_spec>::with<sink_info>,
  replies<sink_rm_atom, std::string>::with<ok_atom>,
  replies<sink_show_atom>::with<std::vector<sink_status>>,
  replies<sink_test_atom, std::string>::with<delivery_record>,
  /// The deliveries that gave up, newest first, at most N.
  replies<delivery_atom, uint32_t>::with<std::vector<delivery_failure>>,
  /// An online copy of the database into a private file of the daemon's;
  /// the client reads it with the next request and writes its file itself.
  replies<backup_atom>::with<backup_info>,
  /// A chunk of that copy: id, offset.
  replies<backup_atom, std::string, uint64_t>::with<backup_chunk>>;

/// The STORE actor: owns the SQLite connection. Writes are batched into one
/// transaction per mailbox drain (group commit) and acknowledged only after
/// that transaction committed.
using store_actor = caf::typed_actor<
  replies<status_atom>::with<store_status>,
  // -- writes
  // ----------------------------------------------------------------
  /// Checks the pool's provider under the write.
  replies<sub_add_atom, subscription_spec, millis>::with<subscription_upsert>,
  /// A subscription's standing (retired, drained, cap, cleared).
  replies<sub_state_atom, subscription_standing>::with<ok_atom>,
  replies<sub_rm_atom, std::string>::with<std::vector<std::string>>,
  replies<agent_add_atom, agent_spec, millis>::with<stored_agent>,
  replies<agent_rm_atom, std::string>::with<ok_atom>,
  /// Per-agent auto-switch: name, mode, now.
  replies<agent_set_atom, std::string, auto_switch_mode, millis>::with<ok_atom>,
  replies<commit_atom, switch_record>::with<switch_commit>,
  replies<applied_atom, apply_record>::with<ok_atom>,
  /// The provider evidence of one subscription (upsert; a removed
  /// subscription's is dropped).
  replies<evidence_atom, stored_evidence>::with<ok_atom>,
  /// Events in one write (an AGENT's queued reports).
  replies<event_atom, std::vector<event_info>>::with<std::vector<int64_t>>,
  replies<notify_atom, notification_info>::with<int64_t>,
  /// The outbox: mark one notification delivered (id, when).
  replies<delivered_atom, int64_t, millis>::with<ok_atom>,
  replies<setting_atom, std::string, std::string, millis>::with<ok_atom>,
  /// Retention: delete at most `batch` events older than the cutoff.
  replies<retention_atom, millis, uint32_t>::with<uint64_t>,
  // -- the refresher's (store.hpp: claim_refresh and what follows)
  /// Claims an oauth credential for a refresh: name, now, lease.
  replies<refresh_atom, std::string, millis, millis>::with<refresh_claim>,
  /// Commits a refresh's grant (and ends the claim): grant, now.
  replies<refresh_atom, refresh_grant, millis>::with<subscription_upsert>,
  /// Ends a claim without a grant: name, the fingerprint of a refresh
  /// token the provider rejected ("" = none).
  replies<release_atom, std::string, std::string>::with<ok_atom>,
  // -- reads
  // -----------------------------------------------------------------
  replies<events_atom, query>::with<event_page>,
  replies<history_atom, query>::with<history_page>,
  replies<notes_atom, query>::with<notification_page>,
  replies<counts_atom, millis>::with<std::vector<failure_count>>,
  /// The outbox: pending notifications, oldest first, at most N.
  replies<pending_atom, uint32_t>::with<std::vector<notification_info>>,
  /// Exclusion seeds: since, now.
  replies<failure_atom, millis, millis>::with<std::vector<exclusion_seed>>,
  /// Every oauth credential (nothing secret), by name.
  replies<refresh_atom>::with<std::vector<stored_credential>>,
  // -- notification sinks (store.hpp: put_sink and what follows)
  replies<sink_add_atom, sink_spec, millis>::with<sink_info>,
  replies<sink_rm_atom, std::string>::with<ok_atom>,
  /// Every sink, its secrets opened (the DELIVERER's).
  replies<sink_list_atom>::with<std::vector<stored_sink>>,
  /// Every sink and how its deliveries went (nothing secret).
  replies<sink_show_atom>::with<std::vector<sink_status>>,
  /// Takes what a sink has due: sink, now, at most N, lease. The taken
  /// ones are this node's until now + lease (or their result): another
  /// node does not deliver them meanwhile.
  replies<delivery_atom, stored_sink, millis, uint32_t,
          millis>::with<std::vector<delivery_due>>,
  /// Where a notification stands at a sink: record, now.
  replies<delivery_atom, delivery_record, millis>::with<ok_atom>,
  /// The deliveries that gave up, newest first, at most N.
  replies<delivery_atom, uint32_t>::with<std::vector<delivery_failure>>,
  /// The subscription an agent was on at a generation ("" = none).
  replies<generation_atom, std::string, uint64_t>::with<std::string>,
  /// An online copy of the database into a private file (deleted once
  /// read to its end, or after it was left unread for a minute).
  replies<backup_atom>::with<backup_info>,
  /// A chunk of that copy: id, offset.
  replies<backup_atom, std::string, uint64_t>::with<backup_chunk>>;

/// The REFRESHER (actors/refresher.hpp): renews every oauth credential
/// before its access token expires, one refresh of a credential at a time
/// in the whole fleet.
using refresher_actor = caf::typed_actor<
  /// Looks for credentials due (ROOT's timer, refresh-interval).
  caf::reacts_to<tick_atom>,
  /// An agent's request failed with "OAuth token has expired": refresh now.
  caf::reacts_to<refresh_atom, std::string>,
  /// INTERNAL: a token endpoint's answer for a credential (from a worker).
  caf::reacts_to<refresh_atom, std::string, refresh_outcome>,
  /// Every credential's refresh state.
  replies<status_atom>::with<std::vector<credential_status>>>;

/// The DELIVERER (actors/deliverer.hpp): the outbox to the notification
/// sinks, one worker per sink at a time.
using deliverer_actor = caf::typed_actor<
  /// Looks for due deliveries (its own timer, notify-interval).
  caf::reacts_to<tick_atom>,
  /// INTERNAL: a worker's result for one notification at one sink.
  caf::reacts_to<delivery_atom, delivery_record>,
  /// INTERNAL: the worker of this sink id is done with its batch.
  caf::reacts_to<delivery_atom, int64_t>,
  /// Sends the named sink a test event now; its result (not stored).
  replies<sink_test_atom, std::string>::with<delivery_record>>;

/// The SUBSCRIPTION POOL: subscriptions, who is on which, exclusions.
/// Selection and the count update happen in one step here.
using pool_actor = caf::typed_actor<
  replies<status_atom>::with<pool_status>,
  /// INTERNAL (its own timer): whether an exhausted pool has a subscription
  /// again (a pool_recovered event).
  caf::reacts_to<tick_atom, std::string>,
  /// Best alternative in pool `pool` for an agent on `from` (0 = none):
  /// agent, from, pool; moves the agent's membership to the pick in the
  /// same step. Never a subscription of another pool.
  /// The last argument is the agent's model ("" = unknown): subscriptions
  /// whose bucket of that model is out are skipped.
  replies<select_atom, std::string, int64_t, std::string,
          std::string>::with<selection>,
  /// The same, among candidates whose utilization is at most the ceiling
  /// (a proactive switch: unknown counts as 0.5).
  replies<select_atom, std::string, int64_t, std::string, std::string,
          double>::with<selection>,
  /// Manual move of an agent of pool `pool` from `from` to the named
  /// subscription (of that pool): agent, from, name, pool, force (also
  /// onto one excluded, draining or retired).
  replies<assign_atom, std::string, int64_t, std::string, std::string,
          bool>::with<selection>,
  /// Undo a move whose commit failed: agent, moved from, moved to.
  caf::reacts_to<release_atom, std::string, int64_t, int64_t>,
  /// A failure was recorded: subscription name, when, provider reset, and
  /// the evidence its response carried.
  caf::reacts_to<failure_atom, std::string, millis, millis, provider_evidence>,
  /// A successful response's evidence about the named subscription; answers
  /// once it is stored.
  replies<evidence_atom, std::string, provider_evidence>::with<headroom>,
  /// The current token of a subscription id.
  replies<token_atom, int64_t>::with<selection>,
  /// An agent counts on the subscription (0 = none) and on no other: the
  /// ADMIN after `agent add`, an AGENT whose selection went unanswered.
  /// Taken from that AGENT or the ADMIN only (agent_directory::speaks_for).
  caf::reacts_to<join_atom, std::string, int64_t>,
  /// An agent was removed (from the AGENT as it goes).
  caf::reacts_to<leave_atom, std::string, int64_t>,
  /// Registers or rotates; a rotation reaches every agent on it.
  replies<sub_add_atom, subscription_spec>::with<subscription_change>,
  /// drain (its agents are moved, each by its AGENT), undrain, reset.
  replies<sub_state_atom, std::string,
          subscription_op>::with<subscription_state_change>,
  replies<sub_set_atom, std::string, uint32_t>::with<subscription_state_change>,
  /// Removes; every agent on it is unassigned.
  replies<sub_rm_atom, std::string>::with<std::vector<std::string>>,
  replies<sub_list_atom>::with<std::vector<subscription_info>>,
  /// The exclusion window changed: re-read exclusions from the store.
  caf::reacts_to<settings_atom>,
  /// The REFRESHER renewed a credential: its agents get the new token.
  caf::reacts_to<refresh_atom, subscription_upsert>,
  /// The REFRESHER's state of a credential (dead: retired, agents moved).
  caf::reacts_to<refresh_atom, credential_status>,
  /// An agent saw "OAuth token has expired" on this subscription: asks the
  /// REFRESHER (given by the ROOT) to refresh it now.
  caf::reacts_to<refresh_atom, std::string>,
  caf::reacts_to<refresh_atom, refresher_actor>,
  /// Several nodes: what the shared database holds now (CLUSTER).
  caf::reacts_to<shared_atom, std::shared_ptr<const snapshot>>,
  /// Several nodes: a commit found the pick stale; the other nodes' agents
  /// on these subscriptions are the seats (AGENT, before it picks again).
  caf::reacts_to<shared_atom, std::vector<int64_t>, std::vector<agent_seat>>>;

/// The CONTAINER SUPERVISOR: one lifecycle state machine per container.
using supervisor_actor = caf::typed_actor<
  replies<status_atom>::with<supervisor_status>,
  /// Apply a token or run a lifecycle operation; replies with the result.
  replies<apply_atom, container_request>::with<apply_outcome>,
  /// The supervisor's view of a container's state.
  replies<get_atom, std::string>::with<lifecycle>,
  /// From a docker worker: container, intermediate state (recreating).
  caf::reacts_to<progress_atom, std::string, lifecycle>>;

/// A DOCKER WORKER: a detached actor that runs one blocking operation at a
/// time against the Docker engine and the agent servers.
using docker_worker_actor
  = caf::typed_actor<replies<apply_atom, docker_job>::with<docker_job_result>>;

/// An AGENT: one per agent. Its mailbox serializes everything that happens to
/// that agent: reports, reassignments, rotations, token applications.
using agent_actor = caf::typed_actor<
  replies<report_atom, failure_report>::with<report_result>,
  replies<observe_atom, observation>::with<report_result>,
  /// Manual reassignment to the named subscription (force: also onto one
  /// excluded, draining or retired).
  replies<assign_atom, std::string, bool>::with<report_result>,
  /// The named subscription went out of selection (drained or retired):
  /// an agent on it switches away, once (outcome `unchanged` if not on
  /// it).
  replies<move_atom, std::string>::with<report_result>,
  replies<get_atom>::with<agent_info>,
  replies<agent_set_atom, auto_switch_mode>::with<agent_info>,
  /// Container lifecycle operation: start, stop or restart.
  replies<lifecycle_atom, container_op>::with<apply_outcome>,
  /// Drain and delete the agent; it quits after replying.
  replies<delete_atom>::with<std::string>,
  /// The token of subscription `id` was rotated: bump the generation and
  /// reapply it (outcome `rotated`, or `unchanged` if not on it).
  replies<rotate_atom, int64_t>::with<report_result>,
  /// The named subscription was removed: drop the assignment if ours.
  caf::reacts_to<unassign_atom, std::string>,
  /// Re-apply the token if the container is behind (reconciler, retries).
  caf::reacts_to<reconcile_atom>,
  /// INTERNAL: apply-wait passed for the switch of this generation.
  caf::reacts_to<apply_wait_atom, uint64_t>,
  /// INTERNAL: a removed agent's grace period is over: quit.
  caf::reacts_to<shutdown_atom>,
  /// INTERNAL: record the queued reports' events in one write.
  caf::reacts_to<flush_atom>>;

/// The ADMIN: owns the directory of AGENTs (spawns, monitors, removes them),
/// the runtime settings, the watchers and the status report.
using admin_actor = caf::typed_actor<
  replies<status_atom>::with<status_info>,
  replies<agent_add_atom, agent_spec>::with<agent_info>,
  replies<agent_ls_atom>::with<std::vector<agent_info>>,
  replies<agent_rm_atom, std::string>::with<std::string>,
  replies<settings_atom>::with<settings_map>,
  replies<setting_atom, std::string, std::string>::with<settings_map>,
  replies<watch_atom, watcher_actor>::with<ok_atom>,
  /// A line for the watchers.
  caf::reacts_to<watch_atom, watch_event>,
  /// The periodic retention job, driven by the ROOT.
  caf::reacts_to<retention_atom>,
  /// Agents this node took over from a node whose lease ended (CLUSTER).
  caf::reacts_to<adopt_atom, std::vector<stored_agent>>,
  /// Stop every AGENT, then quit (ordered shutdown).
  replies<shutdown_atom>::with<ok_atom>>;

/// The NOTIFIER: delivers the notification outbox (see actors/notifier.hpp).
using notifier_actor = caf::typed_actor<caf::reacts_to<tick_atom>>;

/// The CLUSTER: this daemon among the nodes of a shared (PostgreSQL) store
/// (see actors/cluster.hpp).
using cluster_actor = caf::typed_actor<
  /// Renew the lease, take over the agents of expired nodes (ROOT's timer).
  caf::reacts_to<lease_atom>,
  /// Read the shared pool (subscriptions, assignments, failures) for the
  /// POOL (ROOT's timer, every shared_refresh).
  caf::reacts_to<shared_atom>,
  /// The node that owns an agent and where its front door listens: node,
  /// host, port (node "" = none).
  replies<owner_atom, std::string>::with<std::string, std::string, uint16_t>,
  /// Where the other nodes reach this one.
  replies<advertise_atom, std::string, uint16_t>::with<ok_atom>,
  /// Every node as the database has it now.
  replies<status_atom>::with<cluster_status>>;

/// The ROOT's timer: the periodic jobs it hands to the ADMIN, the NOTIFIER
/// and the CLUSTER.
using root_actor
  = caf::typed_actor<caf::reacts_to<retention_atom>, caf::reacts_to<tick_atom>,
                     caf::reacts_to<lease_atom>, caf::reacts_to<shared_atom>>;

} // namespace sb

// The CLUSTER hands the POOL a whole snapshot of the shared database by
// pointer: a local message, never serialized (it never leaves the process).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const sb::snapshot>)
