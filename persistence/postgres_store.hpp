#pragma once

// The PostgreSQL backend of the STORE (store.hpp), on libpqxx 6: several
// daemons (hosts) share one database. One connection per store, statements
// prepared once per connection; a connection that breaks fails the call
// that saw it and is opened again by the next one. Times are stored as the
// same ISO text as in SQLite (messages/time.hpp) and tokens sealed with the
// same cipher, so both backends mean the same by every column.
// The rules are sql_store's; here what is PostgreSQL's own. Its private
// state is in postgres_impl.hpp; the connection, the dialect and
// transactions in postgres_connect.cpp, the nodes in postgres_nodes.cpp.

#include "persistence/sql_store.hpp"

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

class postgres_store final : public sql_store {
public:
  /// Connects, migrates (under an advisory lock: daemons starting together
  /// do not race) and checks the key against the tokens already stored.
  static caf::expected<std::unique_ptr<store>>
  open(const postgres_options& opts);

  ~postgres_store() override;

  /// Refused (ec::invalid_argument): backups of a PostgreSQL store are taken
  /// with pg_dump.
  caf::error backup(const std::string& target) override;

  /// READ COMMITTED, like any PostgreSQL transaction: no lock on the
  /// database (SQLite's BEGIN IMMEDIATE takes its write lock).
  caf::error begin() override;
  /// Whether the server takes writes now: not a standby in recovery, not
  /// read-only. There is no database-wide write lock to wait for.
  caf::error probe_write() override;
  caf::error commit() override;
  void rollback() override;
  /// A transaction-level advisory lock (its key spells "sbselect"): only
  /// balance-checked switch commits take it, so the other writes of the
  /// nodes never wait for it.
  caf::error lock_selection() override;

  // -- nodes (postgres_nodes.cpp)

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

  sql_connection& sql() override;
  std::optional<switch_commit> check_balance(const switch_record&) override;

  std::unique_ptr<impl> impl_;
};

} // namespace sb
