#pragma once

// The daemon's configuration: one table of keys (daemon_option_table(), see
// actors/option_table.hpp) read from conf/switchboard.ini (or
// --config-file=PATH) and overridable on the command line in CAF's form
// (--switchboard.port=7411). CAF 0.17 silently ignores a mistyped value in
// the file, so every [switchboard] and [settings] value is read from the raw
// file and checked by the table: an unknown key, an unknown section or a bad
// value stops start-up with a message that names it.

#include "actors/option_table.hpp"
#include "messages/types.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/timestamp.hpp>

#include <cstdint>
#include <string>

namespace sb {

/// The config file used when none is named and the file exists.
constexpr const char* default_config_file = "conf/switchboard.ini";

/// The [switchboard] keys. Defaults come from daemon_option_table().
struct daemon_options {
  daemon_options();

  std::string host;
  uint16_t port;
  std::string store;
  std::string db_path;
  std::string db_synchronous;
  std::string key_file;
  std::string postgres_url;
  std::string postgres_password_file;
  // -- several daemons on one PostgreSQL store (actors/cluster.hpp) --------
  std::string node_name;
  std::string advertise_host;
  caf::timespan lease_ttl;
  std::string log_level;
  std::string log_file;
  std::string log_format;
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
  // -- network intake (the BASP guard, intake/basp_guard.hpp) ----------------
  std::string admin_token_file;
  std::string report_token_file;
  uint64_t max_message_size;
  uint64_t max_connections;
  uint64_t max_buffered;
  uint64_t max_buffered_total;
  uint64_t max_pending_requests;
  uint64_t max_pending_total;
  // -- the HTTP front (http/http_front.hpp) ----------------------------------
  std::string http_host;
  int32_t http_port;
  std::string http_token_file;
  uint64_t http_workers;
  uint64_t http_max_connections;
  caf::timespan http_idle_timeout;
  // -- containers ------------------------------------------------------------
  std::string docker_socket;
  std::string token_env;
  uint16_t agent_port;
  std::string agent_secret_file;
  uint64_t docker_workers;
  caf::timespan docker_timeout;
  caf::timespan reload_timeout;
  caf::timespan health_timeout;
  caf::timespan stop_timeout;
  caf::timespan apply_wait;
  caf::timespan retry_initial;
  caf::timespan retry_max;
  // -- credentials with a lifecycle (actors/refresher.hpp) -------------------
  std::string anthropic_token_url;
  std::string anthropic_client_id;
  std::string codex_token_url;
  std::string codex_client_id;
  std::string oauth_user_agent;
  uint64_t refresh_ahead;
  caf::timespan refresh_ahead_min;
  caf::timespan refresh_interval;
  caf::timespan refresh_timeout;
  caf::timespan refresh_backoff;
  caf::timespan refresh_backoff_max;
  // -- periodic jobs ---------------------------------------------------------
  caf::timespan reconcile_interval;
  caf::timespan retention_interval;
  // -- notifications ---------------------------------------------------------
  std::string notify_command;
  caf::timespan notify_interval;
  caf::timespan notify_timeout;
  uint64_t notify_max_attempts;
  uint64_t digest_threshold;
  caf::timespan digest_interval;
  caf::timespan digest_wait;
  // -- typed events
  // ------------------------------------------------------------
  caf::timespan behind_after;
  uint64_t utilization_warning;
  uint64_t utilization_critical;
  /// Initial runtime settings from the [settings] section (text values).
  settings_map settings;
};

/// Every [switchboard] key, in the order of conf/switchboard.ini.
const option_table<daemon_options>& daemon_option_table();

class daemon_config : public caf::actor_system_config {
public:
  daemon_config();

  /// Parses file and command line and validates everything. Returns an error
  /// line, or "" on success. Sets `help_printed` for -h, --help, --long-help
  /// and --version.
  std::string parse_and_check(int argc, char** argv);

  daemon_options opts;
  std::string config_file;
  bool help_printed = false;
};

/// The text of `switchboardd --help`: usage and every key with its default.
std::string daemon_help();

} // namespace sb
