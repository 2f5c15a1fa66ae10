#pragma once

// A client of the Docker Engine API v1.41 over its unix socket: the calls the
// CONTAINER SUPERVISOR needs, with typed results and clear errors:
// ec::docker_unreachable (no engine), ec::timeout, ec::not_found (404),
// ec::conflict (409), ec::docker_failure (anything else). Blocking: use it
// only inside the detached docker workers (and in tests).

#include "docker_client/http.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sb::docker {

/// What `inspect` says about a container (plus the whole document).
struct container_info {
  std::string id;
  /// Without Docker's leading '/'.
  std::string name;
  /// Config.Image, as the container was created.
  std::string image;
  /// State.Status: created, running, paused, restarting, removing, exited,
  /// dead.
  std::string status;
  bool running = false;
  int64_t pid = 0;
  std::string started_at;
  std::map<std::string, std::string> labels;
  std::vector<std::string> env;
  std::string network_mode;
  /// The first network's address ("" with host networking).
  std::string ip_address;
  nlohmann::json raw;
};

/// One entry of GET /events.
struct docker_event {
  std::string id;
  std::string action;
  std::string name;
  int64_t time_nano = 0;
};

class docker_api {
public:
  docker_api(std::string socket_path, std::chrono::milliseconds timeout);

  const std::string& socket_path() const { return socket_; }

  /// The bound of each later call (a reload may change it).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  /// GET /version: the engine's API version ("1.41").
  caf::expected<std::string> version();

  caf::expected<container_info> inspect(const std::string& container);

  /// POST /containers/create?name=NAME with a full config; returns the id.
  caf::expected<std::string> create(const std::string& name,
                                    const nlohmann::json& config);

  /// Starting a running container is not an error (304).
  caf::error start(const std::string& container);

  /// Stopping a stopped container is not an error (304).
  caf::error stop(const std::string& container, std::chrono::seconds grace);

  caf::error remove(const std::string& container, bool force);

  caf::error rename(const std::string& container, const std::string& name);

  /// All containers (running or not) carrying `label` ("key" or "key=value";
  /// empty = all).
  caf::expected<std::vector<container_info>> list(const std::string& label);

  /// Blocks until the container stops; returns its exit code.
  caf::expected<int64_t> wait(const std::string& container,
                              std::chrono::milliseconds timeout);

  /// Container events between two instants (seconds since the epoch),
  /// optionally for one container only.
  caf::expected<std::vector<docker_event>>
  events(int64_t since, int64_t until, const std::string& container = {});

  /// Follows the engine's live event stream (container events, optionally
  /// for one container) from `since` (seconds since the epoch; 0 = now),
  /// calling `on_event` for each as it happens until it returns false or
  /// `listen` has passed. Uses its own connection.
  caf::error watch_events(
    int64_t since, const std::function<bool(const docker_event&)>& on_event,
    std::chrono::milliseconds listen, const std::string& container = {});

private:
  /// Performs a call and maps HTTP errors; `what` names it in errors.
  caf::expected<http_response> call(const std::string& method,
                                    const std::string& path,
                                    const std::string& body,
                                    const std::string& what,
                                    std::chrono::milliseconds timeout);

  std::string socket_;
  std::chrono::milliseconds timeout_;
  http_client http_;
};

/// Parses an inspect document.
container_info parse_container_info(const nlohmann::json& doc);

} // namespace sb::docker
