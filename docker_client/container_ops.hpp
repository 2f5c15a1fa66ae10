#pragma once

// The blocking procedures the docker workers run for the CONTAINER
// SUPERVISOR, one per operation. Each ends by reading the truth with
// `inspect` (never status codes or event order) and reports the resulting
// lifecycle state.
//
//   apply    running: hot-reload through the agent server; on 404, transport
//            error or timeout: recreate with the new token.
//            stopped: not_running (the next start bakes the token in).
//            missing: no_container.
//   start    stopped: start, recreating first if the token is stale; wait
//            for /health. running: apply if stale, else nothing.
//   stop     stop with the grace period.
//   restart  stop, then start (recreating if the token is stale).
//   inspect  read the state only.
//
// Recreate: create a new container (same image, command, labels and host
// configuration, the new token in the token variable, ANTHROPIC_API_KEY and
// ANTHROPIC_AUTH_TOKEN removed) under a temporary name first, so a failed
// create leaves the old one untouched; then stop and remove the old one,
// rename the new one, start it and wait for /health.

#include "docker_client/agent_server_client.hpp"
#include "docker_client/docker_api.hpp"
#include "messages/types.hpp"

#include <chrono>
#include <functional>
#include <string>

namespace sb::docker {

struct op_settings {
  std::string token_env = "CLAUDE_CODE_OAUTH_TOKEN";
  uint16_t default_agent_port = 8000;
  std::chrono::milliseconds reload_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds health_timeout = std::chrono::seconds(60);
  std::chrono::seconds stop_timeout = std::chrono::seconds(10);
  /// File with the secret the agent servers expect on a reload ("" =
  /// none); a container's switchboard.agent-secret-file label overrides it.
  std::string agent_secret_file;
};

struct op_request {
  std::string container;
  container_op op = container_op::apply;
  /// The token to apply or bake in ("" = none).
  std::string token;
  /// The agent generation of the token (0 = unknown).
  uint64_t generation = 0;
  /// Its kind, expiry and scopes (the agent server's credential document).
  token_terms terms = {};
};

/// The container variable that tells the agent server the generation of the
/// token it was created with.
constexpr const char* generation_env = "SWITCHBOARD_GENERATION";

/// The variables that tell it the token's expiry (ms since the epoch) and
/// scopes (separated by spaces), when they are known.
constexpr const char* expires_env = "SWITCHBOARD_TOKEN_EXPIRES_AT";
constexpr const char* scopes_env = "SWITCHBOARD_TOKEN_SCOPES";

struct op_outcome {
  apply_outcome result;
  /// Lifecycle state afterwards: absent, stopped, running or failed.
  lifecycle state = lifecycle::unknown;
  std::string container_id;
  /// The engine answered the operation's first call (false: unreachable or
  /// no answer in time).
  bool engine_answered = true;
};

/// Called with an intermediate state (recreating, ...).
using progress_fn = std::function<void(lifecycle)>;

op_outcome run_container_op(docker_api& engine, agent_server_client& agents,
                            const op_request& req, const op_settings& cfg,
                            const progress_fn& progress);

/// The create body for a copy of `info` with `token` in `token_env`, the
/// generation in SWITCHBOARD_GENERATION (if known) and the API-key variables
/// removed.
nlohmann::json recreate_config(const container_info& info,
                               const std::string& token,
                               const std::string& token_env,
                               uint64_t generation = 0,
                               const token_terms& terms = {});

/// Where the agent server of a container listens: its
/// `switchboard.agent-port` label (else the default) on 127.0.0.1 for host
/// networking, else on the container's address.
std::pair<std::string, uint16_t> agent_endpoint(const container_info& info,
                                                uint16_t default_port);

} // namespace sb::docker
