#pragma once

// SHA-256, the one helper of the tree (OpenSSL's one-shot digest): token
// fingerprints (messages/fingerprint.hpp), the credential checks of the
// guard, the HTTP front and the agent server. Pure code without CAF, so the
// guard and the agent server link it too.

#include <array>
#include <string>
#include <string_view>

namespace sb {

/// A SHA-256 digest: 32 bytes.
using sha256_digest = std::array<unsigned char, 32>;

/// The SHA-256 of `data`.
sha256_digest sha256(std::string_view data);

/// The SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

} // namespace sb
