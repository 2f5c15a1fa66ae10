#include "messages/fingerprint.hpp"

#include "messages/error.hpp"

#include <openssl/evp.h>

namespace sb {

std::string token_fingerprint(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0x0f];
  }
  return out;
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
