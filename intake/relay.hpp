#pragma once

// The guard's event loop: one thread, one epoll set, non-blocking sockets.
// relay.cpp runs the loop (accepting, timers, closing); relay_client.cpp and
// relay_backend.cpp move the bytes of one connection, checking the client's
// frames on the way in and counting the answers on the way out.
//
// Per connection, bytes wait in user space only where a socket did not take
// them: towards CAF at most one 64 KiB read (the client is not read again
// until it is gone), towards the client at most max_buffered (then the
// client is dropped; above pause_backlog its requests are not read).

#include "intake/basp_frame.hpp"
#include "intake/basp_guard.hpp"
#include "intake/byte_queue.hpp"
#include "intake/rate_log.hpp"
#include "intake/tls_session.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <memory>
#include <mutex>
#include <vector>

namespace sb::intake {

struct connection;

/// What one epoll registration points at.
struct io_handle {
  enum class kind : uint8_t { listener, wakeup, client, backend };
  explicit io_handle(kind x) : k(x) {}
  kind k;
  bool added = false; ///< registered with epoll
  int fd = -1;
  uint32_t events = 0; ///< the interest registered
  connection* conn = nullptr;
};

enum class conn_state : uint8_t {
  tls_handshake, ///< negotiating TLS
  first_frame,   ///< waiting for the client_handshake header
  connecting,    ///< that header passed: connecting to CAF
  relaying,
  draining, ///< CAF closed: flushing what it sent, then closing
};

struct connection {
  io_handle client{io_handle::kind::client};
  io_handle backend{io_handle::kind::backend};
  ssl_st* ssl = nullptr; ///< null without TLS
  conn_state state = conn_state::first_frame;
  bool closed = false;
  bool first_done = false;     ///< the first frame arrived completely
  bool seen_header = false;    ///< the first header passed
  bool in_ready = false;       ///< queued in relay_loop::ready_
  bool tls_want_write = false; ///< the TLS handshake waits for POLLOUT
  bool read_wants_write = false;
  bool write_wants_read = false;
  uint8_t carry_len = 0; ///< bytes of an incomplete header
  unsigned char carry[basp_header_size];
  uint64_t payload_left = 0;   ///< of the frame being relayed
  size_t pending_requests = 0; ///< relayed to CAF, not answered yet
  // The answers' frame boundaries, to see responses go by.
  uint8_t down_carry_len = 0;
  unsigned char down_carry[basp_header_size];
  uint64_t down_payload_left = 0;
  byte_queue up;   ///< for CAF, not taken by its socket yet
  /// The client's frames from its first request over max_pending_requests
  /// on: relayed as answers come back (the client is not read meanwhile).
  byte_queue held;
  byte_queue down; ///< for the client
  std::chrono::steady_clock::time_point deadline; ///< of the first frame
  size_t index = 0;                               ///< in relay_loop::conns_
  sockaddr_storage peer{};
};

class relay_loop {
public:
  using clock = std::chrono::steady_clock;

  relay_loop(const guard_options& opts, std::vector<int> listeners,
             std::unique_ptr<tls_server> tls);
  ~relay_loop();
  relay_loop(const relay_loop&) = delete;
  relay_loop& operator=(const relay_loop&) = delete;

  /// Creates the epoll set; false with `error` set on failure.
  bool init(std::string& error);

  /// Runs until wake() is called, then closes every connection and the
  /// listeners.
  void run();

  /// Makes run() return; from any thread.
  void wake();

  guard_stats snapshot() const;

private:
  // relay.cpp: the loop itself.
  void dispatch(io_handle& h, uint32_t events);
  void on_accept(io_handle& h);
  enum class emfile_outcome : uint8_t { refused, drained, stuck };
  emfile_outcome accept_in_spite_of_emfile(io_handle& h);
  void admit(int fd, const sockaddr_storage& peer);
  void pause_accepting();
  void housekeeping();
  int next_timeout() const;
  void publish();
  void close_all();
  void set_interest(io_handle& h, uint32_t events);
  void close(connection& c, bool graceful = false);
  std::string describe_peer(const connection& c) const;

  template<class... Ts>
  void warn(log_kind kind, fmt::format_string<Ts...> format, Ts&&... args) {
    uint64_t suppressed = 0;
    if (!log_.admit(kind, now_, suppressed))
      return;
    auto line = fmt::format(format, std::forward<Ts>(args)...);
    if (suppressed == 0)
      spdlog::warn("intake: {}", line);
    else
      spdlog::warn("intake: {} ({} more since the previous line)", line,
                   suppressed);
  }

  // relay_client.cpp and relay_backend.cpp: one connection's bytes.
  void on_client(connection& c, uint32_t events);
  void on_backend(connection& c, uint32_t events);
  void update_interest(connection& c);
  bool handshake(connection& c);
  bool may_read_client(const connection& c) const;
  bool read_client(connection& c);
  bool forward_up(connection& c, char* data, size_t len);
  /// Relays the first `len` bytes (whole frames) of a client's chunk.
  bool relay_parsed(connection& c, const char* data, size_t len);
  /// Relays held frames while the pending cap allows.
  bool resume_held(connection& c);
  bool reject(connection& c, const basp_header& hdr, header_verdict v);
  void first_frame_done(connection& c);
  bool connect_backend(connection& c);
  bool send_up(connection& c, const char* data, size_t len);
  bool flush_up(connection& c);
  bool read_backend(connection& c);
  void observe_answers(connection& c, const char* data, size_t len);
  bool send_down(connection& c, const char* data, size_t len);
  bool flush_down(connection& c);
  enum class io : uint8_t { ok, again, closed, failed };
  io client_recv(connection& c, char* buf, size_t len, size_t& got,
                 bool& drained);
  io client_send(connection& c, const char* data, size_t len, size_t& put);

  guard_options opts_;
  std::unique_ptr<tls_server> tls_;
  std::vector<std::unique_ptr<io_handle>> listeners_;
  io_handle wakeup_{io_handle::kind::wakeup};
  int epoll_fd_ = -1;
  int reserve_fd_ = -1; ///< spare descriptor for EMFILE (see on_accept)
  bool running_ = true;
  clock::time_point now_;
  clock::time_point accept_paused_until_{};
  bool accept_paused_ = false;
  clock::time_point next_sweep_{};
  size_t pre_handshake_ = 0; ///< connections whose first frame is missing
  std::vector<std::unique_ptr<connection>> conns_;
  std::vector<std::unique_ptr<connection>> graveyard_; ///< freed per round
  std::vector<connection*> ready_;     ///< TLS bytes buffered inside OpenSSL
  std::vector<connection*> ready_now_; ///< ready_ of this round
  std::unique_ptr<char[]> rbuf_;       ///< one read chunk, shared
  rate_log log_;
  guard_stats local_;
  bool dirty_ = false;
  mutable std::mutex stats_mutex_;
  guard_stats published_;
};

} // namespace sb::intake
