#pragma once

// The STORE: a plain class over one SQLite connection (SQLiteCpp) that
// returns caf::expected. It knows nothing about actors; the store actor
// (store_actor.hpp) owns one instance and batches writes into transactions.
// Every SQLite exception is caught here and becomes an ec::store_failure.

#include "messages/records.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <functional>
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

class store {
public:
  /// Opens (creating with mode 0600 if needed) and migrates the database at
  /// `path`; ":memory:" gives a private in-memory database.
  static caf::expected<std::unique_ptr<store>>
  open(const std::string& path, const store_options& opts = {});

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  const std::string& path() const;

  /// The key file in use ("" for a key in memory).
  const std::string& key_file() const;

  /// How many plain tokens (from before schema 3) open() sealed; their old
  /// text was then wiped from the file and its WAL (VACUUM, checkpoint).
  size_t sealed_at_open() const;

  // -- maintenance
  // --------------------------------------------------------------

  /// The size of the write-ahead log file in bytes (0 if there is none).
  uint64_t wal_bytes() const;

  /// Copies the WAL into the database and truncates it to zero bytes,
  /// without waiting: false if a reader in another process still needs it
  /// (the next call tries again). Never inside a transaction.
  caf::expected<bool> checkpoint();

  /// Writes a consistent copy of the database to `target`, a new file
  /// created with mode 0600 (an existing file is never overwritten), with
  /// SQLite's online backup API. The copy's tokens stay sealed: it is useless
  /// without the key file. Never inside a transaction.
  caf::error backup(const std::string& target);

  // -- transactions
  // -------------------------------------------------------------

  /// Group commit: begin() once, then each write between savepoint() and
  /// release() (or rollback_to() on failure), then commit().
  caf::error begin();

  /// Whether a write could start now: takes the write lock (BEGIN
  /// IMMEDIATE, waiting at most 250 ms for another writer) and rolls back
  /// at once. Outside a transaction only.
  caf::error probe_write();
  caf::error commit();
  void rollback();
  caf::error savepoint();
  caf::error release();
  void rollback_to();

  /// Test hook: while set and returning true, every COMMIT is turned into a
  /// rollback by SQLite's commit hook ("the transaction is killed").
  void set_commit_veto(std::function<bool()> veto);

  // -- subscriptions
  // ------------------------------------------------------------

  caf::expected<subscription_upsert> put_subscription(const std::string& name,
                                                      const std::string& token,
                                                      millis now);

  /// Deletes the subscription and unassigns its agents; returns their names.
  caf::expected<std::vector<std::string>>
  remove_subscription(const std::string& name);

  caf::expected<std::vector<stored_subscription>> subscriptions();

  /// Every token version (fingerprint) of every subscription, oldest first.
  caf::expected<std::vector<token_version>> token_versions();

  // -- agents
  // -------------------------------------------------------------------

  caf::expected<stored_agent> add_agent(const agent_spec& spec, millis now);
  caf::error remove_agent(const std::string& name);
  caf::expected<std::vector<stored_agent>> agents();
  caf::expected<stored_agent> agent(const std::string& name);
  caf::error set_agent_auto_switch(const std::string& name,
                                   auto_switch_mode value, millis now);

  /// Commits a credential change; fails with ec::conflict if the agent's
  /// generation is not `rec.expected_generation`.
  caf::expected<switch_commit> commit_switch(const switch_record& rec);

  /// Records a token application on the agent and on its history row.
  caf::error record_apply(const apply_record& rec);

  /// The subscription an agent was on at `generation` ("" = none), from the
  /// switch history; an error if there is no such generation.
  caf::expected<std::string>
  subscription_of_generation(const std::string& agent, uint64_t generation);

  // -- failure events
  // -----------------------------------------------------------

  caf::expected<int64_t> add_event(const event_info& ev);
  caf::expected<std::vector<event_info>> events(const query& q);

  /// Per subscription: its newest failure since `since`, the newest of those
  /// that carried no reset instant (window_failure_at), and the latest reset
  /// instant still in the future at `now`.
  caf::expected<std::vector<exclusion_seed>> exclusion_seeds(millis since,
                                                             millis now);

  /// Failure counts per subscription and kind since `since`.
  caf::expected<std::vector<failure_count>> failure_counts(millis since);

  /// Deletes at most `batch` events older than `cutoff`; returns how many.
  caf::expected<uint64_t> delete_events_before(millis cutoff, uint32_t batch);

  // -- provider evidence
  // --------------------------------------------------------

  /// Writes the evidence of one subscription, replacing what it had. A
  /// subscription that does not exist (removed meanwhile) is no error:
  /// nothing is written.
  caf::error save_evidence(const stored_evidence& ev);

  /// The evidence of every subscription that has some, by name.
  caf::expected<std::vector<stored_evidence>> evidence();

  // -- history and notifications
  // ------------------------------------------------

  caf::expected<std::vector<history_info>> history(const query& q);
  caf::expected<int64_t> add_notification(const notification_info& n);
  caf::expected<std::vector<notification_info>> notifications(const query& q);
  caf::error mark_delivered(int64_t id, millis at);

  /// Notifications not delivered yet, oldest first.
  caf::expected<std::vector<notification_info>>
  pending_notifications(uint32_t limit);

  /// How many notifications are not delivered yet.
  caf::expected<uint64_t> count_pending_notifications();

  // -- settings
  // -----------------------------------------------------------------

  caf::expected<settings_map> settings();
  caf::error put_setting(const std::string& key, const std::string& value,
                         millis now);

  /// Everything the daemon needs at boot. Exclusions cover `window` back.
  caf::expected<snapshot> load(millis now, millis window);

private:
  struct impl;
  explicit store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace sb
