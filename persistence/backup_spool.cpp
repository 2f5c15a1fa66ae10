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

caf::error unknown_copy() {
  return make_error(ec::not_found,
                    "no such backup (read to its end, or left unread for too "
                    "long): start it again");
}

} // namespace

backup_spool::~backup_spool() {
  while (!copies_.empty())
    remove(copies_.begin());
}

caf::error backup_spool::prepare_folder() {
  if (ready_)
    return caf::none;
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
  // Ours, private, and a folder (not a symlink planted in its place).
  struct stat st {};
  if (::lstat(folder_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)
      || st.st_uid != ::geteuid())
    return make_error(ec::store_failure, "the backup folder '" + folder_
                                           + "' is not a folder of this "
                                             "daemon's user");
  ::chmod(folder_.c_str(), 0700);
  // Copies a crash left behind: nobody can read them any more.
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator(folder_, ec))
    if (valid_id(entry.path().filename().string()))
      std::filesystem::remove(entry.path(), ec);
  ready_ = true;
  return caf::none;
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
    ::unlink(path.c_str());
    return err;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    ::unlink(path.c_str());
    return make_error(ec::store_failure, std::string{"the backup vanished: "}
                                           + std::strerror(errno));
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

void backup_spool::remove(std::map<std::string, copy>::iterator i) {
  ::unlink(i->second.path.c_str());
  copies_.erase(i);
}

} // namespace sb
