#pragma once

// The client's side of TLS (OpenSSL): the handshake and the credential line
// over it, then a thread that relays between the TLS session and one end of
// a socketpair, so that CAF (which speaks plain BASP) gets the other end.
// CAF 0.17's own OpenSSL client cannot send the credential before BASP, and
// verifies the daemon only when it presents a certificate itself; here a CA
// alone is enough to verify the daemon.

#include "client/channel.hpp"

#include <chrono>
#include <memory>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace sb::client {

class tls_session {
public:
  using clock = std::chrono::steady_clock;

  /// The TLS handshake on the connected, non-blocking `fd` (which the
  /// session then owns); nullptr with `why` on failure (the caller closes
  /// fd then).
  static std::unique_ptr<tls_session> connect(int fd, const channel_options& o,
                                              clock::time_point deadline,
                                              std::string& why);

  ~tls_session();
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;

  bool write_all(const std::string& data, clock::time_point deadline);

  /// The daemon's answer to the credential, read byte by byte.
  line_state read_answer(clock::time_point deadline, scope& granted,
                         std::string& why);

  /// Starts the relay thread (which owns the session from then on) and
  /// returns the socket CAF should use; -1 on failure.
  static int relay(std::unique_ptr<tls_session> session);

private:
  tls_session() = default;
  void run(int local);
  bool wait(int want, clock::time_point deadline);

  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
};

} // namespace sb::client
