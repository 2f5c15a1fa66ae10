#include "intake/token_files.hpp"

#include "messages/auth_line.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sb::intake {

namespace {

std::string why(const char* what, const std::string& path,
                const std::string& text) {
  return std::string{what} + ": '" + path + "' " + text;
}

std::string new_token() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string token;
  for (auto b : raw) {
    token += hex[b >> 4];
    token += hex[b & 0xF];
  }
  return token;
}

/// The folder of `path`, made 0750 if it is missing (the group traverses
/// it to read the file; an existing folder is left as it is).
std::string prepare_folder(const std::string& path, const char* what) {
  namespace fs = std::filesystem;
  auto parent = fs::path{path}.parent_path();
  std::error_code ec;
  if (parent.empty() || fs::exists(parent, ec))
    return {};
  fs::create_directories(parent, ec);
  if (ec)
    return why(what, parent.string(), "cannot be created: " + ec.message());
  fs::permissions(
    parent,
    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec, ec);
  return {};
}

token_file create(const std::string& path, const char* what) {
  token_file result;
  if (auto err = prepare_folder(path, what); !err.empty()) {
    result.error = err;
    return result;
  }
  auto token = new_token();
  // O_EXCL: two daemons starting together do not overwrite each other's.
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd < 0) {
    result.error = why(
      what, path, std::string{"cannot be created: "} + std::strerror(errno));
    return result;
  }
  ::fchmod(fd, 0640); // whatever the umask
  auto line = token + "\n";
  bool ok = !token.empty()
            && ::write(fd, line.data(), line.size())
                 == static_cast<ssize_t>(line.size())
            && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    result.error = why(what, path, "cannot be written");
    return result;
  }
  result.token = std::move(token);
  result.created = true;
  return result;
}

} // namespace

token_file load_token(const std::string& path, const char* what) {
  token_file result;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    result.error
      = why(what, path, std::string{"cannot be read: "} + std::strerror(errno));
    return result;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    result.error = why(what, path, "is not a regular file");
    return result;
  }
  if ((st.st_mode & 0007) != 0) {
    ::close(fd);
    result.error = why(what, path,
                       "may be read or written by any user of the host: "
                       "make it chmod 0640 (or 0600) and give it a new token "
                       "(delete it and restart, or write one), then hand the "
                       "new one to the clients");
    return result;
  }
  char buf[1024];
  auto n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  auto token = std::string{
    trim_credential(std::string_view{buf, n > 0 ? static_cast<size_t>(n) : 0})};
  if (token.size() < min_token_length || !valid_auth_token(token)) {
    result.error
      = why(what, path,
            "must hold one token of " + std::to_string(min_token_length)
              + " to " + std::to_string(max_auth_token)
              + " printable characters without spaces");
    return result;
  }
  result.token = std::move(token);
  return result;
}

token_file load_or_create_token(const std::string& path, const char* what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT)
    return create(path, what);
  return load_token(path, what);
}

} // namespace sb::intake
