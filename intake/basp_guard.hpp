#pragma once

// The BASP guard: a small relay in front of CAF's network listener.
//
// CAF 0.17's middleman trusts every byte a client sends: a 32-byte header
// claiming a 4 GB payload makes it allocate 4 GB, random bytes keep its
// network thread busy, a client that never reads makes it buffer answers
// without bound, and with descriptors exhausted it spins on accept(). Debian's
// CAF cannot be patched, so the daemon publishes its front door on loopback
// port 0 and this guard owns the public address instead:
//
//   client ──TCP/TLS──▶ guard (one epoll thread) ──loopback──▶ CAF (BASP)
//
// Each client frame's header is checked before any of its payload is read:
// operation known, fields consistent, first frame a client_handshake,
// payload_len <= max_message_size; anything else closes the connection at
// once. Answers are relayed as bytes with a bounded backlog per connection,
// and a client's requests wait while it has too many unanswered or does not
// read its answers.
// The guard connects to CAF only after a client's first header passed, so
// garbage and idle sockets never reach CAF. Bad events are logged at most once
// per second per kind, with a count of the rest.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sb::intake {

struct guard_options {
  std::string host = "127.0.0.1";    ///< public address; "" = every interface
  uint16_t port = 0;                 ///< 0 = any free port (see port())
  uint16_t backend_port = 0;         ///< CAF's listener on 127.0.0.1
  size_t max_message_size = 1 << 20; ///< largest payload a client may send
  size_t max_connections = 256;      ///< more are accepted and closed at once
  size_t max_buffered = 16 << 20; ///< answer backlog per client before a drop
  size_t pause_backlog = 1 << 20; ///< above it, a client's requests wait
  /// Requests relayed to CAF and not answered yet, per connection; at the
  /// cap the client's further requests wait (0 = no cap). CAF reads every
  /// request into a mailbox at once, so without it a client's burst queues
  /// there before any answer could back up.
  size_t max_pending_requests = 4096;
  /// TLS handshake plus the whole first frame must arrive within this.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
  /// TLS when certificate and key are set (then any host is allowed; without
  /// TLS every address `host` resolves to must be loopback). With `tls_ca`,
  /// clients must present a certificate it signed.
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
  uint64_t tls_failures = 0;     ///< handshakes that failed
  uint64_t backend_failures = 0; ///< could not reach CAF's listener
  uint64_t bytes_in = 0;         ///< from clients (plaintext)
  uint64_t bytes_out = 0;        ///< to clients (plaintext)
  size_t buffered = 0;           ///< answer bytes waiting for clients now
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
