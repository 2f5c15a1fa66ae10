#include "messages/sha256.hpp"

#include <openssl/sha.h>

namespace sb {

static_assert(SHA256_DIGEST_LENGTH == sizeof(sha256_digest));

sha256_digest sha256(std::string_view data) {
  sha256_digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         d.data());
  return d;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char hex[] = "0123456789abcdef";
  auto d = sha256(data);
  std::string out;
  out.reserve(d.size() * 2);
  for (auto byte : d) {
    out += hex[byte >> 4];
    out += hex[byte & 0x0f];
  }
  return out;
}

} // namespace sb
