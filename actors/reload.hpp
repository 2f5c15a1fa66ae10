#pragma once

// SIGHUP: the daemon reads its configuration again (the same file and
// command line it started with). A file that does not parse or check is
// refused and the running configuration stays. Otherwise each key that
// changed is logged by name: the log level, the notifier's command and
// timing, the Docker timeouts (actors/live_options.hpp) and the [settings]
// values take effect at once (a setting as `switchboard settings set` would
// set it); every other key needs a restart, and says so.

#include "actors/config.hpp"
#include "actors/live_options.hpp"
#include "actors/published.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>

#include <string>
#include <vector>

namespace sb {

struct reload_report {
  /// Keys that took effect ("switchboard.log-level", "settings.x").
  std::vector<std::string> applied;
  /// Keys that changed in the file but need a restart.
  std::vector<std::string> need_restart;
  /// Why a change could not be applied (key: reason).
  std::vector<std::string> failed;
};

/// Compares `running` with `fresh`, applies what can change at run time
/// (through `door` for settings; publishes `live` for the live keys, its
/// only writer) and updates `running` to what now runs.
reload_report apply_reload(caf::actor_system& sys, const front_door_actor& door,
                           published<live_options>& live,
                           daemon_options& running,
                           const daemon_options& fresh);

} // namespace sb
