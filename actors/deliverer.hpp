#pragma once

// The DELIVERER (R3 6/7): takes the outbox to the notification sinks.
// Every notify-interval it reads the sinks; for each sink without a worker
// in flight it asks the STORE what that sink has due (at most a batch) and
// hands the batch to a detached worker of that sink, which delivers one
// notification after another (notify/deliver.hpp) and sends back each
// result. The DELIVERER stores each result: delivered; pending with its
// next attempt (backoff from 1 s doubling to 5 min, jitter, a longer
// Retry-After wins); failed after notify-max-attempts or a final answer;
// skipped when the sink does not take that event type or severity. One slow
// or dead sink holds only its own worker. A digesting sink gets a storm of
// one event type as one message (plan_deliveries). What a worker takes is
// leased to this node in the store, so with several nodes one delivers
// each notification. At least once: a result is stored
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
#include <vector>

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

/// When many events of one type become one message (digest-threshold,
/// digest-interval, digest-wait).
struct digest_rule {
  size_t threshold = 10;
  millis interval = 60000;
  millis wait = 5000;
};

/// What a digesting sink does with a batch at `now`.
struct delivery_plan {
  /// Each delivered on its own, in order.
  std::vector<delivery_due> single;
  /// Each group delivered as one digest message.
  std::vector<std::vector<delivery_due>> digests;
  /// Not yet: a storm may still be coming (released, taken again later).
  std::vector<delivery_due> held;
};

/// Groups a digesting sink's batch by event type. A type whose newest new
/// event is younger than `wait` and whose oldest is younger than
/// `interval` is held (a storm gathers); otherwise its events are cut into
/// runs of at most `interval`, and a run of more than `threshold` events
/// is one digest, a shorter one goes out event by event. Retries (an
/// attempt made already) are never held.
delivery_plan plan_deliveries(std::vector<delivery_due> batch,
                              const digest_rule& rule, millis now);

struct deliverer_state {
  static inline const char* name = "deliverer";
  store_actor store;
  context_ptr ctx;
  /// Sinks with a worker in flight.
  std::map<int64_t, bool> busy;
  /// Each sink's name, from the last listing (metrics and logs).
  std::map<int64_t, std::string> names;
  bool listing = false;
  std::mt19937_64 rng{std::random_device{}()};
};

using deliverer_ptr = deliverer_actor::stateful_pointer<deliverer_state>;

deliverer_actor::behavior_type deliverer(deliverer_ptr self, store_actor store,
                                         context_ptr ctx);

} // namespace sb
