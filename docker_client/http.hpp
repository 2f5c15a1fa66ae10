#pragma once

// A small blocking HTTP/1.1 client over libcurl, for the Docker Engine API
// (over its unix socket) and for agent servers (over TCP). One instance owns
// one curl handle and keeps its connection alive between calls; use it from
// one thread at a time (the detached docker workers). Nothing here logs a
// request body: bodies may carry tokens.

#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sb::docker {

struct http_response {
  long status = 0;
  std::string body;
  /// Response headers, names in lowercase.
  std::map<std::string, std::string> headers;
};

class http_client {
public:
  /// `unix_socket` empty = plain TCP to the host in the URL.
  explicit http_client(std::string unix_socket = {});
  ~http_client();

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Performs one request. Errors: ec::docker_unreachable (cannot connect),
  /// ec::timeout, ec::docker_failure (other transport errors). HTTP error
  /// statuses are not errors here: the caller reads `status`.
  caf::expected<http_response>
  request(const std::string& method, const std::string& url,
          const std::string& body, std::chrono::milliseconds timeout,
          const std::vector<std::string>& extra_headers = {});

  /// Performs a request whose body arrives over time (a stream), handing
  /// each piece to `on_data` as it comes; `on_data` returns false to stop.
  /// Ends without an error when stopped, when the server closes the stream,
  /// or when `timeout` has passed (the caller chooses how long to listen).
  caf::expected<long>
  stream(const std::string& method, const std::string& url,
         const std::function<bool(const char*, size_t)>& on_data,
         std::chrono::milliseconds timeout);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace sb::docker
