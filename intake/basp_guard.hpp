#pragma once

// The BASP guard: the only way into CAF's network layer.
//
// CAF 0.17's middleman trusts every byte a client sends: a 32-byte header
// claiming a 4 GB payload makes it allocate 4 GB, random bytes keep its
// network thread busy, a client that never reads makes it buffer answers
// without bound, any actor it can find by id or name is addressable, and with
// descriptors exhausted it spins on accept(). Debian's CAF cannot be
// patched, so CAF listens nowhere: the guard owns the public address, and
// hands each client that authenticated to CAF as one end of a socketpair
// (options.hand_over), so no other process on the host can reach CAF:
//
//   client ──TCP/TLS──▶ guard (one epoll thread) ──socketpair──▶ CAF (BASP)
//
// A client first presents its credential (intake/auth_line.hpp): a token
// read from a file, whose permissions decide who may use it, or a TLS
// client certificate; the token decides its scope (admin or report), and
// the scope which FRONT DOOR the connection reaches. Then each frame's
// header is checked before any of its payload is read (operation known,
// fields consistent, first frame a client_handshake, payload_len <=
// max_message_size) and what the frame may address is checked on the first
// bytes of its payload (intake/frame_policy.hpp: only the connection's
// FRONT DOOR, only its message types); anything else closes the connection
// at once. Answers are relayed as bytes with a bounded backlog per
// connection and in total, and a client's requests wait while it has too
// many unanswered or does not read its answers. Bad events are logged at
// most once per second per kind, with a count of the rest.

#include "intake/frame_policy.hpp"
#include "messages/auth_line.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sb::intake {

/// The tokens clients present (either may be empty: then nobody has that
/// scope by token). Kept as SHA-256 digests, compared in constant time.
struct credentials {
  std::string admin_token;
  std::string report_token;
};

/// Hands one end of a socketpair to CAF as a new connection to the FRONT
/// DOOR of `s`; takes the descriptor (closes it) whatever it returns. False
/// if CAF cannot take it.
using hand_over_fn = std::function<bool(int fd, scope s)>;

struct guard_options {
  std::string host = "127.0.0.1"; ///< public address; "" = every interface
  uint16_t port = 0;              ///< 0 = any free port (see port())
  hand_over_fn hand_over;         ///< CAF's side of each connection
  frame_rules rules;              ///< what a client's frames may address
  uint64_t admin_door = 0;        ///< the FRONT DOOR of each scope
  uint64_t report_door = 0;
  credentials tokens;
  size_t max_message_size = 1 << 20; ///< largest payload a client may send
  size_t max_connections = 256;      ///< more are accepted and closed at once
  size_t max_buffered = 16 << 20; ///< answer backlog per client before a drop
  /// Answer backlog of every client together; past it, the client with the
  /// largest backlog is dropped (its memory goes back to the system).
  size_t max_buffered_total = 256 << 20;
  size_t pause_backlog = 1 << 20; ///< above it, a client's requests wait
  /// Requests relayed to CAF and not answered yet, per connection; at the
  /// cap the client's further requests wait (0 = no cap). CAF reads every
  /// request into a mailbox at once, so without it a client's burst queues
  /// there before any answer could back up.
  size_t max_pending_requests = 4096;
  /// The same for every client together (0 = no cap): with answers of at
  /// most a page (messages/types.hpp, max_page_bytes), it bounds what CAF
  /// holds for the clients at once. Held clients take turns.
  size_t max_pending_total = 0;
  /// TLS handshake, credential and the whole first frame must arrive within
  /// this.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  /// Once a frame started, the rest of it must arrive within this.
  std::chrono::milliseconds message_timeout = std::chrono::seconds(30);
  /// TLS when certificate and key are set (then any host is allowed; without
  /// TLS every address `host` resolves to must be loopback). With `tls_ca`,
  /// clients must present a certificate it signed, which authenticates them
  /// (scope admin) unless they also present a token.
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
};

struct guard_stats {
  size_t open_connections = 0;
  uint64_t accepted = 0;
  uint64_t refused_over_capacity = 0;  ///< max_connections reached
  uint64_t refused_no_descriptors = 0; ///< EMFILE/ENFILE on accept
  uint64_t closed_oversize = 0;
  uint64_t closed_bad_header = 0;
  uint64_t closed_slow_reader = 0; ///< backlog above max_buffered
  uint64_t closed_handshake_timeout = 0;
  uint64_t tls_failures = 0;           ///< handshakes that failed
  uint64_t backend_failures = 0;       ///< CAF could not take a connection
  uint64_t refused_auth = 0;           ///< no credential or a wrong one
  uint64_t closed_forbidden = 0;       ///< a frame frame_policy refused
  uint64_t closed_message_timeout = 0; ///< a frame started, never finished
  uint64_t evicted = 0;   ///< not authenticated yet when every slot was taken
  uint64_t bytes_in = 0;  ///< from clients (plaintext)
  uint64_t bytes_out = 0; ///< to clients (plaintext)
  size_t buffered = 0;    ///< answer bytes waiting for clients now
};

class basp_guard {
public:
  struct start_result;

  /// Resolves and binds the public address, then starts the guard's thread.
  /// Fails with one line, e.g. "address already in use: 127.0.0.1:7411".
  static start_result start(const guard_options& opts);

  ~basp_guard(); ///< stop()

  basp_guard(const basp_guard&) = delete;
  basp_guard& operator=(const basp_guard&) = delete;

  /// The bound port (the same on every address `host` resolved to).
  uint16_t port() const noexcept;

  /// A consistent-enough snapshot; callable from any thread.
  guard_stats stats() const noexcept;

  /// New tokens (a reload): connections that authenticated with a token
  /// that changed are closed. From any thread.
  void set_credentials(const credentials& tokens);

  /// Closes the listeners and every connection, joins the thread.
  /// Idempotent.
  void stop();

  struct impl;

private:
  explicit basp_guard(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

struct basp_guard::start_result {
  std::unique_ptr<basp_guard> guard; ///< null on failure
  std::string error;                 ///< one line when `guard` is null
  explicit operator bool() const noexcept { return guard != nullptr; }
};

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
/// now in force.
size_t raise_descriptor_limit();

/// How many client connections fit in RLIMIT_NOFILE (soft) at most
/// `max_connections`: each costs three descriptors in the daemon (the
/// client's socket, the guard's socket to CAF, CAF's accepted socket), and
/// `reserved` stay for everything else (database, logs, Docker, CAF).
/// CAF spins on accept() if it ever runs out, so keep max_connections below.
size_t connection_capacity(size_t max_connections, size_t reserved = 64);

} // namespace sb::intake
