#pragma once

// The SQLite backend of the STORE (store.hpp): one connection (SQLiteCpp) to
// one file, WAL, one daemon per file (db_lock.hpp). The embedded default.
// The rules are sql_store's; here what is SQLite's own: the connection and
// transactions (store.cpp), the file, the key, checkpoints and backups
// (store_files.cpp). Opened by store::open.

#include "persistence/sql_store.hpp"

namespace sb {

class sqlite_store final : public sql_store {
public:
  ~sqlite_store() override;

  uint64_t wal_bytes() const override;
  caf::expected<bool> checkpoint() override;
  caf::error backup(const std::string& target) override;

  caf::error begin() override;
  caf::error probe_write() override;
  caf::error commit() override;
  void rollback() override;

private:
  friend class store;
  struct impl;
  explicit sqlite_store(std::unique_ptr<impl> ptr);

  sql_connection& sql() override;

  std::unique_ptr<impl> impl_;
};

} // namespace sb
