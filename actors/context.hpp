#pragma once

// What every actor of the daemon shares without a message: the options it was
// started with, those a reload changes, the runtime settings board, the clock,
// the number of watchers (so AGENTs format watch lines only when someone
// listens) and the directory of agents (written by the ADMIN, read by the
// FRONT DOOR), the metrics and whether the daemon is draining.

#include "actors/clock.hpp"
#include "actors/config.hpp"
#include "actors/directory.hpp"
#include "actors/engine_settings.hpp"
#include "actors/live_options.hpp"
#include "actors/metrics.hpp"
#include "actors/token_index.hpp"
#include "intake/basp_guard.hpp"
#include "messages/status.hpp"
#include "messages/time.hpp"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace sb {

/// Several nodes: the CLUSTER's view for `status`, written by it only.
class cluster_board {
public:
  std::optional<cluster_status> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return value_;
  }

  void set(cluster_status x) {
    std::lock_guard<std::mutex> guard{mtx_};
    value_ = std::move(x);
  }

private:
  mutable std::mutex mtx_;
  std::optional<cluster_status> value_;
};

struct daemon_context {
  daemon_context(daemon_options options, engine_settings initial,
                 clock_ptr daemon_clock)
      : opts(std::move(options)), live(live_options::of(opts)),
        board(std::move(initial)), clock(std::move(daemon_clock)),
        started_at(clock->now()) {
    // nop
  }

  millis now() const { return clock->now(); }

  /// As started; the keys a reload can change are read from `live`.
  daemon_options opts;
  /// Notify command and timing, Docker timeouts: changed by SIGHUP.
  live_board live;
  settings_board board;
  /// `now()` and every timer.
  clock_ptr clock;
  millis started_at;
  std::atomic<uint32_t> watchers{0};
  /// Written by the ADMIN only.
  agent_directory directory;
  /// Written by the POOL only.
  token_index tokens;
  /// The network intake's counters (set by the ROOT while the guard runs).
  std::function<intake::guard_stats()> intake;
  /// Counters and histograms, bumped where things happen (GET /metrics).
  metrics_ptr stats = std::make_shared<metrics>();
  /// None without a shared store.
  cluster_board cluster;
  /// Several nodes share the store: the POOL asks the store to check the
  /// balance of each automatic switch (switch_record::balance).
  bool shared_pool = false;
  /// Set first thing on shutdown: not ready, no new requests over HTTP.
  std::atomic<bool> draining{false};
};

using context_ptr = std::shared_ptr<daemon_context>;

} // namespace sb
