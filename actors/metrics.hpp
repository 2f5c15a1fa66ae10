#pragma once

// The daemon's Prometheus metrics (GET /metrics on the HTTP front), on
// prometheus-cpp's core registry and text serializer. Counters and
// histograms are bumped where things happen (an AGENT answering a report,
// committing a switch, recording a token application; the STORE committing a
// batch): each is a lock-free atomic add on a series created once, so the
// hot path pays nanoseconds. Gauges that describe the whole daemon (agents,
// agents behind, excluded subscriptions, pending notifications, the Docker
// engine) are gathered by the ADMIN at scrape time and passed to render();
// so are the per-subscription gauges (utilization per window, state,
// agents), which the ADMIN's status fan-out hands over with
// subscriptions_listed(). render() adds switchboard_build_info and the
// standard process metrics (CPU, memory, descriptors, start time) read from
// /proc/self at that moment.
//
// This header stays free of prometheus-cpp: actors include it.

#include "messages/kinds.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

/// What a scrape gathers from the actors.
struct metric_gauges {
  uint64_t agents = 0;
  /// Agents whose generation is ahead of the generation applied.
  uint64_t agents_behind = 0;
  uint64_t subscriptions = 0;
  uint64_t subscriptions_excluded = 0;
  /// Per pool: subscriptions, and those excluded now (by window) or out
  /// (retired or drained).
  struct pool_gauges {
    uint64_t subscriptions = 0;
    uint64_t excluded = 0;
    /// Seconds until its soonest credential expiry (none = none known).
    std::optional<double> expiry_seconds;
  };
  std::map<std::string, pool_gauges> pools;
  uint64_t notifications_pending = 0;
  /// Agents with a container.
  uint64_t containers = 0;
  /// The Docker engine answered the scrape's ping.
  bool docker_engine_up = false;
  /// Components that did not answer the scrape in time.
  uint64_t components_unresponsive = 0;
  /// The guard's counters (none without a guard, as in process tests).
  std::optional<intake_status> intake;
};

class metrics {
public:
  metrics();
  ~metrics();

  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  /// A report was answered: its outcome (nothing: an error), how it was
  /// classified and how long it took from its arrival (nothing: refused
  /// before it reached its AGENT, not timed).
  void report_answered(std::optional<outcome> result, failure_kind kind,
                       std::optional<double> seconds);

  /// An observation was answered.
  void observation_answered(std::optional<outcome> result);

  /// A switch was committed.
  void switched(trigger by);

  /// Several nodes: the store found a pick stale (another node's agents
  /// made it the worse one) and the POOL picked again.
  void repicked();

  /// A token application ended; `seconds` from the request to the result.
  void token_applied(apply_result result, double seconds);

  /// A refresh of an oauth credential ended: "ok", "backoff" (429, 5xx,
  /// no answer), "recovered" (rejected, but another node had rotated it),
  /// "dead" (rejected: a new login is needed).
  void credential_refreshed(std::string_view result);

  /// The STORE committed a batch of this many writes.
  void store_committed(size_t writes);

  /// A notification's delivery to sink `sink` ended: `result` is delivered,
  /// retry or failed.
  void notification_delivered(const std::string& sink, std::string_view result);

  /// The subscriptions as the POOL lists them now (the ADMIN, in the status
  /// fan-out every scrape asks for): the next render() shows their gauges;
  /// a subscription no longer listed loses its series.
  void subscriptions_listed(const std::vector<subscription_info>& xs);

  /// The text exposition (format 0.0.4) of every metric, with the gauges.
  std::string render(const metric_gauges& gauges);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

using metrics_ptr = std::shared_ptr<metrics>;

} // namespace sb
