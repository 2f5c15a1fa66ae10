#pragma once

// The daemon's configuration: one config class over CAF's, read from
// conf/switchboard.ini (or --config-file=PATH) and overridable on the command
// line in CAF's form (--switchboard.port=7411). CAF 0.17 silently ignores a
// mistyped value in the file, so parse_and_check() checks the raw file itself
// first: an unknown key, an unknown section or a bad value stops start-up with
// a message that names it.

#include "messages/types.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/timestamp.hpp>

#include <cstdint>
#include <string>

namespace sb {

/// The config file used when none is named and the file exists.
constexpr const char* default_config_file = "conf/switchboard.ini";

struct daemon_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7411;
  std::string db_path = "data/switchboard.db";
  std::string db_synchronous = "FULL";
  std::string log_level = "info";
  std::string log_file;
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
  // -- containers ------------------------------------------------------------
  std::string docker_socket = "/var/run/docker.sock";
  std::string token_env = "CLAUDE_CODE_OAUTH_TOKEN";
  uint16_t agent_port = 8000;
  size_t docker_workers = 4;
  caf::timespan docker_timeout = std::chrono::seconds(30);
  caf::timespan reload_timeout = std::chrono::seconds(10);
  caf::timespan health_timeout = std::chrono::seconds(60);
  caf::timespan stop_timeout = std::chrono::seconds(10);
  caf::timespan retry_initial = std::chrono::seconds(1);
  caf::timespan retry_max = std::chrono::minutes(5);
  // -- periodic jobs ---------------------------------------------------------
  caf::timespan reconcile_interval = std::chrono::seconds(60);
  caf::timespan retention_interval = std::chrono::hours(1);
  // -- notifications ---------------------------------------------------------
  std::string notify_command;
  caf::timespan notify_interval = std::chrono::seconds(1);
  caf::timespan notify_timeout = std::chrono::seconds(10);
  /// Initial runtime settings from the [settings] section (text values).
  settings_map settings;
  /// Test-only fault point (environment SWITCHBOARD_TEST_CRASH_AFTER_COMMIT):
  /// the daemon kills itself right after committing a switch, before the
  /// token is applied, so tests can show the reconciler repairs it.
  bool fault_crash_after_commit = false;
};

class daemon_config : public caf::actor_system_config {
public:
  daemon_config();

  /// Parses file and command line and validates everything. Returns an error
  /// line, or "" on success. Sets `help_printed` for -h / --long-help.
  std::string parse_and_check(int argc, char** argv);

  daemon_options opts;
  std::string config_file;
  bool help_printed = false;
};

/// True if `host` names the loopback interface.
bool is_loopback(const std::string& host);

} // namespace sb
