#pragma once

// The HTTP/1.1 engine under the HTTP front: Boost.Beast on one asio event
// loop. It knows connections, limits and timeouts, nothing of Switchboard:
// the front (http/http_front.cpp) gives it a handler per request and answers
// through an `exchange` whenever its answer is ready, from any thread. No
// thread waits for an answer: a request that waits for the daemon is a
// pending exchange, a few hundred bytes.
//
//   connection  accept -> [idle: up to idle_timeout for the first byte]
//               -> [request: its header and body within request_timeout,
//                  header <= header_limit, body <= body_limit]
//               -> handler -> exchange::reply -> write (write_timeout)
//               -> idle again (keep-alive), or closed
//
// A stream (Server-Sent Events, a backup) answers with a header and then
// chunks; its queue of unsent bytes is bounded (stream_limit): a client too
// slow to read is dropped, never buffered without end.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sb::http {

/// A request as the handler sees it: the target split and percent-decoded.
struct request {
  std::string method;
  /// The path, percent-decoded (any bytes).
  std::string path;
  /// The query's parameters, decoded ('+' is a space), in order.
  std::multimap<std::string, std::string> params;
  /// Header fields the front needs (lowercase name -> value); a repeated
  /// field keeps its first value.
  std::map<std::string, std::string> headers;
  std::string body;

  /// A header's value, "" if absent.
  const std::string& header(const std::string& lowercase_name) const;
};

/// An answer.
struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// One request being answered. Thread-safe: reply and push post to the
/// connection's event loop. A connection that went away makes every call a
/// no-op (`closed()` turns true).
class exchange {
public:
  virtual ~exchange() = default;

  virtual const request& req() const = 0;

  /// The whole answer; the connection then takes its next request.
  virtual void reply(response r) = 0;

  /// Starts a stream: the header now (no length: chunked), the body as
  /// push()es. The connection closes when the stream ends. A `heartbeat`
  /// is pushed whenever nothing was written for the heartbeat interval.
  virtual void open_stream(response head, std::string heartbeat = {}) = 0;

  /// Queues a chunk of the stream; false (and the connection is dropped)
  /// if the unsent bytes would exceed the stream limit, or it is closed.
  virtual bool push(std::string bytes) = 0;

  /// Calls `fn(true)` once everything pushed so far is written (`false`:
  /// the connection is gone). At most one waits at a time.
  virtual void when_written(std::function<void(bool)> fn) = 0;

  /// Ends the stream cleanly: the last chunk, then the connection closes.
  virtual void end_stream() = 0;

  /// Closes the connection at once (a stream cut short: the client sees
  /// an incomplete answer, not a complete one).
  virtual void abort() = 0;

  /// Called once when the connection goes away (at once if it is gone).
  virtual void on_close(std::function<void()> fn) = 0;

  virtual bool closed() const = 0;
};

using exchange_ptr = std::shared_ptr<exchange>;

/// Limits, timeouts and the fields every answer carries; the defaults are
/// the HTTP front's.
struct server_limits {
  /// Open connections at once; beyond, a new one is answered 503 and
  /// closed.
  size_t max_connections = 4096;
  size_t header_limit = 16 * 1024;
  size_t body_limit = 64 * 1024;
  /// Unsent bytes of one stream.
  size_t stream_limit = 256 * 1024;
  /// A keep-alive connection waits this long for its next request.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  /// A request's header and body arrive within this, from its first byte.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(10);
  /// An answer (or a stream's chunk) is written within this.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  /// A stream's heartbeat, when nothing else was written.
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(15);
  /// Event loop threads.
  size_t threads = 1;
  /// Header fields added to every answer, streams and errors included
  /// (the front's security headers).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

/// What happens to a request before its body is read: an answer now (an
/// unknown route, a method not allowed, no credential), or nothing (read
/// the body and call the handler).
using precheck_fn = std::function<std::optional<response>(const request&)>;
using handler_fn = std::function<void(exchange_ptr)>;

class server {
public:
  /// Listens on host:port (0 = any free port); TLS if a certificate and
  /// key are given. Errors are the text of what failed.
  static std::unique_ptr<server> start(const std::string& host, uint16_t port,
                                       const std::string& tls_cert,
                                       const std::string& tls_key,
                                       server_limits limits, precheck_fn pre,
                                       handler_fn handler, std::string* error);

  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  uint16_t port() const;

  /// The socket's local address is loopback.
  bool loopback() const;

  /// "host:port" as bound.
  std::string bound() const;

  /// Stops accepting, closes idle connections, ends streams cleanly, waits
  /// up to `grace` for the answers in progress, then closes everything.
  void stop(std::chrono::milliseconds grace);

  struct impl;

private:
  explicit server(std::unique_ptr<impl> x);
  std::unique_ptr<impl> impl_;
};

/// Splits a request target into its percent-decoded path and parameters;
/// false if it is malformed (a bad %XX, not starting with '/').
bool split_target(const std::string& target, std::string& path,
                  std::multimap<std::string, std::string>& params);

} // namespace sb::http
