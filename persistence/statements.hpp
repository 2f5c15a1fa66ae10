#pragma once

// Every SQL statement the store runs, prepared by name once when the database
// opens (a typo in SQL fails at open, not at the first report), and borrowed
// for one use at a time: `use()` hands out a statement and resets it when the
// borrow ends, so no statement keeps a read snapshot open between uses (an
// open snapshot pins the WAL: it could never be checkpointed).

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

namespace sb {

struct statements {
  explicit statements(SQLite::Database& db);

  // -- transactions (one write of a batch each) ----------------------------
  SQLite::Statement savepoint;
  SQLite::Statement release;
  SQLite::Statement rollback_to;
  // -- subscriptions ----------------------------------------------------------
  SQLite::Statement subscription_by_name;
  SQLite::Statement update_token;
  SQLite::Statement insert_subscription;
  SQLite::Statement agents_of_subscription;
  SQLite::Statement unassign_agents;
  SQLite::Statement delete_subscription;
  SQLite::Statement list_subscriptions;
  SQLite::Statement owner_of_token;
  SQLite::Statement insert_token_version;
  SQLite::Statement delete_token_versions;
  SQLite::Statement list_token_versions;
  // -- agents -----------------------------------------------------------------
  SQLite::Statement agent_exists;
  SQLite::Statement insert_agent;
  SQLite::Statement delete_agent;
  SQLite::Statement list_agents;
  SQLite::Statement agent_by_name;
  SQLite::Statement set_auto_switch;
  SQLite::Statement subscription_name_by_id;
  SQLite::Statement switch_agent;
  SQLite::Statement insert_history;
  SQLite::Statement insert_switch_notification;
  SQLite::Statement record_apply_on_agent;
  SQLite::Statement record_apply_on_history;
  SQLite::Statement subscription_of_generation;
  SQLite::Statement count_agents;
  // -- failure events ---------------------------------------------------------
  SQLite::Statement insert_event;
  SQLite::Statement list_events;
  SQLite::Statement newest_failures;
  SQLite::Statement future_resets;
  SQLite::Statement count_failures;
  SQLite::Statement delete_old_events;
  // -- provider evidence -----------------------------------------------------
  SQLite::Statement save_evidence;
  SQLite::Statement list_evidence;
  // -- history, notifications, settings --------------------------------------
  SQLite::Statement list_history;
  SQLite::Statement insert_notification;
  SQLite::Statement list_notifications;
  SQLite::Statement pending_notifications;
  SQLite::Statement mark_delivered;
  SQLite::Statement list_settings;
  SQLite::Statement put_setting;
};

/// A statement borrowed for one use; reset and unbound when it goes.
class use {
public:
  explicit use(SQLite::Statement& st) : st_(st) { st_.tryReset(); }

  ~use() {
    st_.tryReset();
    try {
      st_.clearBindings();
    } catch (...) {
      // Only a misuse of the API fails here; the next bind overwrites.
    }
  }

  use(const use&) = delete;
  use& operator=(const use&) = delete;

  SQLite::Statement* operator->() { return &st_; }
  SQLite::Statement& operator*() { return st_; }

private:
  SQLite::Statement& st_;
};

} // namespace sb
