#include "persistence/token_cipher.hpp"

#include "messages/error.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace sb {

namespace {

constexpr size_t key_hex_digits = 2 * crypto_secretbox_KEYBYTES;

/// libsodium must be initialised once before its random numbers are used;
/// sodium_init() is safe to call from several threads and more than once.
void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready)
    std::abort(); // no usable random source: nothing can be sealed safely
}

caf::error file_error(const std::string& what, const std::string& path) {
  return make_error(ec::store_failure,
                    what + " key file '" + path + "': " + std::strerror(errno));
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Makes the new directory entry durable (the key must survive a crash of
/// the machine as surely as the tokens it seals).
void sync_folder(const std::string& path) {
  auto folder = std::filesystem::path{path}.parent_path();
  int fd = ::open(folder.empty() ? "." : folder.c_str(),
                  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

} // namespace

token_cipher::token_cipher() : key_{} {
  ensure_sodium();
}

token_cipher::token_cipher(const token_cipher& other) : key_(other.key_) {
  // nop
}

token_cipher& token_cipher::operator=(const token_cipher& other) {
  key_ = other.key_;
  return *this;
}

token_cipher::~token_cipher() {
  sodium_memzero(key_.data(), key_.size());
}

token_cipher token_cipher::random_key() {
  token_cipher result;
  crypto_secretbox_keygen(result.key_.data());
  return result;
}

caf::expected<token_cipher> token_cipher::read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return make_error(ec::store_failure,
                        "key file '" + path + "' does not exist");
    return file_error("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
    ::fchmod(fd, 0600);
  // A key file is 65 bytes; reading a little more tells a longer file apart.
  char buf[key_hex_digits + 16];
  auto n = ::read(fd, buf, sizeof(buf));
  auto read_errno = errno;
  ::close(fd);
  if (n < 0) {
    errno = read_errno;
    return file_error("cannot read", path);
  }
  auto len = static_cast<size_t>(n);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
    --len;
  token_cipher result;
  size_t bin_len = 0;
  const char* end = nullptr;
  bool ok = len == key_hex_digits
            && sodium_hex2bin(result.key_.data(), result.key_.size(), buf, len,
                              nullptr, &bin_len, &end)
                 == 0
            && bin_len == result.key_.size() && end == buf + len;
  sodium_memzero(buf, sizeof(buf));
  if (!ok)
    return make_error(ec::store_failure,
                      "key file '" + path
                        + "' is not a Switchboard key (expected "
                        + std::to_string(key_hex_digits) + " hex digits)");
  return result;
}

caf::expected<token_cipher> token_cipher::create(const std::string& path) {
  auto result = random_key();
  std::string text(key_hex_digits + 1, '\0');
  sodium_bin2hex(text.data(), text.size(), result.key_.data(),
                 result.key_.size());
  text.back() = '\n';
  // Written under a temporary name and linked into place: the key file
  // appears complete or not at all, and an existing one is never replaced.
  auto tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return file_error("cannot create", path);
  bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
  auto saved = errno;
  ::close(fd);
  sodium_memzero(text.data(), text.size());
  if (ok && ::link(tmp.c_str(), path.c_str()) != 0) {
    saved = errno;
    ok = false;
  }
  ::unlink(tmp.c_str());
  if (!ok) {
    errno = saved;
    return file_error("cannot create", path);
  }
  sync_folder(path);
  return result;
}

std::string token_cipher::seal(std::string_view token) const {
  std::vector<unsigned char> box(crypto_secretbox_NONCEBYTES
                                 + crypto_secretbox_MACBYTES + token.size());
  randombytes_buf(box.data(), crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(token.data()),
                        token.size(), box.data(), key_.data());
  auto variant = sodium_base64_VARIANT_ORIGINAL;
  std::string b64(sodium_base64_ENCODED_LEN(box.size(), variant), '\0');
  sodium_bin2base64(b64.data(), b64.size(), box.data(), box.size(), variant);
  b64.resize(std::strlen(b64.c_str()));
  return std::string{prefix} + b64;
}

std::optional<std::string> token_cipher::open(std::string_view stored) const {
  if (!is_sealed(stored))
    return std::nullopt;
  auto b64 = stored.substr(prefix.size());
  if (b64.empty())
    return std::nullopt;
  std::vector<unsigned char> box(b64.size());
  size_t len = 0;
  if (sodium_base642bin(box.data(), box.size(), b64.data(), b64.size(), nullptr,
                        &len, nullptr, sodium_base64_VARIANT_ORIGINAL)
        != 0
      || len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    return std::nullopt;
  auto cipher_len = len - crypto_secretbox_NONCEBYTES;
  std::string token(cipher_len - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(token.data()),
                                 box.data() + crypto_secretbox_NONCEBYTES,
                                 cipher_len, box.data(), key_.data())
      != 0)
    return std::nullopt;
  return token;
}

bool token_cipher::is_sealed(std::string_view stored) {
  return stored.substr(0, prefix.size()) == prefix;
}

std::string key_file_for(const std::string& db_path,
                         const std::string& key_file) {
  if (!key_file.empty())
    return key_file;
  return (std::filesystem::path{db_path}.parent_path() / "switchboard.key")
    .string();
}

} // namespace sb
