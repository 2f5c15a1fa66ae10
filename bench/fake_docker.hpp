#pragma once

// A test double of the Docker Engine API for the storm benchmark
// (switchboard-bench --storm): it answers the one call a token application
// makes of the engine, `GET /v1.41/containers/NAME/json` (inspect), on a Unix
// socket, for containers that are processes on this machine. Each container
// is said to run with host networking and a `switchboard.agent-port` label,
// so the daemon's docker workers reach the real reference agent server that
// the benchmark started for it on 127.0.0.1. Every other call is answered
// 404; every answer closes its connection. One thread serves the requests
// one after the other: an inspect takes microseconds, so the engine double
// adds no queue of its own to the daemon's.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

namespace sb::bench {

class fake_docker {
public:
  fake_docker() = default;
  fake_docker(const fake_docker&) = delete;
  fake_docker& operator=(const fake_docker&) = delete;
  ~fake_docker() { stop(); }

  /// Declares a running container whose agent server listens on
  /// 127.0.0.1:`agent_port` and was started with `token` in `token_env`.
  void add_container(const std::string& name, uint16_t agent_port,
                     const std::string& token_env, const std::string& token);

  /// Listens on `socket_path` and serves on a thread of its own; false if the
  /// socket cannot be made.
  bool start(const std::string& socket_path);

  void stop();

  /// Requests answered so far.
  uint64_t requests() const { return requests_.load(); }

  /// Time since the last request (or since start), to see the daemon settle.
  std::chrono::milliseconds quiet_for() const;

private:
  void serve();
  void answer(int conn);
  std::string inspect_json(const std::string& name) const;

  struct container {
    uint16_t port = 0;
    std::string env;
  };
  std::map<std::string, container> containers_;
  int listener_ = -1;
  std::string path_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> requests_{0};
  std::atomic<int64_t> last_request_ns_{0};
};

} // namespace sb::bench
