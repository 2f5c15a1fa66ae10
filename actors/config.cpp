#include "actors/config.hpp"

#include "actors/engine_settings.hpp"
#include "actors/logging.hpp"
#include "actors/option_table_impl.hpp"
#include "intake/listen.hpp"
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

using o = daemon_options;
constexpr int64_t week = 7 * day_ms;

/// The front door, the database and the nodes that share a PostgreSQL one.
option_table<daemon_options> service_rows() {
  return {
    {"host", "127.0.0.1",
     "Address of the front door; anything but loopback requires TLS.", &o::host,
     1},
    {"port", "7411", "Port of the front door (0 = any free port).", &o::port, 0,
     65535},
    {"store", "sqlite",
     "Where the state lives: sqlite (the file db-path) or postgresql (the "
     "database postgres-url).",
     &o::store, 1, 0, "sqlite|postgresql"},
    {"db-path", "data/switchboard.db",
     "SQLite database file, created with mode 0600.", &o::db_path, 1},
    {"db-synchronous", "FULL",
     "FULL (a commit survives power loss) or NORMAL (survives a crash).",
     &o::db_synchronous, 1, 0, "FULL|NORMAL"},
    {"key-file", "",
     "Key that encrypts tokens at rest, created 0600 at first start (\"\" = "
     "switchboard.key in the folder of db-path).",
     &o::key_file},
    {"postgres-url", "",
     "store = postgresql: the database, as postgresql://USER@HOST:PORT/DB or "
     "key=value pairs, without the password.",
     &o::postgres_url},
    {"postgres-password-file", "",
     "store = postgresql: file whose first line is the password (\"\" = none, "
     "or ~/.pgpass).",
     &o::postgres_password_file},
    {"node-name", "",
     "store = postgresql: this daemon's name among the nodes sharing the "
     "database (\"\" = the host name).",
     &o::node_name},
    {"advertise-host", "",
     "store = postgresql: the address other nodes reach this front door at "
     "(\"\" = host).",
     &o::advertise_host},
    {"lease-ttl", "10s",
     "store = postgresql: how long this node's ownership of its agents lasts "
     "without renewal (renewed every third of it); then another node takes "
     "them over.",
     &o::lease_ttl, 1000, 3'600'000},
  };
}

/// Logs, TLS and the intake limits.
option_table<daemon_options> log_and_intake_rows() {
  return {
    {"log-level", "info", "trace, debug, info, warn, error or off.",
     &o::log_level, 1, 0, "trace|debug|info|warn|error|off"},
    {"log-file", "", "Also log to this rotating file (10 MiB x 3).",
     &o::log_file},
    {"log-format", "auto",
     "text, json (one object per line), journal (systemd's, with "
     "priorities) or auto (journal under systemd, else text).",
     &o::log_format, 1, 0, "auto|text|json|journal"},
    {"tls-certificate", "",
     "TLS for the front door: the daemon's PEM certificate.",
     &o::tls_certificate},
    {"tls-key", "", "TLS: the PEM key of tls-certificate.", &o::tls_key},
    {"tls-ca", "",
     "TLS: admit only clients with a certificate this CA signed (\"\" = any).",
     &o::tls_ca},
    {"max-message-size", "1048576",
     "Largest message a client may send, in bytes; a bigger one closes it.",
     &o::max_message_size, 1024, 1 << 30},
    {"max-connections", "256",
     "Client connections at once; more are refused (lowered to fit ulimit -n).",
     &o::max_connections, 1, 1 << 20},
    {"admin-token-file", "auth/admin.token",
     "The admin credential (every command), created 0640 at the first start; "
     "whoever may read it administers.",
     &o::admin_token_file, 1},
    {"report-token-file", "auth/report.token",
     "The report credential (report, observe, read), created 0640 at the "
     "first start.",
     &o::report_token_file, 1},
    {"max-buffered", "33554432",
     "Answer bytes buffered for one client that does not read; past it, it is "
     "dropped.",
     &o::max_buffered, 1 << 20, int64_t{1} << 32},
    {"max-buffered-total", "134217728",
     "Answer bytes buffered for all clients together; past it, the client "
     "with the largest backlog is dropped.",
     &o::max_buffered_total, 1 << 20, int64_t{1} << 40},
    {"max-pending-requests", "64",
     "Requests of one client the daemon works on at once; more wait in its "
     "connection.",
     &o::max_pending_requests, 1, 1 << 20},
    {"max-pending-total", "256",
     "Requests of all clients the daemon works on at once; more wait in "
     "their connections, which take turns.",
     &o::max_pending_total, 1, 1 << 20},
    // -- the HTTP front (http/http_front.hpp) --------------------------------
    {"http-host", "127.0.0.1",
     "Address of the HTTP front; anything but loopback requires "
     "tls-certificate and tls-key.",
     &o::http_host, 1},
    {"http-port", "7412",
     "Port of the HTTP front (0 = any free port, -1 = no HTTP front).",
     &o::http_port, -1, 65535},
    {"http-token-file", "",
     "Former name of admin-token-file (\"\" = not used).", &o::http_token_file},
    {"http-workers", "1",
     "Threads of the HTTP front's event loop; a request that waits for the "
     "daemon holds none.",
     &o::http_workers, 1, 256},
    {"http-max-connections", "4096",
     "Open HTTP connections at once; beyond, a new one is answered 503 and "
     "closed.",
     &o::http_max_connections, 1, 1 << 20},
    {"http-idle-timeout", "30s",
     "An idle keep-alive HTTP connection is closed after this.",
     &o::http_idle_timeout, 1, week},
  };
}

/// Containers: the Docker engine, agent servers, token applications.
option_table<daemon_options> container_rows() {
  return {
    {"docker-socket", "/var/run/docker.sock",
     "Unix socket of the Docker Engine API (v1.41).", &o::docker_socket, 1},
    {"token-env", "CLAUDE_CODE_OAUTH_TOKEN",
     "Environment variable that carries the token inside a container.",
     &o::token_env, 1},
    {"agent-port", "8000",
     "Port of the agent server without a switchboard.agent-port label.",
     &o::agent_port, 1, 65535},
    {"agent-secret-file", "",
     "File with the secret sent to agent servers on a token reload "
     "(X-Switchboard-Secret); a container's switchboard.agent-secret-file "
     "label overrides it (\"\" = none).",
     &o::agent_secret_file},
    {"docker-workers", "256",
     "Container operations (token applications, restarts) that may run at "
     "the same time; a worker thread starts when one waits (4 at start).",
     &o::docker_workers, 1, 1024},
    {"docker-timeout", "30s", "Timeout of one Docker Engine API call.",
     &o::docker_timeout, 1, week},
    {"reload-timeout", "10s",
     "Timeout of a hot-reload (POST /api/credentials/reload-token).",
     &o::reload_timeout, 1, week},
    {"health-timeout", "60s",
     "How long a (re)started container may take to answer GET /health.",
     &o::health_timeout, 1, week},
    {"stop-timeout", "10s", "Grace period of a container stop.",
     &o::stop_timeout, 1, week},
    {"apply-wait", "5s",
     "A switch's reply waits at most this long for its token application "
     "(then: apply pending).",
     &o::apply_wait, 1, week},
    {"retry-initial", "1s",
     "First wait before a failed token application is retried; doubles.",
     &o::retry_initial, 1, week},
    {"retry-max", "5min", "Longest wait between two retries of an application.",
     &o::retry_max, 1, week},
  };
}

/// Credentials with a lifecycle: the refresher of oauth credentials.
option_table<daemon_options> credential_rows() {
  return {
    {"anthropic-token-url", "https://console.anthropic.com/v1/oauth/token",
     "Token endpoint of Claude logins (what Claude Code uses); a "
     "subscription's --token-url overrides it.",
     &o::anthropic_token_url, 1},
    {"anthropic-client-id", "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
     "OAuth client id sent with a Claude refresh (Claude Code's).",
     &o::anthropic_client_id, 1},
    {"codex-token-url", "https://auth.openai.com/oauth/token",
     "Token endpoint of Codex (ChatGPT) logins (what the Codex CLI uses).",
     &o::codex_token_url, 1},
    {"codex-client-id", "app_EMoamEEZ73f0CkXaXp7hrann",
     "OAuth client id sent with a Codex refresh (the Codex CLI's).",
     &o::codex_client_id, 1},
    {"oauth-user-agent", "claude-cli/2.1.0 (external, cli)",
     "User-Agent of every refresh request.", &o::oauth_user_agent, 1},
    {"refresh-ahead", "20",
     "Refresh an access token when this percentage of its lifetime is left "
     "(at least refresh-ahead-min, at most half of it).",
     &o::refresh_ahead, 1, 90},
    {"refresh-ahead-min", "60s",
     "Refresh at least this long before an access token expires (at most "
     "half its lifetime).",
     &o::refresh_ahead_min, 0, week},
    {"refresh-interval", "1s",
     "How often the refresher looks for credentials that are due.",
     &o::refresh_interval, 1, week},
    {"refresh-timeout", "30s", "Timeout of one call of a token endpoint.",
     &o::refresh_timeout, 1, week},
    {"refresh-backoff", "5s",
     "First wait after a failed refresh (429, 5xx, no answer); doubles, "
     "with jitter; a longer Retry-After wins.",
     &o::refresh_backoff, 1, week},
    {"refresh-backoff-max", "5min",
     "Longest wait between two attempts of a failing refresh.",
     &o::refresh_backoff_max, 1, week},
  };
}

/// Periodic jobs and notifications.
option_table<daemon_options> job_rows() {
  return {
    {"reconcile-interval", "60s",
     "How often an agent whose container is behind applies its token again.",
     &o::reconcile_interval, 1, week},
    {"retention-interval", "1h", "How often old failure events are deleted.",
     &o::retention_interval, 1, week},
    {"notify-command", "",
     "Run once per notification, JSON on stdin (\"\" = keep them pending).",
     &o::notify_command},
    {"notify-interval", "1s", "How often pending notifications are delivered.",
     &o::notify_interval, 1, week},
    {"notify-timeout", "10s",
     "How long one run of notify-command may take before it is killed.",
     &o::notify_timeout, 1, week},
    {"notify-max-attempts", "10",
     "Attempts of one notification at one sink before it is marked failed.",
     &o::notify_max_attempts, 1, 1000},
    {"digest-threshold", "10",
     "More events of one type than this within digest-interval reach a "
     "sink as one digest message (sinks added with --no-digest excepted).",
     &o::digest_threshold, 1, 100000},
    {"digest-interval", "60s",
     "The window of digest-threshold; a digest waits at most this long.",
     &o::digest_interval, 1, week},
    {"digest-wait", "5s",
     "A sink that digests holds an event until no other of its type came "
     "for this long (at most digest-interval), to see whether a storm "
     "follows.",
     &o::digest_wait, 0, week},
    {"behind-after", "5min",
     "An agent_behind event when a committed token is not applied to the "
     "agent's container for this long.",
     &o::behind_after, 1, week},
    {"utilization-warning", "80",
     "A utilization_high event (warning) when a subscription's window "
     "reaches this percentage; once per window until its reset.",
     &o::utilization_warning, 1, 100},
    {"utilization-critical", "90",
     "A utilization_high event (critical) at this percentage.",
     &o::utilization_critical, 1, 100},
  };
}

} // namespace

const option_table<daemon_options>& daemon_option_table() {
  static const option_table<daemon_options> table = [] {
    auto all = service_rows();
    for (auto part : {log_and_intake_rows(), container_rows(),
                      credential_rows(), job_rows()})
      all.insert(all.end(), part.begin(), part.end());
    return all;
  }();
  return table;
}

daemon_options::daemon_options() {
  apply_defaults(daemon_option_table(), *this);
}

namespace {

/// Sections that belong to CAF itself and are passed through.
bool is_caf_section(const std::string& name) {
  for (auto x : {"scheduler", "middleman", "openssl", "logger", "stream",
                 "work-stealing", "caf"})
    if (name == x)
      return true;
  return false;
}

/// A value of the raw file as text, the way it would be typed on the command
/// line: "7411", "10s", "on", "some text".
std::string value_text(const caf::config_value& v) {
  if (auto s = caf::get_if<std::string>(&v))
    return *s;
  if (auto b = caf::get_if<bool>(&v))
    return *b ? "on" : "off";
  if (auto i = caf::get_if<int64_t>(&v))
    return std::to_string(*i);
  if (auto t = caf::get_if<caf::timespan>(&v))
    return format_duration(
      std::chrono::duration_cast<std::chrono::milliseconds>(*t).count());
  return caf::to_string(v);
}

/// Every [section] value of the raw file, as text.
using file_values = std::map<std::string, std::map<std::string, std::string>>;

/// Reads the raw file: only known sections and keys. Returns an error line.
std::string read_file(const std::string& path, file_values& out) {
  auto raw = caf::actor_system_config::parse_config_file(path.c_str());
  if (!raw)
    return "cannot read config file '" + path
           + "': " + caf::to_string(raw.error());
  for (auto& [section, value] : *raw) {
    auto dict = caf::get_if<caf::config_value::dictionary>(&value);
    if (!dict)
      return "config file '" + path + "': '" + section
             + "' must be inside a section such as [switchboard]";
    if (is_caf_section(section))
      continue;
    if (section != "switchboard" && section != "settings")
      return "unknown section [" + section + "] in config file '" + path + "'";
    for (auto& [key, v] : *dict) {
      bool known = section == "switchboard"
                     ? find_option(daemon_option_table(), key) != nullptr
                     : find_option(setting_table(), key) != nullptr;
      if (!known)
        return "unknown key " + section + "." + key + " in config file '" + path
               + "'";
      out[section][key] = value_text(v);
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
  if (err.category() == caf::atom("parser"))
    why = static_cast<caf::pec>(err.code()) == caf::pec::not_an_option
            ? "unknown option"
            : "invalid value";
  if (arg.empty())
    return "bad command line: " + caf::to_string(err);
  return why + ": " + arg;
}

/// The value of `section.key`: command line, else file, else nothing.
std::optional<std::string> pick(const caf::settings& content,
                                const file_values& file,
                                const std::string& section,
                                std::string_view key) {
  auto full = section + "." + std::string{key};
  if (auto v = caf::get_if<std::string>(&content, full))
    return std::string{*v};
  if (auto s = file.find(section); s != file.end())
    if (auto k = s->second.find(std::string{key}); k != s->second.end())
      return k->second;
  return std::nullopt;
}

/// The HTTP front: beyond loopback only with TLS (its bearer tokens are the
/// admin and report credentials).
std::string check_http(const daemon_options& o) {
  if (o.http_port < 0)
    return {};
  if (auto problem = intake::check_loopback(o.http_host); !problem.empty()) {
    if (o.tls_certificate.empty())
      return "switchboard.http-host: " + problem
             + "; the HTTP front beyond loopback needs "
               "switchboard.tls-certificate and switchboard.tls-key";
  }
  return {};
}

/// http-token-file is the former name of admin-token-file.
std::string resolve_aliases(daemon_options& o) {
  if (o.http_token_file.empty())
    return {};
  if (o.admin_token_file != daemon_options{}.admin_token_file
      && o.admin_token_file != o.http_token_file)
    return "switchboard.http-token-file is the former name of "
           "switchboard.admin-token-file: set only admin-token-file";
  o.admin_token_file = o.http_token_file;
  return {};
}

/// Checks of values that depend on each other.
std::string check_together(daemon_options& o) {
  if (auto problem = resolve_aliases(o); !problem.empty())
    return problem;
  if (o.admin_token_file == o.report_token_file)
    return "switchboard.admin-token-file and switchboard.report-token-file "
           "must be two files (one credential per scope)";
  if (o.tls_certificate.empty() != o.tls_key.empty())
    return "switchboard.tls-certificate and switchboard.tls-key go together";
  if (!o.tls_ca.empty() && o.tls_certificate.empty())
    return "switchboard.tls-ca needs switchboard.tls-certificate and "
           "switchboard.tls-key";
  for (auto [key, path] :
       {std::pair{"tls-certificate", o.tls_certificate},
        std::pair{"tls-key", o.tls_key}, std::pair{"tls-ca", o.tls_ca}})
    if (!path.empty() && !std::filesystem::exists(path))
      return std::string{"switchboard."} + key + ": no file '" + path + "'";
  // Loopback is decided on the addresses `host` resolves to, not on how it
  // is spelled (checked here early, and again when they are bound).
  if (o.tls_certificate.empty())
    if (auto problem = intake::check_loopback(o.host); !problem.empty())
      return "switchboard.host: " + problem;
  if (auto problem = check_http(o); !problem.empty())
    return problem;
  if (o.retry_max < o.retry_initial)
    return "switchboard.retry-max must not be shorter than "
           "switchboard.retry-initial";
  return {};
}

bool has_arg(int argc, char** argv, std::initializer_list<const char*> xs) {
  for (int i = 1; i < argc; ++i)
    for (auto x : xs)
      if (std::strcmp(argv[i], x) == 0)
        return true;
  return false;
}

} // namespace

std::string daemon_help() {
  return std::string{"usage: switchboardd [--config-file=FILE] "
                     "[--switchboard.KEY=VALUE] [--settings.KEY=VALUE]\n\n"
                     "Without --config-file the daemon reads "}
         + default_config_file
         + " if it exists. Keys and their defaults:\n\n[switchboard]\n"
         + option_help(daemon_option_table(), "switchboard")
         + "\n[settings]  (initial runtime settings; `switchboard settings "
           "set` stores a value that wins)\n"
         + option_help(setting_table(), "settings")
         + "\nCAF's own options (scheduler, middleman): --long-help\n";
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
  // CAF's sharing scheduler: one queue, workers wait on a condition
  // variable and each new job wakes one. Work stealing polls instead: a
  // worker out of work spins, then sleeps 50 us at a time 500 times before
  // it waits, and `perf` showed ~28% of a burst in kernel scheduling from
  // those sleeps. Measured on 2 cores under load from other builds,
  // interleaved, 3 runs each (1000 agents, 8 reports each, 2000
  // subscriptions), stealing -> sharing: 1.7-3.6k -> 2.7-4.8k reports/s,
  // p99 2.1-4.7 -> 1.6-2.7 s, daemon CPU 1.06-1.50 -> 0.75-0.96 s; at rest
  // with 1,000 agents and the HTTP front 0.03% -> 0.00% of a core (one
  // 10 ms tick in 30 s). Two workers instead of four were slower
  // (1.4-2.2k reports/s). Stealing without its moderate phase
  // (work-stealing.moderate-poll-attempts = 0) came out even with sharing
  // in a direct pair (3.5-5.6k against 3.6-5.3k reports/s, daemon CPU
  // 0.78-0.88 against 0.88-0.99 s, whole runs 13% more CPU), but its idle
  // workers still wake every relaxed-sleep-duration, and work a busy
  // worker queues for itself waits that long for a sleeping thief. At rest
  // a sharing worker never wakes by itself. The config file can override
  // it (scheduler.policy = 'stealing').
  set("scheduler.policy", caf::atom("sharing"));
  // With work stealing (if configured), at rest CAF's workers wake every
  // relaxed-sleep-duration (default 10 ms) to steal: ~0.5% of a core doing
  // nothing. New work wakes a sleeping worker at once either way; only
  // stealing from a busy peer waits up to this long. Measured: 0.53% -> 0.02%
  // of a core at rest with 1,000 agents (bench/RESULTS.md). The config file can
  // override it.
  set("work-stealing.relaxed-sleep-duration",
      caf::timespan{std::chrono::seconds(1)});
  // Declared as text: the table reads and checks every value itself.
  auto group = opt_group{custom_options_, "switchboard"};
  for (auto& row : daemon_option_table())
    group.add<std::string>(
      caf::string_view{row.key.data(), row.key.size()},
      caf::string_view{row.description.data(), row.description.size()});
  auto settings_group = opt_group{custom_options_, "settings"};
  for (auto& row : setting_table())
    settings_group.add<std::string>(
      caf::string_view{row.key.data(), row.key.size()},
      caf::string_view{row.description.data(), row.description.size()});
}

std::string daemon_config::parse_and_check(int argc, char** argv) {
  if (has_arg(argc, argv, {"-h", "--help", "-?"})) {
    std::fputs(daemon_help().c_str(), stdout);
    help_printed = true;
    return {};
  }
  if (has_arg(argc, argv, {"--version"})) {
    std::printf("switchboardd %s (%s)\n", version(), protocol_version());
    help_printed = true;
    return {};
  }
  // Which file: --config-file=PATH, else conf/switchboard.ini if present.
  bool named = false;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--config-file=", 14) == 0) {
      config_file = argv[i] + 14;
      named = true;
    }
  if (!named && std::filesystem::exists(default_config_file))
    config_file = default_config_file;
  file_values file;
  if (!config_file.empty()) {
    if (!std::filesystem::exists(config_file))
      return "config file '" + config_file + "' does not exist";
    if (auto err = read_file(config_file, file); !err.empty())
      return err;
  }
  auto err
    = parse(argc, argv, config_file.empty() ? nullptr : config_file.c_str());
  if (err)
    return describe_cli_error(err);
  if (cli_helptext_printed) {
    help_printed = true; // --long-help: CAF's own text
    return {};
  }
  if (!remainder.empty())
    return "unexpected argument '" + remainder.front()
           + "' (options look like --switchboard.port=7411)";
  // CAF divides by the number of workers: 0 would crash it (SIGFPE).
  if (caf::get_or(content, "scheduler.max-threads", size_t{1}) == 0)
    return "scheduler.max-threads must be at least 1";
  if (caf::get_or(content, "middleman.workers", size_t{0}) != 0)
    return "middleman.workers must stay 0: with BASP workers CAF 0.17 can "
           "drop replies when clients disconnect (see conf/switchboard.ini)";
  for (auto& row : daemon_option_table())
    if (auto text = pick(content, file, "switchboard", row.key))
      if (auto e = set_option(row, opts, *text, "switchboard."))
        return sb::render(e);
  for (auto& row : setting_table())
    if (auto text = pick(content, file, "settings", row.key)) {
      auto norm = normalize_setting(std::string{row.key}, *text);
      if (!norm)
        return sb::render(norm.error());
      opts.settings[std::string{row.key}] = *norm;
    }
  return check_together(opts);
}

} // namespace sb
