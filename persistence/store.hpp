#pragma once

// The STORE: the interface of the daemon's durable state, returning
// caf::expected. It knows nothing about actors; the store actor
// (store_actor.hpp) owns one and batches writes into transactions. Two
// backends: sqlite_store (sqlite_store.hpp, the embedded default: one file,
// one host) and postgres_store (postgres_store.hpp: several daemons share one
// database), which share their rules in sql_store (sql_store.hpp). Every
// exception of a backend is caught there and becomes an ec::store_failure.

#include "messages/records.hpp"
#include "messages/sinks.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sb {

struct store_options {
  /// "FULL" (default: a commit survives power loss) or "NORMAL" (survives a
  /// crash of the process, not of the machine).
  std::string synchronous = "FULL";
  /// How long a statement waits for a lock held by another connection.
  int busy_timeout_ms = 5000;
  /// The file of the key that seals tokens (token_cipher.hpp): "" =
  /// "switchboard.key" in the database's folder; a ":memory:" database
  /// without one gets a key that lives in memory. Created at the first open
  /// of a database that holds no sealed token.
  std::string key_file;
};

/// The write-ahead log's bounds. SQLite checkpoints the WAL into the database
/// every `wal_autocheckpoint_pages` pages (4 MiB at the 4 KiB page size) and
/// then reuses it from the start; a WAL that a long reader of another process
/// let grow is cut back to `wal_size_limit` at its next reuse; the store
/// actor truncates it to zero bytes when it is idle (store::checkpoint).
constexpr int wal_autocheckpoint_pages = 1000;
constexpr int64_t wal_size_limit = 16 * 1024 * 1024;

/// Where the owner of an agent is reached (store::owner_of).
struct node_address {
  /// "" = no owner (a database without nodes).
  std::string node;
  std::string host;
  uint16_t port = 0;
};

/// This node's agents as store_status counts them (store::count_agents).
struct agent_counts {
  /// Switched further than their container applied (generation >
  /// applied_generation).
  uint64_t behind = 0;
  /// With a container.
  uint64_t containers = 0;
};

class store {
public:
  /// Opens (creating with mode 0600 if needed) and migrates the SQLite
  /// database at `path`; ":memory:" gives a private in-memory database.
  static caf::expected<std::unique_ptr<store>>
  open(const std::string& path, const store_options& opts = {});

  virtual ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  virtual const std::string& path() const = 0;

  /// The key file in use ("" for a key in memory).
  virtual const std::string& key_file() const = 0;

  /// How many plain tokens (from before schema 3) open() sealed; their old
  /// text was then wiped from the file and its WAL (VACUUM, checkpoint).
  virtual size_t sealed_at_open() const = 0;

  // -- maintenance

  /// The size of the write-ahead log file in bytes (0 if there is none).
  virtual uint64_t wal_bytes() const = 0;

  /// Copies the WAL into the database and truncates it to zero bytes,
  /// without waiting: false if a reader in another process still needs it
  /// (the next call tries again). Never inside a transaction.
  virtual caf::expected<bool> checkpoint() = 0;

  /// Writes a consistent copy of the database to `target`, a new file
  /// created with mode 0600 (an existing file is never overwritten), with
  /// SQLite's online backup API. The copy's tokens stay sealed: it is useless
  /// without the key file. Never inside a transaction.
  virtual caf::error backup(const std::string& target) = 0;

  // -- transactions

  /// Group commit: begin() once, then each write between savepoint() and
  /// release() (or rollback_to() on failure), then commit().
  virtual caf::error begin() = 0;

  /// Whether a write could start now: takes the write lock (BEGIN
  /// IMMEDIATE, waiting at most 250 ms for another writer) and rolls back
  /// at once. Outside a transaction only.
  virtual caf::error probe_write() = 0;
  virtual caf::error commit() = 0;
  virtual void rollback() = 0;
  virtual caf::error savepoint() = 0;
  virtual caf::error release() = 0;
  virtual void rollback_to() = 0;

  /// Several nodes: right after begin(), waits for the selection lock,
  /// held to the transaction's end, so a switch commit's balance check
  /// (switch_record::balance) sees every other node's committed assignments
  /// and no other node's balance-checked switch commits between the check
  /// and the write. A store of one daemon has nothing to wait for.
  virtual caf::error lock_selection() { return caf::none; }

  /// Test hook: while set and returning true, every COMMIT is turned into a
  /// rollback by SQLite's commit hook ("the transaction is killed").
  virtual void set_commit_veto(std::function<bool()> veto) = 0;

  // -- subscriptions

  /// Registers a subscription, or rotates its token when the name exists.
  /// A new one gets the spec's provider and pool (anthropic, default_pool
  /// when not given); a pool holds one provider, and a rotation that names
  /// another provider or pool than the subscription's is refused.
  virtual caf::expected<subscription_upsert>
  upsert_subscription(const subscription_spec& spec, millis now) = 0;

  /// upsert_subscription() with the defaults.
  caf::expected<subscription_upsert> put_subscription(const std::string& name,
                                                      const std::string& token,
                                                      millis now) {
    return upsert_subscription(
      subscription_spec{name, secret{token}, {}, {}, {}}, now);
  }

  /// Writes a subscription's standing (retired, drained, cap, cleared);
  /// an unknown name is an error.
  virtual caf::error save_standing(const subscription_standing& s) = 0;

  /// Deletes the subscription and unassigns its agents; returns their names.
  virtual caf::expected<std::vector<std::string>>
  remove_subscription(const std::string& name) = 0;

  virtual caf::expected<std::vector<stored_subscription>> subscriptions() = 0;

  /// Every token version (fingerprint) of every subscription, oldest first.
  virtual caf::expected<std::vector<token_version>> token_versions() = 0;

  // -- oauth credentials: the refresher's (actors/refresher.hpp)

  /// Every oauth credential, nothing secret, by name.
  virtual caf::expected<std::vector<stored_credential>> credentials() = 0;

  /// Claims the oauth credential `name` for a refresh until now + lease:
  /// refused (claimed false) while another node holds an unexpired claim.
  /// Either way the answer carries the credential as stored now.
  virtual caf::expected<refresh_claim> claim_refresh(const std::string& name,
                                                     millis now, millis lease)
    = 0;

  /// Commits a refresh in one transaction: the new access token as the
  /// subscription's token (a rotation), the new refresh token (or the
  /// stored one when the grant has none), the expiry; ends the claim.
  virtual caf::expected<subscription_upsert>
  complete_refresh(const refresh_grant& grant, millis now) = 0;

  /// Ends a claim without a grant; remembers the fingerprint of a refresh
  /// token the provider rejected ("" = none).
  virtual caf::error release_refresh(const std::string& name,
                                     const std::string& rejected_sha256)
    = 0;

  // -- notification sinks (R3 6/7)

  /// Adds a sink, or replaces the settings of the one of that name.
  virtual caf::expected<sink_info> put_sink(const sink_spec& spec, millis now)
    = 0;

  /// Removes a sink; an unknown name is ec::not_found.
  virtual caf::error remove_sink(const std::string& name) = 0;

  /// Every sink by name, its secrets opened (the delivery worker's).
  virtual caf::expected<std::vector<stored_sink>> sinks() = 0;

  /// Every sink and how its deliveries went (nothing secret).
  virtual caf::expected<std::vector<sink_status>> sink_statuses() = 0;

  /// Takes at most `limit` notifications `sink` has to deliver at `now`,
  /// oldest first: those after it came that it did not try, and due
  /// retries, that no other node holds. Each taken one is this node's
  /// until `now + lease` or until its record_delivery: a node that dies
  /// with it leaves it to another after the lease (this node, restarted,
  /// takes it again at once).
  virtual caf::expected<std::vector<delivery_due>>
  take_deliveries(const stored_sink& sink, millis now, uint32_t limit,
                  millis lease)
    = 0;

  /// Where one notification stands at one sink (replaces what was there).
  virtual caf::error record_delivery(const delivery_record& rec, millis now)
    = 0;

  /// The deliveries that gave up, newest first.
  virtual caf::expected<std::vector<delivery_failure>>
  failed_deliveries(uint32_t limit) = 0;

  // -- agents

  virtual caf::expected<stored_agent> add_agent(const agent_spec& spec,
                                                millis now)
    = 0;
  virtual caf::error remove_agent(const std::string& name) = 0;
  virtual caf::expected<std::vector<stored_agent>> agents() = 0;
  virtual caf::expected<stored_agent> agent(const std::string& name) = 0;
  virtual caf::error set_agent_auto_switch(const std::string& name,
                                           auto_switch_mode value, millis now)
    = 0;

  /// Commits a credential change; fails with ec::conflict if the agent's
  /// generation is not `rec.expected_generation`.
  virtual caf::expected<switch_commit> commit_switch(const switch_record& rec)
    = 0;

  /// Records a token application on the agent and on its history row.
  virtual caf::error record_apply(const apply_record& rec) = 0;

  /// The subscription an agent was on at `generation` ("" = none), from the
  /// switch history; an error if there is no such generation.
  virtual caf::expected<std::string>
  subscription_of_generation(const std::string& agent, uint64_t generation) = 0;

  /// This node's agents, counted by one query (status asks it, so /readyz
  /// and /metrics ask no AGENT): every agent of a store without nodes; on a
  /// shared store those this connection's node owns (join, set_node; no
  /// node set: those without an owner).
  virtual caf::expected<agent_counts> count_agents() = 0;

  // -- failure events

  virtual caf::expected<int64_t> add_event(const event_info& ev) = 0;
  virtual caf::expected<std::vector<event_info>> events(const query& q) = 0;

  /// Per subscription: its newest failure since `since`, the newest of those
  /// that carried no reset instant (window_failure_at), and the latest reset
  /// instant still in the future at `now`.
  virtual caf::expected<std::vector<exclusion_seed>>
  exclusion_seeds(millis since, millis now) = 0;

  /// Failure counts per subscription and kind since `since`.
  virtual caf::expected<std::vector<failure_count>> failure_counts(millis since)
    = 0;

  /// Deletes at most `batch` events older than `cutoff`; returns how many.
  virtual caf::expected<uint64_t> delete_events_before(millis cutoff,
                                                       uint32_t batch)
    = 0;

  // -- provider evidence

  /// Writes the evidence of one subscription, replacing what it had. A
  /// subscription that does not exist (removed meanwhile) is no error:
  /// nothing is written.
  virtual caf::error save_evidence(const stored_evidence& ev) = 0;

  /// The evidence of every subscription that has some, by name.
  virtual caf::expected<std::vector<stored_evidence>> evidence() = 0;

  // -- history and notifications

  virtual caf::expected<std::vector<history_info>> history(const query& q) = 0;
  virtual caf::expected<int64_t> add_notification(const notification_info& n)
    = 0;
  virtual caf::expected<std::vector<notification_info>>
  notifications(const query& q) = 0;
  virtual caf::error mark_delivered(int64_t id, millis at) = 0;

  /// Notifications not delivered yet, oldest first.
  virtual caf::expected<std::vector<notification_info>>
  pending_notifications(uint32_t limit) = 0;

  /// How many notifications are not delivered yet.
  virtual caf::expected<uint64_t> count_pending_notifications() = 0;

  // -- settings

  virtual caf::expected<settings_map> settings() = 0;
  virtual caf::error put_setting(const std::string& key,
                                 const std::string& value, millis now)
    = 0;

  // -- nodes: several daemons on one (PostgreSQL) database

  /// Whether several daemons may share this store (PostgreSQL). The
  /// methods below answer an error on a store that is not shared.
  virtual bool shared() const { return false; }

  /// Joins the daemons of the database as node `name` with a fresh lease
  /// epoch and a lease of `ttl`; agents without an owner become this
  /// node's. Refused (ec::conflict) while a node of that name that did not
  /// leave() holds a live lease. Returns the epoch.
  virtual caf::expected<int64_t> join(const std::string& name, millis ttl);

  /// Where the other nodes reach this one's front door.
  virtual caf::error advertise(const std::string& host, uint16_t port);

  /// This connection acts for node `name` at `epoch` (join() sets it too):
  /// add_agent makes it the owner, commit_switch is fenced on it.
  virtual void set_node(const std::string& name, int64_t epoch);

  /// This node stops cleanly: a daemon of its name may join again at once;
  /// its agents stay its own until its lease ends.
  virtual caf::error leave();

  /// Extends this node's lease by `ttl`; false if it has none any more
  /// (another node took its agents over: it must stop acting for them).
  virtual caf::expected<bool> renew(millis ttl);

  /// Takes over the agents of every node whose lease ended (at most one
  /// node wins each: row locks) and forgets those nodes; returns the agents.
  virtual caf::expected<std::vector<std::string>> take_over();

  /// The node that owns `agent` and its address (ec::unknown_agent if
  /// there is no such agent).
  virtual caf::expected<node_address> owner_of(const std::string& agent);

  /// The agents this node owns.
  virtual caf::expected<std::vector<std::string>> owned_agents();

  /// Every node, by name.
  virtual caf::expected<std::vector<node_status>> nodes();

  /// Several nodes: a connection of its own that hears the other nodes'
  /// commits to the shared pool (the store's commit() announces them).
  class change_listener {
  public:
    virtual ~change_listener() = default;

    /// Waits at most `timeout`; true if another node committed a change of
    /// the shared pool meanwhile. An error when the connection broke (open
    /// a new listener).
    virtual caf::expected<bool> wait(millis timeout) = 0;
  };

  /// Opens a change_listener (an error on a store that is not shared).
  virtual caf::expected<std::unique_ptr<change_listener>> listen();

  /// Everything the daemon needs at boot. Exclusions cover `window` back.
  caf::expected<snapshot> load(millis now, millis window);

protected:
  store() = default;
};

} // namespace sb
