#pragma once

// What the benchmark programs share: the daemon under test as a child
// process in a folder of its own, and what /proc says about a process.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace sb::bench {

/// A port that was free a moment ago on 127.0.0.1.
uint16_t free_port();

/// Something accepts connections on 127.0.0.1:`port`.
bool port_open(uint16_t port);

/// CPU time (user + system) a process has used, in seconds.
double cpu_s(pid_t pid);

/// Resident memory of a process, in MB.
double rss_mb(pid_t pid);

/// The daemon as a child process.
struct daemon_child {
  pid_t pid = -1;
  uint16_t port = 0;
  /// Set before start: serve HTTP on a free port too (else the front is off).
  bool http = false;
  uint16_t http_port = 0;
  /// Set before start: the Docker Engine API socket (else one that does not
  /// exist in the daemon's folder: no containers are reached).
  std::string docker_socket;
  double boot_s = 0;
  /// The admin credential, once started (the daemon makes it in its folder).
  std::string token;

  bool listening() const;

  /// Starts `binary` in `dir` on free ports (SQLite in `dir` unless `extra`
  /// says otherwise) and waits up to two minutes until it listens.
  bool start(const std::string& binary, const std::string& dir,
             const std::string& log_level,
             const std::vector<std::string>& extra);

  void stop();

  ~daemon_child() { stop(); }
};

} // namespace sb::bench
