#pragma once

// One daemon per database. Two daemons on one file would both start and the
// first would then fail every write; instead the daemon takes an exclusive
// flock(2) on "<db-path>.lock" (created with mode 0600) before it opens the
// database and holds it for the life of the process. The kernel drops the
// lock when the process ends, however it ends (kill -9 included), so a stale
// lock file never blocks a start. The file holds the owner's pid, for the
// message a second daemon prints.

#include <caf/expected.hpp>

#include <string>

namespace sb {

class db_lock {
public:
  /// Locks the database at `db_path`, or says who holds it.
  static caf::expected<db_lock> acquire(const std::string& db_path);

  db_lock(db_lock&& other) noexcept;
  db_lock& operator=(db_lock&& other) noexcept;
  db_lock(const db_lock&) = delete;
  db_lock& operator=(const db_lock&) = delete;
  ~db_lock();

  const std::string& path() const { return path_; }

private:
  db_lock(int fd, std::string path);

  int fd_ = -1;
  std::string path_;
};

} // namespace sb
