#include "persistence/db_lock.hpp"

#include "messages/error.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sb {

namespace {

/// The pid the holder wrote, or "unknown".
std::string holder_pid(int fd) {
  char buf[32] = {};
  auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string text{buf, n > 0 ? static_cast<size_t>(n) : 0};
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return "unknown";
  return text;
}

} // namespace

caf::expected<db_lock> db_lock::acquire(const std::string& db_path) {
  auto path = db_path + ".lock";
  // O_CLOEXEC: a child (notify-command) must not inherit the lock and keep
  // it after the daemon is gone.
  int fd
    = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(ec::store_failure, "cannot open lock file '" + path
                                           + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
    ::fchmod(fd, 0600);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto why = errno;
    std::string msg;
    if (why == EWOULDBLOCK)
      msg = "the database '" + db_path
            + "' is in use by another switchboardd (pid " + holder_pid(fd)
            + ", lock file '" + path + "')";
    else
      msg = "cannot lock '" + path + "': " + std::strerror(why);
    ::close(fd);
    return make_error(ec::store_failure, std::move(msg));
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0
      || ::pwrite(fd, pid.data(), pid.size(), 0)
           != static_cast<ssize_t>(pid.size())) {
    auto why = errno;
    ::close(fd);
    return make_error(ec::store_failure, "cannot write lock file '" + path
                                           + "': " + std::strerror(why));
  }
  return db_lock{fd, std::move(path)};
}

db_lock::db_lock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  // nop
}

db_lock::db_lock(db_lock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {
  // nop
}

db_lock& db_lock::operator=(db_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

db_lock::~db_lock() {
  // Closing the descriptor releases the lock. The file stays: removing it
  // would race with a daemon that has just opened it.
  if (fd_ >= 0)
    ::close(fd_);
}

} // namespace sb
