// Every SQL statement of the PostgreSQL store: SQLite's (statements.cpp) in
// PostgreSQL's dialect. $n parameters, RETURNING id instead of the last
// rowid, ON CONFLICT DO NOTHING instead of INSERT OR IGNORE, and an explicit
// ORDER BY wherever SQLite's answer came in rowid order.

#include "persistence/postgres_impl.hpp"

// The columns of one agent row, joined with its subscription's name.
#define SB_PG_AGENT_SELECT                                                     \
  "SELECT a.id, a.name, a.subscription_id, s.name, a.container, "              \
  "a.generation, a.applied_generation, a.auto_switch, a.last_apply, "          \
  "a.last_apply_at, a.last_switch_at, a.created_at FROM agents a "             \
  "LEFT JOIN subscriptions s ON s.id = a.subscription_id"

#define SB_PG_NOTIFICATION_SELECT                                              \
  "SELECT id, agent, kind, title, message, priority, status, created_at "      \
  "FROM notifications "

namespace sb::pg {

// -- subscriptions
// ----------------------------------------------------------------

const pg_statement subscription_by_name{
  "subscription_by_name",
  "SELECT id, created_at FROM subscriptions WHERE name = $1"};
const pg_statement update_token{
  "update_token",
  "UPDATE subscriptions SET token = $1, updated_at = $2 WHERE id = $3"};
const pg_statement insert_subscription{
  "insert_subscription",
  "INSERT INTO subscriptions(name, token, created_at, updated_at) "
  "VALUES ($1, $2, $3, $4) RETURNING id"};
const pg_statement agents_of_subscription{
  "agents_of_subscription",
  "SELECT name FROM agents WHERE subscription_id = $1 ORDER BY name"};
const pg_statement unassign_agents{
  "unassign_agents",
  "UPDATE agents SET subscription_id = NULL WHERE subscription_id = $1"};
const pg_statement delete_subscription{
  "delete_subscription", "DELETE FROM subscriptions WHERE id = $1"};
const pg_statement list_subscriptions{
  "list_subscriptions", "SELECT id, name, token, created_at, updated_at "
                        "FROM subscriptions ORDER BY name"};
const pg_statement owner_of_token{
  "owner_of_token",
  "SELECT subscription FROM token_versions WHERE sha256 = $1"};
const pg_statement insert_token_version{
  "insert_token_version",
  "INSERT INTO token_versions(subscription, sha256, created_at) "
  "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"};
const pg_statement delete_token_versions{
  "delete_token_versions",
  "DELETE FROM token_versions WHERE subscription = $1"};
const pg_statement list_token_versions{
  "list_token_versions", "SELECT subscription, sha256, created_at FROM "
                         "token_versions ORDER BY id"};

// -- agents
// -----------------------------------------------------------------------

const pg_statement agent_exists{"agent_exists",
                                "SELECT 1 FROM agents WHERE name = $1"};
const pg_statement insert_agent{
  "insert_agent", "INSERT INTO agents(name, subscription_id, container, "
                  "created_at, updated_at, owner) "
                  "VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''))"};
const pg_statement delete_agent{"delete_agent",
                                "DELETE FROM agents WHERE name = $1"};
const pg_statement list_agents{"list_agents",
                               SB_PG_AGENT_SELECT " ORDER BY a.id"};
const pg_statement agent_by_name{"agent_by_name",
                                 SB_PG_AGENT_SELECT " WHERE a.name = $1"};
const pg_statement set_auto_switch{
  "set_auto_switch",
  "UPDATE agents SET auto_switch = $1, updated_at = $2 WHERE name = $3"};
const pg_statement subscription_name_by_id{
  "subscription_name_by_id", "SELECT name FROM subscriptions WHERE id = $1"};
const pg_statement switch_agent{
  "switch_agent", "UPDATE agents SET subscription_id = $1, "
                  "generation = generation + 1, last_switch_at = $2, "
                  "updated_at = $2 WHERE name = $3 AND generation = $4 "
                  // The fence: only the owner, while its lease of this
                  // epoch runs ('' = a database without nodes).
                  "AND ($5::text = '' OR (owner = $5 AND EXISTS (SELECT 1 "
                  "FROM nodes WHERE name = $5 AND epoch = $6 "
                  "AND lease_until > clock_timestamp())))"};
// The other nodes' agents on a set of subscriptions (a balance check).
const pg_statement seats_of_others{
  "seats_of_others",
  "SELECT name, subscription_id FROM agents WHERE owner IS DISTINCT FROM $1 "
  "AND subscription_id = ANY($2::bigint[])"};
const pg_statement insert_history{
  "insert_history",
  "INSERT INTO switch_history(agent, from_subscription, to_subscription, "
  "trigger, failure_kind, event_count, generation, at) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"};
const pg_statement insert_switch_notification{
  "insert_switch_notification",
  "INSERT INTO notifications(agent, kind, generation, title, message, "
  "priority, created_at) VALUES ($1, 'switch', $2, $3, $4, 'high', $5) "
  "RETURNING id"};
const pg_statement record_apply_on_agent{
  "record_apply_on_agent",
  "UPDATE agents SET last_apply = $1, last_apply_at = $2, "
  "applied_generation = CASE WHEN $3::boolean AND applied_generation < $4 "
  "THEN $4 ELSE applied_generation END WHERE name = $5"};
const pg_statement record_apply_on_history{
  "record_apply_on_history",
  "UPDATE switch_history SET apply_result = $1, applied_at = $2 "
  "WHERE agent = $3 AND generation = $4"};
const pg_statement subscription_of_generation{
  "subscription_of_generation",
  "SELECT to_subscription FROM switch_history "
  "WHERE agent = $1 AND generation = $2 ORDER BY id LIMIT 1"};
// Status counts this node's agents only, in one query; a connection
// acting for no node counts the agents without an owner.
const pg_statement count_agents{
  "count_agents",
  "SELECT COUNT(*) FILTER (WHERE generation > applied_generation), "
  "COUNT(*) FILTER (WHERE COALESCE(container, '') <> '') FROM agents "
  "WHERE owner = $1 OR ($1 = '' AND owner IS NULL)"};

// -- failure events
// ---------------------------------------------------------------

const pg_statement insert_event{
  "insert_event",
  "INSERT INTO failure_events(agent, subscription, kind, reason, status, "
  "message, source, execution_id, reset_at, occurred_at) "
  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"};
// The reads of events, history and notifications: newest first, below the
// cursor (id < $n); "from the newest" binds the largest id, so the primary
// key's range serves every page (see id_bound).
const pg_statement list_events{
  "list_events",
  "SELECT id, agent, subscription, kind, reason, status, message, source, "
  "execution_id, reset_at, occurred_at FROM failure_events "
  "WHERE ($1::text = '' OR agent = $1) "
  "AND ($2::text = '' OR subscription = $2) AND id < $3 "
  "ORDER BY id DESC LIMIT $4"};
// Any switch-class failure inside the window counts; one without a reset
// instant excludes for the exclusion window, one with a reset instant until
// that instant, however old the event that carried it. Two queries, each on
// its index.
const pg_statement newest_failures{
  "newest_failures",
  "SELECT subscription, MAX(occurred_at), "
  "MAX(CASE WHEN reset_at IS NULL THEN occurred_at END) "
  "FROM failure_events WHERE occurred_at > $1 AND kind <> 'ignored' "
  "GROUP BY subscription"};
const pg_statement future_resets{
  "future_resets",
  "SELECT subscription, MAX(reset_at) FROM failure_events "
  "WHERE reset_at > $1 AND kind <> 'ignored' GROUP BY subscription"};
const pg_statement count_failures{
  "count_failures",
  "SELECT subscription, kind, COUNT(*) FROM failure_events "
  "WHERE occurred_at > $1 AND kind <> 'ignored' GROUP BY subscription, kind"};
const pg_statement delete_old_events{
  "delete_old_events",
  "DELETE FROM failure_events WHERE id IN (SELECT id FROM failure_events "
  "WHERE occurred_at < $1 ORDER BY occurred_at, id LIMIT $2)"};

// -- provider evidence
// ------------------------------------------------------------

// Keyed by name: a subscription removed meanwhile selects no row, so nothing
// is written (its evidence went with it). The parameters sit in a SELECT
// list, where PostgreSQL cannot infer their types: they are cast.
const pg_statement save_evidence{
  "save_evidence",
  "INSERT INTO subscription_evidence(subscription_id, status, status_at, "
  "status_reset, utilization_5h, utilization_5h_at, reset_5h, "
  "utilization_7d, utilization_7d_at, reset_7d, evidence_at, readmitted_at) "
  "SELECT id, $2::text, $3::text, $4::text, $5::double precision, $6::text, "
  "$7::text, $8::double precision, $9::text, $10::text, $11::text, $12::text "
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
  "readmitted_at = excluded.readmitted_at"};
const pg_statement list_evidence{
  "list_evidence",
  "SELECT s.name, e.status, e.status_at, e.status_reset, e.utilization_5h, "
  "e.utilization_5h_at, e.reset_5h, e.utilization_7d, e.utilization_7d_at, "
  "e.reset_7d, e.evidence_at, e.readmitted_at FROM subscription_evidence e "
  "JOIN subscriptions s ON s.id = e.subscription_id ORDER BY s.name"};

// -- history, notifications, settings
// ---------------------------------------------

const pg_statement list_history{
  "list_history",
  "SELECT id, agent, from_subscription, to_subscription, trigger, "
  "failure_kind, event_count, generation, apply_result, at "
  "FROM switch_history WHERE ($1::text = '' OR agent = $1) "
  "AND ($2::text = '' OR from_subscription = $2 OR to_subscription = $2) "
  "AND id < $3 ORDER BY id DESC LIMIT $4"};
const pg_statement insert_notification{
  "insert_notification",
  "INSERT INTO notifications(agent, kind, title, message, priority, "
  "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"};
const pg_statement list_notifications{
  "list_notifications", SB_PG_NOTIFICATION_SELECT
  "WHERE ($1::text = '' OR agent = $1) AND id < $2 ORDER BY id DESC "
  "LIMIT $3"};
const pg_statement pending_notifications{
  "pending_notifications",
  SB_PG_NOTIFICATION_SELECT "WHERE status = 'pending' ORDER BY id LIMIT $1"};
// The partial index notifications_pending.
const pg_statement count_pending_notifications{
  "count_pending_notifications",
  "SELECT count(*) FROM notifications WHERE status = 'pending'"};
const pg_statement mark_delivered{
  "mark_delivered", "UPDATE notifications SET status = 'delivered', "
                    "delivered_at = $1 WHERE id = $2"};
const pg_statement list_settings{"list_settings",
                                 "SELECT key, value FROM settings"};
const pg_statement put_setting{
  "put_setting",
  "INSERT INTO settings(key, value, updated_at) VALUES ($1, $2, $3) "
  "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
  "updated_at = excluded.updated_at"};

} // namespace sb::pg

namespace sb {

void prepare_statements(pqxx::connection_base& conn) {
  static const pg_statement* const all[] = {
    &pg::subscription_by_name,
    &pg::update_token,
    &pg::insert_subscription,
    &pg::agents_of_subscription,
    &pg::unassign_agents,
    &pg::delete_subscription,
    &pg::list_subscriptions,
    &pg::owner_of_token,
    &pg::insert_token_version,
    &pg::delete_token_versions,
    &pg::list_token_versions,
    &pg::agent_exists,
    &pg::insert_agent,
    &pg::delete_agent,
    &pg::list_agents,
    &pg::agent_by_name,
    &pg::set_auto_switch,
    &pg::subscription_name_by_id,
    &pg::switch_agent,
    &pg::seats_of_others,
    &pg::insert_history,
    &pg::insert_switch_notification,
    &pg::record_apply_on_agent,
    &pg::record_apply_on_history,
    &pg::subscription_of_generation,
    &pg::count_agents,
    &pg::insert_event,
    &pg::list_events,
    &pg::newest_failures,
    &pg::future_resets,
    &pg::count_failures,
    &pg::delete_old_events,
    &pg::save_evidence,
    &pg::list_evidence,
    &pg::list_history,
    &pg::insert_notification,
    &pg::list_notifications,
    &pg::pending_notifications,
    &pg::count_pending_notifications,
    &pg::mark_delivered,
    &pg::list_settings,
    &pg::put_setting,
  };
  for (const auto* st : all) {
    conn.prepare(st->name, st->sql);
    conn.prepare_now(st->name);
  }
}

} // namespace sb
