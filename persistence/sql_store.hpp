#pragma once

// The store's rules, written once over an sql_connection (sql.hpp): what a
// switch commit checks and writes, what an apply record changes, how rows
// become records, the queries and their paging. The backends derive from it
// and add what truly differs: opening, transactions, locking, files (SQLite:
// sqlite_store.hpp) and nodes (PostgreSQL: postgres_store.hpp).

#include "persistence/sql.hpp"
#include "persistence/store.hpp"

#include <optional>

namespace sb {

class sql_store : public store {
public:
  const std::string& path() const override { return path_; }
  const std::string& key_file() const override { return key_file_; }
  size_t sealed_at_open() const override { return sealed_at_open_; }

  /// A database server keeps its own log: no WAL file here and nothing to
  /// checkpoint. SQLite overrides both.
  uint64_t wal_bytes() const override { return 0; }
  caf::expected<bool> checkpoint() override { return true; }

  /// The backends' commit() asks it (SQLite in its commit hook).
  void set_commit_veto(std::function<bool()> veto) override {
    veto_ = std::move(veto);
  }

  caf::error savepoint() override;
  caf::error release() override;
  void rollback_to() override;

  caf::expected<subscription_upsert>
  upsert_subscription(const subscription_spec& spec, millis now) override;
  caf::error save_standing(const subscription_standing& s) override;
  caf::expected<std::vector<std::string>>
  remove_subscription(const std::string& name) override;
  caf::expected<std::vector<stored_subscription>> subscriptions() override;
  caf::expected<std::vector<token_version>> token_versions() override;

  caf::expected<std::vector<stored_credential>> credentials() override;
  caf::expected<refresh_claim> claim_refresh(const std::string& name,
                                             millis now, millis lease) override;
  caf::expected<subscription_upsert>
  complete_refresh(const refresh_grant& grant, millis now) override;
  caf::error release_refresh(const std::string& name,
                             const std::string& rejected_sha256) override;

  caf::expected<sink_info> put_sink(const sink_spec& spec, millis now) override;
  caf::error remove_sink(const std::string& name) override;
  caf::expected<std::vector<stored_sink>> sinks() override;
  caf::expected<std::vector<sink_status>> sink_statuses() override;
  caf::expected<std::vector<delivery_due>>
  take_deliveries(const stored_sink& sink, millis now, uint32_t limit,
                  millis lease) override;
  caf::error record_delivery(const delivery_record& rec, millis now) override;
  caf::expected<std::vector<delivery_failure>>
  failed_deliveries(uint32_t limit) override;

  caf::expected<stored_agent> add_agent(const agent_spec& spec,
                                        millis now) override;
  caf::error remove_agent(const std::string& name) override;
  caf::expected<std::vector<stored_agent>> agents() override;
  caf::expected<stored_agent> agent(const std::string& name) override;
  caf::error set_agent_auto_switch(const std::string& name,
                                   auto_switch_mode value, millis now) override;
  caf::expected<switch_commit> commit_switch(const switch_record& rec) override;
  caf::error record_apply(const apply_record& rec) override;
  caf::expected<std::string>
  subscription_of_generation(const std::string& agent,
                             uint64_t generation) override;
  caf::expected<agent_counts> count_agents() override;

  caf::expected<int64_t> add_event(const event_info& ev) override;
  caf::expected<std::vector<event_info>> events(const query& q) override;
  caf::expected<std::vector<exclusion_seed>>
  exclusion_seeds(millis since, millis now) override;
  caf::expected<std::vector<failure_count>>
  failure_counts(millis since) override;
  caf::expected<uint64_t> delete_events_before(millis cutoff,
                                               uint32_t batch) override;

  caf::error save_evidence(const stored_evidence& ev) override;
  caf::expected<std::vector<stored_evidence>> evidence() override;

  caf::expected<std::vector<history_info>> history(const query& q) override;
  caf::expected<int64_t> add_notification(const notification_info& n) override;
  caf::expected<std::vector<notification_info>>
  notifications(const query& q) override;
  caf::error mark_delivered(int64_t id, millis at) override;
  caf::expected<std::vector<notification_info>>
  pending_notifications(uint32_t limit) override;
  caf::expected<uint64_t> count_pending_notifications() override;

  caf::expected<settings_map> settings() override;
  caf::error put_setting(const std::string& key, const std::string& value,
                         millis now) override;

protected:
  /// The connection of the dialect; it lives as long as the store.
  virtual sql_connection& sql() = 0;

  /// Several nodes: the stale answer if `rec.to_id` has more agents than
  /// another candidate of rec.balance, counting the other nodes' agents.
  virtual std::optional<switch_commit> check_balance(const switch_record&) {
    return std::nullopt;
  }

  /// Runs `f` for operation `what`: its exceptions become errors.
  template<class F>
  auto guard(const char* what, F&& f) -> decltype(f()) {
    auto& c = sql();
    if (auto err = c.ready(what))
      return err;
    try {
      return f();
    } catch (const std::exception& e) {
      return c.failure(what, e);
    }
  }

  caf::expected<stored_agent> read_agent(const std::string& name);

  /// Fills in a new subscription's provider and pool from `spec` and checks
  /// them: against the pool's provider, or for a rotation against the
  /// subscription's own.
  caf::error check_pool(subscription_upsert& up, const subscription_spec& spec);

  /// Writes (or drops) the credential row of a subscription just upserted.
  void put_credential(const subscription_upsert& up,
                      const subscription_spec& spec, millis now);

  /// Operation `what`: every row of query `q` (a statement's id or a
  /// one-off text) made a record by `read`.
  template<class Query, class Row>
  auto list(const char* what, const Query& q, sql_params args, Row read) {
    using record = decltype(read(std::declval<const sql_row&>()));
    return guard(what, [&]() -> caf::expected<std::vector<record>> {
      std::vector<record> out;
      sql().run(q, args, [&](const sql_row& r) { out.emplace_back(read(r)); });
      return out;
    });
  }

  /// Operation `what`: runs statement `id`; `pool` marks a change of the
  /// shared pool.
  caf::error write(const char* what, sq id, sql_params args, bool pool);

  /// The database (a PostgreSQL URL without its password), the key file
  /// ("" for a key in memory), the seal of the tokens column, and how many
  /// plain tokens open() sealed: open() sets them.
  std::string path_;
  std::string key_file_;
  token_cipher cipher_ = token_cipher::random_key();
  size_t sealed_at_open_ = 0;
  std::function<bool()> veto_;
  /// The node this connection acts for ("" = none: no fence but the
  /// generation) and its lease epoch (set_node; PostgreSQL only).
  std::string node_;
  int64_t epoch_ = 0;
  /// This transaction wrote what other nodes' pools read (subscriptions,
  /// agents, assignments, failures, evidence): PostgreSQL's commit()
  /// notifies them.
  bool pool_changed_ = false;
};

} // namespace sb
