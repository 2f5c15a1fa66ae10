#pragma once

// The [switchboard] keys that a SIGHUP reload changes while the daemon runs:
// the notifier's command and timing and the Docker timeouts. They are read
// where they are used (each notifier round, each container operation, each
// request to the supervisor), so a reload takes effect from the next one:
// the reload publishes them (daemon_context::live) and the notifier, the
// docker workers, the supervisor and the AGENTs read them.
// Every other key of daemon_options is fixed for the life of the process.

#include "actors/config.hpp"

#include <caf/timestamp.hpp>

#include <chrono>
#include <string>

namespace sb {

struct live_options {
  std::string notify_command;
  caf::timespan notify_interval{};
  caf::timespan notify_timeout{};
  caf::timespan docker_timeout{};
  caf::timespan reload_timeout{};
  caf::timespan health_timeout{};
  caf::timespan stop_timeout{};

  static live_options of(const daemon_options& o) {
    return {o.notify_command, o.notify_interval, o.notify_timeout,
            o.docker_timeout, o.reload_timeout,  o.health_timeout,
            o.stop_timeout};
  }

  /// Whether `key` (without "switchboard.") is one of these.
  static bool is_live(std::string_view key) {
    return key == "notify-command" || key == "notify-interval"
           || key == "notify-timeout" || key == "docker-timeout"
           || key == "reload-timeout" || key == "health-timeout"
           || key == "stop-timeout";
  }

  /// How long the supervisor may take for one operation on a container (a
  /// recreate: inspect, create, stop, remove, rename, start, then the health
  /// wait; each Docker call bounded by docker-timeout): the bound of every
  /// request an AGENT sends it.
  caf::timespan container_op_timeout() const {
    return health_timeout + stop_timeout + docker_timeout * 4;
  }

  /// How long one operation may keep a docker worker, by the timeouts it
  /// runs under: the longest is a recreate after a failed hot-reload, or a
  /// restart with a stale token (reload-timeout, stop-timeout,
  /// health-timeout, up to eleven Docker calls of docker-timeout each, the
  /// health poll's last round overrunning by a call and 1 s), so twelve
  /// calls and a margin of 10 s for the work between them. A worker past
  /// it is stuck in something no timeout bounds (a hung file system, say):
  /// the supervisor gives up on it (actors/container_supervisor.hpp).
  caf::timespan worker_op_timeout() const {
    return reload_timeout + stop_timeout + health_timeout + docker_timeout * 12
           + std::chrono::seconds(10);
  }
};

} // namespace sb
