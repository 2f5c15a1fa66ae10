#pragma once

// What the guard's tests share: typed CAF actors handed connections the way
// the daemon's FRONT DOORs are (intake/caf_door.hpp: CAF listens nowhere),
// CAF clients (plain and TLS) in their own actor systems that authenticate
// as the CLI does, raw sockets that forge BASP frames, the process's RSS,
// and throwaway certificates.

#include "intake/basp_guard.hpp"
#include "intake/caf_door.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sb::test {

using namespace std::chrono_literals;

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using big_atom = caf::atom_constant<caf::atom("big")>;

/// ping echoes its number; big answers a string of that many bytes.
using echo_actor
  = caf::typed_actor<caf::replies_to<ping_atom, int32_t>::with<int32_t>,
                     caf::replies_to<big_atom, uint32_t>::with<std::string>>;

/// The credentials of the guard's tests.
constexpr const char* admin_token = "admin-token-of-the-guard-tests";
constexpr const char* report_token = "report-token-of-the-guard-tests";

/// Two echo actors (the "FRONT DOORs" of the admin and the report scope),
/// reachable only through a guard (guard_options() wires one to them).
class echo_server {
public:
  echo_server();
  ~echo_server();
  /// The admin scope's echo actor, and the report scope's.
  uint64_t actor_id() const;
  uint64_t report_actor_id() const;
  caf::actor_system& system() { return *sys_; }

  /// Options for a guard in front of these actors, with the tests'
  /// credentials.
  intake::guard_options guard_options() const;

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  echo_actor echo_;
  echo_actor report_echo_;
  std::unique_ptr<intake::caf_door> door_;
};

struct tls_client_options {
  bool enabled = false;
  std::string certificate, key, cafile; ///< cafile empty: not verified
};

/// A CAF client node of its own. Shared: a connect that outlives its wait
/// keeps the system alive until it returns.
class echo_client : public std::enable_shared_from_this<echo_client> {
public:
  static std::shared_ptr<echo_client> make(tls_client_options tls = {});
  ~echo_client();

  /// Connects as the CLI does (credential line, then CAF's handshake),
  /// waiting at most `timeout`. Returns "" on success, else why not.
  std::string connect(const std::string& host, uint16_t port,
                      std::chrono::milliseconds timeout = 10s,
                      const std::string& token = admin_token);

  /// The id of the actor the connection reached.
  uint64_t remote_id() const;

  /// Sends `n` pings at once, then awaits every answer; "" if all came back.
  std::string ping(int n = 1, std::chrono::milliseconds timeout = 10s);

  /// Asks for `size` bytes; returns the length received or -1.
  int64_t big(uint32_t size, std::chrono::milliseconds timeout = 30s);

  caf::actor_system& system() { return *sys_; }

private:
  echo_client() = default;
  tls_client_options tls_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  echo_actor remote_;
};

// -- raw sockets
// ----------------------------------------------------------------

/// A blocking TCP connection to 127.0.0.1:port; -1 on failure.
int raw_connect(uint16_t port);

/// raw_connect, then the credential line; -1 unless the guard said "OK".
int raw_authenticated(uint16_t port, const std::string& token = admin_token);

bool send_all(int fd, const void* data, size_t len);

/// Waits until the peer closed `fd` (EOF or reset), reading and dropping
/// what arrives; false if `timeout` passed first.
bool wait_closed(int fd, std::chrono::milliseconds timeout);

/// A frame: `hdr` (its payload_len set) and `payload`.
std::vector<char> frame(const intake::basp_header& hdr,
                        const std::vector<char>& payload);

/// A client_handshake frame of a made-up node (a different one per call).
std::vector<char> handshake_frame(caf::actor_system& sys);

/// A direct_message frame carrying a request from a made-up actor.
std::vector<char> request_frame(caf::actor_system& sys, uint64_t dest_actor,
                                uint64_t request_id, const caf::message& msg);

// -- process
// --------------------------------------------------------------------

/// VmRSS of this process in KiB (after giving freed heap back to the OS).
size_t rss_kib();

/// Bytes allocated with malloc and not freed, in KiB (every arena).
size_t heap_kib();

/// False in a build with AddressSanitizer (scripts/sanitize.sh): its
/// quarantine keeps freed memory and its allocator has no mallinfo, so RSS
/// and heap figures say nothing about what the guard holds there. The memory
/// bounds are checked by the normal build.
constexpr bool memory_is_measured() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  return true;
#endif
}

/// Waits until `pred` holds, at most `timeout`; re-checks after yielding.
template<class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

/// A certificate and its key, written as PEM files into `dir`.
struct pem_pair {
  std::string certificate, key;
};

/// Makes a self-signed CA, or a leaf signed by `ca` if given; EC P-256.
pem_pair make_certificate(const std::string& dir, const std::string& name,
                          const pem_pair* ca = nullptr);

} // namespace sb::test
