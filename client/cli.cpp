#include "client/cli.hpp"

#include "client/backup_file.hpp"
#include "client/client_config.hpp"
#include "client/connect.hpp"
#include "client/format.hpp"
#include "client/suggest.hpp"
#include "messages/credential_file.hpp"
#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "messages/register.hpp"
#include "messages/text_list.hpp"
#include "messages/validate.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/settings.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

namespace sb::client {

namespace {

/// Everything the command line says.
struct options {
  endpoint ep;
  bool host_given = false;
  bool port_given = false;
  std::string config;
  std::string auth_file;
  bool json = false;
  double timeout_s = 120;
  // Arguments of the subcommands.
  std::string name;
  std::string second;
  std::string third;
  std::string token_file;
  std::string oauth_file;
  std::string expires_at;
  std::string token_url;
  std::string provider;
  std::string pool;
  std::string model;
  int64_t max_agents = -1;
  std::string subscription;
  std::string token_sha256;
  int64_t generation = -1;
  std::string container;
  agent_spec spec;
  int status = 0;
  std::string kind;
  std::string error_text;
  std::string error_file;
  std::string execution_id;
  std::string source;
  double retry_after_s = 0;
  std::string reset_at;
  std::vector<std::string> headers;
  std::string headers_file;
  std::string agent_filter;
  std::string subscription_filter;
  uint32_t limit = 50;
  bool force = false;
  // notify add
  std::string url_file;
  std::string secret_file;
  std::string chat_id_file;
  std::vector<std::string> events;
  std::string min_severity = "info";
  bool no_digest = false;
  bool failed_only = false;
};

/// A failure to report: message, exit status and, for --json, a code
/// ("usage" for a wrong command line, else the daemon's error code).
struct failure {
  std::string message;
  int code = 1;
  std::string name;
  /// The answer was printed already (with --json: only it is printed).
  bool printed = false;
};

/// Exit status 2: bad input from the caller (an option, an argument, a
/// file it names), found before anything is sent; 1: anything else (the
/// daemon unreachable, or its refusal).
[[noreturn]] void fail(const std::string& message, int code = 1,
                       std::string name = {}) {
  if (name.empty())
    name = code == 2 ? "usage" : "error";
  throw failure{message, code, std::move(name)};
}

/// The code of an error for --json: ours by name, CAF's as "error".
std::string code_of(const caf::error& err) {
  if (err.category() == error_category)
    return to_string(static_cast<ec>(err.code()));
  if (err == caf::sec::request_timeout)
    return "timeout";
  return "error";
}

/// Prints a failure: one line on stderr, or with --json one object on
/// stdout ({"error": {"code", "message"}}).
int report_failure(bool json, const failure& f) {
  std::fflush(stdout);
  if (json && f.printed)
    return f.code;
  if (json) {
    std::cout << json_text(
      {{"error", {{"code", f.name}, {"message", f.message}}}})
              << '\n';
    std::cout.flush();
  } else {
    std::fprintf(stderr, "switchboard: %s\n",
                 escape_for_terminal(f.message).c_str());
  }
  return f.code;
}

/// Reads at most `limit` bytes of a file ('-' = standard input): a token
/// file is small, and `--token-file /dev/zero` must not read forever.
std::string read_all(const std::string& path, const char* what, size_t limit) {
  int fd
    = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(std::string{"cannot read "} + what + " file '" + path
           + "': " + std::strerror(errno),
         2);
  std::string data;
  char buf[4096];
  while (data.size() < limit) {
    auto n = ::read(fd, buf, std::min(sizeof(buf), limit - data.size()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto why = errno; // a directory: EISDIR
      if (fd != STDIN_FILENO)
        ::close(fd);
      fail(std::string{"cannot read "} + what + " file '" + path
             + "': " + std::strerror(why),
           2);
    }
    if (n == 0)
      break;
    data.append(buf, static_cast<size_t>(n));
  }
  if (fd != STDIN_FILENO)
    ::close(fd);
  return data;
}

void check(const caf::error& err, int code = 2) {
  if (err)
    fail(render(err), code);
}

class session {
public:
  explicit session(const options& o) : opts_(o) {
    // The daemon's address and the credential are looked up only now: a
    // command's own bad input is reported first.
    auto ep = o.ep;
    client_sources found;
    auto problem = resolve_client(
      {o.config, o.auth_file, o.host_given, o.port_given}, ep, found);
    if (!problem.message.empty())
      fail(problem.message, problem.code);
    if (auto tls = ep.tls_problem(); !tls.empty())
      fail(tls, 2);
    where_ = ep.host + ":" + std::to_string(ep.port);
    configure(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    auto fd = connect(*sys_, ep);
    if (!fd) {
      auto refused = is(fd.error(), ec::unauthenticated);
      auto message = render(fd.error());
      if (refused && !found.auth_file.empty())
        message += " (credential from '" + found.auth_file + "')";
      // A hung connect keeps a thread busy: leave without cleanup.
      report_failure(
        o.json,
        failure{message, 1, refused ? "unauthenticated" : "unavailable"});
      std::fflush(stdout);
      std::_Exit(1);
    }
    fd_ = std::move(*fd);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
  }

  ~session() {
    self_.reset();
    fd_ = nullptr;
  }

  template<class T, class... Ts>
  T call(Ts&&... xs) {
    auto timeout = std::chrono::milliseconds(
      static_cast<int64_t>(std::llround(opts_.timeout_s * 1000)));
    auto result = client::call<T>(*sys_, fd_, timeout, std::forward<Ts>(xs)...);
    if (!result)
      fail(render(result.error()), 1, code_of(result.error()));
    return std::move(*result);
  }

  caf::actor_system& system() { return *sys_; }
  caf::scoped_actor& self() { return *self_; }
  const front_door_actor& front_door() const { return fd_; }
  /// HOST:PORT of the daemon.
  const std::string& where() const { return where_; }

private:
  const options& opts_;
  std::string where_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  front_door_actor fd_;
  std::unique_ptr<caf::scoped_actor> self_;
};

/// Text for a terminal: each line with its control characters, escape
/// sequences and bidi overrides escaped (names and error texts come from
/// callers and providers); the line breaks stay.
std::string terminal_text(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    auto last = end == std::string::npos ? text.size() : end;
    out += escape_for_terminal(
      std::string_view{text}.substr(start, last - start));
    if (end == std::string::npos)
      break;
    out += '\n';
    start = end + 1;
  }
  return out;
}

void print(const options& o, const nlohmann::json& j, const std::string& text) {
  if (o.json)
    std::cout << json_text(j) << '\n';
  else
    std::cout << terminal_text(text);
  std::cout.flush();
}

std::string opt_text(const caf::optional<std::string>& x) {
  return x ? *x : std::string{"-"};
}

std::string iso_text(millis t) {
  return t == 0 ? std::string{"-"} : format_iso(t);
}

// -- commands
// -------------------------------------------------------------------

void cmd_ping(const options& o) {
  session s{o};
  auto protocol = s.call<std::string>(ping_atom::value);
  print(o, ping_json(protocol),
        "pong from " + s.where() + " (" + protocol + ")\n");
}

void cmd_status(const options& o) {
  session s{o};
  auto st = s.call<status_info>(status_atom::value);
  std::string text = "switchboardd " + st.version + " (" + st.protocol
                     + "), up " + std::to_string(st.uptime_ms / 1000) + " s\n"
                     + "agents: " + std::to_string(st.agents)
                     + ", subscriptions: "
                     + (st.subscriptions ? std::to_string(*st.subscriptions)
                                         : std::string{"unknown"})
                     + "\n";
  std::vector<std::vector<std::string>> rows{{"COMPONENT", "STATE", "DETAILS"}};
  auto json = to_json(st);
  for (auto& c : st.components) {
    std::string details = c.error;
    for (auto& [k, v] : json["components"][c.name].items())
      if (k != "state" && k != "error" && k != "pools")
        details += (details.empty() ? "" : " ") + k + "="
                   + (v.is_string() ? v.get<std::string>() : json_text(v));
    rows.push_back({c.name, to_string(c.state), details});
  }
  std::string pools;
  if (st.pool && !st.pool->pools.empty()) {
    std::vector<std::vector<std::string>> prows{
      {"POOL", "PROVIDER", "SUBSCRIPTIONS", "EXCLUDED", "AGENTS"}};
    for (auto& [name, c] : st.pool->pools)
      prows.push_back({name, to_string(c.provider),
                       std::to_string(c.subscriptions),
                       std::to_string(c.excluded), std::to_string(c.agents)});
    pools = "\n" + table(prows);
  }
  print(o, json, text + table(rows) + pools);
}

/// --expires-at: an ISO instant ("2027-06-01T00:00:00Z") or a day
/// ("2027-06-01", its start in UTC).
millis expiry_of(const std::string& text) {
  auto at = parse_iso_instant(text);
  if (!at && text.size() == 10)
    at = parse_iso_instant(text + "T00:00:00Z");
  if (!at || *at <= 0)
    throw failure{"--expires-at '" + text
                    + "' is not an instant such as 2027-06-01 or "
                      "2027-06-01T12:00:00Z",
                  2, "usage"};
  return *at;
}

/// The credential of `subscription add`: a token file (with its expiry
/// when known) or a login file.
void read_credential(const options& o, subscription_spec& spec) {
  if (o.token_file.empty() == o.oauth_file.empty())
    throw failure{"subscription add needs --token-file FILE or --oauth-file "
                  "FILE (one of them)",
                  2, "usage"};
  if (!o.oauth_file.empty()) {
    if (!o.expires_at.empty())
      throw failure{"--expires-at is for a token; a login file says when its "
                    "access token expires",
                    2, "usage"};
    // A login document is small; 64 KiB bounds what is read.
    check(
      read_login_document(read_all(o.oauth_file, "login", 64 * 1024), spec));
    spec.token_url = o.token_url;
    return;
  }
  if (!o.token_url.empty())
    throw failure{"--token-url is for an oauth login (--oauth-file)", 2,
                  "usage"};
  // One byte more than a token may have: a longer file is refused by
  // validate_token, not read to its end.
  spec.token.value
    = trim_token(read_all(o.token_file, "token", max_token_bytes + 1));
  check(validate_token(spec.token.value));
  if (!o.expires_at.empty())
    spec.terms.expires_at = expiry_of(o.expires_at);
  else if (auto exp = jwt_expiry(spec.token.value))
    spec.terms.expires_at = *exp;
}

void cmd_sub_add(const options& o) {
  check(validate_name("subscription name", o.name));
  subscription_spec spec{o.name, secret{}, {}, o.pool, {}};
  if (!o.provider.empty()) {
    auto p = parse_kind<provider_kind>(o.provider);
    if (!p)
      throw failure{"unknown provider '" + o.provider
                      + "': one of anthropic, codex, openai, gemini",
                    2, "usage"};
    spec.provider = *p;
  }
  read_credential(o, spec);
  if (o.max_agents >= 0)
    spec.max_agents = static_cast<uint32_t>(o.max_agents);
  check(validate(spec));
  session s{o};
  auto change = s.call<subscription_change>(sub_add_atom::value, spec);
  std::string text = (change.rotated ? "rotated " : "registered ") + o.name;
  if (!change.rotated)
    text += " (" + std::string{to_string(change.info.provider)} + ", pool "
            + change.info.pool + ", " + to_string(change.info.kind) + ")";
  if (change.info.expires_at > 0)
    text += "; expires " + iso_text(change.info.expires_at);
  if (change.rotated)
    text += " (" + std::to_string(change.reloading.size())
            + " agent(s) get the new token)";
  print(o, to_json(change), text + "\n");
}

std::string fraction_text(const caf::optional<double>& x) {
  if (!x)
    return "-";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.2f", *x);
  return buf;
}

/// What `subscription list` says of a subscription's standing.
std::string state_text(const subscription_info& x) {
  std::string text = to_string(x.state);
  if (x.state == credential_state::retired)
    text += " (" + std::string{to_string(x.retired)} + ")";
  return text;
}

/// Its model buckets that are out: "opus until 2026-...".
std::string models_text(const subscription_info& x) {
  std::string text;
  for (auto& [model, until] : x.model_excluded)
    text += (text.empty() ? "" : ", ") + model + " until " + iso_text(until);
  return text.empty() ? "-" : text;
}

/// "token", "oauth", "oauth (backoff)", "oauth (dead)".
std::string kind_text(const subscription_info& x) {
  std::string text = to_string(x.kind);
  if (x.kind == credential_kind::oauth && x.refresh != refresh_state::ok
      && x.refresh != refresh_state::none)
    text += " (" + std::string{to_string(x.refresh)} + ")";
  return text;
}

void cmd_sub_show(const options& o) {
  check(validate_name("subscription name", o.name));
  session s{o};
  auto subs = s.call<std::vector<subscription_info>>(sub_list_atom::value);
  auto i
    = std::find_if(subs.begin(), subs.end(), [&](const subscription_info& x) {
        return x.name == o.name;
      });
  if (i == subs.end())
    throw failure{"unknown subscription '" + o.name + "'", 1,
                  "unknown_subscription"};
  auto& x = *i;
  std::vector<std::vector<std::string>> rows{
    {"name", x.name},
    {"pool", x.pool},
    {"provider", to_string(x.provider)},
    {"state", state_text(x)},
    {"kind", to_string(x.kind)},
    {"fingerprint", x.fingerprint},
    {"expires_at", iso_text(x.expires_at)},
    {"agents",
     std::to_string(x.agent_count)
       + (x.max_agents > 0 ? "/" + std::to_string(x.max_agents) : "")}};
  if (x.kind == credential_kind::oauth) {
    rows.push_back({"refresh", to_string(x.refresh)});
    if (!x.refresh_detail.empty())
      rows.push_back({"refresh_detail", x.refresh_detail});
    rows.push_back({"next_refresh_at", iso_text(x.next_refresh_at)});
    rows.push_back({"refreshed_at", iso_text(x.refreshed_at)});
    rows.push_back({"refreshes", std::to_string(x.refreshes)});
  }
  rows.push_back({"excluded_until", iso_text(x.excluded_until)});
  rows.push_back({"models_out", models_text(x)});
  rows.push_back({"failures_2h", std::to_string(x.failures_2h)});
  rows.push_back({"failures_24h", std::to_string(x.failures_24h)});
  print(o, to_json(x), table(rows));
}

void cmd_sub_list(const options& o) {
  session s{o};
  auto subs = s.call<std::vector<subscription_info>>(sub_list_atom::value);
  std::vector<std::vector<std::string>> rows{
    {"NAME", "POOL", "PROVIDER", "STATE", "KIND", "EXPIRES", "FINGERPRINT",
     "AGENTS", "UTIL_5H/7D", "STATUS", "EXCLUDED_UNTIL", "MODELS_OUT",
     "FAILURES_2H", "FAILURES_24H"}};
  for (auto& x : subs)
    rows.push_back(
      {x.name, x.pool, to_string(x.provider), state_text(x), kind_text(x),
       iso_text(x.expires_at), x.fingerprint,
       std::to_string(x.agent_count)
         + (x.max_agents > 0 ? "/" + std::to_string(x.max_agents) : ""),
       fraction_text(x.utilization_5h) + "/" + fraction_text(x.utilization_7d),
       x.status == provider_status::unknown ? "-" : to_string(x.status),
       iso_text(x.excluded_until), models_text(x),
       std::to_string(x.failures_2h), std::to_string(x.failures_24h)});
  print(o, to_json(subs), table(rows));
}

void cmd_sub_state(const options& o, subscription_op op) {
  check(validate_name("subscription name", o.name));
  session s{o};
  auto change
    = s.call<subscription_state_change>(sub_state_atom::value, o.name, op);
  std::string text = std::string{to_string(op)} + " " + o.name + ": "
                     + state_text(change.info);
  if (!change.moving.empty())
    text += "; moving " + std::to_string(change.moving.size()) + " agent(s)";
  print(o, to_json(change), text + "\n");
}

void cmd_sub_set(const options& o) {
  check(validate_name("subscription name", o.name));
  if (o.max_agents < 0)
    fail("subscription set needs --max-agents N (0 = no cap)", 2);
  session s{o};
  auto change = s.call<subscription_state_change>(
    sub_set_atom::value, o.name, static_cast<uint32_t>(o.max_agents));
  print(o, to_json(change),
        o.name + ": at most "
          + (o.max_agents == 0 ? std::string{"any number of"}
                               : std::to_string(o.max_agents))
          + " agent(s)\n");
}

void cmd_sub_remove(const options& o) {
  check(validate_name("subscription name", o.name));
  session s{o};
  auto agents = s.call<std::vector<std::string>>(sub_rm_atom::value, o.name);
  std::string text = "removed " + o.name;
  if (!agents.empty()) {
    text += "; unassigned:";
    for (auto& a : agents)
      text += " " + a;
  }
  print(o, removed_subscription_json(o.name, agents), text + "\n");
}

std::string agent_text(const agent_info& a) {
  std::vector<std::vector<std::string>> rows{
    {"name", a.name},
    {"pool", a.pool},
    {"model", a.model.empty() ? std::string{"-"} : a.model},
    {"subscription", opt_text(a.subscription)},
    {"generation", std::to_string(a.generation)},
    {"applied_generation", std::to_string(a.applied_generation)},
    {"container", opt_text(a.container)},
    {"container_state", a.container ? to_string(a.container_state) : "-"},
    {"switching", a.switching ? "yes" : "no"},
    {"auto_switch", to_string(a.auto_switch)},
    {"last_apply",
     a.last_apply.result == apply_result::none
       ? std::string{"-"}
       : to_string(a.last_apply) + " at " + iso_text(a.last_apply_at)},
    {"epoch_started_at", iso_text(a.epoch_started_at)},
    {"settle_until", iso_text(a.settle_until)},
    {"retry_at", iso_text(a.retry_at)},
    {"last_switch_at", iso_text(a.last_switch_at)},
  };
  return table(rows);
}

/// After `agent add --container C`: a warning on stderr (the agent is
/// added either way) if C does not exist or the engine does not answer. The
/// supervisor inspects C right after the add; this waits (bounded) for it.
void warn_about_container(session& s, const std::string& agent,
                          const std::string& container) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  agent_info info;
  do {
    info = s.call<agent_info>(agent_get_atom::value, agent);
    if (info.container_state != lifecycle::unknown)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  auto say = [](const std::string& text) {
    std::fprintf(stderr, "switchboard: warning: %s\n",
                 escape_for_terminal(text).c_str());
  };
  if (info.container_state == lifecycle::absent) {
    say("container '" + container
        + "' does not exist; tokens are applied once it does");
    return;
  }
  if (info.container_state != lifecycle::failed)
    return;
  auto st = s.call<status_info>(status_atom::value);
  if (st.supervisor && st.supervisor->engine == engine_state::unreachable)
    say("the Docker engine at " + st.supervisor->docker_socket
        + " does not answer (" + st.supervisor->engine_error + "); container '"
        + container + "' could not be inspected");
  else
    say("container '" + container + "' could not be inspected");
}

void cmd_agent_add(const options& o) {
  check(validate_name("agent name", o.spec.name));
  if (!o.spec.subscription.empty())
    check(validate_name("subscription name", o.spec.subscription));
  check(validate_pool(o.spec.pool));
  session s{o};
  auto info = s.call<agent_info>(agent_add_atom::value, o.spec);
  print(o, to_json(info), "added agent " + info.name + "\n");
  if (!o.spec.container.empty())
    warn_about_container(s, info.name, o.spec.container);
}

/// The provider of each pool that has a subscription.
std::map<std::string, std::string> pool_providers(session& s) {
  std::map<std::string, std::string> result;
  for (auto& x : s.call<std::vector<subscription_info>>(sub_list_atom::value))
    result.emplace(x.pool, to_string(x.provider));
  return result;
}

void cmd_agent_list(const options& o) {
  session s{o};
  auto agents = s.call<std::vector<agent_info>>(agent_ls_atom::value);
  auto providers = pool_providers(s);
  auto provider_of = [&](const std::string& pool) {
    auto i = providers.find(pool);
    return i == providers.end() ? std::string{"-"} : i->second;
  };
  // Several nodes: which node runs each agent.
  bool nodes = std::any_of(agents.begin(), agents.end(),
                           [](auto& a) { return !a.node.empty(); });
  std::vector<std::vector<std::string>> rows{
    {"NAME", "POOL", "PROVIDER", "SUBSCRIPTION", "GENERATION", "APPLIED",
     "CONTAINER", "STATE", "SWITCHING"}};
  if (nodes)
    rows[0].push_back("NODE");
  auto json = to_json(agents);
  for (size_t i = 0; i < agents.size(); ++i) {
    auto& a = agents[i];
    // The provider of its pool (null while the pool has no subscription).
    auto p = provider_of(a.pool);
    json[i]["provider"]
      = p == "-" ? nlohmann::json(nullptr) : nlohmann::json(p);
    rows.push_back({a.name, a.pool, p, opt_text(a.subscription),
                    std::to_string(a.generation),
                    std::to_string(a.applied_generation), opt_text(a.container),
                    a.container ? to_string(a.container_state) : "-",
                    a.switching ? "yes" : "no"});
    if (nodes)
      rows.back().push_back(a.node);
  }
  print(o, json, table(rows));
}

void cmd_agent_show(const options& o) {
  check(validate_name("agent name", o.name));
  session s{o};
  auto info = s.call<agent_info>(agent_get_atom::value, o.name);
  print(o, to_json(info), agent_text(info));
}

void cmd_agent_remove(const options& o) {
  check(validate_name("agent name", o.name));
  session s{o};
  auto name = s.call<std::string>(agent_rm_atom::value, o.name);
  print(o, removed_agent_json(name), "removed agent " + name + "\n");
}

void cmd_agent_set(const options& o) {
  check(validate_name("agent name", o.name));
  if (o.second != "auto-switch")
    fail("unknown agent setting '" + o.second + "' (known: auto-switch)", 2);
  auto mode = parse_kind<auto_switch_mode>(o.third);
  if (!mode)
    fail("auto-switch must be on or off, got '" + o.third + "'", 2);
  session s{o};
  auto info = s.call<agent_info>(agent_set_atom::value, o.name, *mode);
  print(o, to_json(info), agent_text(info));
}

void cmd_lifecycle(const options& o, container_op op) {
  check(validate_name("agent name", o.name));
  session s{o};
  auto outcome = s.call<apply_outcome>(lifecycle_atom::value, o.name, op);
  print(o, lifecycle_json(o.name, op, outcome),
        std::string{to_string(op)} + " " + o.name + ": " + to_string(outcome)
          + "\n");
}

void cmd_assign(const options& o) {
  check(validate_name("agent name", o.name));
  check(validate_name("subscription name", o.second));
  session s{o};
  auto res
    = s.call<report_result>(assign_atom::value, o.name, o.second, o.force);
  print(o, to_json(res), describe(res) + "\n");
}

/// A response's headers from --header (repeatable) and --headers-file (what
/// `curl -D FILE` writes: of several responses, the last one counts).
std::vector<http_header> collect_headers(const options& o) {
  std::vector<std::string> lines = o.headers;
  if (!o.headers_file.empty()) {
    std::istringstream in{read_all(o.headers_file, "headers", 256 * 1024)};
    std::vector<std::string> block;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (line.rfind("HTTP/", 0) == 0)
        block.clear(); // a status line starts a response
      else if (!line.empty())
        block.push_back(line);
    }
    lines.insert(lines.end(), block.begin(), block.end());
  }
  std::vector<http_header> result;
  for (auto& line : lines) {
    auto h = parse_header_line(line);
    if (!h)
      fail("bad header '" + line.substr(0, 80) + "': " + render(h.error()), 2);
    result.push_back(std::move(*h));
  }
  check(validate_headers(result));
  return result;
}

/// --token-sha256 and --generation, shared by report and observe.
void identity(const options& o, std::string& token_sha256,
              caf::optional<uint64_t>& generation) {
  if (!o.token_sha256.empty()) {
    auto fp = normalize_fingerprint(o.token_sha256);
    if (!fp)
      fail(render(fp.error()), 2);
    token_sha256 = *fp;
  }
  if (o.generation >= 0)
    generation = static_cast<uint64_t>(o.generation);
}

void cmd_observe(const options& o) {
  observation ob;
  ob.agent = o.name;
  check(validate_name("agent name", ob.agent));
  ob.headers = collect_headers(o);
  if (ob.headers.empty())
    fail("observe needs the response's headers (--header 'NAME: VALUE' or "
         "--headers-file FILE)",
         2);
  ob.subscription = o.subscription;
  identity(o, ob.token_sha256, ob.generation);
  ob.source = o.source;
  ob.model = o.model;
  check(validate_short_text("--model", ob.model));
  session s{o};
  auto res = s.call<report_result>(observe_atom::value, std::move(ob));
  print(o, to_json(res), describe(res) + "\n");
}

void cmd_report(const options& o) {
  failure_report r;
  r.agent = o.name;
  r.status = o.status;
  r.kind = parse_kind<failure_kind>(o.kind).value_or(failure_kind::none);
  // The daemon keeps max_error_bytes of it; a few more let the cut fall on
  // a character boundary.
  r.error = o.error_file.empty()
              ? o.error_text
              : read_all(o.error_file, "error text", max_error_bytes + 4);
  r.subscription = o.subscription;
  identity(o, r.token_sha256, r.generation);
  r.headers = collect_headers(o);
  r.execution_id = o.execution_id;
  r.source = o.source;
  r.model = o.model;
  check(validate_short_text("--model", r.model));
  if (!std::isfinite(o.retry_after_s) || o.retry_after_s < 0
      || o.retry_after_s > 366.0 * 86400)
    fail("--retry-after must be from 0 to 31622400 seconds", 2);
  r.retry_after_ms = static_cast<int64_t>(std::llround(o.retry_after_s * 1000));
  if (!o.reset_at.empty()) {
    auto t = parse_iso(o.reset_at);
    if (!t)
      fail("--reset-at must look like 2026-11-27T22:00:00Z", 2);
    r.reset_at = *t;
  }
  check(validate_name("agent name", r.agent));
  if (r.status == 0 && r.kind == failure_kind::none)
    fail("report needs --status CODE (or --kind rate_limit|auth|concurrency)",
         2);
  if (r.status != 0 && (r.status < 100 || r.status > 599))
    fail("--status must be an HTTP status from 100 to 599", 2);
  r.error = sanitize_utf8(r.error, max_error_bytes);
  session s{o};
  auto res = s.call<report_result>(report_atom::value, std::move(r));
  print(o, to_json(res), describe(res) + "\n");
}

void cmd_settings_get(const options& o) {
  session s{o};
  auto all = s.call<settings_map>(settings_atom::value);
  if (!o.name.empty()) {
    auto i = all.find(o.name);
    if (i == all.end())
      fail("unknown setting '" + o.name + "'");
    print(o, setting_json(i->first, i->second), i->second + "\n");
    return;
  }
  std::string text;
  for (auto& [k, v] : all)
    text += k + " = " + v + "\n";
  print(o, settings_json(all), text);
}

void cmd_settings_set(const options& o) {
  session s{o};
  auto all = s.call<settings_map>(setting_atom::value, o.name, o.second);
  auto value = all.count(o.name) ? all.at(o.name) : o.second;
  print(o, setting_set_json(all, o.name, o.second),
        o.name + " = " + value + "\n");
}

query make_query(const options& o) {
  query q;
  q.agent = o.agent_filter;
  q.subscription = o.subscription_filter;
  q.limit = o.limit;
  if (q.limit == 0 || q.limit > max_query_limit)
    fail("--limit must be from 1 to " + std::to_string(max_query_limit), 2);
  check(validate_query(q));
  return q;
}

/// Reads page after page (each answer of the daemon is one page of at most
/// max_page_items) until the query's limit or the end.
template<class T, class Atom>
std::vector<T> read_pages(session& s, Atom atom, query q) {
  std::vector<T> all;
  auto want = q.limit;
  for (;;) {
    q.limit = std::min<uint32_t>(want - static_cast<uint32_t>(all.size()),
                                 max_page_items);
    auto p = s.call<page<T>>(atom, q);
    std::move(p.items.begin(), p.items.end(), std::back_inserter(all));
    if (p.next == 0 || all.size() >= want)
      return all;
    q.before = p.next;
  }
}

void cmd_events(const options& o) {
  auto q = make_query(o);
  session s{o};
  auto xs = read_pages<event_info>(s, events_atom::value, q);
  std::vector<std::vector<std::string>> rows{
    {"AT", "AGENT", "SUBSCRIPTION", "KIND", "STATUS", "MESSAGE"}};
  for (auto& x : xs)
    rows.push_back(
      {iso_text(x.at), x.agent, x.subscription,
       to_string(x.kind) + (x.reason.empty() ? "" : "/" + x.reason),
       std::to_string(x.status), x.message.substr(0, 60)});
  print(o, to_json(xs), table(rows));
}

void cmd_history(const options& o) {
  auto q = make_query(o);
  session s{o};
  auto xs = read_pages<history_info>(s, history_atom::value, q);
  std::vector<std::vector<std::string>> rows{
    {"AT", "AGENT", "FROM", "TO", "GENERATION", "TRIGGER", "KIND", "APPLY"}};
  for (auto& x : xs)
    rows.push_back({iso_text(x.at), x.agent, opt_text(x.from), opt_text(x.to),
                    std::to_string(x.generation), to_string(x.by),
                    x.kind == failure_kind::none ? "-" : to_string(x.kind),
                    to_string(x.apply)});
  print(o, to_json(xs), table(rows));
}

void cmd_notifications(const options& o) {
  auto q = make_query(o);
  session s{o};
  auto xs = read_pages<notification_info>(s, notes_atom::value, q);
  std::vector<std::vector<std::string>> rows{
    {"ID", "CREATED_AT", "AGENT", "PRIORITY", "STATUS", "TITLE"}};
  for (auto& x : xs)
    rows.push_back({std::to_string(x.id), iso_text(x.created_at), x.agent,
                    to_string(x.priority), to_string(x.status), x.title});
  print(o, to_json(xs), table(rows));
}

void cmd_failed_deliveries(const options& o) {
  if (o.limit == 0 || o.limit > max_query_limit)
    fail("--limit must be from 1 to " + std::to_string(max_query_limit), 2);
  session s{o};
  auto xs
    = s.call<std::vector<delivery_failure>>(delivery_atom::value, o.limit);
  std::vector<std::vector<std::string>> rows{
    {"NOTIFICATION", "SINK", "ATTEMPTS", "LAST_STATUS", "AT", "ERROR"}};
  for (auto& x : xs)
    rows.push_back({std::to_string(x.notification_id), x.sink,
                    std::to_string(x.attempts),
                    x.last_status == 0 ? "-" : std::to_string(x.last_status),
                    iso_text(x.at), x.last_error});
  nlohmann::json j = nlohmann::json::array();
  for (auto& x : xs)
    j.push_back(to_json(x));
  print(o, j, table(rows));
}

/// A secret of `notify add` from its file: trimmed like a token file, at
/// most `limit` bytes, never echoed.
std::string read_secret(const std::string& path, const char* what,
                        size_t limit) {
  auto text = trim_token(read_all(path, what, limit + 1));
  if (text.size() > limit)
    fail(std::string{"the "} + what + " file '" + path + "' is longer than "
           + std::to_string(limit) + " bytes",
         2);
  if (text.empty())
    fail(std::string{"the "} + what + " file '" + path + "' is empty", 2);
  return text;
}

void cmd_notify_add(const options& o) {
  check(validate_name("sink name", o.name));
  sink_spec spec;
  spec.name = o.name;
  auto kind = parse_sink_kind(o.kind);
  if (!kind)
    fail("--kind must be webhook, slack, discord or telegram", 2);
  spec.kind = *kind;
  spec.url.value = read_secret(o.url_file, "URL", 2048);
  if (!o.secret_file.empty())
    spec.signing_secret.value = read_secret(o.secret_file, "secret", 4096);
  if (!o.chat_id_file.empty())
    spec.chat_id.value = read_secret(o.chat_id_file, "chat id", 256);
  for (auto& list : o.events)
    for (auto& e : split_list(list, ','))
      spec.events.push_back(e);
  spec.min_severity = o.min_severity;
  spec.digest = !o.no_digest;
  check(validate(spec));
  session s{o};
  auto info = s.call<sink_info>(sink_add_atom::value, spec);
  print(o, to_json(info),
        "sink " + info.name + " (" + to_string(info.kind) + ", " + info.host
          + (info.signed_ ? ", signed" : "") + ") takes "
          + (info.events.empty() ? std::string{"every event"}
                                 : join_list(info.events, ","))
          + " from " + info.min_severity + (info.digest ? "" : ", no digest")
          + "\n");
}

void cmd_notify_remove(const options& o) {
  check(validate_name("sink name", o.name));
  session s{o};
  s.call<ok_atom>(sink_rm_atom::value, o.name);
  print(o, {{"removed", o.name}}, "removed sink " + o.name + "\n");
}

void cmd_notify_list(const options& o) {
  session s{o};
  auto xs = s.call<std::vector<sink_status>>(sink_show_atom::value);
  std::vector<std::vector<std::string>> rows{
    {"NAME", "KIND", "HOST", "EVENTS", "FROM", "DELIVERED", "PENDING", "FAILED",
     "LAST_DELIVERED", "LAST_ERROR"}};
  for (auto& x : xs)
    rows.push_back(
      {x.info.name, to_string(x.info.kind), x.info.host,
       x.info.events.empty() ? "all" : join_list(x.info.events, ","),
       x.info.min_severity, std::to_string(x.delivered),
       std::to_string(x.pending), std::to_string(x.failed),
       x.last_delivered_at == 0 ? "-" : iso_text(x.last_delivered_at),
       x.last_error.empty() ? "-" : x.last_error.substr(0, 60)});
  nlohmann::json j = nlohmann::json::array();
  for (auto& x : xs)
    j.push_back(to_json(x));
  print(o, j, xs.empty() ? "no sinks (switchboard notify add)\n" : table(rows));
}

void cmd_notify_test(const options& o) {
  check(validate_name("sink name", o.name));
  session s{o};
  auto r = s.call<delivery_record>(sink_test_atom::value, o.name);
  bool ok = r.state == delivery_state::delivered;
  print(o, sink_test_json(o.name, r),
        "test event to " + o.name + ": "
          + (r.last_status == 0 ? std::string{"no answer"}
                                : "HTTP " + std::to_string(r.last_status))
          + (ok ? " (delivered)" : " (not delivered: " + r.last_error + ")")
          + "\n");
  if (!ok)
    throw failure{"the sink did not take the test event", 1, "undelivered",
                  true};
}

void cmd_backup(const options& o) {
  if (o.name.empty())
    fail("the backup needs a file name", 2);
  // Checked before the daemon makes the copy: an existing file (or a
  // symlink) is refused without --force, a folder that is not there too.
  auto out = backup_file::open(o.name, o.force);
  if (!out)
    fail(render(out.error()), 2);
  session s{o};
  auto info = s.call<backup_info>(backup_atom::value);
  uint64_t offset = 0;
  for (;;) {
    auto chunk = s.call<backup_chunk>(backup_atom::value, info.id, offset);
    if (auto err = out->write(chunk.bytes); !err.empty())
      fail(err);
    offset += chunk.bytes.size();
    if (chunk.last)
      break;
    if (chunk.bytes.empty())
      fail("the daemon's backup ended early");
  }
  if (offset != info.size)
    fail("the backup is " + std::to_string(offset) + " bytes, the daemon said "
         + std::to_string(info.size));
  auto written = out->commit();
  if (!written)
    fail(render(written.error()));
  print(o,
        {{"backup", *written}, {"bytes", offset}, {"key_file_included", false}},
        "backup written to " + *written + " (" + std::to_string(offset)
          + " bytes, mode 0600)\nthe key file is not in the backup: keep a "
            "copy of the daemon's key file (switchboard.key-file) with it; "
            "without it the tokens in the backup cannot be read\n");
}

void cmd_watch(const options& o) {
  session s{o};
  bool json = o.json;
  auto watcher = s.system().spawn(
    [json](watcher_actor::pointer) -> watcher_actor::behavior_type {
      return {
        [json](watch_atom, const watch_event& ev) {
          if (json)
            std::cout << json_text(to_json(ev)) << std::endl;
          else
            std::cout << format_iso(ev.at) << " "
                      << escape_for_terminal(ev.line) << std::endl;
        },
      };
    });
  s.call<ok_atom>(watch_atom::value, watcher);
  if (!json)
    std::cout << "watching " << s.where() << " (Ctrl-C to stop)" << std::endl;
  // Until the daemon goes away (or the user interrupts).
  auto& self = s.self();
  self->monitor(s.front_door());
  self->receive([](caf::down_msg&) {});
  anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  fail("the daemon went away");
}

/// `notify add|remove|list|test`.
template<class On>
void add_notify_commands(CLI::App& app, options& o, On& on) {
  auto notify = app.add_subcommand("notify", "notification sinks");
  notify->require_subcommand(1);
  auto add = notify->add_subcommand(
    "add", "add a sink (or change the one of that name)");
  add->add_option("name", o.name, "sink name")->required();
  add->add_option("--kind", o.kind, "webhook, slack, discord or telegram")
    ->required();
  add
    ->add_option("--url-file", o.url_file,
                 "file holding the URL to post to ('-' = standard input); "
                 "never given on the command line")
    ->required();
  add->add_option("--secret-file", o.secret_file,
                  "webhook: file holding the HMAC-SHA256 signing secret");
  add->add_option("--chat-id-file", o.chat_id_file,
                  "telegram: file holding the chat id");
  add
    ->add_option("--events", o.events,
                 "the event types it takes, comma-separated (default all): "
                   + join_list(event_types(), ","))
    ->delimiter(',');
  add->add_option("--min-severity", o.min_severity,
                  "the lowest severity it takes: info (default), warning, "
                  "critical");
  add->add_flag("--no-digest", o.no_digest,
                "every event on its own, even in a storm");
  on(add, [&] { cmd_notify_add(o); });
  auto rm = notify->add_subcommand("remove", "remove a sink");
  rm->add_option("name", o.name, "sink name")->required();
  on(rm, [&] { cmd_notify_remove(o); });
  on(notify->add_subcommand("list", "sinks and how their deliveries went"),
     [&] { cmd_notify_list(o); });
  auto test = notify->add_subcommand(
    "test", "send a sink a test event and show the receiver's answer");
  test->add_option("name", o.name, "sink name")->required();
  on(test, [&] { cmd_notify_test(o); });
}

} // namespace

int run_cli(int argc, char** argv) {
  options o;
  CLI::App app{"switchboard: talk to a running switchboardd"};
  app.set_version_flag("--version", version());
  app.require_subcommand(1);
  // The global options (--json, --port, ...) also after the subcommand:
  // `switchboard agent list --json`. Subcommands inherit this.
  app.fallthrough();
  app.add_option("--host", o.ep.host, "daemon address (default 127.0.0.1)");
  app.add_option("--port", o.ep.port, "daemon port (default 7411)");
  app.add_option("--config", o.config,
                 "the daemon's config file: its host, port and credential "
                 "files (default: SWITCHBOARD_CONFIG, else "
                 "/etc/switchboard/switchboard.ini)");
  app.add_option("--auth-file", o.auth_file,
                 "file holding the credential: the daemon's admin or report "
                 "token (default: SWITCHBOARD_AUTH_FILE, else the config's "
                 "admin-token-file if readable, else its report-token-file)");
  app.add_flag("--json", o.json, "print JSON instead of text");
  app
    .add_option("--timeout", o.timeout_s,
                "seconds to wait for an answer (default 120)")
    ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--tls-ca", o.ep.tls_ca,
                 "TLS: CA that signed the daemon's certificate (verifies it)");
  app.add_option("--tls-cert", o.ep.tls_certificate,
                 "TLS: this client's certificate (signed by the daemon's "
                 "switchboard.tls-ca; it stands for the admin credential)");
  app.add_option("--tls-key", o.ep.tls_key, "TLS: key of --tls-cert");
  app.add_flag("--tls", o.ep.tls_unverified,
               "TLS without --tls-ca: encrypted, but the daemon is not "
               "verified");
  std::function<void()> command;
  auto on = [&](CLI::App* sub, std::function<void()> f) {
    sub->callback([&command, f] { command = f; });
  };
  on(app.add_subcommand("ping", "check that the daemon answers"),
     [&] { cmd_ping(o); });
  on(app.add_subcommand("status", "version, uptime, counts, components"),
     [&] { cmd_status(o); });
  // subscription ...
  auto subs = app.add_subcommand("subscription", "manage subscriptions");
  subs->require_subcommand(1);
  auto sub_add = subs->add_subcommand(
    "add", "register a subscription (an existing name rotates its token)");
  sub_add->add_option("name", o.name, "subscription name")->required();
  sub_add->add_option("--token-file", o.token_file,
                      "file holding a static token: setup token or API key "
                      "('-' = standard input)");
  sub_add->add_option("--oauth-file", o.oauth_file,
                      "a login: Claude Code's .credentials.json or Codex's "
                      "auth.json ('-' = standard input); the daemon refreshes "
                      "it");
  sub_add->add_option("--expires-at", o.expires_at,
                      "when the static token expires (2027-06-01 or an ISO "
                      "instant): warned 30 days ahead, retired when it "
                      "passes");
  sub_add->add_option("--token-url", o.token_url,
                      "this login's token endpoint (default: the provider's, "
                      "anthropic-token-url or codex-token-url)");
  sub_add->add_option("--provider", o.provider,
                      "anthropic (default), codex, openai or gemini: whose "
                      "signals its failures are read with");
  sub_add->add_option("--pool", o.pool,
                      "pool to put it in (default: default); a pool holds "
                      "one provider");
  sub_add
    ->add_option("--max-agents", o.max_agents,
                 "at most this many agents on it (0 = no cap)")
    ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  on(sub_add, [&] { cmd_sub_add(o); });
  for (auto [op, help] :
       {std::pair{subscription_op::drain,
                  "move its agents elsewhere and keep it out of selection"},
        {subscription_op::undrain, "put a drained subscription back"},
        {subscription_op::reset,
         "bring a retired subscription back and clear its windows and "
         "evidence"}}) {
    auto cmd = subs->add_subcommand(to_string(op), help);
    cmd->add_option("name", o.name, "subscription name")->required();
    on(cmd, [&o, op = op] { cmd_sub_state(o, op); });
  }
  auto sub_set = subs->add_subcommand("set", "change a subscription's cap");
  sub_set->add_option("name", o.name, "subscription name")->required();
  sub_set
    ->add_option("--max-agents", o.max_agents,
                 "at most this many agents on it (0 = no cap)")
    ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  on(sub_set, [&] { cmd_sub_set(o); });
  auto sub_show = subs->add_subcommand(
    "show", "one subscription: its credential, refresh state and counts");
  sub_show->add_option("name", o.name, "subscription name")->required();
  on(sub_show, [&] { cmd_sub_show(o); });
  on(subs->add_subcommand("list", "list subscriptions"),
     [&] { cmd_sub_list(o); });
  auto sub_rm = subs->add_subcommand(
    "remove", "remove a subscription (its agents are unassigned)");
  sub_rm->add_option("name", o.name, "subscription name")->required();
  on(sub_rm, [&] { cmd_sub_remove(o); });
  // agent ...
  auto agents = app.add_subcommand("agent", "manage agents");
  agents->require_subcommand(1);
  auto agent_add = agents->add_subcommand("add", "add an agent");
  agent_add->add_option("name", o.spec.name, "agent name")->required();
  agent_add->add_option("--subscription", o.spec.subscription,
                        "subscription to put it on");
  agent_add->add_option("--container", o.spec.container,
                        "Docker container the agent runs in");
  agent_add->add_option("--pool", o.spec.pool,
                        "pool its subscriptions come from (default: the "
                        "pool of --subscription, else default)");
  on(agent_add, [&] { cmd_agent_add(o); });
  on(agents->add_subcommand("list", "list agents"), [&] { cmd_agent_list(o); });
  auto agent_show = agents->add_subcommand("show", "show one agent");
  agent_show->add_option("name", o.name, "agent name")->required();
  on(agent_show, [&] { cmd_agent_show(o); });
  auto agent_rm = agents->add_subcommand("remove", "remove an agent");
  agent_rm->add_option("name", o.name, "agent name")->required();
  on(agent_rm, [&] { cmd_agent_remove(o); });
  auto agent_set = agents->add_subcommand(
    "set", "set a per-agent setting (auto-switch on|off)");
  agent_set->add_option("name", o.name, "agent name")->required();
  agent_set->add_option("key", o.second, "setting")->required();
  agent_set->add_option("value", o.third, "value")->required();
  on(agent_set, [&] { cmd_agent_set(o); });
  for (auto op :
       {container_op::start, container_op::stop, container_op::restart}) {
    auto sub = agents->add_subcommand(
      to_string(op), std::string{to_string(op)} + " the agent's container");
    sub->add_option("name", o.name, "agent name")->required();
    on(sub, [&o, op] { cmd_lifecycle(o, op); });
  }
  // assign, report
  auto assign = app.add_subcommand(
    "assign", "move an agent to a subscription (manual reassignment)");
  assign->add_option("agent", o.name, "agent name")->required();
  assign->add_option("subscription", o.second, "subscription name")->required();
  assign->add_flag("--force", o.force,
                   "also onto an excluded, draining or retired subscription");
  on(assign, [&] { cmd_assign(o); });
  auto report = app.add_subcommand("report", "report a failed request");
  report->add_option("agent", o.name, "agent name")->required();
  report->add_option("--status", o.status, "HTTP status of the failure");
  report
    ->add_option("--kind", o.kind,
                 "rate_limit, auth or concurrency instead of a status")
    ->check(CLI::IsMember({"rate_limit", "auth", "concurrency"}));
  report->add_option("--error", o.error_text, "error text");
  report->add_option("--error-file", o.error_file,
                     "read the error text from a file ('-' = stdin)");
  // Which credential the request used (issue R2 2/7).
  auto add_identity = [&o](CLI::App* cmd, const std::string& request) {
    cmd->add_option("--subscription", o.subscription,
                    "subscription the " + request + " ran on");
    cmd->add_option("--token-sha256", o.token_sha256,
                    "SHA-256 of the token the " + request
                      + " used (or a prefix of 12+ hex digits)");
    cmd
      ->add_option("--generation", o.generation,
                   "agent generation whose token the " + request + " used")
      ->check(CLI::NonNegativeNumber);
  };
  add_identity(report, "failed request");
  report->add_option("--execution-id", o.execution_id, "execution id");
  report->add_option("--source", o.source, "chat, task, ...");
  report->add_option("--model", o.model,
                     "the model the request asked for (a limit of that "
                     "model's bucket moves only agents on it)");
  report->add_option("--retry-after", o.retry_after_s,
                     "provider hint: retry after this many seconds");
  report->add_option("--reset-at", o.reset_at,
                     "provider hint: reset instant (ISO-8601 UTC)");
  auto add_headers = [&o](CLI::App* cmd, const char* whose) {
    cmd->add_option("--header", o.headers,
                    std::string{"a header of the "} + whose
                      + " response, 'NAME: VALUE' (repeatable)");
    cmd->add_option("--headers-file", o.headers_file,
                    std::string{"the "} + whose
                      + " response's headers as `curl -D FILE` writes them "
                        "('-' = stdin)");
  };
  add_headers(report, "failed");
  on(report, [&] { cmd_report(o); });
  auto observe = app.add_subcommand(
    "observe", "pass a successful response's rate-limit headers (evidence)");
  observe->add_option("agent", o.name, "agent name")->required();
  add_headers(observe, "successful");
  add_identity(observe, "request");
  observe->add_option("--source", o.source, "chat, task, ...");
  observe->add_option("--model", o.model, "the model the request asked for");
  on(observe, [&] { cmd_observe(o); });
  // settings
  auto settings = app.add_subcommand("settings", "runtime settings");
  settings->require_subcommand(1);
  auto get = settings->add_subcommand("get", "show settings");
  get->add_option("key", o.name, "one setting");
  on(get, [&] { cmd_settings_get(o); });
  auto set = settings->add_subcommand("set", "change a setting");
  set->add_option("key", o.name, "setting")->required();
  set->add_option("value", o.second, "value")->required();
  on(set, [&] { cmd_settings_set(o); });
  // reads
  auto events = app.add_subcommand("events", "recent failure events");
  events->add_option("--agent", o.agent_filter, "only this agent");
  events->add_option("--subscription", o.subscription_filter,
                     "only this subscription");
  events->add_option("--limit", o.limit, "at most this many (default 50)");
  on(events, [&] { cmd_events(o); });
  auto history = app.add_subcommand("history", "switch history");
  history->add_option("--agent", o.agent_filter, "only this agent");
  history->add_option("--subscription", o.subscription_filter,
                      "only switches from or to this subscription");
  history->add_option("--limit", o.limit, "at most this many (default 50)");
  on(history, [&] { cmd_history(o); });
  auto notes = app.add_subcommand("notifications", "notification outbox");
  notes->add_option("--agent", o.agent_filter, "only this agent");
  notes->add_option("--limit", o.limit, "at most this many (default 50)");
  notes->add_flag("--failed", o.failed_only,
                  "the deliveries to sinks that gave up, newest first");
  on(notes, [&] {
    if (o.failed_only)
      cmd_failed_deliveries(o);
    else
      cmd_notifications(o);
  });
  add_notify_commands(app, o, on);
  on(app.add_subcommand("watch", "live stream of decisions"),
     [&] { cmd_watch(o); });
  auto backup = app.add_subcommand(
    "backup", "write an online copy of the database to a new file");
  backup
    ->add_option("file", o.name,
                 "the new file, written by this command (mode 0600)")
    ->required();
  backup->add_flag("--force", o.force,
                   "replace the file if it exists (a symlink there is "
                   "replaced, never followed)");
  on(backup, [&] { cmd_backup(o); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e); // --help, --version
  } catch (const CLI::ParseError& e) {
    // --json may not have been read yet when parsing stopped.
    bool json = o.json || std::any_of(argv + 1, argv + argc, [](char* a) {
                  return std::strcmp(a, "--json") == 0;
                });
    std::string text = e.what();
    if (auto guess = suggest_command(app, argc, argv)) {
      text = "unknown command '" + guess->unknown + "'";
      if (!guess->meant.empty())
        text += ": did you mean `" + guess->meant + "`?";
    }
    return report_failure(json, failure{text + " (see --help)", 2, "usage"});
  }
  o.host_given = app.count("--host") > 0;
  o.port_given = app.count("--port") > 0;
  try {
    if (command)
      command();
  } catch (const failure& f) {
    return report_failure(o.json, f);
  }
  return 0;
}

} // namespace sb::client
