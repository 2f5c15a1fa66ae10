#include "persistence/statements.hpp"

// The columns of one agent row, joined with its subscription's name.
#define SB_AGENT_SELECT                                                        \
  "SELECT a.id, a.name, a.subscription_id, s.name, a.container, "              \
  "a.generation, a.applied_generation, a.auto_switch, a.last_apply, "          \
  "a.last_apply_at, a.last_switch_at, a.created_at FROM agents a "             \
  "LEFT JOIN subscriptions s ON s.id = a.subscription_id"

#define SB_NOTIFICATION_SELECT                                                 \
  "SELECT id, agent, kind, title, message, priority, status, created_at "      \
  "FROM notifications "

namespace sb {

statements::statements(SQLite::Database& db)
    : savepoint(db, "SAVEPOINT w"), release(db, "RELEASE w"),
      rollback_to(db, "ROLLBACK TO w"),
      subscription_by_name(
        db, "SELECT id, created_at FROM subscriptions WHERE name = ?"),
      update_token(db, "UPDATE subscriptions SET token = ?, updated_at = ? "
                       "WHERE id = ?"),
      insert_subscription(db, "INSERT INTO subscriptions(name, token, "
                              "created_at, updated_at) VALUES (?, ?, ?, ?)"),
      agents_of_subscription(
        db, "SELECT name FROM agents WHERE subscription_id = ? ORDER BY name"),
      unassign_agents(db, "UPDATE agents SET subscription_id = NULL "
                          "WHERE subscription_id = ?"),
      delete_subscription(db, "DELETE FROM subscriptions WHERE id = ?"),
      list_subscriptions(db, "SELECT id, name, token, created_at, updated_at "
                             "FROM subscriptions ORDER BY name"),
      owner_of_token(
        db, "SELECT subscription FROM token_versions WHERE sha256 = ?"),
      insert_token_version(db, "INSERT OR IGNORE INTO token_versions("
                               "subscription, sha256, created_at) "
                               "VALUES (?, ?, ?)"),
      delete_token_versions(
        db, "DELETE FROM token_versions WHERE subscription = ?"),
      list_token_versions(db, "SELECT subscription, sha256, created_at FROM "
                              "token_versions ORDER BY id"),
      agent_exists(db, "SELECT 1 FROM agents WHERE name = ?"),
      insert_agent(db, "INSERT INTO agents(name, subscription_id, container, "
                       "created_at, updated_at) VALUES (?, ?, ?, ?, ?)"),
      delete_agent(db, "DELETE FROM agents WHERE name = ?"),
      list_agents(db, SB_AGENT_SELECT),
      agent_by_name(db, SB_AGENT_SELECT " WHERE a.name = ?"),
      set_auto_switch(
        db, "UPDATE agents SET auto_switch = ?, updated_at = ? WHERE name = ?"),
      subscription_name_by_id(db,
                              "SELECT name FROM subscriptions WHERE id = ?"),
      switch_agent(db, "UPDATE agents SET subscription_id = ?, "
                       "generation = generation + 1, last_switch_at = ?, "
                       "updated_at = ? WHERE name = ? AND generation = ?"),
      insert_history(
        db, "INSERT INTO switch_history(agent, from_subscription, "
            "to_subscription, trigger, failure_kind, event_count, generation, "
            "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
      insert_switch_notification(
        db,
        "INSERT INTO notifications(agent, kind, generation, title, message, "
        "priority, created_at) VALUES (?, 'switch', ?, ?, ?, 'high', ?)"),
      record_apply_on_agent(
        db, "UPDATE agents SET last_apply = ?, last_apply_at = ?, "
            "applied_generation = CASE WHEN ? AND applied_generation < ? "
            "THEN ? ELSE applied_generation END WHERE name = ?"),
      record_apply_on_history(
        db, "UPDATE switch_history SET apply_result = ?, applied_at = ? "
            "WHERE agent = ? AND generation = ?"),
      subscription_of_generation(db,
                                 "SELECT to_subscription FROM switch_history "
                                 "WHERE agent = ? AND generation = ?"),
      // One scan of the agents for status (one daemon per file: every
      // agent is this node's).
      count_agents(db, "SELECT COUNT(*) FILTER (WHERE generation > "
                       "applied_generation), COUNT(*) FILTER (WHERE "
                       "COALESCE(container, '') <> '') FROM agents"),
      insert_event(
        db, "INSERT INTO failure_events(agent, subscription, kind, reason, "
            "status, message, source, execution_id, reset_at, occurred_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      // The reads of events, history and notifications: newest first, below
      // the cursor (id < ?); "from the newest" binds the largest id, so the
      // rowid range serves every page (see id_bound).
      list_events(
        db, "SELECT id, agent, subscription, kind, reason, status, message, "
            "source, execution_id, reset_at, occurred_at FROM failure_events "
            "WHERE (?1 = '' OR agent = ?1) AND (?2 = '' OR subscription = ?2) "
            "AND id < ?3 ORDER BY id DESC LIMIT ?4"),
      // Any switch-class failure inside the window counts; one without a
      // reset instant excludes for the exclusion window, one with a reset
      // instant until that instant, however old the event that carried it.
      // Two queries, each on its index.
      newest_failures(
        db, "SELECT subscription, MAX(occurred_at), "
            "MAX(CASE WHEN reset_at IS NULL THEN occurred_at END) "
            "FROM failure_events WHERE occurred_at > ? AND kind <> 'ignored' "
            "GROUP BY subscription"),
      future_resets(
        db, "SELECT subscription, MAX(reset_at) FROM failure_events "
            "WHERE reset_at > ? AND kind <> 'ignored' GROUP BY subscription"),
      count_failures(db, "SELECT subscription, kind, COUNT(*) FROM "
                         "failure_events WHERE occurred_at > ? AND kind <> "
                         "'ignored' GROUP BY subscription, kind"),
      delete_old_events(
        db, "DELETE FROM failure_events WHERE id IN (SELECT id FROM "
            "failure_events WHERE occurred_at < ? ORDER BY occurred_at "
            "LIMIT ?)"),
      // Keyed by name: a subscription removed meanwhile selects no row, so
      // nothing is written (its evidence went with it).
      save_evidence(
        db, "INSERT INTO subscription_evidence(subscription_id, status, "
            "status_at, status_reset, utilization_5h, utilization_5h_at, "
            "reset_5h, utilization_7d, utilization_7d_at, reset_7d, "
            "evidence_at, readmitted_at) "
            "SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 "
            "FROM subscriptions WHERE name = ?1 "
            "ON CONFLICT(subscription_id) DO UPDATE SET "
            "status = excluded.status, status_at = excluded.status_at, "
            "status_reset = excluded.status_reset, "
            "utilization_5h = excluded.utilization_5h, "
            "utilization_5h_at = excluded.utilization_5h_at, "
            "reset_5h = excluded.reset_5h, "
            "utilization_7d = excluded.utilization_7d, "
            "utilization_7d_at = excluded.utilization_7d_at, "
            "reset_7d = excluded.reset_7d, "
            "evidence_at = excluded.evidence_at, "
            "readmitted_at = excluded.readmitted_at"),
      list_evidence(
        db, "SELECT s.name, e.status, e.status_at, e.status_reset, "
            "e.utilization_5h, e.utilization_5h_at, e.reset_5h, "
            "e.utilization_7d, e.utilization_7d_at, e.reset_7d, "
            "e.evidence_at, e.readmitted_at FROM subscription_evidence e "
            "JOIN subscriptions s ON s.id = e.subscription_id "
            "ORDER BY s.name"),
      list_history(
        db, "SELECT id, agent, from_subscription, to_subscription, trigger, "
            "failure_kind, event_count, generation, apply_result, at "
            "FROM switch_history WHERE (?1 = '' OR agent = ?1) "
            "AND (?2 = '' OR from_subscription = ?2 OR to_subscription = ?2) "
            "AND id < ?3 ORDER BY id DESC LIMIT ?4"),
      insert_notification(
        db, "INSERT INTO notifications(agent, kind, title, message, priority, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)"),
      list_notifications(db, SB_NOTIFICATION_SELECT
                         "WHERE (?1 = '' OR agent = ?1) AND id < ?2 "
                         "ORDER BY id DESC LIMIT ?3"),
      pending_notifications(db, SB_NOTIFICATION_SELECT
                            "WHERE status = 'pending' ORDER BY id LIMIT ?"),
      mark_delivered(db, "UPDATE notifications SET status = 'delivered', "
                         "delivered_at = ? WHERE id = ?"),
      list_settings(db, "SELECT key, value FROM settings"),
      put_setting(db,
                  "INSERT INTO settings(key, value, updated_at) "
                  "VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                  "value = excluded.value, updated_at = excluded.updated_at") {
  // nop
}

} // namespace sb
