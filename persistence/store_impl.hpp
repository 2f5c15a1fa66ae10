#pragma once

// The store's private state, shared by store.cpp (the operations) and
// store_files.cpp (opening, the key, checkpoints, backups). Not for users of
// the store.

#include "messages/error.hpp"
#include "persistence/sqlite_store.hpp"
#include "persistence/statements.hpp"
#include "persistence/token_cipher.hpp"

#include <SQLiteCpp/Database.h>

#include <functional>
#include <memory>
#include <string>

namespace sb {

struct sqlite_store::impl {
  std::string path;
  SQLite::Database db;
  int busy_timeout_ms;
  /// Seals and opens the tokens column (open() sets the database's key).
  token_cipher cipher = token_cipher::random_key();
  /// The key file ("" for a key in memory).
  std::string key_file;
  /// Plain tokens sealed by open().
  size_t sealed_at_open = 0;
  /// Prepared by open() once the schema is current.
  std::unique_ptr<statements> sql;
  std::function<bool()> veto;

  impl(const std::string& p, int flags, int busy)
      : path(p), db(p, flags, busy), busy_timeout_ms(busy) {
    // nop
  }

  template<class F>
  auto guard(const char* what, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) { // SQLite::Exception included
      return make_error(ec::store_failure,
                        std::string{what} + " failed: " + e.what());
    }
  }

  caf::expected<stored_agent> read_agent(const std::string& name);
};

} // namespace sb
