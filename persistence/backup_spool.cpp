#include "persistence/backup_spool.hpp"

#include "messages/error.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace sb {

namespace {

std::string random_id() {
  // libsodium is initialised before its random numbers are used (idempotent
  // and thread-safe); without a random source no id is unguessable, so stop
  // as token_cipher does.
  static const bool ready = sodium_init() >= 0;
  if (!ready)
    std::abort();
  unsigned char raw[16];
  randombytes_buf(raw, sizeof(raw));
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (auto b : raw) {
    id += hex[b >> 4];
    id += hex[b & 0xF];
  }
  return id;
}

bool valid_id(const std::string& id) {
  return id.size() == 32
         && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

/// What SQLite makes beside a database while it writes one: a crash in the
/// middle of a copy leaves them too.
constexpr const char* side_files[] = {"-journal", "-wal", "-shm"};

/// A file of the spool: a copy, or a side file of one.
bool spool_file(const std::string& name) {
  auto id = name.substr(0, 32);
  if (!valid_id(id))
    return false;
  if (name.size() == 32)
    return true;
  for (auto* suffix : side_files)
    if (name.compare(32, std::string::npos, suffix) == 0)
      return true;
  return false;
}

void unlink_copy(const std::string& path) {
  ::unlink(path.c_str());
  for (auto* suffix : side_files)
    ::unlink((path + suffix).c_str());
}

caf::error unknown_copy() {
  return make_error(ec::not_found,
                    "no such backup (read to its end, or left unread for too "
                    "long): start it again");
}

} // namespace

backup_spool::~backup_spool() {
  while (!copies_.empty())
    remove(copies_.begin());
  // Nothing of the spool stays behind (rmdir leaves a folder that holds
  // anything else alone).
  if (ready_)
    ::rmdir(folder_.c_str());
}

caf::error backup_spool::prepare_folder() {
  if (folder_.empty()) {
    auto base
      = std::filesystem::temp_directory_path() / "switchboard-backup-XXXXXX";
    std::string templ = base.string();
    if (::mkdtemp(templ.data()) == nullptr)
      return make_error(ec::store_failure,
                        std::string{"cannot create a folder for backups: "}
                          + std::strerror(errno));
    folder_ = templ;
  } else if (::mkdir(folder_.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ec::store_failure, "cannot create the backup folder '"
                                           + folder_
                                           + "': " + std::strerror(errno));
  }
  // Checked before every copy, not only the first: the copies go nowhere
  // but into a folder of ours.
  if (auto err = check_folder())
    return err;
  if (!ready_) {
    sweep();
    ready_ = true;
  }
  return caf::none;
}

caf::error backup_spool::check_folder() const {
  // Opened without following a symlink planted in its place; checked and
  // tightened through that descriptor, so what is checked is what changes.
  int fd
    = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    auto why = errno == ELOOP || errno == ENOTDIR
                 ? std::string{"is not a folder (a symlink or a file is in "
                               "its place)"}
                 : std::string{"cannot be opened: "} + std::strerror(errno);
    return make_error(ec::store_failure,
                      "the backup folder '" + folder_ + "' " + why);
  }
  struct stat st {};
  bool ours
    = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid();
  if (ours && (st.st_mode & 07777) != 0700)
    ours = ::fchmod(fd, 0700) == 0;
  ::close(fd);
  if (!ours)
    return make_error(ec::store_failure, "the backup folder '" + folder_
                                           + "' is not a private folder of "
                                             "this daemon's user");
  return caf::none;
}

void backup_spool::sweep() {
  // Copies a crash left behind: nobody can read them any more.
  std::error_code ec;
  std::filesystem::directory_iterator i{folder_, ec};
  for (; !ec && i != std::filesystem::directory_iterator{}; i.increment(ec)) {
    auto name = i->path().filename().string();
    if (spool_file(name) && copies_.count(name.substr(0, 32)) == 0) {
      std::error_code ignored;
      std::filesystem::remove(i->path(), ignored);
    }
  }
}

caf::expected<backup_info> backup_spool::create(
  millis now, const std::function<caf::error(const std::string&)>& write) {
  expire(now);
  if (copies_.size() >= max_copies)
    return make_error(ec::unavailable,
                      std::to_string(copies_.size())
                        + " backups are being read already; try again once "
                          "one of them is done");
  if (auto err = prepare_folder())
    return err;
  auto id = random_id();
  auto path = folder_ + "/" + id;
  if (auto err = write(path)) {
    unlink_copy(path);
    return err;
  }
  // Whatever `write` made must be a private file (not a symlink, 0600).
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  bool file = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (file && (st.st_mode & 077) != 0)
    file = ::fchmod(fd, 0600) == 0;
  if (fd >= 0)
    ::close(fd);
  if (!file) {
    unlink_copy(path);
    return make_error(ec::store_failure,
                      "the backup did not make a private file");
  }
  auto size = static_cast<uint64_t>(st.st_size);
  copies_[id] = copy{path, size, now};
  return backup_info{id, size};
}

caf::expected<backup_chunk> backup_spool::read(const std::string& id,
                                               uint64_t offset, millis now) {
  expire(now);
  auto i = copies_.find(id);
  if (i == copies_.end())
    return unknown_copy();
  auto& c = i->second;
  if (offset > c.size)
    return make_error(ec::invalid_argument,
                      "offset " + std::to_string(offset)
                        + " is past the end of the backup ("
                        + std::to_string(c.size) + " bytes)");
  int fd = ::open(c.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    auto why = std::string{std::strerror(errno)};
    remove(i);
    return make_error(ec::store_failure, "cannot read the backup: " + why);
  }
  backup_chunk chunk;
  auto want = std::min<uint64_t>(max_backup_chunk, c.size - offset);
  chunk.bytes.resize(want);
  size_t got = 0;
  while (got < want) {
    auto n = ::pread(fd, chunk.bytes.data() + got, want - got,
                     static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != want) {
    remove(i);
    return make_error(ec::store_failure, "the backup file ended early");
  }
  chunk.last = offset + got == c.size;
  if (chunk.last)
    remove(i);
  else
    c.touched = now;
  return chunk;
}

void backup_spool::expire(millis now) {
  for (auto i = copies_.begin(); i != copies_.end();) {
    auto next = std::next(i);
    if (now - i->second.touched >= idle_ms)
      remove(i);
    i = next;
  }
}

millis backup_spool::next_expiry() const {
  millis first = 0;
  for (auto& entry : copies_) {
    auto due = entry.second.touched + idle_ms;
    if (first == 0 || due < first)
      first = due;
  }
  return first;
}

void backup_spool::remove(std::map<std::string, copy>::iterator i) {
  unlink_copy(i->second.path);
  copies_.erase(i);
}

} // namespace sb
