#pragma once

// Where the CLI finds the daemon and its credential. It trusts only its own
// configuration, never the folder it happens to run in:
//
//   address     --host/--port, else SWITCHBOARD_ADDR (HOST:PORT, as
//               DOCKER_HOST), else the config file's host and port, else
//               127.0.0.1:7411
//   config      --config FILE, else SWITCHBOARD_CONFIG, else the installed
//               one (SB_CONF_DIR/switchboard.ini, /etc/switchboard/...);
//               a conf/switchboard.ini in the current folder is read only
//               when named (scripts/sb does that for a checkout)
//   credential  --auth-file FILE, else SWITCHBOARD_AUTH_FILE, else the
//               config's admin-token-file if this user may read it, else its
//               report-token-file (relative paths from the current folder,
//               as the daemon reads them from its own)
//
// A config file that another user could have written is refused, as ssh
// does: it says where the credential is sent.

#include "client/connect.hpp"

#include <string>

namespace sb::client {

struct client_inputs {
  std::string config;    ///< --config ("" = not given)
  std::string auth_file; ///< --auth-file ("" = not given)
  bool host_given = false;
  bool port_given = false;
};

/// What resolve_client() found; for messages.
struct client_sources {
  std::string config_file; ///< "" = none
  std::string auth_file;   ///< "" = none (a certificate only)
};

struct client_problem {
  std::string message; ///< "" = none
  int code = 2;        ///< the exit status: 2 bad input
};

/// Fills `ep` (host, port, token) from the sources above.
client_problem resolve_client(const client_inputs& in, endpoint& ep,
                              client_sources& found);

/// "" if `path` may be trusted (owned by this user or root, not writable by
/// group or others, nor its folder by others without the sticky bit), else
/// why not.
std::string untrusted_file(const std::string& path);

} // namespace sb::client
