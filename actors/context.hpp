#pragma once

// What the daemon's actors share without a message. The rule: the context
// holds what does not change once the daemon runs (the options it started
// with, the clock, the start instant, whether several nodes share the pool)
// and the metrics (counters any thread may bump). State that changes is
// owned by one actor: the others ask it with a message, or read the
// immutable value it publishes (actors/published.hpp). A reader loads a
// published value once per message and reads only that; the owner replaces
// the whole value. No boards: no lock is held beyond one pointer's copy.
//
// Who publishes which value (its only writer), and who reads it:
//   settings   ADMIN (`settings set`, a reload's [settings]); AGENTs, POOL,
//              CLUSTER
//   live       the reload (SIGHUP, on the daemon's main thread); notifier,
//              ROOT's timer, supervisor and its workers, AGENTs
//   directory  ADMIN (agents spawned, removed or gone; watchers); FRONT
//              DOOR, POOL, AGENTs
//   tokens     POOL (boot, add, rotation, removal, other nodes' tokens);
//              FRONT DOOR, AGENTs
//   cluster    CLUSTER (each lease renewal and status); ADMIN
//   doors      ROOT (the intake's counters while the guard runs, draining
//              from the first step of shutdown); ADMIN, HTTP front

#include "actors/clock.hpp"
#include "actors/config.hpp"
#include "actors/directory.hpp"
#include "actors/engine_settings.hpp"
#include "actors/live_options.hpp"
#include "actors/metrics.hpp"
#include "actors/published.hpp"
#include "actors/token_index.hpp"
#include "intake/basp_guard.hpp"
#include "messages/status.hpp"
#include "messages/time.hpp"

#include <functional>
#include <memory>
#include <optional>

namespace sb {

/// The doors as the ROOT has them.
struct door_state {
  /// The network intake's counters; empty unless the guard runs.
  std::function<intake::guard_stats()> intake;
  /// Set first thing on shutdown: not ready, no new requests over HTTP.
  bool draining = false;
};

struct daemon_context {
  daemon_context(daemon_options options, engine_settings initial,
                 clock_ptr daemon_clock, bool shared = false)
      : opts(std::move(options)), clock(std::move(daemon_clock)),
        started_at(clock->now()), shared_pool(shared),
        settings(std::move(initial)), live(live_options::of(opts)) {
    // nop
  }

  millis now() const { return clock->now(); }

  // -- fixed once the daemon runs ---------------------------------------------

  /// As started; the keys a reload can change are read from `live`.
  daemon_options opts;
  /// `now()` and every timer.
  clock_ptr clock;
  millis started_at;
  /// Several nodes share the store: the POOL asks the store to check the
  /// balance of each automatic switch (switch_record::balance).
  bool shared_pool = false;
  /// Counters and histograms, bumped where things happen (GET /metrics).
  metrics_ptr stats = std::make_shared<metrics>();

  // -- published by their owners (see the top of this file) -------------------

  published<engine_settings> settings;
  /// Notify command and timing, Docker timeouts.
  published<live_options> live;
  published<agent_directory> directory;
  published<token_index> tokens;
  /// None without a shared store.
  published<std::optional<cluster_status>> cluster;
  published<door_state> doors;
};

using context_ptr = std::shared_ptr<daemon_context>;

} // namespace sb
