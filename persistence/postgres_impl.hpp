#pragma once

// The PostgreSQL store's private state and its connection (the dialect of
// sql.hpp), shared by postgres_connect.cpp (where to connect, the dialect,
// opening, transactions), postgres_nodes.cpp and postgres_listener.cpp. Not
// for users of the store.

#include "persistence/postgres_store.hpp"
#include "persistence/schema.hpp"

#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace sb {

/// What postgres_options resolve to.
struct postgres_target {
  /// key='value' pairs: the URL's parameters, the password read from its
  /// file, and the defaults of application_name and connect_timeout. It
  /// holds the password: never logged, never in an error.
  std::string conninfo;
  /// The URL without any password, for logs and errors (path()).
  std::string display;
  /// Every password seen (the file's, one in the URL): scrubbed from any
  /// text that leaves the store.
  std::vector<std::string> secrets;
};

caf::expected<postgres_target> resolve_target(const postgres_options& opts);

/// `text` on one line (server messages come on several), every secret in it
/// replaced by "***".
std::string scrub(std::string text, const std::vector<std::string>& secrets);

/// The schema version this binary writes: one list for both dialects.
inline int64_t postgres_latest_schema_version() {
  return latest_schema_version();
}

/// Whether a transaction's body succeeded (COMMIT) or not (ROLLBACK).
inline bool succeeded(const caf::error& err) {
  return !err;
}

template<class T>
bool succeeded(const caf::expected<T>& x) {
  return static_cast<bool>(x);
}

/// Runs `f` (returning caf::error or caf::expected) in a transaction of its
/// own on `session`, outside the group commit: COMMIT if it succeeded, else
/// ROLLBACK; an exception rolls back (if the connection still can) and
/// passes on.
template<class F>
auto in_transaction(pqxx::transaction_base& session, F&& f) -> decltype(f()) {
  session.exec("BEGIN");
  try {
    auto result = f();
    session.exec(succeeded(result) ? "COMMIT" : "ROLLBACK");
    return result;
  } catch (...) {
    try {
      session.exec("ROLLBACK");
    } catch (...) {
      // A broken connection: the server rolled back already.
    }
    throw;
  }
}

/// PostgreSQL's dialect: one connection, every statement prepared on it; a
/// connection that breaks fails the call that saw it and is opened again
/// by the next one.
class pg_connection final : public sql_connection {
public:
  postgres_target target;
  /// None after a failure that broke it.
  std::unique_ptr<pqxx::connection> conn;
  /// Every statement goes through this one "transaction" object, which
  /// sends it as it is: BEGIN, SAVEPOINT and COMMIT are statements too.
  std::unique_ptr<pqxx::nontransaction> session;
  /// Between begin() and commit() or rollback().
  bool in_tx = false;
  /// The connection broke inside a transaction: the server rolled it back,
  /// so every call fails until rollback() says the caller knows.
  bool tx_lost = false;

  dialect kind() const override { return dialect::postgres; }
  int64_t run(sq id, sql_params args, const on_row& f) override;
  int64_t run(const std::string& text, sql_params args,
              const on_row& f) override;
  void exec(const std::string& script) override { live().exec(script); }
  bool has_table(const char* name) override;
  caf::error ready(const char* what) override;
  caf::error failure(const char* what, const std::exception& e) override;

  /// The session; throws when there is no connection.
  pqxx::nontransaction& live();

  /// Opens the connection; with `prepare`, prepares the statements.
  caf::error connect(bool prepare = true);

  void prepare();

  /// Closes the connection (after it broke).
  void disconnect() noexcept;
};

struct postgres_store::impl {
  pg_connection conn;
};

/// The channel on which a commit that changed the shared pool notifies the
/// other nodes; the payload is the writer's node name.
constexpr const char* pool_channel = "switchboard_pool";

} // namespace sb
