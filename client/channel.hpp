#pragma once

// A client's connection to the daemon's front door, up to the point where
// CAF takes over: TCP, TLS when asked (OpenSSL, in this process), then the
// credential line (messages/auth_line.hpp). What CAF gets is a plain socket:
// the TCP socket itself, or with TLS one end of a socketpair whose other end
// a thread of this process relays to the TLS session. The daemon's nodes use
// it to reach each other's front doors too.

#include "messages/auth_line.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace sb::client {

struct channel_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7411;
  /// The content of the daemon's admin-token-file or report-token-file;
  /// may be empty with a client certificate the daemon's tls-ca signed.
  std::string token;
  bool tls = false;
  /// TLS: verify the daemon's certificate against this CA ("" = the daemon
  /// is not verified).
  std::string tls_ca;
  /// TLS: this client's certificate and key (both or neither).
  std::string tls_certificate;
  std::string tls_key;
};

struct channel {
  int fd = -1; ///< for CAF; the caller owns it
  scope granted = scope::none;
};

/// Connects, negotiates TLS, presents the credential; gives up after
/// `timeout`. Errors are one line in the operator's words (ec::unavailable,
/// or ec::forbidden when the daemon refused the credential).
caf::expected<channel> open_channel(const channel_options& o,
                                    std::chrono::milliseconds timeout);

} // namespace sb::client
