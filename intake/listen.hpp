#pragma once

// The guard's public side: resolving the host, the loopback rule, binding.

#include <cstdint>
#include <string>
#include <vector>

struct sockaddr;

namespace sb::intake {

struct listeners {
  std::vector<int> fds; ///< non-blocking, listening; empty on failure
  uint16_t port = 0;
  std::string error;
};

/// Binds every address `host` resolves to ("" = the wildcard addresses) on
/// one port (`port` 0 = a free one). With `loopback_only`, refuses unless
/// every resolved address is loopback (127.0.0.0/8, ::1): the addresses are
/// what counts, not how the host is spelled.
listeners open_listeners(const std::string& host, uint16_t port,
                         bool loopback_only);

bool is_loopback(const sockaddr* addr);

/// "" if every address `host` resolves to is loopback, else why not (the
/// same rule open_listeners() applies; for checking a configuration early).
std::string check_loopback(const std::string& host);

/// "127.0.0.1:7411", "[::1]:7411" (without the port: "127.0.0.1", "::1").
std::string format_address(const sockaddr* addr, bool with_port = true);

} // namespace sb::intake
