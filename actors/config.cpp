#include "actors/config.hpp"

#include "actors/engine_settings.hpp"
#include "actors/logging.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"

#include <caf/config_value.hpp>
#include <caf/io/middleman.hpp>
#include <caf/pec.hpp>
#include <caf/settings.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

namespace sb {

namespace {

enum class value_kind { text, port, count, duration };

/// What the file may say under [switchboard].
const std::map<std::string, value_kind>& switchboard_keys() {
  static const std::map<std::string, value_kind> keys = {
    {"host", value_kind::text},
    {"port", value_kind::port},
    {"db-path", value_kind::text},
    {"db-synchronous", value_kind::text},
    {"log-level", value_kind::text},
    {"log-file", value_kind::text},
    {"tls-certificate", value_kind::text},
    {"tls-key", value_kind::text},
    {"tls-ca", value_kind::text},
    {"docker-socket", value_kind::text},
    {"token-env", value_kind::text},
    {"agent-port", value_kind::port},
    {"docker-workers", value_kind::count},
    {"docker-timeout", value_kind::duration},
    {"reload-timeout", value_kind::duration},
    {"health-timeout", value_kind::duration},
    {"stop-timeout", value_kind::duration},
    {"retry-initial", value_kind::duration},
    {"retry-max", value_kind::duration},
    {"reconcile-interval", value_kind::duration},
    {"retention-interval", value_kind::duration},
    {"notify-command", value_kind::text},
    {"notify-interval", value_kind::duration},
    {"notify-timeout", value_kind::duration},
  };
  return keys;
}

/// Sections that belong to CAF itself and are passed through.
bool is_caf_section(const std::string& name) {
  for (auto x : {"scheduler", "middleman", "openssl", "logger", "stream",
                 "work-stealing", "caf"})
    if (name == x)
      return true;
  return false;
}

std::string describe(const caf::config_value& v) {
  return caf::to_string(v);
}

std::string check_switchboard_value(const std::string& key, value_kind kind,
                                    const caf::config_value& v) {
  auto where = "switchboard." + key + " in the config file";
  switch (kind) {
  case value_kind::text:
    if (!caf::holds_alternative<std::string>(v))
      return where + ": expected a quoted string, got " + describe(v);
    return {};
  case value_kind::port: {
    auto x = caf::get_if<int64_t>(&v);
    if (!x || *x < 0 || *x > 65535)
      return where + ": expected a port number from 0 to 65535, got "
             + describe(v);
    return {};
  }
  case value_kind::count: {
    auto x = caf::get_if<int64_t>(&v);
    if (!x || *x < 1 || *x > 1024)
      return where + ": expected a number from 1 to 1024, got " + describe(v);
    return {};
  }
  case value_kind::duration:
    if (!caf::holds_alternative<caf::timespan>(v))
      return where + ": expected a duration such as 10s or 5min, got "
             + describe(v);
    return {};
  }
  return {};
}

/// Text of a [settings] value as written in the file.
std::string setting_text(const caf::config_value& v) {
  if (auto s = caf::get_if<std::string>(&v))
    return *s;
  if (auto b = caf::get_if<bool>(&v))
    return *b ? "on" : "off";
  if (auto i = caf::get_if<int64_t>(&v))
    return std::to_string(*i);
  if (auto t = caf::get_if<caf::timespan>(&v))
    return format_duration(
      std::chrono::duration_cast<std::chrono::milliseconds>(*t).count());
  return describe(v);
}

/// Checks the raw file. Returns an error line or "".
std::string check_file(const std::string& path, settings_map& settings_out) {
  auto raw = caf::actor_system_config::parse_config_file(path.c_str());
  if (!raw)
    return "cannot read config file '" + path
           + "': " + caf::to_string(raw.error());
  for (auto& [section, value] : *raw) {
    auto dict = caf::get_if<caf::config_value::dictionary>(&value);
    if (!dict)
      return "config file '" + path + "': '" + section
             + "' must be inside a section such as [switchboard]";
    if (section == "switchboard") {
      for (auto& [key, v] : *dict) {
        auto i = switchboard_keys().find(key);
        if (i == switchboard_keys().end())
          return "unknown key switchboard." + key + " in config file '" + path
                 + "'";
        if (auto err = check_switchboard_value(key, i->second, v); !err.empty())
          return err;
      }
    } else if (section == "settings") {
      for (auto& [key, v] : *dict) {
        auto text = setting_text(v);
        auto norm = normalize_setting(key, text);
        if (!norm)
          return "settings." + key + " in config file '" + path
                 + "': " + render(norm.error());
        settings_out[key] = *norm;
      }
    } else if (!is_caf_section(section)) {
      return "unknown section [" + section + "] in config file '" + path + "'";
    }
  }
  return {};
}

/// "unknown option --x" rather than CAF's parser_error(...) rendering.
std::string describe_cli_error(const caf::error& err) {
  std::string arg;
  auto& ctx = err.context();
  if (ctx.match_elements<caf::settings>())
    if (auto a
        = caf::get_if<std::string>(&ctx.get_as<caf::settings>(0), "argument"))
      arg = *a;
  std::string why = "cannot parse it";
  if (err.category() == caf::atom("parser")) {
    switch (static_cast<caf::pec>(err.code())) {
    case caf::pec::not_an_option:
      why = "unknown option";
      break;
    case caf::pec::integer_overflow:
    case caf::pec::integer_underflow:
      why = "value out of range";
      break;
    case caf::pec::missing_argument:
      why = "missing value";
      break;
    default:
      why = "invalid value";
      break;
    }
  }
  if (arg.empty())
    return "bad command line: " + caf::to_string(err);
  return why + ": " + arg;
}

} // namespace

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1"
         || host.rfind("127.", 0) == 0;
}

daemon_config::daemon_config() {
  load<caf::io::middleman>();
  sb::add_message_types(*this);
  // CAF 0.17.6's BASP workers clean up a closed connection asynchronously;
  // when the kernel reuses its descriptor for a new client in between, the
  // cleanup wipes the new client's route and its replies are dropped
  // (measured: about 5% of replies lost with 64 short-lived clients).
  // Without workers the cleanup happens in order.
  set("middleman.workers", 0);
  opt_group{custom_options_, "switchboard"}
    .add(opts.host, "host", "address to listen on (loopback unless TLS)")
    .add(opts.port, "port", "port of the front door (0 = any free port)")
    .add(opts.db_path, "db-path", "SQLite database file")
    .add(opts.db_synchronous, "db-synchronous", "FULL or NORMAL")
    .add(opts.log_level, "log-level", "trace|debug|info|warn|error|off")
    .add(opts.log_file, "log-file", "rotating log file (empty = stderr only)")
    .add(opts.tls_certificate, "tls-certificate", "PEM certificate for TLS")
    .add(opts.tls_key, "tls-key", "PEM private key for TLS")
    .add(opts.tls_ca, "tls-ca", "CA file: only clients it signed may connect")
    .add(opts.docker_socket, "docker-socket", "Docker Engine API socket")
    .add(opts.token_env, "token-env", "container variable holding the token")
    .add(opts.agent_port, "agent-port", "default port of the agent server")
    .add(opts.docker_workers, "docker-workers", "parallel Docker operations")
    .add(opts.docker_timeout, "docker-timeout", "timeout of one Docker call")
    .add(opts.reload_timeout, "reload-timeout", "timeout of a hot-reload")
    .add(opts.health_timeout, "health-timeout", "wait for /health after start")
    .add(opts.stop_timeout, "stop-timeout", "grace period of a stop")
    .add(opts.retry_initial, "retry-initial", "first retry of a failed apply")
    .add(opts.retry_max, "retry-max", "longest wait between apply retries")
    .add(opts.reconcile_interval, "reconcile-interval", "reconciler period")
    .add(opts.retention_interval, "retention-interval", "retention period")
    .add(opts.notify_command, "notify-command",
         "run per notification, JSON on stdin (empty = keep them pending)")
    .add(opts.notify_interval, "notify-interval", "outbox delivery period")
    .add(opts.notify_timeout, "notify-timeout", "notify-command time limit");
  auto settings_group = opt_group{custom_options_, "settings"};
  for (auto& spec : setting_specs())
    settings_group.add<std::string>(
      caf::string_view{spec.key, std::strlen(spec.key)},
      caf::string_view{spec.description, std::strlen(spec.description)});
}

std::string daemon_config::parse_and_check(int argc, char** argv) {
  // Which file: --config-file=PATH, else conf/switchboard.ini if present.
  bool named = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--config-file=", 0) == 0) {
      config_file = arg.substr(std::strlen("--config-file="));
      named = true;
    }
  }
  if (!named && std::filesystem::exists(default_config_file))
    config_file = default_config_file;
  settings_map file_settings;
  if (!config_file.empty()) {
    if (!std::filesystem::exists(config_file))
      return "config file '" + config_file + "' does not exist";
    if (auto err = check_file(config_file, file_settings); !err.empty())
      return err;
  }
  auto err
    = parse(argc, argv, config_file.empty() ? nullptr : config_file.c_str());
  if (err)
    return describe_cli_error(err);
  if (cli_helptext_printed) {
    help_printed = true;
    return {};
  }
  if (!remainder.empty())
    return "unexpected argument '" + remainder.front()
           + "' (options look like --switchboard.port=7411)";
  if (caf::get_or(content, "middleman.workers", size_t{0}) != 0)
    return "middleman.workers must stay 0: with BASP workers CAF 0.17 can "
           "drop replies when clients disconnect (see conf/switchboard.ini)";
  // Runtime settings: file values, overridden by --settings.KEY=VALUE.
  opts.settings = file_settings;
  for (auto& spec : setting_specs()) {
    auto key = std::string{"settings."} + spec.key;
    if (auto v = caf::get_if<std::string>(&content, key)) {
      auto norm = normalize_setting(spec.key, *v);
      if (!norm)
        return render(norm.error());
      opts.settings[spec.key] = *norm;
    }
  }
  // Values the types alone do not check.
  if (opts.host.empty())
    return "switchboard.host must not be empty";
  if (opts.db_path.empty())
    return "switchboard.db-path must not be empty";
  if (opts.db_synchronous != "FULL" && opts.db_synchronous != "NORMAL")
    return "switchboard.db-synchronous must be FULL or NORMAL, got '"
           + opts.db_synchronous + "'";
  if (!valid_log_level(opts.log_level))
    return "switchboard.log-level must be trace, debug, info, warn, error or "
           "off, got '"
           + opts.log_level + "'";
  if (opts.token_env.empty())
    return "switchboard.token-env must not be empty";
  if (opts.docker_workers < 1 || opts.docker_workers > 1024)
    return "switchboard.docker-workers must be from 1 to 1024";
  if (opts.agent_port == 0)
    return "switchboard.agent-port must not be 0";
  if (opts.tls_certificate.empty() != opts.tls_key.empty()
      || (!opts.tls_certificate.empty() && opts.tls_ca.empty())
      || (opts.tls_certificate.empty() && !opts.tls_ca.empty()))
    return "switchboard.tls-certificate, switchboard.tls-key and "
           "switchboard.tls-ca go together (CAF's TLS is mutual: clients "
           "need a certificate signed by tls-ca)";
  for (auto [key, path] :
       {std::pair{"tls-certificate", opts.tls_certificate},
        std::pair{"tls-key", opts.tls_key}, std::pair{"tls-ca", opts.tls_ca}})
    if (!path.empty() && !std::filesystem::exists(path))
      return std::string{"switchboard."} + key + ": no file '" + path + "'";
  if (!is_loopback(opts.host) && opts.tls_certificate.empty())
    return "switchboard.host is '" + opts.host
           + "', which is not loopback: binding beyond loopback requires "
             "TLS (set switchboard.tls-certificate, switchboard.tls-key and "
             "switchboard.tls-ca)";
  for (auto [name, value] :
       {std::pair{"docker-timeout", opts.docker_timeout},
        std::pair{"reload-timeout", opts.reload_timeout},
        std::pair{"health-timeout", opts.health_timeout},
        std::pair{"stop-timeout", opts.stop_timeout},
        std::pair{"retry-initial", opts.retry_initial},
        std::pair{"retry-max", opts.retry_max},
        std::pair{"reconcile-interval", opts.reconcile_interval},
        std::pair{"retention-interval", opts.retention_interval},
        std::pair{"notify-interval", opts.notify_interval},
        std::pair{"notify-timeout", opts.notify_timeout}})
    if (value.count() <= 0)
      return std::string{"switchboard."} + name + " must be positive";
  if (opts.retry_max < opts.retry_initial)
    return "switchboard.retry-max must not be shorter than "
           "switchboard.retry-initial";
  return {};
}

} // namespace sb
