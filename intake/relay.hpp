#pragma once

// The guard's event loop: one thread, one epoll set, non-blocking sockets.
// relay.cpp runs the loop (accepting, timers, closing); relay_client.cpp
// authenticates a client and checks its frames on the way in; relay_backend.cpp
// hands the connection to CAF (a socketpair) and counts the answers on the
// way out.
//
// Per connection, bytes wait in user space only where a socket did not take
// them: towards CAF at most one 64 KiB read (the client is not read again
// until it is gone), towards the client at most max_buffered (then the
// client is dropped; above pause_backlog its requests are not read), and for
// every client together at most max_buffered_total (then the client with the
// largest backlog is dropped).

#include "intake/basp_frame.hpp"
#include "intake/basp_guard.hpp"
#include "intake/byte_queue.hpp"
#include "intake/frame_policy.hpp"
#include "intake/rate_log.hpp"
#include "intake/tls_session.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
  auth,          ///< waiting for the credential line
  first_frame,   ///< waiting for the client_handshake
  relaying,
  draining, ///< closing once what is queued for the client went out
};

/// After memory was given back, once more this much later.
constexpr std::chrono::seconds release_later{2};

/// The bytes of a frame's header and of the payload prefix the frame policy
/// needs, carried from one read to the next.
constexpr size_t max_carry = basp_header_size + max_prefix;

struct connection {
  io_handle client{io_handle::kind::client};
  io_handle backend{io_handle::kind::backend};
  ssl_st* ssl = nullptr; ///< null without TLS
  conn_state state = conn_state::auth;
  bool closed = false;
  bool first_done = false;     ///< the first frame arrived completely
  bool seen_header = false;    ///< the first header passed
  bool in_ready = false;       ///< queued in relay_loop::ready_
  bool tls_want_write = false; ///< the TLS handshake waits for POLLOUT
  bool read_wants_write = false;
  bool write_wants_read = false;
  bool in_frame = false; ///< a frame started and did not end yet
  bool dropping = false; ///< the frame in progress is left out of the relay
  bool waiting = false;  ///< in relay_loop::waiters_
  scope granted = scope::none;
  /// The token the client presented ("" with a certificate): a reload that
  /// changes it closes the connection.
  std::string token;
  std::string auth_line; ///< the credential line, until it is complete
  std::optional<frame_policy> policy;
  uint16_t carry_len = 0; ///< bytes of an incomplete header and prefix
  unsigned char carry[max_carry];
  uint64_t payload_left = 0;   ///< of the frame being relayed
  size_t pending_requests = 0; ///< relayed to CAF, not answered yet
  // The answers' frame boundaries, to see responses go by.
  uint8_t down_carry_len = 0;
  unsigned char down_carry[basp_header_size];
  uint64_t down_payload_left = 0;
  byte_queue up; ///< for CAF, not taken by its socket yet
  /// The client's frames from its first request over max_pending_requests
  /// on: relayed as answers come back (the client is not read meanwhile).
  byte_queue held;
  byte_queue down;                                ///< for the client
  std::chrono::steady_clock::time_point deadline; ///< of the first frame
  /// Of the frame in progress, while one is (in_frame).
  std::chrono::steady_clock::time_point frame_deadline;
  size_t index = 0; ///< in relay_loop::conns_
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

  /// New tokens, taken by the loop's thread at its next round; from any
  /// thread.
  void set_credentials(const credentials& tokens);

  guard_stats snapshot() const;

private:
  // relay.cpp: the loop itself.
  void dispatch(io_handle& h, uint32_t events);
  void on_accept(io_handle& h);
  enum class emfile_outcome : uint8_t { refused, drained, stuck };
  emfile_outcome accept_in_spite_of_emfile(io_handle& h);
  void admit(int fd, const sockaddr_storage& peer);
  bool evict_unauthenticated();
  void pause_accepting();
  void housekeeping();
  void sweep_deadlines();
  void take_credentials();
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
  /// The credential line: the bytes of `data` it took (the rest are
  /// frames), or -1 if the connection closed.
  long authenticate(connection& c, const char* data, size_t len);
  long refuse_auth(connection& c, const char* why, const char* answer);
  scope scope_of(connection& c, const std::string& token) const;
  bool forward_up(connection& c, char* data, size_t len);
  /// Relays the first `len` bytes (whole frames) of a client's chunk.
  bool relay_parsed(connection& c, const char* data, size_t len);
  /// Relays held frames while the pending caps allow.
  bool resume_held(connection& c);
  bool at_pending_cap(const connection& c) const;
  void wait_for_answers(connection& c);
  /// Relays held frames of connections that waited for the global cap.
  void resume_waiters();
  bool reject(connection& c, const basp_header& hdr, header_verdict v);
  bool forbid(connection& c, const basp_header& hdr, const char* why);
  void frame_started(connection& c);
  void frame_ended(connection& c);
  void first_frame_done(connection& c);
  bool connect_backend(connection& c);
  bool send_up(connection& c, const char* data, size_t len);
  bool flush_up(connection& c);
  bool read_backend(connection& c);
  void observe_answers(connection& c, const char* data, size_t len);
  bool send_down(connection& c, const char* data, size_t len);
  bool flush_down(connection& c);
  /// Over max_buffered_total: drops the client with the largest backlog.
  void enforce_total_backlog();
  void released(size_t bytes);
  bool release_due() const;
  void release_memory();
  enum class io : uint8_t { ok, again, closed, failed };
  io client_recv(connection& c, char* buf, size_t len, size_t& got,
                 bool& drained);
  io client_send(connection& c, const char* data, size_t len, size_t& put);

  guard_options opts_;
  std::unique_ptr<tls_server> tls_;
  std::vector<std::unique_ptr<io_handle>> listeners_;
  io_handle wakeup_{io_handle::kind::wakeup};
  int epoll_fd_ = -1;
  std::array<unsigned char, 32> admin_digest_{};
  std::array<unsigned char, 32> report_digest_{};
  bool has_admin_ = false;
  bool has_report_ = false;
  std::mutex creds_mutex_;
  std::optional<credentials> creds_pending_; ///< from set_credentials()
  std::atomic<bool> stop_{false};
  size_t in_frame_ = 0;             ///< connections with a frame in progress
  size_t pending_total_ = 0;        ///< requests of every client CAF works on
  std::deque<connection*> waiters_; ///< held at a pending cap, in turn
  size_t unreleased_ = 0; ///< backlog bytes freed since memory was released
  clock::time_point last_release_{};
  bool release_again_ = false; ///< a second release is due (release_later)
  int reserve_fd_ = -1;        ///< spare descriptor for EMFILE (see on_accept)
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

/// Gives freed memory back to the system (tcmalloc's, when the daemon runs
/// on it; glibc's malloc_trim otherwise).
void release_free_memory();

} // namespace sb::intake
