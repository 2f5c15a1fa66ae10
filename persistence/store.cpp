// The SQLite store: its dialect of sql.hpp (binding, stepping, reading
// columns) and its transactions: BEGIN IMMEDIATE takes the file's write
// lock, a commit hook vetoes commits in tests.

#include "messages/error.hpp"
#include "persistence/store_impl.hpp"

#include <sqlite3.h>

#include <algorithm>

namespace sb {

namespace {

class sqlite_row final : public sql_row {
public:
  explicit sqlite_row(sqlite3_stmt* st) : st_(st) {}

  bool null(int col) const override {
    return sqlite3_column_type(st_, col) == SQLITE_NULL;
  }

  int64_t integer(int col) const override {
    return sqlite3_column_int64(st_, col);
  }

  double real(int col) const override {
    return sqlite3_column_double(st_, col);
  }

  std::string text(int col) const override {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    if (p == nullptr)
      return {};
    return {p, static_cast<size_t>(sqlite3_column_bytes(st_, col))};
  }

private:
  sqlite3_stmt* st_;
};

/// The one row of an insert's "RETURNING id": the new row's id.
class id_row final : public sql_row {
public:
  explicit id_row(int64_t id) : id_(id) {}

  bool null(int) const override { return false; }
  int64_t integer(int) const override { return id_; }
  double real(int) const override { return static_cast<double>(id_); }
  std::string text(int) const override { return std::to_string(id_); }

private:
  int64_t id_;
};

/// SQLite reads $n as a parameter named "$n", numbered by first use; ?n is
/// parameter n.
std::string numbered(std::string text) {
  std::replace(text.begin(), text.end(), '$', '?');
  return text;
}

int bind(sqlite3_stmt* st, int index, const sql_value& v) {
  switch (v.kind) {
  case sql_value::integer:
    return sqlite3_bind_int64(st, index, v.i);
  case sql_value::real:
    return sqlite3_bind_double(st, index, v.d);
  case sql_value::text:
    // Viewed: the value outlives the statement's use (no copy).
    return sqlite3_bind_text(st, index, v.s.data(),
                             static_cast<int>(v.s.size()), SQLITE_STATIC);
  default:
    return sqlite3_bind_null(st, index);
  }
}

/// A veto turns the COMMIT into a rollback ("the transaction is killed").
int commit_hook(void* arg) {
  auto& veto = *static_cast<std::function<bool()>*>(arg);
  return veto && veto() ? 1 : 0;
}

} // namespace

// -- the dialect

sqlite_connection::compiled sqlite_connection::compile(const char* text) {
  compiled result;
  auto sql = numbered(text);
  constexpr std::string_view returning_id = " RETURNING id";
  auto n = returning_id.size();
  result.returns_id
    = sql.size() > n && sql.compare(sql.size() - n, n, returning_id) == 0;
  if (result.returns_id)
    sql.resize(sql.size() - n);
  sqlite3_stmt* st = nullptr;
  auto rc = sqlite3_prepare_v2(db_.getHandle(), sql.c_str(), -1, &st, nullptr);
  result.st = statement{st, sqlite3_finalize};
  if (rc != SQLITE_OK)
    throw SQLite::Exception(db_.getHandle(), rc);
  return result;
}

void sqlite_connection::prepare() {
  prepared_.clear();
  for (size_t i = 0; i < static_cast<size_t>(sq::count); ++i) {
    auto* text = sql_text(static_cast<sq>(i), dialect::sqlite);
    prepared_.push_back(text ? compile(text) : compiled{});
  }
}

int64_t sqlite_connection::run(sq id, sql_params args, const on_row& f) {
  auto& c = prepared_.at(static_cast<size_t>(id));
  if (!c.st)
    throw std::logic_error("SQLite has no such statement");
  return step(c, args, f);
}

int64_t sqlite_connection::run(const std::string& text, sql_params args,
                               const on_row& f) {
  return step(compile(text.c_str()), args, f);
}

int64_t sqlite_connection::step(const compiled& c, sql_params args,
                                const on_row& f) {
  auto* st = c.st.get();
  // Reset and unbound after every use, thrown or not: no statement keeps a
  // read snapshot open between uses.
  auto done = [](sqlite3_stmt* s) {
    sqlite3_reset(s);
    return sqlite3_clear_bindings(s);
  };
  statement guard{st, done};
  int index = 0;
  for (auto& v : args) {
    if (++index > sqlite3_bind_parameter_count(st))
      break; // a text may leave the last parameters unused
    if (auto rc = bind(st, index, v); rc != SQLITE_OK)
      throw SQLite::Exception(db_.getHandle(), rc);
  }
  int64_t rows = 0;
  sqlite_row row{st};
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    ++rows;
    if (f)
      f(row);
  }
  if (rc != SQLITE_DONE)
    throw SQLite::Exception(db_.getHandle(), rc);
  if (c.returns_id) {
    // No row when the insert did nothing (ON CONFLICT DO NOTHING).
    if (sqlite3_changes(db_.getHandle()) == 0)
      return 0;
    if (f)
      f(id_row{sqlite3_last_insert_rowid(db_.getHandle())});
    return 1;
  }
  return sqlite3_column_count(st) > 0 ? rows : sqlite3_changes(db_.getHandle());
}

// -- the store

sqlite_store::sqlite_store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  sqlite3_commit_hook(impl_->db.getHandle(), commit_hook, &veto_);
}

sqlite_store::~sqlite_store() = default;

sql_connection& sqlite_store::sql() {
  return impl_->conn;
}

caf::error sqlite_store::begin() {
  return guard("BEGIN", [&]() -> caf::error {
    impl_->db.exec("BEGIN IMMEDIATE");
    return caf::none;
  });
}

caf::error sqlite_store::probe_write() {
  // A probe answers now: an outside writer holding the lock for longer
  // than a moment is what it reports, not something to wait out.
  constexpr int probe_wait_ms = 250;
  auto* handle = impl_->db.getHandle();
  sqlite3_busy_timeout(handle, std::min(probe_wait_ms, impl_->busy_timeout_ms));
  auto err = begin();
  rollback();
  sqlite3_busy_timeout(handle, impl_->busy_timeout_ms);
  return err;
}

caf::error sqlite_store::commit() {
  return guard("COMMIT", [&]() -> caf::error {
    impl_->db.exec("COMMIT");
    return caf::none;
  });
}

void sqlite_store::rollback() {
  // After a vetoed or failed COMMIT, SQLite may have rolled back already.
  if (sqlite3_get_autocommit(impl_->db.getHandle()) == 0)
    sqlite3_exec(impl_->db.getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

} // namespace sb
