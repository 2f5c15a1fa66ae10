#pragma once

// The file `switchboard backup FILE` writes, on the client's side: the
// daemon streams its online copy over the authenticated connection, and the
// CLI writes it here as the user who runs it. The bytes go to a new file of
// a random name beside FILE (O_EXCL, mode 0600, so nothing planted there is
// followed or reused), which then takes FILE's name: without --force with
// link(2), which fails if anything (a symlink included) is at FILE; with
// --force with rename(2), which replaces a symlink instead of following it.

#include <caf/expected.hpp>

#include <string>

namespace sb::client {

class backup_file {
public:
  /// Checks the target (its folder exists; without `force`, nothing is at
  /// `path`) and opens the temporary file beside it. The error is one line.
  static caf::expected<backup_file> open(const std::string& path, bool force);

  backup_file(backup_file&& other) noexcept;
  backup_file& operator=(backup_file&&) = delete;
  backup_file(const backup_file&) = delete;
  ~backup_file(); ///< An unfinished file is removed.

  /// Appends; "" or why not.
  std::string write(const std::string& bytes);

  /// Flushes to disk and gives the file its name; returns the absolute path.
  caf::expected<std::string> commit();

private:
  backup_file() = default;

  std::string target_;
  std::string temp_;
  int fd_ = -1;
  bool force_ = false;
};

} // namespace sb::client
