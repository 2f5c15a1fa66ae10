#pragma once

// TLS termination for the guard with OpenSSL, non-blocking: every call
// returns at once and says whether it needs the socket readable or writable
// before it can go on. The guard talks plaintext BASP to CAF's loopback
// listener, so CAF itself no longer needs its OpenSSL module on the server.
//
// What CAF 0.17's OpenSSL client expects of a server (libcaf_openssl
// session.cpp, and tests/intake/tls_guard_test.cpp):
//  - with any of openssl.certificate/key/cafile set it offers TLS 1.2
//    ("HIGH:!aNULL:!MD5") and TLS 1.3, sends its certificate when asked, and
//    verifies the server's chain against openssl.cafile (no host name check);
//  - with none of them set it is "anonymous": TLS 1.2 only with the
//    anonymous AECDH-AES256-SHA, but TLS 1.3 with the default suites, without
//    verifying the server. A server that offers TLS 1.3 with a certificate
//    therefore serves both kinds of client.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace sb::intake {

enum class tls_status : uint8_t { ok, want_read, want_write, closed, failed };

class tls_server {
public:
  /// Loads the certificate chain and key; with `ca` not empty, clients must
  /// present a certificate that `ca` signed (mutual TLS). Returns nullptr
  /// with a one-line `error` on failure.
  static std::unique_ptr<tls_server> make(const std::string& certificate,
                                          const std::string& key,
                                          const std::string& ca,
                                          std::string& error);

  ~tls_server();
  tls_server(const tls_server&) = delete;
  tls_server& operator=(const tls_server&) = delete;

  /// A new server-side session on `fd`; nullptr if OpenSSL is out of memory.
  ssl_st* new_session(int fd) const;

private:
  explicit tls_server(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

tls_status tls_handshake(ssl_st* ssl);

/// Reads decrypted bytes; `got` > 0 only with `ok`.
tls_status tls_read(ssl_st* ssl, char* buf, size_t len, size_t& got);

/// Encrypts and writes; partial writes are enabled, and the same bytes may be
/// retried from another address (the backlog moves as it is compacted).
tls_status tls_write(ssl_st* ssl, const char* buf, size_t len, size_t& put);

/// True if OpenSSL holds bytes that a read would return without the socket
/// becoming readable again.
bool tls_has_pending(ssl_st* ssl);

/// True if the client presented a certificate and it verified (against the
/// server's CA).
bool tls_verified(ssl_st* ssl);

/// Sends close_notify if `graceful` (best effort, never blocks) and frees.
void tls_close(ssl_st* ssl, bool graceful);

/// Why the last call failed (verification result or OpenSSL's error queue,
/// which it drains); one line.
std::string tls_failure(ssl_st* ssl);

} // namespace sb::intake
