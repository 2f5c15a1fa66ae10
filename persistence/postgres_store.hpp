#pragma once

// The PostgreSQL backend of the STORE (store.hpp), on libpqxx 6: several
// daemons (hosts) share one database. One connection per store, statements
// prepared once per connection; a connection that breaks fails the call
// that saw it and is opened again by the next one. Times are stored as the
// same ISO text as in SQLite (messages/time.hpp) and tokens sealed with the
// same cipher, so both backends mean the same by every column.
// Its private state is in postgres_impl.hpp; the operations in
// postgres_store.cpp, the connection, key and transactions in
// postgres_connect.cpp, the schema in postgres_schema.cpp.

#include "persistence/store.hpp"

#include <memory>
#include <string>

namespace sb {

struct postgres_options {
  /// A libpq URI (postgresql://user@host:port/db) or key=value conninfo,
  /// without a password.
  std::string url;
  /// "" = none; else a file whose first line is the password.
  std::string password_file;
  /// The file of the key that seals tokens (token_cipher.hpp). Required:
  /// every host sharing the database must be given the same key file.
  /// Created (mode 0600) when missing and the database holds no sealed
  /// token.
  std::string key_file;
};

/// Whether `url` (a libpq URI or key=value conninfo) names a password, as
/// libpq reads it; an error if libpq cannot read it (the error never shows
/// the password).
caf::expected<bool> postgres_url_has_password(const std::string& url);

class postgres_store final : public store {
public:
  /// Connects, migrates (under an advisory lock: daemons starting together
  /// do not race) and checks the key against the tokens already stored.
  static caf::expected<std::unique_ptr<store>>
  open(const postgres_options& opts);

  ~postgres_store() override;

  /// The URL without any password (for logs).
  const std::string& path() const override;

  const std::string& key_file() const override;

  /// 0: a PostgreSQL store never held plain tokens.
  size_t sealed_at_open() const override;

  // -- maintenance
  // --------------------------------------------------------------

  /// 0: the server keeps its own WAL.
  uint64_t wal_bytes() const override;

  /// true: the server checkpoints on its own.
  caf::expected<bool> checkpoint() override;

  /// Refused (ec::invalid_argument): backups of a PostgreSQL store are taken
  /// with pg_dump.
  caf::error backup(const std::string& target) override;

  // -- transactions
  // -------------------------------------------------------------

  /// READ COMMITTED, like any PostgreSQL transaction: no lock on the
  /// database (SQLite's BEGIN IMMEDIATE takes its write lock).
  caf::error begin() override;

  /// Whether the server takes writes now: not a standby in recovery, not
  /// read-only. There is no database-wide write lock to wait for.
  caf::error probe_write() override;
  caf::error commit() override;
  void rollback() override;
  caf::error savepoint() override;
  caf::error release() override;
  void rollback_to() override;

  /// A transaction-level advisory lock (its key spells "sbselect"): only
  /// balance-checked switch commits take it, so the other writes of the
  /// nodes never wait for it.
  caf::error lock_selection() override;

  /// At commit(), a veto returning true rolls the transaction back instead.
  void set_commit_veto(std::function<bool()> veto) override;

  // -- subscriptions
  // ------------------------------------------------------------

  caf::expected<subscription_upsert> put_subscription(const std::string& name,
                                                      const std::string& token,
                                                      millis now) override;

  caf::expected<std::vector<std::string>>
  remove_subscription(const std::string& name) override;

  caf::expected<std::vector<stored_subscription>> subscriptions() override;

  caf::expected<std::vector<token_version>> token_versions() override;

  // -- agents
  // -------------------------------------------------------------------

  caf::expected<stored_agent> add_agent(const agent_spec& spec,
                                        millis now) override;
  caf::error remove_agent(const std::string& name) override;
  caf::expected<std::vector<stored_agent>> agents() override;
  caf::expected<stored_agent> agent(const std::string& name) override;
  caf::error set_agent_auto_switch(const std::string& name,
                                   auto_switch_mode value, millis now) override;

  caf::expected<switch_commit> commit_switch(const switch_record& rec) override;

  caf::error record_apply(const apply_record& rec) override;

  caf::expected<std::string>
  subscription_of_generation(const std::string& agent,
                             uint64_t generation) override;

  caf::expected<agent_counts> count_agents() override;

  // -- failure events
  // -----------------------------------------------------------

  caf::expected<int64_t> add_event(const event_info& ev) override;
  caf::expected<std::vector<event_info>> events(const query& q) override;

  caf::expected<std::vector<exclusion_seed>>
  exclusion_seeds(millis since, millis now) override;

  caf::expected<std::vector<failure_count>>
  failure_counts(millis since) override;

  caf::expected<uint64_t> delete_events_before(millis cutoff,
                                               uint32_t batch) override;

  // -- provider evidence
  // --------------------------------------------------------

  caf::error save_evidence(const stored_evidence& ev) override;

  caf::expected<std::vector<stored_evidence>> evidence() override;

  // -- history and notifications
  // ------------------------------------------------

  caf::expected<std::vector<history_info>> history(const query& q) override;
  caf::expected<int64_t> add_notification(const notification_info& n) override;
  caf::expected<std::vector<notification_info>>
  notifications(const query& q) override;
  caf::error mark_delivered(int64_t id, millis at) override;

  caf::expected<std::vector<notification_info>>
  pending_notifications(uint32_t limit) override;

  caf::expected<uint64_t> count_pending_notifications() override;

  // -- settings
  // -----------------------------------------------------------------

  caf::expected<settings_map> settings() override;
  caf::error put_setting(const std::string& key, const std::string& value,
                         millis now) override;

  // -- nodes (postgres_nodes.cpp)
  // ----------------------------------------------------------------

  bool shared() const override { return true; }
  caf::expected<int64_t> join(const std::string& name, millis ttl) override;
  caf::error advertise(const std::string& host, uint16_t port) override;
  void set_node(const std::string& name, int64_t epoch) override;
  caf::error leave() override;
  caf::expected<bool> renew(millis ttl) override;
  caf::expected<std::vector<std::string>> take_over() override;
  caf::expected<node_address> owner_of(const std::string& agent) override;
  caf::expected<std::vector<std::string>> owned_agents() override;
  caf::expected<std::vector<node_status>> nodes() override;
  caf::expected<std::unique_ptr<change_listener>> listen() override;

private:
  struct impl;
  explicit postgres_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace sb
