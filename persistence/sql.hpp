#pragma once

// The seam between the store's rules (sql_store.hpp, written once) and the
// two SQL dialects: an sql_connection runs the statements of sql_text.cpp
// (prepared once, by id) and one-off texts, binds $1, $2, ... and hands each
// row to a callback. SQLite's is in store.cpp, PostgreSQL's in
// postgres_connect.cpp. No SQLite or libpqxx header here: it stays cheap.

#include "messages/time.hpp"
#include "persistence/token_cipher.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/optional.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

/// Every prepared statement; sql_text.cpp holds their text in this order.
// clang-format off
enum class sq : uint8_t {
  savepoint, release, rollback_to,
  subscription_by_name, update_token, refresh_token_only, insert_subscription,
  provider_of_pool,
  save_standing, set_max_agents,
  agents_of_subscription, unassign_agents, delete_subscription,
  list_subscriptions, owner_of_token, insert_token_version,
  delete_token_versions, list_token_versions,
  agent_exists, insert_agent, delete_agent, list_agents, agent_by_name,
  set_auto_switch, subscription_name_by_id, switch_agent, seats_of_others,
  insert_history, insert_switch_notification, record_apply_on_agent,
  record_apply_on_history, subscription_of_generation, count_agents,
  insert_event, list_events, newest_failures, future_resets, count_failures,
  delete_old_events, save_evidence, list_evidence, list_history,
  insert_notification, list_notifications, pending_notifications,
  count_pending_notifications, mark_delivered, list_settings, put_setting,
  put_credential, delete_credential, list_credentials, claim_credential,
  credential_by_name, finish_refresh, release_credential,
  put_sink, delete_sink, sink_id, list_sinks, due_deliveries,
  take_delivery, record_delivery, delete_deliveries, failed_deliveries,
  sink_counts, sink_last_attempt,
  count // not a statement
};
// clang-format on

enum class dialect : uint8_t { sqlite, postgres };

/// The text of statement `id` in dialect `d` (nullptr: the dialect has no
/// such statement), and whether it can be prepared (SAVEPOINT cannot in
/// PostgreSQL).
const char* sql_text(sq id, dialect d);
bool sql_preparable(sq id, dialect d);

/// A parameter: NULL, an integer, a real or text. Text is viewed, not
/// copied: it lives until the statement ran (the full expression).
struct sql_value {
  enum kind_t : uint8_t { null, integer, real, text } kind = null;
  int64_t i = 0;
  double d = 0;
  std::string_view s;

  sql_value(std::nullptr_t = nullptr) {}
  sql_value(int64_t x) : kind(integer), i(x) {}
  sql_value(int x) : kind(integer), i(x) {}
  sql_value(double x) : kind(real), d(x) {}

  sql_value(const std::string& x) : kind(text), s(x) {}
  sql_value(const char* x) : kind(text), s(x) {}
  template<class T>
  sql_value(const std::optional<T>& x) : sql_value() {
    if (x)
      *this = sql_value{*x};
  }
  sql_value(const caf::optional<double>& x) : sql_value() {
    if (x)
      *this = sql_value{*x};
  }
};

using sql_params = std::initializer_list<sql_value>;

/// The text, or NULL for "" (`s` must outlive the statement).
inline sql_value text_or_null(const std::string& s) {
  return s.empty() ? sql_value{} : sql_value{s};
}

/// The id, or NULL for 0.
inline sql_value id_or_null(int64_t id) {
  return id == 0 ? sql_value{} : sql_value{id};
}

/// ISO text, or NULL for 0. (Not named iso_or_null: messages/json.hpp has
/// sb::iso_or_null(millis) returning JSON, and two functions of one
/// signature in one namespace are one symbol to the linker: a Debug build
/// called the JSON one here.)
inline std::optional<std::string> iso_text_or_null(millis t) {
  return t == 0 ? std::nullopt : std::optional{format_iso(t)};
}

/// One row of a result; NULL reads as 0 or "".
class sql_row {
public:
  virtual bool null(int col) const = 0;
  virtual int64_t integer(int col) const = 0;
  virtual double real(int col) const = 0;
  virtual std::string text(int col) const = 0;

  /// ISO text as millis; 0 for NULL or anything else.
  millis time(int col) const;
  caf::optional<std::string> optional_text(int col) const;
  caf::optional<double> optional_real(int col) const;

protected:
  ~sql_row() = default;
};

using on_row = std::function<void(const sql_row&)>;

class sql_connection {
public:
  virtual ~sql_connection() = default;
  virtual dialect kind() const = 0;

  /// Runs prepared statement `id` with `args` as $1, $2, ... (a text may
  /// leave the last ones unused); each row goes to `f`. Returns how many
  /// rows it returned or, if it returns none, changed. Throws on failure.
  virtual int64_t run(sq id, sql_params args = {}, const on_row& f = {}) = 0;

  /// The same for a one-off text.
  virtual int64_t run(const std::string& text, sql_params args = {},
                      const on_row& f = {})
    = 0;

  /// Runs a script of statements without parameters.
  virtual void exec(const std::string& script) = 0;

  virtual bool has_table(const char* name) = 0;

  /// Before each operation: an error if it cannot run (PostgreSQL connects
  /// again after a connection broke).
  virtual caf::error ready(const char*) { return caf::none; }

  /// The error for exception `e` of operation `what`.
  virtual caf::error failure(const char* what, const std::exception& e);
};

// -- what both dialects do the same way (schema.cpp, sql_store.cpp)

/// Creates the version table and applies every missing migration up to
/// `target` (0 = the latest), each followed by `step(version)`; with
/// `each_in_transaction`, each in a transaction of its own (SQLite), else
/// in the caller's (PostgreSQL: one for all, under an advisory lock).
caf::error migrate_schema(sql_connection& c,
                          const std::function<void(int64_t)>& step,
                          int64_t target, bool each_in_transaction);

/// The key of a database: read from its file, or created when the file is
/// missing and no token depends on it. `hint` says what to do when it is
/// missing but needed.
caf::expected<token_cipher> load_key(sql_connection& c,
                                     const std::string& display,
                                     const std::string& key_path,
                                     const char* hint);

/// Refuses a key that does not open the stored tokens; `hint` ends the
/// sentence.
caf::error check_key(sql_connection& c, const token_cipher& cipher,
                     const std::string& display, const std::string& key_path,
                     const char* hint);

} // namespace sb
