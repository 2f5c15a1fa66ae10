#pragma once

// The SQLite backend of the STORE (store.hpp): one connection (SQLiteCpp) to
// one file, WAL, one daemon per file (db_lock.hpp). The embedded default.
// Its private state is in store_impl.hpp; the operations in store.cpp, the
// file handling (open, key, checkpoints, backups) in store_files.cpp.

#include "persistence/store.hpp"

namespace sb {

class sqlite_store final : public store {
public:
  ~sqlite_store() override;

  const std::string& path() const override;

  const std::string& key_file() const override;

  size_t sealed_at_open() const override;

  // -- maintenance
  // --------------------------------------------------------------

  uint64_t wal_bytes() const override;

  caf::expected<bool> checkpoint() override;

  caf::error backup(const std::string& target) override;

  // -- transactions
  // -------------------------------------------------------------

  caf::error begin() override;

  caf::error probe_write() override;
  caf::error commit() override;
  void rollback() override;
  caf::error savepoint() override;
  caf::error release() override;
  void rollback_to() override;

  void set_commit_veto(std::function<bool()> veto) override;

  // -- subscriptions
  // ------------------------------------------------------------

  caf::expected<subscription_upsert> put_subscription(const std::string& name,
                                                      const std::string& token,
                                                      millis now) override;

  caf::expected<std::vector<std::string>>
  remove_subscription(const std::string& name) override;

  caf::expected<std::vector<stored_subscription>> subscriptions() override;

  caf::expected<std::vector<token_version>> token_versions() override;

  // -- agents
  // -------------------------------------------------------------------

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

  // -- failure events
  // -----------------------------------------------------------

  caf::expected<int64_t> add_event(const event_info& ev) override;
  caf::expected<std::vector<event_info>> events(const query& q) override;

  caf::expected<std::vector<exclusion_seed>>
  exclusion_seeds(millis since, millis now) override;

  caf::expected<std::vector<failure_count>>
  failure_counts(millis since) override;

  caf::expected<uint64_t> delete_events_before(millis cutoff,
                                               uint32_t batch) override;

  // -- provider evidence
  // --------------------------------------------------------

  caf::error save_evidence(const stored_evidence& ev) override;

  caf::expected<std::vector<stored_evidence>> evidence() override;

  // -- history and notifications
  // ------------------------------------------------

  caf::expected<std::vector<history_info>> history(const query& q) override;
  caf::expected<int64_t> add_notification(const notification_info& n) override;
  caf::expected<std::vector<notification_info>>
  notifications(const query& q) override;
  caf::error mark_delivered(int64_t id, millis at) override;

  caf::expected<std::vector<notification_info>>
  pending_notifications(uint32_t limit) override;

  caf::expected<uint64_t> count_pending_notifications() override;

  // -- settings
  // -----------------------------------------------------------------

  caf::expected<settings_map> settings() override;
  caf::error put_setting(const std::string& key, const std::string& value,
                         millis now) override;

private:
  friend class store;
  struct impl;
  explicit sqlite_store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace sb
