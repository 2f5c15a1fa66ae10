#pragma once

// switchboard-bench's HTTP door: the burst sent as POST /v1/reports to the
// daemon's HTTP front (http/http_front.hpp) with libcurl's multi interface,
// on one thread, over a bounded number of keep-alive connections.

#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sb::bench {

/// What one burst measured, whichever door it went through.
struct burst_outcome {
  /// Per report, from send to reply.
  std::vector<double> latencies_ms;
  size_t errors = 0;
  /// The first error, for the diagnosis (empty if none).
  std::string first_error;
  /// Replies by outcome name ("switched", "stale", ...).
  std::map<std::string, size_t> outcomes;
  /// HTTP replies by their "apply" (the application's result up to a colon,
  /// "none" when null): how the switches' tokens reached the containers.
  std::map<std::string, size_t> applies;
  double wall_s = 0;
};

/// The JSON body of POST /v1/reports for the fields the bench sets (agent,
/// status, error, subscription, source).
std::string report_body(const failure_report& r);

/// Sends every report to http://127.0.0.1:port/v1/reports, at most
/// `connections` at once, each connection carrying its share of the reports
/// one after the other (keep-alive; a connection is closed after its last
/// report, so no server thread waits on an idle one). Counts each reply's
/// "outcome"; a transport error, a status other than 200 or a reply without
/// "outcome" counts as an error. A report's latency runs from the moment its
/// request is handed to libcurl (its connection is free) to its reply.
/// `token`: the bearer token (the daemon's report or admin credential).
burst_outcome run_http_burst(uint16_t port,
                             const std::vector<failure_report>& reports,
                             size_t connections, const std::string& token);

} // namespace sb::bench
