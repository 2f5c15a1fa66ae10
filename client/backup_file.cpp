#include "client/backup_file.hpp"

#include "messages/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace sb::client {

namespace {

caf::error failure(const std::string& what) {
  return make_error(ec::invalid_argument, what);
}

} // namespace

caf::expected<backup_file> backup_file::open(const std::string& path,
                                             bool force) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto target = fs::absolute(path, ec).lexically_normal();
  if (ec || path.empty() || !target.has_filename())
    return failure("cannot use '" + path + "' as the backup file");
  auto folder = target.parent_path();
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return failure("the folder of the backup file '" + folder.string()
                   + "' does not exist");
  if (!force && ::lstat(target.c_str(), &st) == 0)
    return failure("'" + target.string()
                   + "' exists already (--force replaces it)");
  if (force && ::lstat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return failure("'" + target.string() + "' is a folder");
  backup_file f;
  f.target_ = target.string();
  f.force_ = force;
  auto templ
    = (folder / ("." + target.filename().string() + ".XXXXXX")).string();
  // mkostemp: O_EXCL with a random name, mode 0600.
  f.fd_ = ::mkostemp(templ.data(), O_CLOEXEC);
  if (f.fd_ < 0)
    return failure("cannot create a file in '" + folder.string()
                   + "': " + std::strerror(errno));
  ::fchmod(f.fd_, 0600);
  f.temp_ = templ;
  return f;
}

backup_file::backup_file(backup_file&& other) noexcept
    : target_(std::move(other.target_)), temp_(std::move(other.temp_)),
      fd_(other.fd_), force_(other.force_) {
  other.fd_ = -1;
  other.temp_.clear();
}

backup_file::~backup_file() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!temp_.empty())
    ::unlink(temp_.c_str());
}

std::string backup_file::write(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return "cannot write the backup beside '" + target_
             + "': " + std::strerror(errno);
    done += static_cast<size_t>(n);
  }
  return {};
}

caf::expected<std::string> backup_file::commit() {
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    fd_ = -1;
    return failure("cannot write the backup beside '" + target_
                   + "': " + std::strerror(errno));
  }
  fd_ = -1;
  // link() never follows or replaces what is at the target; rename()
  // replaces a symlink itself, never the file it points to.
  int rc = force_ ? ::rename(temp_.c_str(), target_.c_str())
                  : ::link(temp_.c_str(), target_.c_str());
  if (rc != 0) {
    auto why = errno == EEXIST ? std::string{"it exists already (--force "
                                             "replaces it)"}
                               : std::string{std::strerror(errno)};
    return failure("cannot write '" + target_ + "': " + why);
  }
  if (!force_)
    ::unlink(temp_.c_str());
  temp_.clear();
  return target_;
}

} // namespace sb::client
