#pragma once

// The client side of the agent-server contract (see agent_server/main.cpp):
//   POST /api/credentials/reload-token {"token": ..., "remove_api_key": true}
//   GET  /health
// Blocking, with timeouts; used only inside the detached docker workers. The
// token travels in the request body only and is never logged.

#include "docker_client/http.hpp"
#include "messages/types.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace sb::docker {

struct reload_result {
  enum kind {
    /// 2xx: the agent server holds the new token.
    reloaded,
    /// 404: an agent server without the endpoint (fall back to recreate).
    not_supported,
    /// Could not connect, or the connection broke (fall back to recreate).
    unreachable,
    /// No answer in time (fall back to recreate).
    timeout,
    /// Any other HTTP status (the apply failed).
    rejected,
  };
  kind outcome = unreachable;
  long status = 0;
  /// One line for logs and results (never the token).
  std::string detail;
};

/// The header that carries the secret shared with the agent servers.
constexpr const char* secret_header = "X-Switchboard-Secret";

/// The container label naming a secret file for that container only (else
/// the daemon's switchboard.agent-secret-file).
constexpr const char* secret_file_label = "switchboard.agent-secret-file";

/// The secret in `path`, without surrounding whitespace ("" if the path is
/// empty); an error if the file cannot be read or is empty.
caf::expected<std::string> read_secret(const std::string& path);

class agent_server_client {
public:
  agent_server_client() = default;

  /// POSTs the token (and the agent generation it belongs to, if known:
  /// the agent server then names it in its answers), with the shared
  /// secret in X-Switchboard-Secret if not empty.
  reload_result reload_token(const std::string& host, uint16_t port,
                             const std::string& token, bool remove_api_key,
                             std::chrono::milliseconds timeout,
                             uint64_t generation = 0,
                             const std::string& secret = {},
                             const token_terms& terms = {});

  /// True if GET /health answers 2xx within `timeout`.
  bool healthy(const std::string& host, uint16_t port,
               std::chrono::milliseconds timeout);

private:
  http_client http_;
};

} // namespace sb::docker
