#pragma once

// The PostgreSQL store's private state, shared by postgres_store.cpp (the
// operations), postgres_connect.cpp (the connection, the key, transactions),
// postgres_schema.cpp (migrations) and postgres_statements.cpp (the SQL). Not
// for users of the store.

#include "messages/error.hpp"
#include "persistence/postgres_store.hpp"
#include "persistence/token_cipher.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

namespace sb {

// -- where to connect
// --------------------------------------------------------------

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

// -- schema and statements
// ---------------------------------------------------------

/// The schema version this binary writes: the same numbering as SQLite's
/// (schema.hpp), so a version means the same tables in both backends.
int64_t postgres_latest_schema_version();

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

/// Applies every missing migration in one transaction that holds the
/// migration advisory lock (daemons starting together wait for each other);
/// refuses a database newer than this binary. Outside a transaction only.
caf::error postgres_migrate(pqxx::transaction_base& session);

/// One SQL statement of the store, prepared by name on every connection.
struct pg_statement {
  const char* name;
  const char* sql;
};

/// Prepares every statement on `conn` now: a typo fails at open, not at the
/// first report.
void prepare_statements(pqxx::connection_base& conn);

namespace pg {

// -- subscriptions
extern const pg_statement subscription_by_name;
extern const pg_statement update_token;
extern const pg_statement insert_subscription;
extern const pg_statement agents_of_subscription;
extern const pg_statement unassign_agents;
extern const pg_statement delete_subscription;
extern const pg_statement list_subscriptions;
extern const pg_statement owner_of_token;
extern const pg_statement insert_token_version;
extern const pg_statement delete_token_versions;
extern const pg_statement list_token_versions;
// -- agents
extern const pg_statement agent_exists;
extern const pg_statement insert_agent;
extern const pg_statement delete_agent;
extern const pg_statement list_agents;
extern const pg_statement agent_by_name;
extern const pg_statement set_auto_switch;
extern const pg_statement subscription_name_by_id;
extern const pg_statement switch_agent;
extern const pg_statement insert_history;
extern const pg_statement insert_switch_notification;
extern const pg_statement record_apply_on_agent;
extern const pg_statement record_apply_on_history;
extern const pg_statement subscription_of_generation;
extern const pg_statement seats_of_others;
extern const pg_statement count_agents;
// -- failure events
extern const pg_statement insert_event;
extern const pg_statement list_events;
extern const pg_statement newest_failures;
extern const pg_statement future_resets;
extern const pg_statement count_failures;
extern const pg_statement delete_old_events;
// -- provider evidence
extern const pg_statement save_evidence;
extern const pg_statement list_evidence;
// -- history, notifications, settings
extern const pg_statement list_history;
extern const pg_statement insert_notification;
extern const pg_statement list_notifications;
extern const pg_statement pending_notifications;
extern const pg_statement count_pending_notifications;
extern const pg_statement mark_delivered;
extern const pg_statement list_settings;
extern const pg_statement put_setting;

} // namespace pg

// -- the store's state
// -------------------------------------------------------------

struct postgres_store::impl {
  postgres_target target;
  std::string key_file;
  /// The node this connection acts for ("" = none: no fence but the
  /// generation) and its lease epoch (store::set_node).
  std::string node;
  int64_t epoch = 0;
  /// Seals and opens the tokens column (open() reads the key file).
  token_cipher cipher = token_cipher::random_key();
  /// None after a failure that broke it: the next call connects again.
  std::unique_ptr<pqxx::connection> conn;
  /// Every statement goes through this one "transaction" object, which
  /// sends it as it is: BEGIN, SAVEPOINT and COMMIT are statements too.
  std::unique_ptr<pqxx::nontransaction> session;
  /// Between begin() and commit() or rollback().
  bool in_tx = false;
  /// This transaction wrote what other nodes' pools read (subscriptions,
  /// agents, assignments, failures, evidence): commit() notifies them.
  bool pool_changed = false;
  /// The connection broke inside a transaction: the server rolled it back,
  /// so every call fails until rollback() says the caller knows.
  bool tx_lost = false;
  std::function<bool()> veto;

  /// Opens the connection and prepares the statements.
  caf::error connect();

  /// At open, on the connection just made: the key (read or created, and
  /// checked against the stored tokens), migrations, statements.
  caf::error set_up();

  /// Closes the connection (after it broke).
  void disconnect() noexcept;

  /// Connects if needed; an error if the transaction was lost.
  caf::error ready(const char* what);

  /// The error for exception `e` of `what`, one line, no password in it;
  /// drops a connection that broke.
  caf::error failure(const char* what, const std::exception& e);

  template<class F>
  auto guard(const char* what, F&& f) -> decltype(f()) {
    if (auto err = ready(what))
      return err;
    try {
      return f();
    } catch (const std::exception& e) {
      return failure(what, e);
    }
  }

  /// Runs prepared statement `st` with `args` ($1, $2, ...).
  template<class... Args>
  pqxx::result run(const pg_statement& st, Args&&... args) {
    return session->exec_prepared(st.name, std::forward<Args>(args)...);
  }

  /// Runs `sql` as it is (transaction control, one-off statements).
  pqxx::result exec(const std::string& sql) { return session->exec(sql); }

  caf::expected<stored_agent> read_agent(const std::string& name);

  /// Several nodes: none if `rec.to_id` has no more agents than any other
  /// candidate of rec.balance, counting the other nodes' agents as the
  /// database has them; else the stale answer with those agents
  /// (postgres_nodes.cpp).
  std::optional<switch_commit> check_balance(const switch_record& rec);
};

/// The channel on which a commit that changed the shared pool notifies the
/// other nodes; the payload is the writer's node name.
constexpr const char* pool_channel = "switchboard_pool";

} // namespace sb
