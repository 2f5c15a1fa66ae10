#pragma once

// Token fingerprints: the SHA-256 of a token, as 64 lowercase hex digits.
// The daemon keeps the fingerprint of every token version of every
// subscription (rotated ones included), so a report can say which credential
// its failed request carried without carrying the token. A caller may give a
// prefix of at least 12 hex digits; `subscription list` shows the first 12.

#include <caf/expected.hpp>

#include <string>
#include <string_view>

namespace sb {

/// Hex digits shown for a fingerprint, and the shortest prefix accepted.
constexpr size_t fingerprint_prefix_digits = 12;

/// The SHA-256 of `token` in lowercase hex.
std::string token_fingerprint(std::string_view token);

/// Checks a fingerprint or prefix given by a caller (12 to 64 hex digits,
/// either case) and returns it in lowercase.
caf::expected<std::string> normalize_fingerprint(std::string_view text);

} // namespace sb
