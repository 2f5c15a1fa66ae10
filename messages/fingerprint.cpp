#include "messages/fingerprint.hpp"

#include "messages/error.hpp"
#include "messages/sha256.hpp"

namespace sb {

std::string token_fingerprint(std::string_view token) {
  return sha256_hex(token);
}

caf::expected<std::string> normalize_fingerprint(std::string_view text) {
  auto bad = [] {
    return make_error(ec::invalid_argument,
                      "a token fingerprint is 12 to 64 hex digits (the "
                      "SHA-256 of the token, or a prefix of it)");
  };
  if (text.size() < fingerprint_prefix_digits || text.size() > 64)
    return bad();
  std::string out;
  out.reserve(text.size());
  for (auto c : text) {
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return bad();
    out += c;
  }
  return out;
}

} // namespace sb
