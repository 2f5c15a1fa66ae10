// The PostgreSQL schema: the same tables, columns, constraints and indexes as
// SQLite's (schema.cpp), as a list of forward migrations numbered like
// SQLite's, so schema version N names the same shape in both backends.

#include "messages/error.hpp"
#include "messages/time.hpp"
#include "persistence/postgres_impl.hpp"

#include <string>
#include <vector>

namespace sb {

namespace {

/// The advisory lock every migration holds ("sbschema" in ASCII): daemons
/// that start together on an empty database migrate one after the other.
/// Advisory locks are per database: other databases on the server are not
/// held up.
constexpr int64_t migration_lock = 0x7362736368656d61;

// Times are ISO-8601 UTC text in one format (messages/time.hpp), with the
// "C" collation: they compare and sort as bytes, as in SQLite, whatever the
// database's locale. Names that are sorted (subscriptions, agents) likewise.
const std::vector<const char*> migrations = {
  // 1: the first schema.
  R"sql(
CREATE TABLE subscriptions (
  id BIGSERIAL PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  token TEXT NOT NULL,
  created_at TEXT COLLATE "C" NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE agents (
  id BIGSERIAL PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL UNIQUE,
  subscription_id BIGINT REFERENCES subscriptions(id) ON DELETE SET NULL,
  container TEXT,
  generation BIGINT NOT NULL DEFAULT 0,
  applied_generation BIGINT NOT NULL DEFAULT 0,
  auto_switch TEXT NOT NULL DEFAULT 'on'
    CHECK (auto_switch = 'on' OR auto_switch = 'off'),
  last_apply TEXT,
  last_apply_at TEXT COLLATE "C",
  last_switch_at TEXT COLLATE "C",
  created_at TEXT COLLATE "C" NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX agents_by_subscription ON agents(subscription_id);
CREATE TABLE failure_events (
  id BIGSERIAL PRIMARY KEY,
  agent TEXT NOT NULL,
  subscription TEXT NOT NULL,
  kind TEXT NOT NULL
    CHECK (kind = 'rate_limit' OR kind = 'auth' OR kind = 'ignored'),
  reason TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL,
  message TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  execution_id TEXT NOT NULL DEFAULT '',
  reset_at TEXT COLLATE "C",
  occurred_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX failure_events_by_agent ON failure_events(agent, occurred_at);
CREATE INDEX failure_events_by_time ON failure_events(occurred_at);
CREATE INDEX failure_events_by_reset ON failure_events(reset_at)
  WHERE reset_at IS NOT NULL;
CREATE TABLE switch_history (
  id BIGSERIAL PRIMARY KEY,
  agent TEXT NOT NULL,
  from_subscription TEXT,
  to_subscription TEXT,
  trigger TEXT NOT NULL CONSTRAINT switch_history_trigger
    CHECK (trigger = 'auto' OR trigger = 'manual' OR trigger = 'rotation'),
  failure_kind TEXT NOT NULL DEFAULT '',
  event_count BIGINT NOT NULL DEFAULT 0,
  generation BIGINT NOT NULL,
  apply_result TEXT NOT NULL DEFAULT 'pending',
  applied_at TEXT COLLATE "C",
  at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX switch_history_by_agent ON switch_history(agent, id);
CREATE TABLE notifications (
  id BIGSERIAL PRIMARY KEY,
  agent TEXT NOT NULL,
  kind TEXT NOT NULL,
  generation BIGINT,
  title TEXT NOT NULL,
  message TEXT NOT NULL,
  priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority = 'high' OR priority = 'normal'),
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status = 'pending' OR status = 'delivered'),
  created_at TEXT COLLATE "C" NOT NULL,
  delivered_at TEXT COLLATE "C"
);
CREATE UNIQUE INDEX notifications_one_per_switch
  ON notifications(agent, generation) WHERE kind = 'switch';
CREATE INDEX notifications_by_agent ON notifications(agent, id);
CREATE INDEX notifications_pending ON notifications(id)
  WHERE status = 'pending';
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at TEXT COLLATE "C" NOT NULL
);
)sql",
  // 2: the fingerprint (SHA-256) of every token version of every
  // subscription, rotated ones included, for attribution by token.
  R"sql(
CREATE TABLE token_versions (
  id BIGSERIAL PRIMARY KEY,
  subscription TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX token_versions_by_subscription
  ON token_versions(subscription, id);
)sql",
  // 3: tokens encrypted at rest. No change of shape, and no data step: a
  // PostgreSQL store has sealed its tokens from the start.
  "SELECT 1",
  // 4: provider evidence, one row per subscription (gone with it), and the
  // 'headroom' trigger: PostgreSQL alters the CHECK in place.
  R"sql(
CREATE TABLE subscription_evidence (
  subscription_id BIGINT PRIMARY KEY
    REFERENCES subscriptions(id) ON DELETE CASCADE,
  status TEXT NOT NULL
    CHECK (status = 'unknown' OR status = 'allowed'
           OR status = 'allowed_warning' OR status = 'rejected'),
  status_at TEXT COLLATE "C",
  status_reset TEXT COLLATE "C",
  utilization_5h DOUBLE PRECISION,
  utilization_5h_at TEXT COLLATE "C",
  reset_5h TEXT COLLATE "C",
  utilization_7d DOUBLE PRECISION,
  utilization_7d_at TEXT COLLATE "C",
  reset_7d TEXT COLLATE "C",
  evidence_at TEXT COLLATE "C",
  readmitted_at TEXT COLLATE "C"
);
ALTER TABLE switch_history DROP CONSTRAINT switch_history_trigger;
ALTER TABLE switch_history ADD CONSTRAINT switch_history_trigger
  CHECK (trigger = 'auto' OR trigger = 'manual' OR trigger = 'rotation'
         OR trigger = 'headroom');
)sql",
  // 5: the daemons that share this database (persistence/store.hpp, "nodes")
  // and each agent's owner. Leases are on the server's clock (timestamptz,
  // clock_timestamp()): the hosts' clocks never decide who owns what. Epochs
  // come from one sequence: a node that joins again never reuses one.
  R"sql(
CREATE SEQUENCE node_epochs;
CREATE TABLE nodes (
  name TEXT COLLATE "C" PRIMARY KEY,
  host TEXT NOT NULL DEFAULT '',
  port INTEGER NOT NULL DEFAULT 0,
  epoch BIGINT NOT NULL,
  lease_until TIMESTAMPTZ NOT NULL,
  joined_at TIMESTAMPTZ NOT NULL,
  -- Stopped cleanly: it may join again at once (a restart keeps its agents
  -- while its lease runs); a node that crashed waits for its lease to end.
  left_at TIMESTAMPTZ
);
ALTER TABLE agents ADD COLUMN owner TEXT COLLATE "C";
CREATE INDEX agents_by_owner ON agents(owner);
)sql",
};

/// Applies migrations current + 1 up to the latest, each recorded in
/// schema_version; inside the caller's transaction.
void apply_from(pqxx::transaction_base& session, int64_t current) {
  for (auto v = current + 1; v <= postgres_latest_schema_version(); ++v) {
    session.exec(migrations[static_cast<size_t>(v - 1)]);
    session.exec_params("INSERT INTO schema_version(version, applied_at) "
                        "VALUES ($1, $2)",
                        v, format_iso(wall_clock_ms()));
  }
}

/// The body of the migration transaction: an error refuses the database.
caf::error migrate_locked(pqxx::transaction_base& session) {
  session.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock)
               + ")");
  session.exec("CREATE TABLE IF NOT EXISTS schema_version ("
               "version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)");
  auto current
    = session.exec("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0][0]
        .as<int64_t>();
  if (current > postgres_latest_schema_version())
    return make_error(ec::store_failure,
                      "database schema version " + std::to_string(current)
                        + " is newer than this binary supports ("
                        + std::to_string(postgres_latest_schema_version())
                        + ")");
  apply_from(session, current);
  return caf::none;
}

} // namespace

int64_t postgres_latest_schema_version() {
  return static_cast<int64_t>(migrations.size());
}

caf::error postgres_migrate(pqxx::transaction_base& session) {
  // One transaction for every step: DDL is transactional in PostgreSQL, so
  // a failed migration leaves the database as it was.
  return in_transaction(session, [&] { return migrate_locked(session); });
}

} // namespace sb
