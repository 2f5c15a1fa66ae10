// The HTTP front (http/http_front.hpp) on cpp-httplib, as Debian builds it
// (libcpp-httplib-dev: OpenSSL support compiled in).

#include "http/http_front.hpp"

#include "actors/logging.hpp"
#include "docker_client/docker_api.hpp"
#include "http/routes.hpp"
#include "intake/listen.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"
#include "messages/sha256.hpp"
#include "messages/validate.hpp"

#include <caf/scoped_actor.hpp>

#include <httplib.h>

#include <openssl/crypto.h>
#include <sys/socket.h>

#include <array>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

namespace sb::http {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// Idle keep-alive connections and slow clients are closed after this.
constexpr time_t io_timeout_s = 5;

/// Accepted connections waiting for a thread, per thread.
constexpr size_t queue_per_worker = 4;

/// How long a probe waits for the daemon's components and the engine.
constexpr auto probe_timeout = 5s;
constexpr auto engine_timeout = 2s;

/// How long a read (/v1/status, /v1/events, ...) may take.
constexpr auto read_wait = 30s;

/// The threads that serve connections. cpp-httplib's own pool queues
/// without bound (every accepted socket waits, holding a descriptor); this
/// one makes the listener wait instead, so the kernel's backlog holds the
/// excess.
class bounded_pool : public httplib::TaskQueue {
public:
  bounded_pool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i)
      threads_.emplace_back([this] { work(); });
  }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock{mutex_};
    not_full_.wait(lock,
                   [this] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    not_empty_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      shutdown_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock{mutex_};
        not_empty_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty())
          return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        not_full_.notify_one();
      }
      fn();
    }
  }

  size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  bool shutdown_ = false;
};

/// cpp-httplib keeps the listening socket to itself; the loopback check
/// needs the address actually bound.
template<class Base>
class server : public Base {
public:
  using Base::Base;

  socket_t listening_socket() const { return this->svr_sock_; }
};

void send_json(httplib::Response& res, int status, const json& doc) {
  res.status = status;
  // A request's path or fields may be any bytes (%FF decodes to 0xFF):
  // invalid UTF-8 in a message becomes U+FFFD instead of throwing.
  res.set_content(json_text(doc) + "\n", "application/json");
}

void send_error(httplib::Response& res, const caf::error& err) {
  send_json(res, status_of(err), error_json(err));
}

/// Where a path goes and which methods it takes.
struct route_info {
  bool known = false;
  bool post = false;
  bool v1 = false;
};

route_info route_of(const std::string& path) {
  static const std::set<std::string> gets{
    "/v1/status",  "/v1/agents", "/v1/subscriptions", "/v1/events",
    "/v1/history", "/v1/backup", "/v1/notifications", "/healthz",
    "/readyz",     "/metrics"};
  route_info r;
  r.v1 = path.rfind("/v1/", 0) == 0;
  if (path == "/v1/reports" || path == "/v1/observations") {
    r.known = r.post = true;
  } else if (gets.count(path) > 0) {
    r.known = true;
  } else if (path.rfind("/v1/agents/", 0) == 0 && path.size() > 11
             && path.find('/', 11) == std::string::npos) {
    r.known = true;
  }
  return r;
}

} // namespace

/// The bearer tokens' digests; replaced whole on a reload.
struct bearer_tokens {
  sha256_digest admin{};
  sha256_digest report{};
};

struct http_front::impl {
  impl(caf::actor_system& system, front_door_actor admin_door,
       front_door_actor report_door, context_ptr c, http_settings s)
      : sys(system), admin(std::move(admin_door)),
        report(std::move(report_door)), ctx(std::move(c)),
        settings(std::move(s)) {
    set_tokens(settings.tokens);
    settings.tokens = {};
  }

  caf::actor_system& sys;
  front_door_actor admin;
  front_door_actor report;
  context_ptr ctx;
  http_settings settings;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  uint16_t port = 0;
  mutable std::mutex tokens_mutex;
  std::shared_ptr<const bearer_tokens> tokens;
  bool stopped = false;

  void set_tokens(const intake::credentials& creds) {
    auto t = std::make_shared<bearer_tokens>();
    t->admin = sha256(creds.admin_token);
    t->report = sha256(creds.report_token);
    std::lock_guard<std::mutex> guard{tokens_mutex};
    tokens = std::move(t);
  }

  /// The FRONT DOOR of the request's credential (checked in pre_route).
  const front_door_actor& door_of(const httplib::Request& req) const {
    return scope_of(req) == scope::admin ? admin : report;
  }

  /// Sends one request to the FRONT DOOR of the caller's credential and
  /// waits for its answer. Probes (no credential) use the report door.
  template<class T, class... Ts>
  caf::expected<T> ask(const front_door_actor& door, caf::duration timeout,
                       Ts&&... xs) {
    caf::scoped_actor self{sys};
    caf::expected<T> result{caf::error{}};
    self->request(door, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  template<class T, class... Ts>
  caf::expected<T> ask(caf::duration timeout, Ts&&... xs) {
    return ask<T>(report, timeout, std::forward<Ts>(xs)...);
  }

  caf::duration report_timeout() const {
    return caf::duration{settings.report_timeout};
  }

  template<class T, class... Ts>
  void answer(const httplib::Request& req, httplib::Response& res,
              caf::duration timeout, Ts&&... xs) {
    auto x = ask<T>(door_of(req), timeout, std::forward<Ts>(xs)...);
    if (!x)
      return send_error(res, x.error());
    send_json(res, 200, to_json(*x));
  }

  /// The credential the request carries (none: no Authorization header, or
  /// a token that is neither).
  scope scope_of(const httplib::Request& req) const {
    auto header = req.get_header_value("Authorization");
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
    auto given = sha256(header.substr(scheme.size()));
    bool is_admin
      = CRYPTO_memcmp(given.data(), t->admin.data(), given.size()) == 0;
    bool is_report
      = CRYPTO_memcmp(given.data(), t->report.data(), given.size()) == 0;
    return is_admin ? scope::admin : is_report ? scope::report : scope::none;
  }

  httplib::Server::HandlerResponse pre_route(const httplib::Request& req,
                                             httplib::Response& res) {
    using hr = httplib::Server::HandlerResponse;
    auto r = route_of(req.path);
    if (!r.known) {
      send_json(res, 404,
                error_json("not_found", "no such endpoint: " + req.method + " "
                                          + shown(req.path)));
      return hr::Handled;
    }
    bool get = req.method == "GET" || req.method == "HEAD";
    if ((r.post && req.method != "POST") || (!r.post && !get)) {
      res.set_header("Allow", r.post ? "POST" : "GET, HEAD");
      send_json(
        res, 405,
        error_json("method_not_allowed",
                   req.method + " is not allowed on " + shown(req.path)));
      return hr::Handled;
    }
    if (r.v1 && scope_of(req) == scope::none) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"switchboard\"");
      send_json(res, 401,
                error_json("unauthorized",
                           "this endpoint needs Authorization: Bearer TOKEN "
                           "(the content of the daemon's admin-token-file or "
                           "report-token-file)"));
      return hr::Handled;
    }
    if (r.post && ctx->doors.get()->draining) {
      send_json(res, 503,
                error_json("shutting_down", "the daemon is shutting down"));
      return hr::Handled;
    }
    return hr::Unhandled;
  }

  /// A path for an error message: at most 200 bytes, cut on a character.
  static std::string shown(const std::string& path) {
    auto cut = sanitize_utf8(path, 200);
    return cut.size() < path.size() ? cut + "..." : cut;
  }

  void post_report(const httplib::Request& req, httplib::Response& res) {
    auto r = report_from_json(req.body);
    if (!r)
      return send_error(res, r.error());
    answer<report_result>(req, res, report_timeout(), report_atom::value,
                          std::move(*r));
  }

  void post_observation(const httplib::Request& req, httplib::Response& res) {
    auto o = observation_from_json(req.body);
    if (!o)
      return send_error(res, o.error());
    answer<report_result>(req, res, report_timeout(), observe_atom::value,
                          std::move(*o));
  }

  template<class T, class Atom>
  void read_query(const httplib::Request& req, httplib::Response& res,
                  Atom atom, bool with_subscription) {
    std::multimap<std::string, std::string> params{req.params.begin(),
                                                   req.params.end()};
    auto q = query_from_params(params, with_subscription);
    if (!q)
      return send_error(res, q.error());
    // One page per request: the items as an array, the cursor of the next
    // page (if any) in a header.
    auto p = ask<page<T>>(door_of(req), caf::duration{read_wait}, atom, *q);
    if (!p)
      return send_error(res, p.error());
    if (p->next != 0)
      res.set_header("X-Switchboard-Next", std::to_string(p->next));
    send_json(res, 200, to_json(p->items));
  }

  /// Asks the engine for its version: does it answer?
  bool engine_up() const {
    docker::docker_api api{settings.docker_socket,
                           std::chrono::milliseconds{engine_timeout}};
    return static_cast<bool>(api.version());
  }

  void healthz(httplib::Response& res) {
    auto st
      = ask<status_info>(caf::duration{probe_timeout}, status_atom::value);
    if (!st)
      return send_json(
        res, 503,
        {{"status", "unhealthy"},
         {"reasons", {"the daemon did not answer: " + render(st.error())}}});
    auto reasons = json::array();
    for (auto& c : st->components)
      if (c.state != health::running)
        reasons.push_back("component " + c.name
                          + " did not answer: " + c.error);
    if (reasons.empty())
      return send_json(res, 200, {{"status", "ok"}});
    send_json(res, 503, {{"status", "unhealthy"}, {"reasons", reasons}});
  }

  /// This node's status: its own components (no other node is asked, and
  /// no AGENT: the store counts the agents behind and in containers).
  caf::expected<status_info> local_status() {
    return ask<status_info>(caf::duration{probe_timeout}, status_atom::value);
  }

  void readyz(httplib::Response& res) {
    if (ctx->doors.get()->draining)
      return send_json(
        res, 503,
        {{"ready", false}, {"reasons", {"the daemon is shutting down"}}});
    auto st = local_status();
    if (!st)
      return send_json(
        res, 503,
        {{"ready", false},
         {"reasons", {"the daemon did not answer: " + render(st.error())}}});
    std::optional<bool> engine;
    if (any_container(*st))
      engine = engine_up();
    auto r = judge_readiness(*st, engine, ctx->doors.get()->draining);
    send_json(res, r.ready ? 200 : 503,
              {{"ready", r.ready}, {"reasons", r.reasons}});
  }

  void metrics(httplib::Response& res) {
    auto st = local_status();
    if (!st)
      return send_error(res, st.error());
    auto text = ctx->stats->render(gauges_of(*st, engine_up()));
    res.status = 200;
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  }

  /// GET /v1/backup: an online copy of the database, streamed as it is
  /// read from the daemon chunk by chunk (admin credential).
  void backup(const httplib::Request& req, httplib::Response& res) {
    auto timeout = caf::duration{read_wait};
    auto& door = door_of(req);
    auto info = ask<backup_info>(door, timeout, backup_atom::value);
    if (!info)
      return send_error(res, info.error());
    res.set_header("Content-Disposition",
                   "attachment; filename=\"switchboard.db\"");
    res.set_content_provider(
      info->size, "application/vnd.sqlite3",
      [this, door, id = info->id, timeout](size_t offset, size_t,
                                           httplib::DataSink& sink) {
        auto chunk = ask<backup_chunk>(door, timeout, backup_atom::value, id,
                                       static_cast<uint64_t>(offset));
        if (!chunk || chunk->bytes.empty())
          return false; // the connection is closed: the copy is incomplete
        return sink.write(chunk->bytes.data(), chunk->bytes.size());
      });
  }

  void install_routes() {
    auto& s = *server;
    s.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        return pre_route(req, res);
      });
    s.Post("/v1/reports",
           [this](const httplib::Request& req, httplib::Response& res) {
             post_report(req, res);
           });
    s.Post("/v1/observations",
           [this](const httplib::Request& req, httplib::Response& res) {
             post_observation(req, res);
           });
    install_reads();
    s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      healthz(res);
    });
    s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      readyz(res);
    });
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      metrics(res);
    });
    s.Get("/v1/backup", [this](const httplib::Request& req,
                               httplib::Response& res) { backup(req, res); });
    install_errors();
  }

  void install_reads() {
    auto& s = *server;
    auto read_timeout = caf::duration{read_wait};
    s.Get("/v1/status", [this, read_timeout](const httplib::Request& req,
                                             httplib::Response& res) {
      answer<status_info>(req, res, read_timeout, status_atom::value);
    });
    s.Get("/v1/agents", [this, read_timeout](const httplib::Request& req,
                                             httplib::Response& res) {
      answer<std::vector<agent_info>>(req, res, read_timeout,
                                      agent_ls_atom::value);
    });
    s.Get(R"(/v1/agents/([^/]+))",
          [this, read_timeout](const httplib::Request& req,
                               httplib::Response& res) {
            answer<agent_info>(req, res, read_timeout, agent_get_atom::value,
                               std::string{req.matches[1]});
          });
    s.Get("/v1/subscriptions", [this, read_timeout](const httplib::Request& req,
                                                    httplib::Response& res) {
      answer<std::vector<subscription_info>>(req, res, read_timeout,
                                             sub_list_atom::value);
    });
    s.Get("/v1/events",
          [this](const httplib::Request& req, httplib::Response& res) {
            read_query<event_info>(req, res, events_atom::value, true);
          });
    s.Get("/v1/history",
          [this](const httplib::Request& req, httplib::Response& res) {
            read_query<history_info>(req, res, history_atom::value, true);
          });
    s.Get("/v1/notifications",
          [this](const httplib::Request& req, httplib::Response& res) {
            read_query<notification_info>(req, res, notes_atom::value, false);
          });
  }

  void install_errors() {
    auto& s = *server;
    // Every error without a body of ours (413 from the body bound, 400 from
    // a request cpp-httplib could not parse) gets one.
    s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty())
        return;
      if (res.status == 413)
        send_json(res, 413,
                  error_json("payload_too_large",
                             "the body is larger than "
                               + std::to_string(max_body_bytes) + " bytes"));
      else
        send_json(res, res.status,
                  error_json(res.status == 404 ? "not_found" : "bad_request",
                             "HTTP " + std::to_string(res.status)));
    });
    s.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                               std::exception_ptr ep) {
      std::string what = "unknown";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
        // what stays "unknown"
      }
      SB_ERROR("http: request failed: {}", what);
      send_json(res, 500, error_json("internal", "the request failed"));
    });
  }
};

http_front::http_front(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

http_front::~http_front() {
  stop();
}

uint16_t http_front::port() const {
  return impl_->port;
}

void http_front::set_credentials(const intake::credentials& tokens) {
  impl_->set_tokens(tokens);
}

void http_front::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->server->stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  SB_INFO("http: stopped");
}

namespace {

std::unique_ptr<httplib::Server> make_server(const http_settings& o) {
  if (o.tls_certificate.empty())
    return std::make_unique<server<httplib::Server>>();
  return std::make_unique<server<httplib::SSLServer>>(o.tls_certificate.c_str(),
                                                      o.tls_key.c_str());
}

socket_t listening_socket(httplib::Server& s, bool tls) {
  if (tls)
    return static_cast<server<httplib::SSLServer>&>(s).listening_socket();
  return static_cast<server<httplib::Server>&>(s).listening_socket();
}

/// "" if the bound address may serve what the options allow, else why not.
std::string check_bound(httplib::Server& s, const http_settings& o) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto fd = listening_socket(s, !o.tls_certificate.empty());
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return "cannot read the address bound";
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (intake::is_loopback(sa) || !o.tls_certificate.empty())
    return {};
  return "switchboard.http-host: " + intake::format_address(sa, false)
         + " is not loopback; the HTTP front beyond loopback needs "
           "switchboard.tls-certificate and switchboard.tls-key";
}

} // namespace

http_settings http_settings::of(const daemon_options& o) {
  http_settings s;
  s.host = o.http_host;
  s.port = static_cast<uint16_t>(std::max(o.http_port, 0));
  s.workers = static_cast<size_t>(o.http_workers);
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
  auto& o = x->settings;
  x->server = make_server(o);
  if (!x->server->is_valid())
    return make_error(ec::invalid_argument,
                      "the HTTP front cannot use switchboard.tls-certificate "
                      "and switchboard.tls-key");
  auto& s = *x->server;
  auto workers = o.workers;
  s.new_task_queue = [workers] {
    return new bounded_pool(workers, workers * queue_per_worker);
  };
  s.set_payload_max_length(max_body_bytes);
  s.set_read_timeout(io_timeout_s, 0);
  s.set_write_timeout(io_timeout_s, 0);
  s.set_keep_alive_timeout(io_timeout_s);
  s.set_keep_alive_max_count(100);
  // cpp-httplib writes headers and body separately: without TCP_NODELAY the
  // body waits for the client's delayed ACK (40 ms per request).
  s.set_tcp_nodelay(true);
  x->install_routes();
  auto port = o.port == 0 ? s.bind_to_any_port(o.host)
                          : (s.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port <= 0)
    return make_error(ec::unavailable, "the HTTP front cannot listen on "
                                         + o.host + ":"
                                         + std::to_string(o.port));
  if (auto problem = check_bound(s, o); !problem.empty())
    return make_error(ec::invalid_argument, problem);
  // cpp-httplib listens with a backlog of 5: a burst of callers beyond the
  // queued connections would see dropped SYNs and resets. Listening again
  // on the bound socket raises it.
  ::listen(listening_socket(s, !o.tls_certificate.empty()), SOMAXCONN);
  x->port = static_cast<uint16_t>(port);
  x->thread
    = std::thread{[srv = x->server.get()] { srv->listen_after_bind(); }};
  SB_INFO("http: listening on {}:{}{} (a credential as bearer token on "
          "/v1/)",
          o.host, x->port, o.tls_certificate.empty() ? "" : " (TLS)");
  return std::unique_ptr<http_front>{new http_front(std::move(x))};
}

} // namespace sb::http
