// The HTTP front (http/http_front.hpp): the routes on the asynchronous
// engine of http/server.hpp. A request that waits for the daemon holds no
// thread: it is handed to the FRONT DOOR by a short-lived actor, and the
// answer is written when that actor hears back.

#include "actors/logging.hpp"
#include "docker_client/docker_api.hpp"
#include "http/front_impl.hpp"
#include "http/web_assets.hpp"
#include "messages/error.hpp"
#include "messages/validate.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <openssl/crypto.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <set>

namespace sb::http {

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// How long a probe waits for the daemon's components and the engine.
constexpr auto probe_timeout = 5s;
constexpr auto engine_timeout = 2s;

/// How long stop() waits for answers in progress.
constexpr auto stop_grace = 10s;

/// A path for an error message: at most 200 bytes, cut on a character.
std::string shown(const std::string& path) {
  auto cut = sanitize_utf8(path, 200);
  return cut.size() < path.size() ? cut + "..." : cut;
}

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 1;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos)
      j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

/// Whether a path's segments match a route's; its `*` segments (non-empty)
/// go to args.
bool matches(const route& r, const std::vector<std::string>& segs,
             route_args& args) {
  auto& parts = r.parts;
  if (parts.size() != segs.size())
    return false;
  args.clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "*") {
      if (segs[i].empty())
        return false;
      args.push_back(segs[i]);
    } else if (parts[i] != segs[i]) {
      return false;
    }
  }
  return true;
}

bool is_get(const std::string& method) {
  return method == "GET" || method == "HEAD";
}

bool method_fits(const route& r, const std::string& method) {
  return r.method == method || (r.method == "GET" && method == "HEAD");
}

} // namespace

response json_response(int status, const json& doc) {
  response r;
  r.status = status;
  // A request's path or fields may be any bytes (%FF decodes to 0xFF):
  // invalid UTF-8 in a message becomes U+FFFD instead of throwing.
  r.body = json_text(doc) + "\n";
  return r;
}

response error_response(const caf::error& err) {
  return json_response(status_of(err), error_json(err));
}

response error_response(int status, std::string_view code,
                        std::string_view message) {
  return json_response(status, error_json(code, message));
}

front_impl::front_impl(caf::actor_system& system, front_door_actor admin_door,
                       front_door_actor report_door, context_ptr c,
                       http_settings s)
    : sys(system), admin(std::move(admin_door)), report(std::move(report_door)),
      ctx(std::move(c)), settings(std::move(s)) {
  set_tokens(settings.tokens);
  settings.tokens = {};
}

void front_impl::set_tokens(const intake::credentials& creds) {
  auto t = std::make_shared<bearer_tokens>();
  t->admin = sha256(creds.admin_token);
  t->report = sha256(creds.report_token);
  std::lock_guard<std::mutex> guard{tokens_mutex};
  tokens = std::move(t);
}

scope front_impl::scope_of(const request& req) const {
  auto& header = req.header("authorization");
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() <= scheme.size()
      || header.compare(0, scheme.size(), scheme) != 0)
    return scope::none;
  std::shared_ptr<const bearer_tokens> t;
  {
    std::lock_guard<std::mutex> guard{tokens_mutex};
    t = tokens;
  }
  // Digests of equal length, both compared in constant time: neither the
  // token's bytes, its length nor which one matched leak through timing.
  auto given = sha256(std::string_view{header}.substr(scheme.size()));
  bool is_admin
    = CRYPTO_memcmp(given.data(), t->admin.data(), given.size()) == 0;
  bool is_report
    = CRYPTO_memcmp(given.data(), t->report.data(), given.size()) == 0;
  return is_admin ? scope::admin : is_report ? scope::report : scope::none;
}

std::optional<response> front_impl::precheck(const request& req) const {
  auto segs = segments(req.path);
  route_args args;
  std::set<std::string> allowed;
  for (auto& r : routes)
    if (matches(r, segs, args))
      allowed.insert(r.method);
  if (allowed.empty())
    return error_response(404, "not_found",
                          "no such endpoint: " + shown(req.method) + " "
                            + shown(req.path));
  bool fits = allowed.count(req.method) > 0
              || (req.method == "HEAD" && allowed.count("GET") > 0);
  if (!fits) {
    std::string allow;
    for (auto& m : allowed)
      allow += (allow.empty() ? "" : ", ") + m + (m == "GET" ? ", HEAD" : "");
    auto r = error_response(405, "method_not_allowed",
                            shown(req.method) + " is not allowed on "
                              + shown(req.path));
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  bool v1 = req.path.rfind("/v1/", 0) == 0;
  if (v1 && scope_of(req) == scope::none) {
    auto r = error_response(401, "unauthorized",
                            "this endpoint needs Authorization: Bearer TOKEN "
                            "(the content of the daemon's admin-token-file or "
                            "report-token-file)");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"switchboard\"");
    return r;
  }
  if (!is_get(req.method) && ctx->doors.get()->draining)
    return error_response(503, "shutting_down", "the daemon is shutting down");
  return std::nullopt;
}

void front_impl::dispatch(const exchange_ptr& ex) {
  auto& req = ex->req();
  auto segs = segments(req.path);
  route_args args;
  for (auto& r : routes)
    if (method_fits(r, req.method) && matches(r, segs, args))
      return r.run(*this, ex, args);
  ex->reply(error_response(404, "not_found", "no such endpoint"));
}

namespace {

// -- reports and reads --------------------------------------------------------

// Reports and observations, the hot path, are asked without a timeout of
// the front's own: the FRONT DOOR answers every one within its own finite
// timeouts (or fails, if it goes down), and a timer per request would wake
// CAF's clock thread once per report.

void post_report(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto r = report_from_json(ex->req().body);
  if (!r)
    return ex->reply(error_response(r.error()));
  f.answer<report_result>(ex, caf::infinite, report_atom::value, std::move(*r));
}

void post_observation(front_impl& f, const exchange_ptr& ex,
                      const route_args&) {
  auto o = observation_from_json(ex->req().body);
  if (!o)
    return ex->reply(error_response(o.error()));
  f.answer<report_result>(ex, caf::infinite, observe_atom::value,
                          std::move(*o));
}

/// One page per request: the items as an array, the cursor of the next
/// page (if any) in a header.
template<class T, class Atom>
void read_query(front_impl& f, const exchange_ptr& ex, Atom atom,
                bool with_subscription) {
  auto q = query_from_params(ex->req().params, with_subscription);
  if (!q)
    return ex->reply(error_response(q.error()));
  f.ask<page<T>>(
    f.door_of(ex->req()), caf::duration{read_wait},
    [ex](caf::expected<page<T>> p) {
      if (!p)
        return ex->reply(error_response(p.error()));
      auto r = json_response(200, to_json(p->items));
      if (p->next != 0)
        r.headers.emplace_back("X-Switchboard-Next", std::to_string(p->next));
      ex->reply(std::move(r));
    },
    atom, *q);
}

/// GET /v1/agents: `agent list --json`, each agent with the provider of its
/// pool (null while the pool has no subscription).
void list_agents(front_impl& f, const exchange_ptr& ex, caf::duration wait) {
  auto door = f.door_of(ex->req());
  auto* sys = &f.sys;
  f.ask<std::vector<subscription_info>>(
    door, wait,
    [ex, door, wait, sys](caf::expected<std::vector<subscription_info>> subs) {
      if (!subs)
        return ex->reply(error_response(subs.error()));
      std::map<std::string, std::string> providers;
      for (auto& x : *subs)
        providers.emplace(x.pool, to_string(x.provider));
      ask<std::vector<agent_info>>(
        *sys, door, wait,
        [ex, providers](caf::expected<std::vector<agent_info>> agents) {
          if (!agents)
            return ex->reply(error_response(agents.error()));
          auto json = to_json(*agents);
          for (size_t i = 0; i < agents->size(); ++i) {
            auto p = providers.find((*agents)[i].pool);
            json[i]["provider"] = p == providers.end()
                                    ? nlohmann::json(nullptr)
                                    : nlohmann::json(p->second);
          }
          ex->reply(json_response(200, json));
        },
        agent_ls_atom::value);
    },
    sub_list_atom::value);
}

/// GET /v1/subscriptions/{name}: `subscription show --json`.
void show_subscription(front_impl& f, const exchange_ptr& ex,
                       caf::duration wait, std::string name) {
  f.ask<std::vector<subscription_info>>(
    f.door_of(ex->req()), wait,
    [ex, name](caf::expected<std::vector<subscription_info>> subs) {
      if (!subs)
        return ex->reply(error_response(subs.error()));
      for (auto& x : *subs)
        if (x.name == name)
          return ex->reply(json_response(200, to_json(x)));
      ex->reply(error_response(
        make_error(ec::unknown_subscription,
                   "unknown subscription '" + sanitize_text(name, 64) + "'")));
    },
    sub_list_atom::value);
}

void add_reads(std::vector<route>& routes) {
  auto wait = caf::duration{read_wait};
  routes.push_back({"POST", "/v1/reports", post_report});
  routes.push_back({"POST", "/v1/observations", post_observation});
  routes.push_back(
    {"GET", "/v1/status", [wait](front_impl& f, const exchange_ptr& ex, auto&) {
       f.answer<status_info>(ex, wait, status_atom::value);
     }});
  routes.push_back(
    {"GET", "/v1/agents", [wait](front_impl& f, const exchange_ptr& ex, auto&) {
       list_agents(f, ex, wait);
     }});
  routes.push_back(
    {"GET", "/v1/agents/*",
     [wait](front_impl& f, const exchange_ptr& ex, const route_args& args) {
       f.answer<agent_info>(ex, wait, agent_get_atom::value, args[0]);
     }});
  routes.push_back({"GET", "/v1/subscriptions",
                    [wait](front_impl& f, const exchange_ptr& ex, auto&) {
                      f.answer<std::vector<subscription_info>>(
                        ex, wait, sub_list_atom::value);
                    }});
  routes.push_back(
    {"GET", "/v1/subscriptions/*",
     [wait](front_impl& f, const exchange_ptr& ex, const route_args& args) {
       show_subscription(f, ex, wait, args[0]);
     }});
  routes.push_back(
    {"GET", "/v1/events", [](front_impl& f, const exchange_ptr& ex, auto&) {
       read_query<event_info>(f, ex, events_atom::value, true);
     }});
  routes.push_back(
    {"GET", "/v1/history", [](front_impl& f, const exchange_ptr& ex, auto&) {
       read_query<history_info>(f, ex, history_atom::value, true);
     }});
  routes.push_back({"GET", "/v1/notifications",
                    [](front_impl& f, const exchange_ptr& ex, auto&) {
                      read_query<notification_info>(f, ex, notes_atom::value,
                                                    false);
                    }});
}

// -- the live stream
// ------------------------------------------------------------

/// ?agent= and ?subscription=, each at most once.
struct watch_filter {
  std::string agent;
  std::string subscription;

  bool admits(const watch_event& ev) const {
    if (!agent.empty() && ev.agent != agent)
      return false;
    if (subscription.empty())
      return true;
    return (ev.from && *ev.from == subscription)
           || (ev.to && *ev.to == subscription);
  }
};

caf::expected<watch_filter> watch_filter_of(const request& req) {
  watch_filter f;
  for (auto& [key, value] : req.params) {
    auto* slot = key == "agent"          ? &f.agent
                 : key == "subscription" ? &f.subscription
                                         : nullptr;
    if (slot == nullptr)
      return make_error(ec::invalid_argument,
                        "unknown parameter '" + sanitize_utf8(key, 64)
                          + "' (agent and subscription filter the stream)");
    if (!slot->empty() || value.empty())
      return make_error(ec::invalid_argument,
                        "'" + key + "' must be given once, not empty");
    *slot = value;
  }
  return f;
}

/// GET /v1/watch: Server-Sent Events, one per decision. A watcher actor
/// of the front subscribes at the FRONT DOOR and pushes each event into the
/// connection's bounded queue; a client too slow to read is dropped there,
/// and its watcher ends with the connection.
void watch(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto filter = watch_filter_of(ex->req());
  if (!filter)
    return ex->reply(error_response(filter.error()));
  auto door = f.door_of(ex->req());
  auto w = f.sys.spawn([ex, door, filter = *filter](watcher_actor::pointer self)
                         -> watcher_actor::behavior_type {
    auto seq = std::make_shared<uint64_t>(0);
    self
      ->request(door, caf::duration{read_wait}, watch_atom::value,
                caf::actor_cast<watcher_actor>(self))
      .then(
        [ex](ok_atom) {
          response head;
          head.content_type = "text/event-stream; charset=utf-8";
          head.headers
            = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
          ex->open_stream(std::move(head), ": heartbeat\n\n");
          ex->push(": watching\n\n");
        },
        [ex, self](caf::error& err) {
          ex->reply(error_response(err));
          self->quit();
        });
    return {
      [ex, filter, seq, self](watch_atom, const watch_event& ev) {
        if (!filter.admits(ev))
          return;
        auto text = "id: " + std::to_string(++*seq)
                    + "\ndata: " + json_text(to_json(ev)) + "\n\n";
        if (!ex->push(std::move(text)))
          self->quit();
      },
    };
  });
  ex->on_close(
    [w] { caf::anon_send_exit(w, caf::exit_reason::user_shutdown); });
}

// -- probes and the backup
// ------------------------------------------------------

/// Asks the engine for its version: does it answer? (Blocking: on the
/// front's probe thread only.)
bool engine_up(const std::string& socket) {
  docker::docker_api api{socket, std::chrono::milliseconds{engine_timeout}};
  return static_cast<bool>(api.version());
}

/// The thread that asks the Docker engine (its client blocks).
boost::asio::thread_pool& probe_thread() {
  static boost::asio::thread_pool pool{1};
  return pool;
}

void healthz(front_impl& f, const exchange_ptr& ex, const route_args&) {
  f.ask<status_info>(
    f.report, caf::duration{probe_timeout},
    [ex](caf::expected<status_info> st) {
      if (!st)
        return ex->reply(json_response(
          503,
          {{"status", "unhealthy"},
           {"reasons", {"the daemon did not answer: " + render(st.error())}}}));
      auto reasons = json::array();
      for (auto& c : st->components)
        if (c.state != health::running)
          reasons.push_back("component " + c.name
                            + " did not answer: " + c.error);
      if (reasons.empty())
        return ex->reply(json_response(200, {{"status", "ok"}}));
      ex->reply(
        json_response(503, {{"status", "unhealthy"}, {"reasons", reasons}}));
    },
    status_atom::value);
}

/// This node's status: its own components (no other node is asked, and no
/// AGENT: the store counts the agents behind and in containers).
void readyz(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto not_ready = [](const std::string& why) {
    return json_response(503, {{"ready", false}, {"reasons", {why}}});
  };
  if (f.ctx->doors.get()->draining)
    return ex->reply(not_ready("the daemon is shutting down"));
  auto ctx = f.ctx;
  auto socket = f.settings.docker_socket;
  f.ask<status_info>(
    f.report, caf::duration{probe_timeout},
    [ex, ctx, socket, not_ready](caf::expected<status_info> st) {
      if (!st)
        return ex->reply(
          not_ready("the daemon did not answer: " + render(st.error())));
      bool containers = any_container(*st);
      auto judge = [ex, ctx,
                    info = std::move(*st)](std::optional<bool> engine) {
        auto r = judge_readiness(info, engine, ctx->doors.get()->draining);
        ex->reply(json_response(r.ready ? 200 : 503,
                                {{"ready", r.ready}, {"reasons", r.reasons}}));
      };
      if (!containers)
        return judge(std::nullopt);
      boost::asio::post(probe_thread(),
                        [judge, socket] { judge(engine_up(socket)); });
    },
    status_atom::value);
}

void metrics(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto ctx = f.ctx;
  auto socket = f.settings.docker_socket;
  f.ask<status_info>(
    f.report, caf::duration{probe_timeout},
    [ex, ctx, socket](caf::expected<status_info> st) {
      if (!st)
        return ex->reply(error_response(st.error()));
      boost::asio::post(probe_thread(), [ex, ctx, socket, st = *st] {
        response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = ctx->stats->render(gauges_of(st, engine_up(socket)));
        ex->reply(std::move(r));
      });
    },
    status_atom::value);
}

/// Sends the copy's chunks one after the other, each once the previous one
/// is written (the stream's queue holds one chunk at a time).
void send_chunks(caf::actor_system* sys, front_door_actor door, exchange_ptr ex,
                 std::string id, uint64_t offset, uint64_t size) {
  if (offset >= size)
    return ex->end_stream();
  ask<backup_chunk>(
    *sys, door, caf::duration{read_wait},
    [sys, door, ex, id, offset, size](caf::expected<backup_chunk> chunk) {
      // A missing chunk cuts the connection: the client sees an incomplete
      // answer, never a short file taken for a whole one.
      if (!chunk || chunk->bytes.empty())
        return ex->abort();
      auto next = offset + chunk->bytes.size();
      ex->push(std::string{chunk->bytes.begin(), chunk->bytes.end()});
      ex->when_written([sys, door, ex, id, next, size](bool ok) {
        if (ok)
          send_chunks(sys, door, ex, id, next, size);
      });
    },
    backup_atom::value, id, offset);
}

/// GET /v1/backup: an online copy of the database, streamed as it is read
/// from the daemon chunk by chunk (admin credential).
void backup(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto door = f.door_of(ex->req());
  f.ask<backup_info>(
    door, caf::duration{read_wait},
    [sys = &f.sys, door, ex](caf::expected<backup_info> info) {
      if (!info)
        return ex->reply(error_response(info.error()));
      response head;
      head.content_type = "application/vnd.sqlite3";
      head.headers
        = {{"Content-Disposition", "attachment; filename=\"switchboard.db\""}};
      ex->open_stream(std::move(head));
      send_chunks(sys, door, ex, info->id, 0, info->size);
    },
    backup_atom::value);
}

// -- the dashboard
// ---------------------------------------------------------------

/// The dashboard's files (web/, built in): no credential, as the page asks
/// for one before it reads anything; the browser asks again each time, so
/// an upgraded daemon serves its own page.
void add_dashboard(std::vector<route>& routes) {
  for (auto* a = web_assets_begin(); a != web_assets_end(); ++a)
    routes.push_back(
      {"GET", std::string{a->path},
       [a](front_impl&, const exchange_ptr& ex, const route_args&) {
         response r;
         r.content_type = std::string{a->content_type};
         r.body = std::string{a->body};
         r.headers.emplace_back("Cache-Control", "no-cache");
         ex->reply(std::move(r));
       }});
}

/// Sent with every answer, the API's included: the page runs only its own
/// script and style, talks only to this daemon and is never framed; no
/// answer is sniffed as another type; no address leaks to another site.
std::vector<std::pair<std::string, std::string>> security_headers() {
  return {{"Content-Security-Policy",
           "default-src 'none'; script-src 'self'; style-src 'self'; "
           "img-src 'self'; connect-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'"},
          {"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "DENY"},
          {"Referrer-Policy", "no-referrer"},
          {"Cross-Origin-Resource-Policy", "same-origin"}};
}

std::vector<route> all_routes() {
  std::vector<route> routes;
  add_dashboard(routes);
  add_reads(routes);
  routes.push_back({"GET", "/v1/watch", watch});
  routes.push_back({"GET", "/v1/backup", backup});
  routes.push_back({"GET", "/healthz", healthz});
  routes.push_back({"GET", "/readyz", readyz});
  routes.push_back({"GET", "/metrics", metrics});
  add_admin_routes(routes);
  for (auto& r : routes)
    r.parts = segments(r.pattern);
  return routes;
}

} // namespace

struct http_front::impl : front_impl {
  using front_impl::front_impl;
};

http_front::http_front(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

http_front::~http_front() {
  stop();
}

uint16_t http_front::port() const {
  return impl_->srv->port();
}

void http_front::set_credentials(const intake::credentials& tokens) {
  impl_->set_tokens(tokens);
}

void http_front::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->srv->stop(stop_grace);
  SB_INFO("http: stopped");
}

http_settings http_settings::of(const daemon_options& o) {
  http_settings s;
  s.host = o.http_host;
  s.port = static_cast<uint16_t>(std::max(o.http_port, 0));
  s.workers = static_cast<size_t>(o.http_workers);
  s.max_connections = static_cast<size_t>(o.http_max_connections);
  s.idle_timeout = o.http_idle_timeout;
  s.tls_certificate = o.tls_certificate;
  s.tls_key = o.tls_key;
  s.docker_socket = o.docker_socket;
  s.report_timeout = o.apply_wait + std::chrono::seconds(30);
  return s;
}

caf::expected<std::unique_ptr<http_front>>
http_front::start(caf::actor_system& sys, front_door_actor admin,
                  front_door_actor report, context_ptr ctx,
                  http_settings settings) {
  if (settings.tokens.admin_token.empty()
      || settings.tokens.report_token.empty())
    return make_error(ec::invalid_argument,
                      "the HTTP front needs the admin and report credentials");
  auto x = std::make_unique<impl>(sys, std::move(admin), std::move(report),
                                  std::move(ctx), std::move(settings));
  x->routes = all_routes();
  auto& o = x->settings;
  server_limits limits;
  limits.threads = o.workers;
  limits.max_connections = o.max_connections;
  limits.idle_timeout
    = std::chrono::duration_cast<std::chrono::milliseconds>(o.idle_timeout);
  limits.request_timeout
    = std::chrono::duration_cast<std::chrono::milliseconds>(o.request_timeout);
  limits.body_limit = max_body_bytes;
  limits.headers = security_headers();
  auto* raw = x.get();
  std::string error;
  x->srv = server::start(
    o.host, o.port, o.tls_certificate, o.tls_key, limits,
    [raw](const request& req) { return raw->precheck(req); },
    [raw](exchange_ptr ex) { raw->dispatch(ex); }, &error);
  if (!x->srv)
    return make_error(error.find("tls") != std::string::npos
                          || error.find("IP address") != std::string::npos
                        ? ec::invalid_argument
                        : ec::unavailable,
                      error);
  if (!x->srv->loopback() && o.tls_certificate.empty()) {
    auto where = x->srv->bound();
    x->srv->stop(std::chrono::milliseconds{0});
    return make_error(ec::invalid_argument,
                      "switchboard.http-host: " + where
                        + " is not loopback; the HTTP front beyond loopback "
                          "needs switchboard.tls-certificate and "
                          "switchboard.tls-key");
  }
  SB_INFO("http: listening on {}{} (a credential as bearer token on /v1/)",
          x->srv->bound(), o.tls_certificate.empty() ? "" : " (TLS)");
  return std::unique_ptr<http_front>{new http_front(std::move(x))};
}

} // namespace sb::http
