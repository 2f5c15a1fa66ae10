#pragma once

// The client library: how a program (the CLI, the benchmark, the tests, or
// the agent platform's backend) reaches the daemon's FRONT DOOR over CAF's
// network layer.

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace sb::client {

struct endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 7411;
  /// TLS: CA file that signed the daemon's certificate; with cert and key,
  /// the client certificate. Empty = plain connection.
  std::string tls_ca;
  std::string tls_certificate;
  std::string tls_key;

  bool tls() const { return !tls_ca.empty() || !tls_certificate.empty(); }
};

/// Prepares a client config: message types, the middleman, and the OpenSSL
/// module when `ep` asks for TLS.
void configure(caf::actor_system_config& cfg, const endpoint& ep);

/// Connects to the FRONT DOOR. Gives up after `timeout` with a clear error;
/// a connection attempt that hangs (unroutable host) keeps a thread busy, so
/// callers that time out should exit the process.
caf::expected<front_door_actor>
connect(caf::actor_system& sys, const endpoint& ep,
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace sb::client
