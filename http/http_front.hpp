#pragma once

// The HTTP front: a second door into the FRONT DOOR for callers that do not
// speak CAF (any language, curl), plus the operator's probes.
//
//   POST /v1/reports, /v1/observations        -> report_result
//   GET  /v1/status, /v1/agents, /v1/agents/{name}, /v1/subscriptions,
//        /v1/events, /v1/history, /v1/notifications (the CLI's filters as
//        query parameters)                    -> the CLI's --json document
//   GET  /healthz  200 while every component answers, else 503
//   GET  /readyz   200 when the store writes, the Docker engine answers (if
//                  an agent has a container) and the daemon is not
//                  draining; else 503 with {"ready": false, "reasons": [...]}
//   GET  /metrics  Prometheus text format (actors/metrics.hpp)
//
// Each request becomes the message the CLI would send, through the same
// FRONT DOOR and its checks; no token is readable. Errors are
// {"error": {"code", "message"}} with 400, 401, 403, 404, 405, 409, 413,
// 415, 431, 503 or 504.
//
// Asynchronous (http/server.hpp, Boost.Beast): a request that waits for the
// daemon holds no thread. Bounds: a header of 16 KiB, a body of 64 KiB
// (chunked too; no compressed bodies), http-max-connections open
// connections, an idle one closed after http-idle-timeout, a request's
// header and body within 10 s of its first byte, an answer written within
// 10 s, a live stream's unsent bytes at most 256 KiB (a slower client is
// dropped). So the memory of the front stays below max-connections x
// (16 KiB + 64 KiB + 256 KiB) whatever its clients send.
//
// Security: every /v1/ request needs "Authorization: Bearer <token>", even on
// loopback: the admin credential (switchboard.admin-token-file) or the report
// one (report-token-file), compared in constant time; the request goes to
// the FRONT DOOR of that scope, which refuses what the scope may not do
// (403). /healthz, /readyz and /metrics stay open and answer for this node
// only (no other node, no AGENT is asked). Beyond loopback the front refuses
// to start without TLS (tls-certificate, tls-key).
//
//   GET  /v1/backup  (admin) an online copy of the database, streamed
//   GET  /v1/watch   Server-Sent Events: one per decision (?agent=,
//                    ?subscription=), a comment heartbeat every 15 s
//   the admin writes (admin_routes.cpp, docs/http-api.md)

#include "actors/context.hpp"
#include "actors/door.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <memory>

namespace sb::http {

/// What the HTTP front is started with (from daemon_options by default).
struct http_settings {
  std::string host = "127.0.0.1";
  /// 0 = any free port.
  uint16_t port = 0;
  /// The bearer tokens: the daemon's credentials.
  intake::credentials tokens;
  /// Event loop threads.
  size_t workers = 1;
  size_t max_connections = 4096;
  caf::timespan idle_timeout = std::chrono::seconds(30);
  /// A request's header and body arrive within this from its first byte.
  caf::timespan request_timeout = std::chrono::seconds(10);
  std::string tls_certificate;
  std::string tls_key;
  /// Pinged by /readyz and /metrics.
  std::string docker_socket;
  /// How long a report may take: apply-wait plus a margin.
  caf::timespan report_timeout = std::chrono::seconds(60);

  static http_settings of(const daemon_options& o);
};

class http_front : public door {
public:
  /// Binds settings.host:port and serves on its own threads.
  /// `admin` and `report` are the FRONT DOORs of the two credentials.
  static caf::expected<std::unique_ptr<http_front>>
  start(caf::actor_system& sys, front_door_actor admin, front_door_actor report,
        context_ptr ctx, http_settings settings);

  ~http_front() override;

  http_front(const http_front&) = delete;
  http_front& operator=(const http_front&) = delete;

  /// The port bound (useful with http-port 0).
  uint16_t port() const;

  /// Stops accepting, finishes the requests in progress; idempotent.
  void stop() override;

  /// New bearer tokens (a reload).
  void set_credentials(const intake::credentials& tokens) override;

  struct impl;

private:
  explicit http_front(std::unique_ptr<impl> x);

  std::unique_ptr<impl> impl_;
};

} // namespace sb::http
