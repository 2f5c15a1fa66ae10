#include "persistence/schema.hpp"

#include "messages/error.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Transaction.h>

#include <string>
#include <vector>

namespace sb {

namespace {

// Timestamps are ISO-8601 UTC text in one format (messages/time.hpp).
// CHECKs compare with OR, not IN (...): SQLite builds a temporary b-tree for
// an IN list on every insert (it was half the cost of recording an event).
const std::vector<const char*> migrations = {
  // 1: the first schema.
  R"sql(
CREATE TABLE subscriptions (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  token TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE agents (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  subscription_id INTEGER REFERENCES subscriptions(id) ON DELETE SET NULL,
  container TEXT,
  generation INTEGER NOT NULL DEFAULT 0,
  applied_generation INTEGER NOT NULL DEFAULT 0,
  auto_switch TEXT NOT NULL DEFAULT 'on'
    CHECK (auto_switch = 'on' OR auto_switch = 'off'),
  last_apply TEXT,
  last_apply_at TEXT,
  last_switch_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX agents_by_subscription ON agents(subscription_id);
CREATE TABLE failure_events (
  id INTEGER PRIMARY KEY,
  agent TEXT NOT NULL,
  subscription TEXT NOT NULL,
  kind TEXT NOT NULL
    CHECK (kind = 'rate_limit' OR kind = 'auth' OR kind = 'ignored'),
  reason TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL,
  message TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  execution_id TEXT NOT NULL DEFAULT '',
  reset_at TEXT,
  occurred_at TEXT NOT NULL
);
-- Every report writes a row here: few indexes. By time (windows, counts,
-- retention), by agent (`events --agent`), and the rare provider resets.
CREATE INDEX failure_events_by_agent ON failure_events(agent, occurred_at);
CREATE INDEX failure_events_by_time ON failure_events(occurred_at);
CREATE INDEX failure_events_by_reset ON failure_events(reset_at)
  WHERE reset_at IS NOT NULL;
CREATE TABLE switch_history (
  id INTEGER PRIMARY KEY,
  agent TEXT NOT NULL,
  from_subscription TEXT,
  to_subscription TEXT,
  trigger TEXT NOT NULL
    CHECK (trigger = 'auto' OR trigger = 'manual' OR trigger = 'rotation'),
  failure_kind TEXT NOT NULL DEFAULT '',
  event_count INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL,
  apply_result TEXT NOT NULL DEFAULT 'pending',
  applied_at TEXT,
  at TEXT NOT NULL
);
CREATE INDEX switch_history_by_agent ON switch_history(agent, id);
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  agent TEXT NOT NULL,
  kind TEXT NOT NULL,
  generation INTEGER,
  title TEXT NOT NULL,
  message TEXT NOT NULL,
  priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority = 'high' OR priority = 'normal'),
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status = 'pending' OR status = 'delivered'),
  created_at TEXT NOT NULL,
  delivered_at TEXT
);
-- One switch, one notification: enforced by the schema as well.
CREATE UNIQUE INDEX notifications_one_per_switch
  ON notifications(agent, generation) WHERE kind = 'switch';
CREATE INDEX notifications_by_agent ON notifications(agent, id);
CREATE INDEX notifications_pending ON notifications(id)
  WHERE status = 'pending';
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
)sql",
  // 2: the fingerprint (SHA-256) of every token version of every
  // subscription, rotated ones included, for attribution by token.
  R"sql(
CREATE TABLE token_versions (
  id INTEGER PRIMARY KEY,
  subscription TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE INDEX token_versions_by_subscription
  ON token_versions(subscription, id);
)sql",
  // 3: tokens encrypted at rest. No change of shape: the data step of this
  // version (store.cpp) seals every plain token in the same transaction.
  "SELECT 1",
  // 4: provider evidence, one row per subscription (gone with it: foreign
  // keys are on, store_files.cpp), and the 'headroom' trigger. SQLite cannot
  // alter a CHECK: switch_history is rebuilt with schema 1's columns, ids
  // kept, and its index made again (DROP TABLE took it). Nothing references
  // switch_history, so neither the drop nor the rename touches another table.
  R"sql(
CREATE TABLE subscription_evidence (
  subscription_id INTEGER PRIMARY KEY
    REFERENCES subscriptions(id) ON DELETE CASCADE,
  status TEXT NOT NULL
    CHECK (status = 'unknown' OR status = 'allowed'
           OR status = 'allowed_warning' OR status = 'rejected'),
  status_at TEXT,
  status_reset TEXT,
  utilization_5h REAL,
  utilization_5h_at TEXT,
  reset_5h TEXT,
  utilization_7d REAL,
  utilization_7d_at TEXT,
  reset_7d TEXT,
  evidence_at TEXT,
  readmitted_at TEXT
);
CREATE TABLE switch_history_v4 (
  id INTEGER PRIMARY KEY,
  agent TEXT NOT NULL,
  from_subscription TEXT,
  to_subscription TEXT,
  trigger TEXT NOT NULL
    CHECK (trigger = 'auto' OR trigger = 'manual' OR trigger = 'rotation'
           OR trigger = 'headroom'),
  failure_kind TEXT NOT NULL DEFAULT '',
  event_count INTEGER NOT NULL DEFAULT 0,
  generation INTEGER NOT NULL,
  apply_result TEXT NOT NULL DEFAULT 'pending',
  applied_at TEXT,
  at TEXT NOT NULL
);
INSERT INTO switch_history_v4(id, agent, from_subscription, to_subscription,
  trigger, failure_kind, event_count, generation, apply_result, applied_at, at)
SELECT id, agent, from_subscription, to_subscription, trigger, failure_kind,
  event_count, generation, apply_result, applied_at, at
FROM switch_history;
DROP TABLE switch_history;
ALTER TABLE switch_history_v4 RENAME TO switch_history;
CREATE INDEX switch_history_by_agent ON switch_history(agent, id);
)sql",
  // 5: nodes and agent owners exist in a shared (PostgreSQL) database only:
  // an SQLite file has one daemon. The version is kept in step so that N
  // names the same shape in both backends.
  "SELECT 1",
};

} // namespace

int64_t latest_schema_version() {
  return static_cast<int64_t>(migrations.size());
}

int64_t schema_version(SQLite::Database& db) {
  if (!db.tableExists("schema_version"))
    return 0;
  return db.execAndGet("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    .getInt64();
}

caf::error migrate(SQLite::Database& db, const migration_step& step,
                   int64_t target) {
  try {
    db.exec("CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    auto current = schema_version(db);
    if (current > latest_schema_version())
      return make_error(ec::store_failure,
                        "database schema version " + std::to_string(current)
                          + " is newer than this binary supports ("
                          + std::to_string(latest_schema_version()) + ")");
    if (target <= 0 || target > latest_schema_version())
      target = latest_schema_version();
    for (auto v = current + 1; v <= target; ++v) {
      SQLite::Transaction tx{db};
      db.exec(migrations[static_cast<size_t>(v - 1)]);
      if (step)
        step(db, v);
      db.exec("INSERT INTO schema_version(version, applied_at) VALUES ("
              + std::to_string(v) + ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
      tx.commit();
    }
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      std::string{"schema migration failed: "} + e.what());
  }
}

} // namespace sb
