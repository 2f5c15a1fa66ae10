#pragma once

// One delivery of one event to one sink over HTTP (blocking: the delivery
// worker runs it on a thread of its own). What the receiver said decides
// what happens next (notify/sink_format.hpp: judge_delivery).

#include "messages/sinks.hpp"
#include "notify/sink_format.hpp"

#include <chrono>
#include <string>

namespace sb::docker {
class http_client;
} // namespace sb::docker

namespace sb::notify {

struct delivery_attempt {
  delivery_verdict verdict;
  /// The receiver's status (0 = no answer).
  long status = 0;
  /// What went wrong, in words: never the URL (its path may be a secret)
  /// nor a body.
  std::string error;
};

/// Posts `e` to `sink` in its kind's format; a webhook is signed with the
/// sink's secret at `now` and carries X-Switchboard-Event-Id.
delivery_attempt deliver(docker::http_client& http, const stored_sink& sink,
                         const event& e, millis now,
                         std::chrono::milliseconds timeout);

/// A notification of the outbox as an event: its type and severity from
/// its kind and priority (switch -> switched, retired -> credential_retired,
/// ...).
event event_of(const notification_info& n);

} // namespace sb::notify
