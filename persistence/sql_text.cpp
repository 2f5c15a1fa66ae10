// Every SQL statement of the store, once, with $n parameters (SQLite reads
// them as ?n). Where the dialects disagree an entry holds both texts: the
// owner column and the lease fence exist in PostgreSQL only (an SQLite file
// has one daemon). Both texts return ids with RETURNING id (SQLite's
// connection runs it as the plain insert and last_insert_rowid()).

#include "persistence/sql.hpp"

// The columns of one agent row, joined with its subscription's name.
#define SB_AGENT_SELECT                                                        \
  "SELECT a.id, a.name, a.subscription_id, s.name, a.container, "              \
  "a.generation, a.applied_generation, a.auto_switch, a.last_apply, "          \
  "a.last_apply_at, a.last_switch_at, a.created_at, a.pool FROM agents a "     \
  "LEFT JOIN subscriptions s ON s.id = a.subscription_id"

// The failures that exclude their subscription: not the ignored ones, not
// a concurrency cap, not a limit of one model's bucket.
#define SB_EXCLUDING                                                           \
  "kind <> 'ignored' AND kind <> 'concurrency' AND reason <> 'model_bucket' "

#define SB_NOTIFICATION_SELECT                                                 \
  "SELECT id, agent, kind, title, message, priority, status, created_at, "     \
  "subscription, pool, from_subscription, to_subscription, reason, reset_at "  \
  "FROM notifications "

namespace sb {

namespace {

struct entry {
  const char* sqlite;
  const char* postgres;
  bool preparable = true;
};

constexpr entry same(const char* text) {
  return {text, text};
}

const entry texts[] = {
  // -- transactions (one write of a batch each); only SQLite prepares them
  {"SAVEPOINT w", "SAVEPOINT w", false},
  {"RELEASE SAVEPOINT w", "RELEASE SAVEPOINT w", false},
  {"ROLLBACK TO SAVEPOINT w", "ROLLBACK TO SAVEPOINT w", false},
  // -- subscriptions
  same("SELECT id, created_at, provider, pool, retired, retired_at, drained, "
       "max_agents, cleared_at FROM subscriptions WHERE name = $1"),
  // A new token brings a retired subscription back.
  same("UPDATE subscriptions SET token = $1, updated_at = $2, retired = '', "
       "retired_at = NULL WHERE id = $3"),
  // A refreshed access token does not bring a retired subscription back.
  same("UPDATE subscriptions SET token = $1, updated_at = $2 WHERE id = $3"),
  same("INSERT INTO subscriptions(name, token, created_at, updated_at, "
       "provider, pool) VALUES ($1, $2, $3, $3, $4, $5) RETURNING id"),
  // A pool holds one provider: what its subscriptions are.
  same("SELECT provider FROM subscriptions WHERE pool = $1 LIMIT 1"),
  same("UPDATE subscriptions SET retired = $1, retired_at = $2, drained = $3, "
       "max_agents = $4, cleared_at = $5 WHERE name = $6"),
  same("UPDATE subscriptions SET max_agents = $1 WHERE id = $2"),
  same("SELECT name FROM agents WHERE subscription_id = $1 ORDER BY name"),
  same("UPDATE agents SET subscription_id = NULL WHERE subscription_id = $1"),
  same("DELETE FROM subscriptions WHERE id = $1"),
  same("SELECT s.id, s.name, s.token, s.created_at, s.updated_at, s.provider, "
       "s.pool, s.retired, s.retired_at, s.drained, s.max_agents, "
       "s.cleared_at, c.kind, c.expires_at, c.scopes, c.refreshed_at, "
       "c.refreshes FROM subscriptions s "
       "LEFT JOIN credentials c ON c.subscription_id = s.id ORDER BY s.name"),
  same("SELECT subscription FROM token_versions WHERE sha256 = $1"),
  same("INSERT INTO token_versions(subscription, sha256, created_at) "
       "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
  same("DELETE FROM token_versions WHERE subscription = $1"),
  same("SELECT subscription, sha256, created_at FROM token_versions "
       "ORDER BY id"),
  // -- agents
  same("SELECT 1 FROM agents WHERE name = $1"),
  {"INSERT INTO agents(name, subscription_id, container, created_at, "
   "updated_at, pool) VALUES ($1, $2, $3, $4, $4, $6)",
   "INSERT INTO agents(name, subscription_id, container, created_at, "
   "updated_at, owner, pool) VALUES ($1, $2, $3, $4, $4, NULLIF($5, ''), $6)"},
  same("DELETE FROM agents WHERE name = $1"),
  same(SB_AGENT_SELECT " ORDER BY a.id"),
  same(SB_AGENT_SELECT " WHERE a.name = $1"),
  same("UPDATE agents SET auto_switch = $1, updated_at = $2 WHERE name = $3"),
  same("SELECT name FROM subscriptions WHERE id = $1"),
  // The switch: fenced on the generation, and in PostgreSQL on the owner
  // while its lease of this epoch runs ('' = a database without nodes).
  {"UPDATE agents SET subscription_id = $1, generation = generation + 1, "
   "last_switch_at = $2, updated_at = $2 WHERE name = $3 AND generation = $4",
   "UPDATE agents SET subscription_id = $1, generation = generation + 1, "
   "last_switch_at = $2, updated_at = $2 WHERE name = $3 AND generation = $4 "
   "AND ($5::text = '' OR (owner = $5 AND EXISTS (SELECT 1 FROM nodes "
   "WHERE name = $5 AND epoch = $6 AND lease_until > clock_timestamp())))"},
  // The other nodes' agents on a set of subscriptions (a balance check).
  {nullptr,
   "SELECT name, subscription_id FROM agents WHERE owner IS DISTINCT FROM $1 "
   "AND subscription_id = ANY($2::bigint[])"},
  same("INSERT INTO switch_history(agent, from_subscription, to_subscription, "
       "trigger, failure_kind, event_count, generation, at) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"),
  same("INSERT INTO notifications(agent, kind, generation, title, message, "
       "priority, created_at, subscription, pool, from_subscription, "
       "to_subscription, reason) VALUES ($1, 'switch', $2, $3, $4, 'high', $5, "
       "$6, COALESCE((SELECT pool FROM subscriptions WHERE name = $6), ''), "
       "$7, $6, $8) RETURNING id"),
  same("UPDATE agents SET last_apply = $1, last_apply_at = $2, "
       "applied_generation = CASE WHEN $3 <> 0 AND applied_generation < $4 "
       "THEN $4 ELSE applied_generation END WHERE name = $5"),
  same("UPDATE switch_history SET apply_result = $1, applied_at = $2 "
       "WHERE agent = $3 AND generation = $4"),
  same("SELECT to_subscription FROM switch_history "
       "WHERE agent = $1 AND generation = $2 ORDER BY id LIMIT 1"),
  // Status counts this node's agents in one scan: in SQLite every agent,
  // in PostgreSQL those of node $1 ('' = those without an owner).
  {"SELECT COUNT(*) FILTER (WHERE generation > applied_generation), "
   "COUNT(*) FILTER (WHERE COALESCE(container, '') <> '') FROM agents",
   "SELECT COUNT(*) FILTER (WHERE generation > applied_generation), "
   "COUNT(*) FILTER (WHERE COALESCE(container, '') <> '') FROM agents "
   "WHERE owner = $1 OR ($1 = '' AND owner IS NULL)"},
  // -- failure events
  same("INSERT INTO failure_events(agent, subscription, kind, reason, status, "
       "message, source, execution_id, reset_at, occurred_at) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"),
  // The reads of events, history and notifications: newest first, below
  // the cursor (id < $n); "from the newest" binds the largest id, so the
  // id's index serves every page (see id_bound).
  same("SELECT id, agent, subscription, kind, reason, status, message, "
       "source, execution_id, reset_at, occurred_at FROM failure_events "
       "WHERE (CAST($1 AS TEXT) = '' OR agent = $1) "
       "AND (CAST($2 AS TEXT) = '' OR subscription = $2) AND id < $3 "
       "ORDER BY id DESC LIMIT $4"),
  // Any switch-class failure inside the window counts; one without a reset
  // instant excludes for the exclusion window, one with a reset instant
  // until that instant, however old the event that carried it. Two
  // queries, each on its index.
  same("SELECT subscription, MAX(occurred_at), "
       "MAX(CASE WHEN reset_at IS NULL THEN occurred_at END) "
       "FROM failure_events WHERE occurred_at > $1 AND " SB_EXCLUDING
       "GROUP BY subscription"),
  same("SELECT subscription, MAX(reset_at) FROM failure_events "
       "WHERE reset_at > $1 AND " SB_EXCLUDING "GROUP BY subscription"),
  same("SELECT subscription, kind, COUNT(*) FROM failure_events "
       "WHERE occurred_at > $1 AND kind <> 'ignored' "
       "GROUP BY subscription, kind"),
  same("DELETE FROM failure_events WHERE id IN (SELECT id FROM failure_events "
       "WHERE occurred_at < $1 ORDER BY occurred_at, id LIMIT $2)"),
  // -- provider evidence. Keyed by name: a subscription removed meanwhile
  // selects no row, so nothing is written. Parameters in a SELECT list are
  // cast: PostgreSQL cannot infer their types there.
  same("INSERT INTO subscription_evidence(subscription_id, status, "
       "status_at, status_reset, utilization_5h, utilization_5h_at, "
       "reset_5h, utilization_7d, utilization_7d_at, reset_7d, evidence_at, "
       "readmitted_at) SELECT id, CAST($2 AS TEXT), CAST($3 AS TEXT), "
       "CAST($4 AS TEXT), CAST($5 AS DOUBLE PRECISION), CAST($6 AS TEXT), "
       "CAST($7 AS TEXT), CAST($8 AS DOUBLE PRECISION), CAST($9 AS TEXT), "
       "CAST($10 AS TEXT), CAST($11 AS TEXT), CAST($12 AS TEXT) "
       "FROM subscriptions WHERE name = $1 "
       "ON CONFLICT (subscription_id) DO UPDATE SET "
       "status = excluded.status, status_at = excluded.status_at, "
       "status_reset = excluded.status_reset, "
       "utilization_5h = excluded.utilization_5h, "
       "utilization_5h_at = excluded.utilization_5h_at, "
       "reset_5h = excluded.reset_5h, "
       "utilization_7d = excluded.utilization_7d, "
       "utilization_7d_at = excluded.utilization_7d_at, "
       "reset_7d = excluded.reset_7d, evidence_at = excluded.evidence_at, "
       "readmitted_at = excluded.readmitted_at"),
  same("SELECT s.name, e.status, e.status_at, e.status_reset, "
       "e.utilization_5h, e.utilization_5h_at, e.reset_5h, e.utilization_7d, "
       "e.utilization_7d_at, e.reset_7d, e.evidence_at, e.readmitted_at "
       "FROM subscription_evidence e "
       "JOIN subscriptions s ON s.id = e.subscription_id ORDER BY s.name"),
  // -- history, notifications, settings
  same("SELECT id, agent, from_subscription, to_subscription, trigger, "
       "failure_kind, event_count, generation, apply_result, at "
       "FROM switch_history WHERE (CAST($1 AS TEXT) = '' OR agent = $1) "
       "AND (CAST($2 AS TEXT) = '' OR from_subscription = $2 "
       "OR to_subscription = $2) AND id < $3 ORDER BY id DESC LIMIT $4"),
  same("INSERT INTO notifications(agent, kind, title, message, priority, "
       "created_at, subscription, pool, from_subscription, to_subscription, "
       "reason, reset_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
       "$11, $12) RETURNING id"),
  same(SB_NOTIFICATION_SELECT "WHERE (CAST($1 AS TEXT) = '' OR agent = $1) "
                              "AND id < $2 ORDER BY id DESC LIMIT $3"),
  same(SB_NOTIFICATION_SELECT "WHERE status = 'pending' ORDER BY id LIMIT $1"),
  // The partial index notifications_pending.
  same("SELECT count(*) FROM notifications WHERE status = 'pending'"),
  same("UPDATE notifications SET status = 'delivered', delivered_at = $1 "
       "WHERE id = $2"),
  same("SELECT key, value FROM settings"),
  same("INSERT INTO settings(key, value, updated_at) VALUES ($1, $2, $3) "
       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
       "updated_at = excluded.updated_at"),
  // -- credentials: a new import starts a new chain (claims and rejected
  // tokens forgotten) and keeps the count of refreshes so far.
  same("INSERT INTO credentials(subscription_id, kind, expires_at, issued_at, "
       "scopes, refresh_token, refresh_sha256, id_token, account_id, "
       "token_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
       "ON CONFLICT (subscription_id) DO UPDATE SET kind = excluded.kind, "
       "expires_at = excluded.expires_at, issued_at = excluded.issued_at, "
       "scopes = excluded.scopes, refresh_token = excluded.refresh_token, "
       "refresh_sha256 = excluded.refresh_sha256, "
       "id_token = excluded.id_token, account_id = excluded.account_id, "
       "token_url = excluded.token_url, rejected_sha256 = '', "
       "claim_by = '', claim_until = 0"),
  same("DELETE FROM credentials WHERE subscription_id = $1"),
  same("SELECT s.name, s.provider, s.pool, c.expires_at, c.issued_at, "
       "c.refreshed_at, c.refreshes, s.retired, c.refresh_sha256, c.kind "
       "FROM credentials c JOIN subscriptions s ON s.id = c.subscription_id "
       "WHERE c.expires_at IS NOT NULL ORDER BY s.name"),
  // The claim: one holder at a time across the nodes, until claim_until
  // (a node that died mid-refresh holds it no longer than its lease).
  same("UPDATE credentials SET claim_by = $1, claim_until = $2 "
       "WHERE subscription_id = (SELECT id FROM subscriptions WHERE name = $3) "
       "AND kind = 'oauth' AND (claim_until < $4 OR claim_by = $1)"),
  same("SELECT s.name, s.provider, s.pool, c.expires_at, c.issued_at, "
       "c.refreshed_at, c.refreshes, s.retired, c.refresh_sha256, c.kind, "
       "c.refresh_token, c.token_url, c.rejected_sha256, c.claim_by, "
       "c.claim_until, s.id, c.scopes FROM credentials c "
       "JOIN subscriptions s ON s.id = c.subscription_id WHERE s.name = $1"),
  // A grant: the new refresh token (or the old one when the answer had
  // none) is written with the access token, in one transaction.
  same("UPDATE credentials SET expires_at = $1, issued_at = $2, "
       "refreshed_at = $2, refreshes = refreshes + 1, "
       "refresh_token = COALESCE($3, refresh_token), "
       "refresh_sha256 = COALESCE($4, refresh_sha256), "
       "id_token = COALESCE($5, id_token), scopes = COALESCE($6, scopes), "
       "rejected_sha256 = '', claim_by = '', claim_until = 0 "
       "WHERE subscription_id = $7"),
  same(
    "UPDATE credentials SET claim_by = '', claim_until = 0, "
    "rejected_sha256 = CASE WHEN CAST($2 AS TEXT) = '' "
    "THEN rejected_sha256 ELSE $2 END "
    "WHERE subscription_id = (SELECT id FROM subscriptions WHERE name = $1)"),
  // -- notification sinks
  // A new sink takes the notifications that come after it.
  same("INSERT INTO sinks(name, kind, url, host, signing_secret, chat_id, "
       "events, min_severity, digest, created_at, since_id) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
       "(SELECT COALESCE(MAX(id), 0) FROM notifications)) "
       "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
       "url = excluded.url, host = excluded.host, "
       "signing_secret = excluded.signing_secret, chat_id = excluded.chat_id, "
       "events = excluded.events, min_severity = excluded.min_severity, "
       "digest = excluded.digest"),
  same("DELETE FROM sinks WHERE name = $1"),
  same("SELECT id FROM sinks WHERE name = $1"),
  same("SELECT id, name, kind, host, signing_secret, events, min_severity, "
       "digest, created_at, url, chat_id, since_id FROM sinks ORDER BY name"),
  // What a sink has to deliver: the notifications since it was added that
  // it has not tried, and those whose retry is due and that no other node
  // has taken ($5: this node).
  same("SELECT n.id, n.agent, n.kind, n.title, n.message, n.priority, "
       "n.status, n.created_at, n.subscription, n.pool, n.from_subscription, "
       "n.to_subscription, n.reason, n.reset_at, COALESCE(d.attempts, 0) "
       "FROM notifications n LEFT JOIN sink_deliveries d "
       "ON d.notification_id = n.id AND d.sink_id = $1 WHERE n.id > $2 "
       "AND (d.state IS NULL OR (d.state = 'pending' AND d.next_at <= $3 "
       "AND (d.lease_until <= $3 OR d.lease_by = $5))) "
       "ORDER BY n.id LIMIT $4"),
  // Takes one of them until $4 for node $5: no row if another node took it
  // meanwhile (PostgreSQL re-checks the condition on the locked row).
  same("INSERT INTO sink_deliveries(sink_id, notification_id, state, "
       "attempts, next_at, updated_at, lease_by, lease_until) "
       "VALUES ($1, $2, 'pending', 0, 0, $3, $5, $4) "
       "ON CONFLICT (sink_id, notification_id) DO UPDATE SET "
       "lease_by = excluded.lease_by, lease_until = excluded.lease_until "
       "WHERE sink_deliveries.state = 'pending' "
       "AND sink_deliveries.next_at <= $3 "
       "AND (sink_deliveries.lease_until <= $3 "
       "OR sink_deliveries.lease_by = $5)"),
  same("INSERT INTO sink_deliveries(sink_id, notification_id, state, "
       "attempts, next_at, last_status, last_error, updated_at) "
       "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
       "ON CONFLICT (sink_id, notification_id) DO UPDATE SET "
       "state = excluded.state, attempts = excluded.attempts, "
       "next_at = excluded.next_at, last_status = excluded.last_status, "
       "last_error = excluded.last_error, updated_at = excluded.updated_at, "
       "lease_by = '', lease_until = 0"),
  same("DELETE FROM sink_deliveries WHERE sink_id = "
       "(SELECT id FROM sinks WHERE name = $1)"),
  same("SELECT s.name, d.notification_id, d.attempts, d.last_status, "
       "d.last_error, d.updated_at FROM sink_deliveries d "
       "JOIN sinks s ON s.id = d.sink_id WHERE d.state = 'failed' "
       "ORDER BY d.notification_id DESC LIMIT $1"),
  // How a sink's deliveries went: counts, the last delivered, and the
  // newest attempt with an answer or an error.
  same("SELECT s.id, "
       "(SELECT COUNT(*) FROM sink_deliveries d WHERE d.sink_id = s.id "
       "AND d.state = 'delivered'), "
       "(SELECT COUNT(*) FROM sink_deliveries d WHERE d.sink_id = s.id "
       "AND d.state = 'failed'), "
       "(SELECT COUNT(*) FROM notifications n WHERE n.id > s.since_id "
       "AND NOT EXISTS (SELECT 1 FROM sink_deliveries d WHERE d.sink_id = s.id "
       "AND d.notification_id = n.id AND d.state <> 'pending')), "
       "(SELECT COALESCE(MAX(d.updated_at), 0) FROM sink_deliveries d "
       "WHERE d.sink_id = s.id AND d.state = 'delivered') FROM sinks s"),
  same("SELECT last_status, last_error FROM sink_deliveries "
       "WHERE sink_id = $1 AND attempts > 0 "
       "ORDER BY updated_at DESC, notification_id DESC LIMIT 1"),
};

static_assert(std::size(texts) == static_cast<size_t>(sq::count),
              "one text per statement, in the order of enum sq");

} // namespace

const char* sql_text(sq id, dialect d) {
  auto& e = texts[static_cast<size_t>(id)];
  return d == dialect::sqlite ? e.sqlite : e.postgres;
}

bool sql_preparable(sq id, dialect d) {
  return d == dialect::sqlite || texts[static_cast<size_t>(id)].preparable;
}

} // namespace sb
