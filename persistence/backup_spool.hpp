#pragma once

// Where the STORE keeps the online copies a client is reading: a private
// folder (mode 0700) of the daemon's, one file (mode 0600) per copy, named
// by a random id. The client reads a copy chunk by chunk over its
// authenticated connection and writes its own file; the daemon never opens a
// path a client names. A copy is deleted once read to its end, when it was
// left unread for `idle_ms` (expire(), which the STORE's timer calls), and at
// exit; what a crash left in the folder goes at the first use of the next
// run. At most `max_copies` exist at once.

#include "messages/time.hpp"
#include "messages/types.hpp"

#include <caf/expected.hpp>

#include <functional>
#include <map>
#include <string>

namespace sb {

class backup_spool {
public:
  /// `folder` is created (0700) on first use, and what a previous run left
  /// in it is deleted then; "" = a private folder under the system's
  /// temporary directory (an in-memory database).
  explicit backup_spool(std::string folder) : folder_(std::move(folder)) {}

  ~backup_spool(); ///< Deletes every copy, and the folder once empty.

  backup_spool(const backup_spool&) = delete;
  backup_spool& operator=(const backup_spool&) = delete;

  /// A new copy: `write(path)` writes it to a fresh path of the spool
  /// (which does not exist yet). Expired copies go first.
  caf::expected<backup_info>
  create(millis now,
         const std::function<caf::error(const std::string&)>& write);

  /// Up to max_backup_chunk bytes of copy `id` from `offset`; the chunk
  /// that reaches the end is `last` and deletes the copy.
  caf::expected<backup_chunk> read(const std::string& id, uint64_t offset,
                                   millis now);

  /// Deletes copies left unread for idle_ms.
  void expire(millis now);

  /// When the first copy falls idle (0: there is none).
  millis next_expiry() const;

  /// Copies that exist now.
  size_t size() const { return copies_.size(); }

  /// The folder ("" before the first create() made a private one).
  const std::string& folder() const { return folder_; }

  millis idle_ms = 60'000;
  size_t max_copies = 4;

private:
  struct copy {
    std::string path;
    uint64_t size = 0;
    millis touched = 0;
  };

  caf::error prepare_folder();
  caf::error check_folder() const;
  void sweep();
  void remove(std::map<std::string, copy>::iterator i);

  std::string folder_;
  /// The folder was checked and swept once.
  bool ready_ = false;
  std::map<std::string, copy> copies_;
};

} // namespace sb
