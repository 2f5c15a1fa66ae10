#include "persistence/store.hpp"

#include "messages/error.hpp"
#include "persistence/schema.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>

namespace sb {

namespace {

constexpr uint32_t max_query_limit = 10000;

/// Binds ISO text, or NULL for 0.
void bind_time(SQLite::Statement& st, int index, millis t) {
  if (t == 0)
    st.bind(index);
  else
    st.bind(index, format_iso(t));
}

millis column_time(const SQLite::Column& c) {
  if (c.isNull())
    return 0;
  return parse_iso(c.getString()).value_or(0);
}

std::string column_text(const SQLite::Column& c) {
  return c.isNull() ? std::string{} : c.getString();
}

caf::optional<std::string> column_optional(const SQLite::Column& c) {
  if (c.isNull())
    return caf::none;
  return c.getString();
}

void bind_optional(SQLite::Statement& st, int index, const std::string& s) {
  if (s.empty())
    st.bind(index);
  else
    st.bind(index, s);
}

/// Creates the file with mode 0600 before SQLite touches it, and tightens an
/// existing file that is readable by others. SQLite gives the -wal and -shm
/// files the mode of the main file.
caf::error prepare_file(const std::string& path) {
  if (path == ":memory:" || path.empty())
    return caf::none;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(ec::store_failure, "cannot open database file '" + path
                                           + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
    ::fchmod(fd, 0600);
  ::close(fd);
  return caf::none;
}

int commit_hook_trampoline(void* arg) {
  auto* veto = static_cast<std::function<bool()>*>(arg);
  return (*veto)() ? 1 : 0;
}

} // namespace

struct store::impl {
  std::string path;
  SQLite::Database db;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache;
  std::function<bool()> veto;

  impl(const std::string& p, int flags, int busy)
      : path(p), db(p, flags, busy) {
    // nop
  }

  /// A prepared statement, created once per SQL text and reset before reuse.
  SQLite::Statement& stmt(const char* sql) {
    auto& ptr = cache[sql];
    if (!ptr)
      ptr = std::make_unique<SQLite::Statement>(db, sql);
    else {
      ptr->reset();
      ptr->clearBindings();
    }
    return *ptr;
  }

  template<class F>
  auto guard(const char* what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) { // SQLite::Exception included
      return make_error(ec::store_failure,
                        std::string{what} + " failed: " + e.what());
    }
  }

  caf::expected<stored_agent> read_agent(const std::string& name);
};

namespace {

const char* agent_select_sql
  = "SELECT a.id, a.name, a.subscription_id, s.name, a.container, "
    "a.generation, a.applied_generation, a.auto_switch, a.last_apply, "
    "a.last_apply_at, a.last_switch_at, a.created_at FROM agents a "
    "LEFT JOIN subscriptions s ON s.id = a.subscription_id";

const std::string agent_by_name_sql
  = std::string{agent_select_sql} + " WHERE a.name = ?";

stored_agent read_agent_row(SQLite::Statement& st) {
  stored_agent a;
  a.id = st.getColumn(0).getInt64();
  a.name = st.getColumn(1).getString();
  a.subscription_id = st.getColumn(2).isNull() ? 0 : st.getColumn(2).getInt64();
  a.subscription = column_text(st.getColumn(3));
  a.container = column_text(st.getColumn(4));
  a.generation = static_cast<uint64_t>(st.getColumn(5).getInt64());
  a.applied_generation = static_cast<uint64_t>(st.getColumn(6).getInt64());
  a.auto_switch = st.getColumn(7).getString();
  a.last_apply = column_text(st.getColumn(8));
  a.last_apply_at = column_time(st.getColumn(9));
  a.last_switch_at = column_time(st.getColumn(10));
  a.created_at = column_time(st.getColumn(11));
  return a;
}

stored_subscription read_subscription_row(SQLite::Statement& st) {
  stored_subscription s;
  s.id = st.getColumn(0).getInt64();
  s.name = st.getColumn(1).getString();
  s.token.value = st.getColumn(2).getString();
  s.created_at = column_time(st.getColumn(3));
  s.updated_at = column_time(st.getColumn(4));
  return s;
}

event_info read_event_row(SQLite::Statement& st) {
  event_info ev;
  ev.id = st.getColumn(0).getInt64();
  ev.agent = st.getColumn(1).getString();
  ev.subscription = st.getColumn(2).getString();
  ev.kind = st.getColumn(3).getString();
  ev.reason = st.getColumn(4).getString();
  ev.status = st.getColumn(5).getInt();
  ev.message = st.getColumn(6).getString();
  ev.source = st.getColumn(7).getString();
  ev.execution_id = st.getColumn(8).getString();
  ev.reset_at = column_time(st.getColumn(9));
  ev.at = column_time(st.getColumn(10));
  return ev;
}

history_info read_history_row(SQLite::Statement& st) {
  history_info h;
  h.id = st.getColumn(0).getInt64();
  h.agent = st.getColumn(1).getString();
  h.from = column_optional(st.getColumn(2));
  h.to = column_optional(st.getColumn(3));
  h.trigger = st.getColumn(4).getString();
  h.failure_kind = st.getColumn(5).getString();
  h.event_count = static_cast<uint32_t>(st.getColumn(6).getInt64());
  h.generation = static_cast<uint64_t>(st.getColumn(7).getInt64());
  h.apply = st.getColumn(8).getString();
  h.at = column_time(st.getColumn(9));
  return h;
}

const std::string notification_select_sql
  = "SELECT id, agent, kind, title, message, priority, status, created_at "
    "FROM notifications ";

const std::string notifications_of_agent_sql
  = notification_select_sql
    + "WHERE (?1 = '' OR agent = ?1) ORDER BY id DESC LIMIT ?2";

const std::string pending_notifications_sql
  = notification_select_sql + "WHERE status = 'pending' ORDER BY id LIMIT ?";

notification_info read_notification_row(SQLite::Statement& st) {
  notification_info n;
  n.id = st.getColumn(0).getInt64();
  n.agent = st.getColumn(1).getString();
  n.kind = st.getColumn(2).getString();
  n.title = st.getColumn(3).getString();
  n.message = st.getColumn(4).getString();
  n.priority = st.getColumn(5).getString();
  n.status = st.getColumn(6).getString();
  n.created_at = column_time(st.getColumn(7));
  return n;
}

/// Steps through `st` and turns every row into a record with `read_row`.
template<class Row>
auto collect(SQLite::Statement& st, Row read_row) {
  std::vector<decltype(read_row(st))> result;
  while (st.executeStep())
    result.emplace_back(read_row(st));
  return result;
}

} // namespace

caf::expected<stored_agent> store::impl::read_agent(const std::string& name) {
  auto& st = stmt(agent_by_name_sql.c_str());
  st.bind(1, name);
  if (!st.executeStep())
    return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
  return read_agent_row(st);
}

// -- construction
// ---------------------------------------------------------------

store::store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

store::~store() {
  if (impl_ && impl_->veto)
    sqlite3_commit_hook(impl_->db.getHandle(), nullptr, nullptr);
}

caf::expected<std::unique_ptr<store>> store::open(const std::string& path,
                                                  const store_options& opts) {
  if (auto err = prepare_file(path))
    return err;
  if (opts.synchronous != "FULL" && opts.synchronous != "NORMAL")
    return make_error(ec::invalid_argument,
                      "synchronous must be FULL or NORMAL, got '"
                        + opts.synchronous + "'");
  try {
    auto flags
      = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX;
    auto ptr = std::make_unique<impl>(path, flags, opts.busy_timeout_ms);
    auto& db = ptr->db;
    if (path != ":memory:") {
      auto mode = db.execAndGet("PRAGMA journal_mode=WAL").getString();
      if (mode != "wal")
        return make_error(ec::store_failure,
                          "cannot switch '" + path + "' to WAL mode");
    }
    db.exec("PRAGMA synchronous=" + opts.synchronous);
    db.exec("PRAGMA foreign_keys=ON");
    // Statement journals in memory, not in temporary files created and
    // unlinked per statement; a 16 MiB page cache.
    db.exec("PRAGMA temp_store=MEMORY");
    db.exec("PRAGMA cache_size=-16384");
    if (auto err = migrate(db))
      return err;
    return std::unique_ptr<store>{new store(std::move(ptr))};
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      "cannot open database '" + path + "': " + e.what());
  }
}

const std::string& store::path() const {
  return impl_->path;
}

// -- transactions
// -----------------------------------------------------------------

caf::error store::begin() {
  return impl_->guard("BEGIN", [&]() -> caf::error {
    impl_->db.exec("BEGIN IMMEDIATE");
    return caf::none;
  });
}

caf::error store::commit() {
  return impl_->guard("COMMIT", [&]() -> caf::error {
    impl_->db.exec("COMMIT");
    return caf::none;
  });
}

void store::rollback() {
  // After a vetoed or failed COMMIT, SQLite may have rolled back already.
  if (sqlite3_get_autocommit(impl_->db.getHandle()) == 0)
    sqlite3_exec(impl_->db.getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

caf::error store::savepoint() {
  // Prepared once: these run for every write of a batch.
  return impl_->guard("SAVEPOINT", [&]() -> caf::error {
    impl_->stmt("SAVEPOINT w").exec();
    return caf::none;
  });
}

caf::error store::release() {
  return impl_->guard("RELEASE", [&]() -> caf::error {
    impl_->stmt("RELEASE w").exec();
    return caf::none;
  });
}

void store::rollback_to() {
  try {
    impl_->stmt("ROLLBACK TO w").exec();
    impl_->stmt("RELEASE w").exec();
  } catch (const std::exception&) {
    // The enclosing COMMIT reports what went wrong.
  }
}

void store::set_commit_veto(std::function<bool()> veto) {
  impl_->veto = std::move(veto);
  if (impl_->veto)
    sqlite3_commit_hook(impl_->db.getHandle(), commit_hook_trampoline,
                        &impl_->veto);
  else
    sqlite3_commit_hook(impl_->db.getHandle(), nullptr, nullptr);
}

// -- subscriptions
// ----------------------------------------------------------------

caf::expected<subscription_upsert>
store::put_subscription(const std::string& name, const std::string& token,
                        millis now) {
  return impl_->guard(
    "put subscription", [&]() -> caf::expected<subscription_upsert> {
      subscription_upsert result;
      auto& find = impl_->stmt(
        "SELECT id, created_at FROM subscriptions WHERE name = ?");
      find.bind(1, name);
      if (find.executeStep()) {
        result.rotated = true;
        result.row.id = find.getColumn(0).getInt64();
        result.row.created_at = column_time(find.getColumn(1));
        find.reset();
        auto& upd = impl_->stmt("UPDATE subscriptions SET token = ?, "
                                "updated_at = ? WHERE id = ?");
        upd.bind(1, token);
        upd.bind(2, format_iso(now));
        upd.bind(3, static_cast<int64_t>(result.row.id));
        upd.exec();
      } else {
        find.reset();
        auto& ins = impl_->stmt("INSERT INTO subscriptions(name, token, "
                                "created_at, updated_at) VALUES (?, ?, ?, ?)");
        ins.bind(1, name);
        ins.bind(2, token);
        ins.bind(3, format_iso(now));
        ins.bind(4, format_iso(now));
        ins.exec();
        result.row.id = impl_->db.getLastInsertRowid();
        result.row.created_at = now;
      }
      result.row.name = name;
      result.row.token.value = token;
      result.row.updated_at = now;
      return result;
    });
}

caf::expected<std::vector<std::string>>
store::remove_subscription(const std::string& name) {
  return impl_->guard(
    "remove subscription", [&]() -> caf::expected<std::vector<std::string>> {
      auto& find = impl_->stmt("SELECT id FROM subscriptions WHERE name = ?");
      find.bind(1, name);
      if (!find.executeStep())
        return make_error(ec::unknown_subscription,
                          "unknown subscription '" + name + "'");
      auto id = find.getColumn(0).getInt64();
      find.reset();
      std::vector<std::string> agents;
      auto& list = impl_->stmt(
        "SELECT name FROM agents WHERE subscription_id = ? ORDER BY name");
      list.bind(1, static_cast<int64_t>(id));
      while (list.executeStep())
        agents.emplace_back(list.getColumn(0).getString());
      list.reset();
      auto& unassign = impl_->stmt("UPDATE agents SET subscription_id = NULL "
                                   "WHERE subscription_id = ?");
      unassign.bind(1, static_cast<int64_t>(id));
      unassign.exec();
      auto& del = impl_->stmt("DELETE FROM subscriptions WHERE id = ?");
      del.bind(1, static_cast<int64_t>(id));
      del.exec();
      return agents;
    });
}

caf::expected<std::vector<stored_subscription>> store::subscriptions() {
  return impl_->guard("list subscriptions",
                      [&]() -> caf::expected<std::vector<stored_subscription>> {
                        auto& st = impl_->stmt(
                          "SELECT id, name, token, created_at, updated_at "
                          "FROM subscriptions ORDER BY name");
                        return collect(st, read_subscription_row);
                      });
}

// -- agents
// -------------------------------------------------------------------------

caf::expected<stored_agent> store::add_agent(const agent_spec& spec,
                                             millis now) {
  return impl_->guard("add agent", [&]() -> caf::expected<stored_agent> {
    auto& dup = impl_->stmt("SELECT 1 FROM agents WHERE name = ?");
    dup.bind(1, spec.name);
    if (dup.executeStep())
      return make_error(ec::duplicate_agent,
                        "agent '" + spec.name + "' exists already");
    dup.reset();
    int64_t sub_id = 0;
    if (!spec.subscription.empty()) {
      auto& find = impl_->stmt("SELECT id FROM subscriptions WHERE name = ?");
      find.bind(1, spec.subscription);
      if (!find.executeStep())
        return make_error(ec::unknown_subscription,
                          "unknown subscription '" + spec.subscription + "'");
      sub_id = find.getColumn(0).getInt64();
      find.reset();
    }
    auto& ins = impl_->stmt(
      "INSERT INTO agents(name, subscription_id, container, created_at, "
      "updated_at) VALUES (?, ?, ?, ?, ?)");
    ins.bind(1, spec.name);
    if (sub_id == 0)
      ins.bind(2);
    else
      ins.bind(2, static_cast<int64_t>(sub_id));
    bind_optional(ins, 3, spec.container);
    ins.bind(4, format_iso(now));
    ins.bind(5, format_iso(now));
    ins.exec();
    return impl_->read_agent(spec.name);
  });
}

caf::error store::remove_agent(const std::string& name) {
  return impl_->guard("remove agent", [&]() -> caf::error {
    auto& del = impl_->stmt("DELETE FROM agents WHERE name = ?");
    del.bind(1, name);
    if (del.exec() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    return caf::none;
  });
}

caf::expected<std::vector<stored_agent>> store::agents() {
  return impl_->guard(
    "list agents", [&]() -> caf::expected<std::vector<stored_agent>> {
      return collect(impl_->stmt(agent_select_sql), read_agent_row);
    });
}

caf::expected<stored_agent> store::agent(const std::string& name) {
  return impl_->guard("read agent", [&]() -> caf::expected<stored_agent> {
    return impl_->read_agent(name);
  });
}

caf::error store::set_agent_auto_switch(const std::string& name,
                                        const std::string& value, millis now) {
  return impl_->guard("set agent auto-switch", [&]() -> caf::error {
    if (value != "on" && value != "off")
      return make_error(ec::invalid_argument,
                        "auto-switch must be on or off, got '" + value + "'");
    auto& st = impl_->stmt(
      "UPDATE agents SET auto_switch = ?, updated_at = ? WHERE name = ?");
    st.bind(1, value);
    st.bind(2, format_iso(now));
    st.bind(3, name);
    if (st.exec() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    return caf::none;
  });
}

caf::expected<switch_commit> store::commit_switch(const switch_record& rec) {
  return impl_->guard("commit switch", [&]() -> caf::expected<switch_commit> {
    switch_commit result;
    auto& upd = impl_->stmt(
      "UPDATE agents SET subscription_id = ?, generation = generation + 1, "
      "last_switch_at = ?, updated_at = ? WHERE name = ? AND generation = ?");
    if (rec.to_id == 0)
      upd.bind(1);
    else
      upd.bind(1, static_cast<int64_t>(rec.to_id));
    upd.bind(2, format_iso(rec.at));
    upd.bind(3, format_iso(rec.at));
    upd.bind(4, rec.agent);
    upd.bind(5, static_cast<int64_t>(rec.expected_generation));
    if (upd.exec() == 0) {
      auto cur = impl_->read_agent(rec.agent);
      if (!cur)
        return cur.error();
      return make_error(ec::conflict,
                        "agent '" + rec.agent + "' is at generation "
                          + std::to_string(cur->generation) + ", expected "
                          + std::to_string(rec.expected_generation));
    }
    result.generation = rec.expected_generation + 1;
    auto& hist = impl_->stmt(
      "INSERT INTO switch_history(agent, from_subscription, to_subscription, "
      "trigger, failure_kind, event_count, generation, at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    hist.bind(1, rec.agent);
    bind_optional(hist, 2, rec.from_name);
    bind_optional(hist, 3, rec.to_name);
    hist.bind(4, rec.trigger);
    hist.bind(5, rec.failure_kind);
    hist.bind(6, static_cast<int64_t>(rec.event_count));
    hist.bind(7, static_cast<int64_t>(result.generation));
    hist.bind(8, format_iso(rec.at));
    hist.exec();
    result.history_id = impl_->db.getLastInsertRowid();
    if (rec.notify) {
      auto& note = impl_->stmt(
        "INSERT INTO notifications(agent, kind, generation, title, message, "
        "priority, created_at) VALUES (?, 'switch', ?, ?, ?, 'high', ?)");
      note.bind(1, rec.agent);
      note.bind(2, static_cast<int64_t>(result.generation));
      note.bind(3, rec.title);
      note.bind(4, rec.message);
      note.bind(5, format_iso(rec.at));
      note.exec();
      result.notification_id = impl_->db.getLastInsertRowid();
    }
    return result;
  });
}

caf::error store::record_apply(const apply_record& rec) {
  return impl_->guard("record apply", [&]() -> caf::error {
    auto& upd = impl_->stmt(
      "UPDATE agents SET last_apply = ?, last_apply_at = ?, "
      "applied_generation = CASE WHEN ? AND applied_generation < ? THEN ? "
      "ELSE applied_generation END WHERE name = ?");
    upd.bind(1, rec.result);
    upd.bind(2, format_iso(rec.at));
    upd.bind(3, rec.applied ? 1 : 0);
    upd.bind(4, static_cast<int64_t>(rec.generation));
    upd.bind(5, static_cast<int64_t>(rec.generation));
    upd.bind(6, rec.agent);
    if (upd.exec() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + rec.agent + "'");
    auto& hist = impl_->stmt(
      "UPDATE switch_history SET apply_result = ?, applied_at = ? "
      "WHERE agent = ? AND generation = ?");
    hist.bind(1, rec.result);
    hist.bind(2, format_iso(rec.at));
    hist.bind(3, rec.agent);
    hist.bind(4, static_cast<int64_t>(rec.generation));
    hist.exec();
    return caf::none;
  });
}

// -- failure events
// -----------------------------------------------------------------

caf::expected<int64_t> store::add_event(const event_info& ev) {
  return impl_->guard("record failure event", [&]() -> caf::expected<int64_t> {
    auto& ins = impl_->stmt(
      "INSERT INTO failure_events(agent, subscription, kind, reason, status, "
      "message, source, execution_id, reset_at, occurred_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    // The event outlives the statement: bind its text without copies.
    ins.bindNoCopy(1, ev.agent);
    ins.bindNoCopy(2, ev.subscription);
    ins.bindNoCopy(3, ev.kind);
    ins.bindNoCopy(4, ev.reason);
    ins.bind(5, ev.status);
    ins.bindNoCopy(6, ev.message);
    ins.bindNoCopy(7, ev.source);
    ins.bindNoCopy(8, ev.execution_id);
    bind_time(ins, 9, ev.reset_at);
    ins.bind(10, format_iso(ev.at));
    ins.exec();
    return impl_->db.getLastInsertRowid();
  });
}

caf::expected<std::vector<event_info>> store::events(const query& q) {
  return impl_->guard(
    "list events", [&]() -> caf::expected<std::vector<event_info>> {
      auto& st = impl_->stmt(
        "SELECT id, agent, subscription, kind, reason, status, message, "
        "source, "
        "execution_id, reset_at, occurred_at FROM failure_events "
        "WHERE (?1 = '' OR agent = ?1) AND (?2 = '' OR subscription = ?2) "
        "ORDER BY id DESC LIMIT ?3");
      st.bind(1, q.agent);
      st.bind(2, q.subscription);
      st.bind(3, static_cast<int64_t>(std::min(q.limit, max_query_limit)));
      return collect(st, read_event_row);
    });
}

caf::expected<std::vector<exclusion_seed>> store::exclusion_seeds(millis since,
                                                                  millis now) {
  return impl_->guard(
    "read exclusions", [&]() -> caf::expected<std::vector<exclusion_seed>> {
      // Any switch-class failure excludes; a reset instant still in the future
      // excludes too, however old the event that carried it. Two queries, each
      // on its index.
      std::map<std::string, exclusion_seed> seeds;
      auto& recent = impl_->stmt(
        "SELECT subscription, MAX(occurred_at) FROM failure_events "
        "WHERE occurred_at > ? AND kind <> 'ignored' GROUP BY subscription");
      recent.bind(1, format_iso(since));
      while (recent.executeStep()) {
        auto& seed = seeds[recent.getColumn(0).getString()];
        seed.last_failure_at = column_time(recent.getColumn(1));
      }
      auto& resets = impl_->stmt(
        "SELECT subscription, MAX(reset_at) FROM failure_events "
        "WHERE reset_at > ? AND kind <> 'ignored' GROUP BY subscription");
      resets.bind(1, format_iso(now));
      while (resets.executeStep()) {
        auto& seed = seeds[resets.getColumn(0).getString()];
        seed.reset_at = column_time(resets.getColumn(1));
      }
      std::vector<exclusion_seed> result;
      result.reserve(seeds.size());
      for (auto& [name, seed] : seeds) {
        seed.subscription = name;
        result.push_back(std::move(seed));
      }
      return result;
    });
}

caf::expected<std::vector<failure_count>> store::failure_counts(millis since) {
  return impl_->guard(
    "count failures", [&]() -> caf::expected<std::vector<failure_count>> {
      auto& st
        = impl_->stmt("SELECT subscription, kind, COUNT(*) FROM failure_events "
                      "WHERE occurred_at > ? GROUP BY subscription, kind");
      st.bind(1, format_iso(since));
      std::vector<failure_count> result;
      while (st.executeStep()) {
        failure_count fc;
        fc.subscription = st.getColumn(0).getString();
        fc.kind = st.getColumn(1).getString();
        fc.count = static_cast<uint32_t>(st.getColumn(2).getInt64());
        result.emplace_back(std::move(fc));
      }
      return result;
    });
}

caf::expected<uint64_t> store::delete_events_before(millis cutoff,
                                                    uint32_t batch) {
  return impl_->guard("delete old events", [&]() -> caf::expected<uint64_t> {
    auto& st = impl_->stmt(
      "DELETE FROM failure_events WHERE id IN (SELECT id FROM failure_events "
      "WHERE occurred_at < ? ORDER BY occurred_at LIMIT ?)");
    st.bind(1, format_iso(cutoff));
    st.bind(2, static_cast<int64_t>(batch));
    return static_cast<uint64_t>(st.exec());
  });
}

// -- history and notifications
// ------------------------------------------------------

caf::expected<std::vector<history_info>> store::history(const query& q) {
  return impl_->guard(
    "list history", [&]() -> caf::expected<std::vector<history_info>> {
      auto& st = impl_->stmt(
        "SELECT id, agent, from_subscription, to_subscription, trigger, "
        "failure_kind, event_count, generation, apply_result, at "
        "FROM switch_history WHERE (?1 = '' OR agent = ?1) "
        "AND (?2 = '' OR from_subscription = ?2 OR to_subscription = ?2) "
        "ORDER BY id DESC LIMIT ?3");
      st.bind(1, q.agent);
      st.bind(2, q.subscription);
      st.bind(3, static_cast<int64_t>(std::min(q.limit, max_query_limit)));
      return collect(st, read_history_row);
    });
}

caf::expected<int64_t> store::add_notification(const notification_info& n) {
  return impl_->guard("add notification", [&]() -> caf::expected<int64_t> {
    auto& ins = impl_->stmt(
      "INSERT INTO notifications(agent, kind, title, message, priority, "
      "created_at) VALUES (?, ?, ?, ?, ?, ?)");
    ins.bind(1, n.agent);
    ins.bind(2, n.kind);
    ins.bind(3, n.title);
    ins.bind(4, n.message);
    ins.bind(5, n.priority.empty() ? std::string{"normal"} : n.priority);
    ins.bind(6, format_iso(n.created_at));
    ins.exec();
    return impl_->db.getLastInsertRowid();
  });
}

caf::expected<std::vector<notification_info>>
store::notifications(const query& q) {
  return impl_->guard(
    "list notifications",
    [&]() -> caf::expected<std::vector<notification_info>> {
      auto& st = impl_->stmt(notifications_of_agent_sql.c_str());
      st.bind(1, q.agent);
      st.bind(2, static_cast<int64_t>(std::min(q.limit, max_query_limit)));
      return collect(st, read_notification_row);
    });
}

caf::expected<std::vector<notification_info>>
store::pending_notifications(uint32_t limit) {
  return impl_->guard(
    "list pending notifications",
    [&]() -> caf::expected<std::vector<notification_info>> {
      auto& st = impl_->stmt(pending_notifications_sql.c_str());
      st.bind(1, static_cast<int64_t>(std::min(limit, max_query_limit)));
      return collect(st, read_notification_row);
    });
}

caf::error store::mark_delivered(int64_t id, millis at) {
  return impl_->guard("mark notification delivered", [&]() -> caf::error {
    auto& st = impl_->stmt("UPDATE notifications SET status = 'delivered', "
                           "delivered_at = ? WHERE id = ?");
    st.bind(1, format_iso(at));
    st.bind(2, static_cast<int64_t>(id));
    st.exec();
    return caf::none;
  });
}

// -- settings
// -----------------------------------------------------------------------

caf::expected<settings_map> store::settings() {
  return impl_->guard("read settings", [&]() -> caf::expected<settings_map> {
    settings_map result;
    auto& st = impl_->stmt("SELECT key, value FROM settings");
    while (st.executeStep())
      result.emplace(st.getColumn(0).getString(), st.getColumn(1).getString());
    return result;
  });
}

caf::error store::put_setting(const std::string& key, const std::string& value,
                              millis now) {
  return impl_->guard("write setting", [&]() -> caf::error {
    auto& st = impl_->stmt(
      "INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
      "updated_at = excluded.updated_at");
    st.bind(1, key);
    st.bind(2, value);
    st.bind(3, format_iso(now));
    st.exec();
    return caf::none;
  });
}

caf::expected<snapshot> store::load(millis now, millis window) {
  snapshot result;
  auto subs = subscriptions();
  if (!subs)
    return subs.error();
  result.subscriptions = std::move(*subs);
  auto as = agents();
  if (!as)
    return as.error();
  result.agents = std::move(*as);
  auto st = settings();
  if (!st)
    return st.error();
  result.settings = std::move(*st);
  auto seeds = exclusion_seeds(now - window, now);
  if (!seeds)
    return seeds.error();
  result.exclusions = std::move(*seeds);
  return result;
}

} // namespace sb
