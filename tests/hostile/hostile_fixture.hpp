#pragma once

// What the hostile suite shares: the real daemon started with its own
// database (optionally under a low descriptor limit), the CLI, a CAF client
// node of the test's own, raw sockets that forge BASP bytes, a proxy that
// stops reading the daemon's answers, and the daemon's RSS and CPU time from
// /proc.

#include "client/connect.hpp"
#include "fixtures/hung_socket.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sb::test {

double rss_mb(pid_t pid);

/// The highest RSS of `pid` while it lives, sampled every 5 ms in a thread
/// of its own (a peak between two requests of the test is not missed).
class rss_peak {
public:
  explicit rss_peak(pid_t pid);
  ~rss_peak();
  double mb() const { return peak_.load(); }

private:
  std::atomic<double> peak_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};
double cpu_seconds(pid_t pid);

/// A TCP connection to 127.0.0.1:`port` (-1 on failure).
int connect_raw(uint16_t port);

/// Presents `token` on a raw connection; true if the daemon took it.
bool authenticate(int fd, const std::string& token);
void send_all(int fd, const std::string& bytes);

/// True if the peer closes `fd` within 5 s.
bool closed_by_peer(int fd);

/// A BASP header as CAF 0.17 writes it (big-endian), claiming `payload_len`.
std::string basp_header(uint8_t operation, uint32_t payload_len);

/// A CAF client node of the test's own, connected to the front door.
class node {
public:
  node(uint16_t port, const std::string& token);
  ~node();

  template<class T, class... Ts>
  caf::expected<T> call(Ts... xs) {
    return client::call<T>(*sys_, fd, std::chrono::seconds(10), xs...);
  }

  /// A request whose answer is never read by the test.
  template<class... Ts>
  void send(Ts... xs) {
    (*self_)->request(fd, caf::infinite, xs...);
  }

  caf::actor_system& system() { return *sys_; }

  front_door_actor fd;

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
};

/// Relays one client to the daemon until stall(); then it stops reading the
/// daemon's side, like a client that never reads its answers.
class stalling_proxy {
public:
  explicit stalling_proxy(uint16_t target);
  ~stalling_proxy();
  uint16_t port() const { return port_; }
  void stall() { stalled_ = true; }

private:
  void run();

  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stalled_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

class hostile_test : public ::testing::Test {
protected:
  /// The admin credential the daemon made.
  std::string admin_token() const;

  /// Starts the daemon; with `nofile`, under `ulimit -n nofile`.
  void start(std::vector<std::string> extra = {}, int nofile = 0);

  /// The CLI with --json; fails the test unless it succeeds.
  nlohmann::json ok(std::vector<std::string> args);

  /// `switchboard ping` answered within `timeout`.
  bool ping(std::chrono::milliseconds timeout);

  /// The intake counters of `status`.
  nlohmann::json intake();

  /// Subscriptions sub-a and sub-b, agent a1 on sub-a (in `container`).
  void setup_agent(const std::string& container = {});

  /// `n` failure events on a1 with `text_bytes` of error text each (a1 does
  /// not switch: its auto-switch is off).
  void seed_events(int n, size_t text_bytes);

  temp_dir dir;
  std::unique_ptr<daemon_process> daemon;
};

} // namespace sb::test
