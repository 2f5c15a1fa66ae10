#pragma once

// The SQLite store's private state and its connection (the dialect of
// sql.hpp), shared by store.cpp, store_files.cpp and schema.cpp. Not for
// users of the store.

#include "persistence/sqlite_store.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sb {

/// SQLite's dialect over one database. prepare() prepares every statement
/// once the schema is current (a typo in SQL fails at open, not at the
/// first report); each use resets its statement afterwards, so none keeps a
/// read snapshot open between uses (it would pin the WAL). An insert's
/// trailing "RETURNING id" runs as the plain insert and answers
/// last_insert_rowid(): SQLite's RETURNING costs about 2.5 us more per row
/// (bench/RESULTS.md, R3 2/7).
class sqlite_connection final : public sql_connection {
public:
  explicit sqlite_connection(SQLite::Database& db) : db_(db) {}

  void prepare();

  dialect kind() const override { return dialect::sqlite; }
  int64_t run(sq id, sql_params args, const on_row& f) override;
  int64_t run(const std::string& text, sql_params args,
              const on_row& f) override;
  void exec(const std::string& script) override { db_.exec(script); }
  bool has_table(const char* name) override { return db_.tableExists(name); }

private:
  using statement = std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)>;

  /// A statement and whether it stands for "... RETURNING id".
  struct compiled {
    statement st{nullptr, nullptr};
    bool returns_id = false;
  };

  compiled compile(const char* text);
  int64_t step(const compiled& c, sql_params args, const on_row& f);

  SQLite::Database& db_;
  std::vector<compiled> prepared_;
};

struct sqlite_store::impl {
  SQLite::Database db;
  int busy_timeout_ms;
  sqlite_connection conn{db};

  impl(const std::string& path, int flags, int busy)
      : db(path, flags, busy), busy_timeout_ms(busy) {
    // nop
  }
};

} // namespace sb
