#include "intake/tls_session.hpp"

#include <climits>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>

namespace sb::intake {

namespace {

/// Drains OpenSSL's error queue of this thread into one line.
std::string error_queue() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? std::string{"unknown OpenSSL error"} : out;
}

tls_status classify(ssl_st* ssl, int ret) {
  switch (SSL_get_error(ssl, ret)) {
  case SSL_ERROR_WANT_READ:
    return tls_status::want_read;
  case SSL_ERROR_WANT_WRITE:
    return tls_status::want_write;
  case SSL_ERROR_ZERO_RETURN:
    return tls_status::closed;
  case SSL_ERROR_SYSCALL:
    // errno 0: the peer closed the socket without close_notify.
    return errno == 0 ? tls_status::closed : tls_status::failed;
  default:
    return tls_status::failed;
  }
}

// An encrypted key would make OpenSSL prompt on the terminal; refuse instead.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

bool load_ca(SSL_CTX* ctx, const std::string& ca) {
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1)
    return false;
  // Tells clients which CA their certificate must come from.
  auto* names = SSL_load_client_CA_file(ca.c_str());
  if (names == nullptr)
    return false;
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     nullptr);
  return true;
}

} // namespace

std::unique_ptr<tls_server> tls_server::make(const std::string& certificate,
                                             const std::string& key,
                                             const std::string& ca,
                                             std::string& error) {
  ERR_clear_error();
  auto* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    error = "cannot create a TLS context: " + error_queue();
    return nullptr;
  }
  std::unique_ptr<tls_server> result{new tls_server(ctx)};
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // TLS 1.2: the list CAF's authenticating client offers. TLS 1.3 keeps
  // OpenSSL's default suites (the only ones CAF's anonymous client can use).
  SSL_CTX_set_cipher_list(ctx, "HIGH:!aNULL:!MD5");
  // Partial writes and a moving write buffer: the backlog is written from
  // wherever it currently starts. Idle sessions release their buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
  // CAF never resumes sessions: no tickets to mint and send.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) != 1) {
    error = "cannot load TLS certificate " + certificate + ": " + error_queue();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    auto reason = ERR_GET_REASON(ERR_peek_last_error());
    if (reason == X509_R_KEY_VALUES_MISMATCH)
      error = "TLS key " + key + " does not match certificate " + certificate;
    else if (reason == PEM_R_BAD_PASSWORD_READ
             || reason == PEM_R_PROBLEMS_GETTING_PASSWORD)
      error = "TLS key " + key
              + " is encrypted; the guard takes no "
                "passphrase";
    else
      error = "cannot load TLS key " + key + ": " + error_queue();
    ERR_clear_error();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "TLS key " + key + " does not match certificate " + certificate;
    ERR_clear_error();
    return nullptr;
  }
  if (ca.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else if (!load_ca(ctx, ca)) {
    error = "cannot load TLS CA " + ca + ": " + error_queue();
    return nullptr;
  }
  return result;
}

tls_server::~tls_server() {
  SSL_CTX_free(ctx_);
}

ssl_st* tls_server::new_session(int fd) const {
  auto* ssl = SSL_new(ctx_);
  if (ssl == nullptr)
    return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return ssl;
}

tls_status tls_handshake(ssl_st* ssl) {
  ERR_clear_error();
  errno = 0;
  auto ret = SSL_do_handshake(ssl);
  return ret == 1 ? tls_status::ok : classify(ssl, ret);
}

tls_status tls_read(ssl_st* ssl, char* buf, size_t len, size_t& got) {
  ERR_clear_error();
  errno = 0;
  auto ret
    = SSL_read(ssl, buf, static_cast<int>(len > INT_MAX ? INT_MAX : len));
  if (ret > 0) {
    got = static_cast<size_t>(ret);
    return tls_status::ok;
  }
  got = 0;
  return classify(ssl, ret);
}

tls_status tls_write(ssl_st* ssl, const char* buf, size_t len, size_t& put) {
  ERR_clear_error();
  errno = 0;
  auto ret
    = SSL_write(ssl, buf, static_cast<int>(len > INT_MAX ? INT_MAX : len));
  if (ret > 0) {
    put = static_cast<size_t>(ret);
    return tls_status::ok;
  }
  put = 0;
  return classify(ssl, ret);
}

bool tls_has_pending(ssl_st* ssl) {
  return SSL_has_pending(ssl) == 1;
}

bool tls_verified(ssl_st* ssl) {
  auto* cert = SSL_get_peer_certificate(ssl);
  if (cert == nullptr)
    return false;
  X509_free(cert);
  return SSL_get_verify_result(ssl) == X509_V_OK;
}

void tls_close(ssl_st* ssl, bool graceful) {
  if (ssl == nullptr)
    return;
  if (graceful && SSL_is_init_finished(ssl))
    SSL_shutdown(ssl);
  ERR_clear_error();
  SSL_free(ssl);
}

std::string tls_failure(ssl_st* ssl) {
  auto verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return std::string{"client certificate rejected: "}
           + X509_verify_cert_error_string(verify);
  }
  if (ERR_peek_error() == 0)
    return errno != 0 ? std::string{std::strerror(errno)}
                      : std::string{"connection closed during the handshake"};
  return error_queue();
}

} // namespace sb::intake
