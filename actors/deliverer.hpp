#pragma once

// The DELIVERER (R3 6/7, WIP): takes the outbox to the notification sinks.
// Every notify-interval it reads the sinks; for each sink without a worker
// in flight it asks the STORE what that sink has due (at most a batch) and
// hands the batch to a detached worker of that sink, which delivers one
// notification after another (notify/deliver.hpp) and sends back each
// result. The DELIVERER stores each result: delivered; pending with its
// next attempt (backoff from 1 s doubling to 5 min, jitter, a longer
// Retry-After wins); failed after notify-max-attempts or a final answer;
// skipped when the sink does not take that event type or severity. One slow
// or dead sink holds only its own worker. At least once: a result is stored
// only after the receiver answered, so a crash between attempts delivers
// again after the restart (receivers deduplicate by event id).

#include "actors/context.hpp"
#include "messages/actors.hpp"
#include "notify/sink_format.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <random>
#include <string>

namespace sb {

/// How a delivery's outcome becomes its record: `attempts` so far
/// (this one included), the wait before the next, the state.
delivery_record next_record(int64_t sink_id, int64_t notification_id,
                            uint32_t attempts,
                            const notify::delivery_verdict& v, long status,
                            const std::string& error, millis now,
                            uint32_t max_attempts, double jitter);

/// Whether `sink` takes `e` (its event types and lowest severity).
bool takes(const sink_info& sink, const notify::event& e);

struct deliverer_state {
  static inline const char* name = "deliverer";
  store_actor store;
  context_ptr ctx;
  /// Sinks with a worker in flight.
  std::map<int64_t, bool> busy;
  bool listing = false;
  std::mt19937_64 rng{std::random_device{}()};
};

using deliverer_ptr = deliverer_actor::stateful_pointer<deliverer_state>;

deliverer_actor::behavior_type deliverer(deliverer_ptr self, store_actor store,
                                         context_ptr ctx);

} // namespace sb
