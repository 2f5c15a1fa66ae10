// The schema of both dialects as one ordered list of forward migrations, so
// that version N names the same tables in SQLite and PostgreSQL; the runner
// of migrations; and the key checks every open makes.

#include "persistence/schema.hpp"

#include "messages/error.hpp"
#include "persistence/store_impl.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sb {

namespace {

struct migration {
  /// Run first, in both dialects, after expand().
  const char* both;
  const char* sqlite;
  const char* postgres;
};

// Timestamps are ISO-8601 UTC text in one format (messages/time.hpp); in
// PostgreSQL with the "C" collation ({c}) so they compare and sort as
// bytes, as in SQLite, whatever the database's locale (sorted names too).
// CHECKs compare with OR, not IN (...): SQLite builds a temporary b-tree for
// an IN list on every insert (it was half the cost of recording an event).
const migration migrations[] = {
  // 1: the first schema.
  {R"sql(
CREATE TABLE subscriptions (
  id {id},
  name TEXT{c} NOT NULL UNIQUE,
  token TEXT NOT NULL,
  created_at TEXT{c} NOT NULL,
  updated_at TEXT{c} NOT NULL
);
CREATE TABLE agents (
  id {id},
  name TEXT{c} NOT NULL UNIQUE,
  subscription_id {int} REFERENCES subscriptions(id) ON DELETE SET NULL,
  container TEXT,
  generation {int} NOT NULL DEFAULT 0,
  applied_generation {int} NOT NULL DEFAULT 0,
  auto_switch TEXT NOT NULL DEFAULT 'on'
    CHECK (auto_switch = 'on' OR auto_switch = 'off'),
  last_apply TEXT,
  last_apply_at TEXT{c},
  last_switch_at TEXT{c},
  created_at TEXT{c} NOT NULL,
  updated_at TEXT{c} NOT NULL
);
CREATE INDEX agents_by_subscription ON agents(subscription_id);
CREATE TABLE failure_events (
  id {id},
  agent TEXT NOT NULL,
  subscription TEXT NOT NULL,
  kind TEXT NOT NULL
    CHECK (kind = 'rate_limit' OR kind = 'auth' OR kind = 'ignored'),
  reason TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL,
  message TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  execution_id TEXT NOT NULL DEFAULT '',
  reset_at TEXT{c},
  occurred_at TEXT{c} NOT NULL
);
-- Every report writes a row here: few indexes. By time (windows, counts,
-- retention), by agent (`events --agent`), and the rare provider resets.
CREATE INDEX failure_events_by_agent ON failure_events(agent, occurred_at);
CREATE INDEX failure_events_by_time ON failure_events(occurred_at);
CREATE INDEX failure_events_by_reset ON failure_events(reset_at)
  WHERE reset_at IS NOT NULL;
CREATE TABLE switch_history (
  id {id},
  agent TEXT NOT NULL,
  from_subscription TEXT,
  to_subscription TEXT,
  trigger TEXT NOT NULL{trigger}
    CHECK (trigger = 'auto' OR trigger = 'manual' OR trigger = 'rotation'),
  failure_kind TEXT NOT NULL DEFAULT '',
  event_count {int} NOT NULL DEFAULT 0,
  generation {int} NOT NULL,
  apply_result TEXT NOT NULL DEFAULT 'pending',
  applied_at TEXT{c},
  at TEXT{c} NOT NULL
);
CREATE INDEX switch_history_by_agent ON switch_history(agent, id);
CREATE TABLE notifications (
  id {id},
  agent TEXT NOT NULL,
  kind TEXT NOT NULL,
  generation {int},
  title TEXT NOT NULL,
  message TEXT NOT NULL,
  priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority = 'high' OR priority = 'normal'),
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status = 'pending' OR status = 'delivered'),
  created_at TEXT{c} NOT NULL,
  delivered_at TEXT{c}
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
  updated_at TEXT{c} NOT NULL
);
)sql",
   nullptr, nullptr},
  // 2: the fingerprint (SHA-256) of every token version of every
  // subscription, rotated ones included, for attribution by token.
  {R"sql(
CREATE TABLE token_versions (
  id {id},
  subscription TEXT NOT NULL,
  sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT{c} NOT NULL
);
CREATE INDEX token_versions_by_subscription
  ON token_versions(subscription, id);
)sql",
   nullptr, nullptr},
  // 3: tokens encrypted at rest. No change of shape: SQLite's data step
  // (store_files.cpp) seals every plain token in the same transaction; a
  // PostgreSQL store has sealed its tokens from the start.
  {nullptr, nullptr, nullptr},
  // 4: provider evidence, one row per subscription (gone with it), and the
  // 'headroom' trigger. SQLite cannot alter a CHECK: switch_history is
  // rebuilt with schema 1's columns, ids kept, and its index made again
  // (DROP TABLE took it); nothing references it. PostgreSQL alters it.
  {R"sql(
CREATE TABLE subscription_evidence (
  subscription_id {int} PRIMARY KEY
    REFERENCES subscriptions(id) ON DELETE CASCADE,
  status TEXT NOT NULL
    CHECK (status = 'unknown' OR status = 'allowed'
           OR status = 'allowed_warning' OR status = 'rejected'),
  status_at TEXT{c},
  status_reset TEXT{c},
  utilization_5h {real},
  utilization_5h_at TEXT{c},
  reset_5h TEXT{c},
  utilization_7d {real},
  utilization_7d_at TEXT{c},
  reset_7d TEXT{c},
  evidence_at TEXT{c},
  readmitted_at TEXT{c}
);
)sql",
   R"sql(
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
   R"sql(
ALTER TABLE switch_history DROP CONSTRAINT switch_history_trigger;
ALTER TABLE switch_history ADD CONSTRAINT switch_history_trigger
  CHECK (trigger = 'auto' OR trigger = 'manual' OR trigger = 'rotation'
         OR trigger = 'headroom');
)sql"},
  // 5: the daemons that share a PostgreSQL database (store.hpp, "nodes")
  // and each agent's owner; an SQLite file has one daemon. Leases are on
  // the server's clock: the hosts' clocks never decide who owns what.
  // Epochs come from one sequence: a node that joins again never reuses one.
  {nullptr, nullptr, R"sql(
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
)sql"},
  // 6: pools and providers (every subscription and agent so far is
  // Anthropic's, in the pool "default"), a subscription's standing
  // (retired with a reason, drained, a cap of agents, when a reset cleared
  // it) and the failure kind 'concurrency'. SQLite cannot alter a CHECK:
  // failure_events is rebuilt with its columns, ids kept, and its indexes
  // made again, as migration 4 did; PostgreSQL alters it.
  {R"sql(
ALTER TABLE subscriptions ADD COLUMN provider TEXT NOT NULL
  DEFAULT 'anthropic'
  CHECK (provider = 'anthropic' OR provider = 'codex' OR provider = 'openai'
         OR provider = 'gemini');
ALTER TABLE subscriptions ADD COLUMN pool TEXT{c} NOT NULL DEFAULT 'default';
ALTER TABLE subscriptions ADD COLUMN retired TEXT NOT NULL DEFAULT ''
  CHECK (retired = '' OR retired = 'banned' OR retired = 'disabled'
         OR retired = 'not_entitled' OR retired = 'dead_credential');
ALTER TABLE subscriptions ADD COLUMN retired_at TEXT{c};
ALTER TABLE subscriptions ADD COLUMN drained {int} NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN max_agents {int} NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN cleared_at TEXT{c};
ALTER TABLE agents ADD COLUMN pool TEXT{c} NOT NULL DEFAULT 'default';
CREATE INDEX subscriptions_by_pool ON subscriptions(pool);
)sql",
   R"sql(
CREATE TABLE failure_events_v6 (
  id INTEGER PRIMARY KEY,
  agent TEXT NOT NULL,
  subscription TEXT NOT NULL,
  kind TEXT NOT NULL
    CHECK (kind = 'rate_limit' OR kind = 'auth' OR kind = 'ignored'
           OR kind = 'concurrency'),
  reason TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL,
  message TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  execution_id TEXT NOT NULL DEFAULT '',
  reset_at TEXT,
  occurred_at TEXT NOT NULL
);
INSERT INTO failure_events_v6(id, agent, subscription, kind, reason, status,
  message, source, execution_id, reset_at, occurred_at)
SELECT id, agent, subscription, kind, reason, status, message, source,
  execution_id, reset_at, occurred_at
FROM failure_events;
DROP TABLE failure_events;
ALTER TABLE failure_events_v6 RENAME TO failure_events;
CREATE INDEX failure_events_by_agent ON failure_events(agent, occurred_at);
CREATE INDEX failure_events_by_time ON failure_events(occurred_at);
CREATE INDEX failure_events_by_reset ON failure_events(reset_at)
  WHERE reset_at IS NOT NULL;
)sql",
   R"sql(
ALTER TABLE failure_events DROP CONSTRAINT failure_events_kind_check;
ALTER TABLE failure_events ADD CONSTRAINT failure_events_kind_check
  CHECK (kind = 'rate_limit' OR kind = 'auth' OR kind = 'ignored'
         OR kind = 'concurrency');
)sql"},
  // 7: credentials with a lifecycle. A subscription without a row is a
  // static token of unknown expiry. Instants in ms since the epoch; the
  // refresh and id tokens sealed like the token; claim_by/claim_until are
  // the one refresher of the fleet (store::claim_refresh).
  {R"sql(
CREATE TABLE credentials (
  subscription_id {int} PRIMARY KEY
    REFERENCES subscriptions(id) ON DELETE CASCADE,
  kind TEXT NOT NULL DEFAULT 'token' CHECK (kind = 'token' OR kind = 'oauth'),
  expires_at {int},
  issued_at {int},
  scopes TEXT NOT NULL DEFAULT '',
  refresh_token TEXT,
  refresh_sha256 TEXT NOT NULL DEFAULT '',
  id_token TEXT,
  account_id TEXT NOT NULL DEFAULT '',
  token_url TEXT NOT NULL DEFAULT '',
  refreshed_at {int},
  refreshes {int} NOT NULL DEFAULT 0,
  rejected_sha256 TEXT NOT NULL DEFAULT '',
  claim_by TEXT NOT NULL DEFAULT '',
  claim_until {int} NOT NULL DEFAULT 0
);
)sql",
   nullptr, nullptr},
  // 8: notification sinks. The URL, the signing secret and the chat id are
  // sealed like tokens; events is a comma-separated list ('' = all). A
  // delivery taken by a node is its until lease_until. Notifications carry
  // what they are about as fields.
  {R"sql(
ALTER TABLE notifications ADD COLUMN subscription TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN pool TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN from_subscription TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN to_subscription TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN reset_at {int} NOT NULL DEFAULT 0;
CREATE TABLE sinks (
  id {id},
  name TEXT{c} NOT NULL UNIQUE,
  kind TEXT NOT NULL
    CHECK (kind = 'webhook' OR kind = 'slack' OR kind = 'discord'
           OR kind = 'telegram'),
  url TEXT NOT NULL,
  host TEXT NOT NULL,
  signing_secret TEXT,
  chat_id TEXT,
  events TEXT NOT NULL DEFAULT '',
  min_severity TEXT NOT NULL DEFAULT 'info'
    CHECK (min_severity = 'info' OR min_severity = 'warning'
           OR min_severity = 'critical'),
  digest {int} NOT NULL DEFAULT 1,
  created_at {int} NOT NULL,
  since_id {int} NOT NULL DEFAULT 0
);
CREATE TABLE sink_deliveries (
  sink_id {int} NOT NULL REFERENCES sinks(id) ON DELETE CASCADE,
  notification_id {int} NOT NULL REFERENCES notifications(id)
    ON DELETE CASCADE,
  state TEXT NOT NULL
    CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed'
           OR state = 'skipped'),
  attempts {int} NOT NULL DEFAULT 0,
  next_at {int} NOT NULL DEFAULT 0,
  last_status {int} NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  updated_at {int} NOT NULL,
  lease_by TEXT NOT NULL DEFAULT '',
  lease_until {int} NOT NULL DEFAULT 0,
  PRIMARY KEY (sink_id, notification_id)
);
CREATE INDEX sink_deliveries_failed ON sink_deliveries(notification_id)
  WHERE state = 'failed';
)sql",
   nullptr, nullptr},
};

/// `text` with the words that differ put in for dialect `d`.
std::string expand(std::string text, dialect d) {
  bool pg = d == dialect::postgres;
  const std::pair<const char*, const char*> words[] = {
    {"{id}", pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY"},
    {"{int}", pg ? "BIGINT" : "INTEGER"},
    {"{real}", pg ? "DOUBLE PRECISION" : "REAL"},
    {"{c}", pg ? " COLLATE \"C\"" : ""},
    {"{trigger}", pg ? " CONSTRAINT switch_history_trigger" : ""},
  };
  for (auto [word, value] : words)
    for (auto pos = text.find(word); pos != std::string::npos;
         pos = text.find(word, pos))
      text.replace(pos, std::strlen(word), value);
  return text;
}

int64_t version_of(sql_connection& c) {
  int64_t result = 0;
  if (c.has_table("schema_version"))
    c.run("SELECT COALESCE(MAX(version), 0) FROM schema_version", {},
          [&](const sql_row& r) { result = r.integer(0); });
  return result;
}

/// Applies migration `v` and its data step, and records it.
void apply(sql_connection& c, int64_t v,
           const std::function<void(int64_t)>& step) {
  auto& m = migrations[v - 1];
  auto own = c.kind() == dialect::sqlite ? m.sqlite : m.postgres;
  for (auto* part : {m.both, own})
    if (part != nullptr)
      c.exec(expand(part, c.kind()));
  if (step)
    step(v);
  c.run("INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)",
        {v, format_iso(wall_clock_ms())});
}

void rollback_quietly(sql_connection& c) {
  try {
    c.exec("ROLLBACK");
  } catch (...) {
    // SQLite rolled back already; the migration's error says why.
  }
}

} // namespace

int64_t latest_schema_version() {
  return static_cast<int64_t>(std::size(migrations));
}

caf::error migrate_schema(sql_connection& c,
                          const std::function<void(int64_t)>& step,
                          int64_t target, bool each_in_transaction) {
  try {
    c.exec(expand("CREATE TABLE IF NOT EXISTS schema_version (version {int} "
                  "PRIMARY KEY, applied_at TEXT NOT NULL)",
                  c.kind()));
    auto current = version_of(c);
    if (current > latest_schema_version())
      return make_error(ec::store_failure,
                        "database schema version " + std::to_string(current)
                          + " is newer than this binary supports ("
                          + std::to_string(latest_schema_version()) + ")");
    if (target <= 0 || target > latest_schema_version())
      target = latest_schema_version();
    for (auto v = current + 1; v <= target; ++v) {
      if (!each_in_transaction) {
        apply(c, v, step);
        continue;
      }
      c.exec("BEGIN");
      try {
        apply(c, v, step);
      } catch (...) {
        rollback_quietly(c);
        throw;
      }
      c.exec("COMMIT");
    }
    return caf::none;
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      std::string{"schema migration failed: "} + e.what());
  }
}

int64_t schema_version(SQLite::Database& db) {
  sqlite_connection c{db};
  return version_of(c);
}

caf::error migrate(SQLite::Database& db, const migration_step& step,
                   int64_t target) {
  sqlite_connection c{db};
  return migrate_schema(
    c, [&](int64_t v) { step ? step(db, v) : void(); }, target, true);
}

// -- the key

caf::expected<token_cipher> load_key(sql_connection& c,
                                     const std::string& display,
                                     const std::string& key_path,
                                     const char* hint) {
  struct stat st {};
  if (::stat(key_path.c_str(), &st) == 0 || errno != ENOENT)
    return token_cipher::read(key_path);
  bool sealed = false;
  if (c.has_table("subscriptions"))
    c.run("SELECT 1 FROM subscriptions WHERE substr(token, 1, 4) = 'sb1:' "
          "LIMIT 1",
          {}, [&](const sql_row&) { sealed = true; });
  if (sealed)
    return make_error(ec::store_failure,
                      "the database '" + display
                        + "' holds encrypted tokens but its key file '"
                        + key_path + "' does not exist: " + hint
                        + " (it is not part of the database or its backups)");
  auto created = token_cipher::create(key_path);
  // Another daemon of this host created it meanwhile: use that one.
  if (!created && ::stat(key_path.c_str(), &st) == 0)
    return token_cipher::read(key_path);
  return created;
}

caf::error check_key(sql_connection& c, const token_cipher& cipher,
                     const std::string& display, const std::string& key_path,
                     const char* hint) {
  if (!c.has_table("subscriptions"))
    return caf::none;
  bool wrong = false;
  c.run("SELECT token FROM subscriptions", {}, [&](const sql_row& r) {
    auto token = r.text(0);
    wrong = wrong || (token_cipher::is_sealed(token) && !cipher.open(token));
  });
  if (wrong)
    return make_error(ec::store_failure,
                      "the key file '" + key_path
                        + "' does not open the tokens in '" + display
                        + "' (it is not the key of this database" + hint + ")");
  return caf::none;
}

} // namespace sb
