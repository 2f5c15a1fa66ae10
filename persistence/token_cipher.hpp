#pragma once

// Tokens at rest: every token the store writes is sealed with libsodium's
// crypto_secretbox (XSalsa20-Poly1305) under a key that lives in a file of
// its own, never in the database. The stored form is "sb1:" followed by
// base64(nonce || ciphertext); a fresh random nonce per token, so rotating to
// the same token twice stores two different texts. The key file holds the
// 32-byte key as 64 hex digits and a newline, mode 0600. Errors name the
// file, never its content.

#include <caf/expected.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

class token_cipher {
public:
  /// The prefix of a sealed token (version 1 of the stored form).
  static constexpr std::string_view prefix = "sb1:";

  /// A new random key that lives in memory only (":memory:" databases).
  static token_cipher random_key();

  /// Reads the key file at `path`; tightens a file readable by others.
  static caf::expected<token_cipher> read(const std::string& path);

  /// Writes a new random key to `path` (mode 0600, atomically: a crash never
  /// leaves half a key); fails if the file exists.
  static caf::expected<token_cipher> create(const std::string& path);

  token_cipher(const token_cipher& other);
  token_cipher& operator=(const token_cipher& other);
  ~token_cipher();

  /// The stored form of `token`.
  std::string seal(std::string_view token) const;

  /// The token inside `stored`, or nothing if `stored` was not sealed with
  /// this key (another key, or damaged).
  std::optional<std::string> open(std::string_view stored) const;

  /// True if `stored` has the sealed form (whatever the key).
  static bool is_sealed(std::string_view stored);

private:
  token_cipher();

  std::array<unsigned char, 32> key_;
};

/// The key file of a database: `key_file` if given, else "switchboard.key"
/// in the database's folder.
std::string key_file_for(const std::string& db_path,
                         const std::string& key_file);

} // namespace sb
