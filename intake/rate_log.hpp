#pragma once

// Rate-limited warnings: at most one line per second per kind of event, and
// the number of events that were not logged. A churn of bad connections must
// not turn into a flood of log lines (disk, CPU, and the operator's patience).

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace sb::intake {

enum class log_kind : uint8_t {
  bad_header,
  oversize,
  over_capacity,
  no_descriptors,
  slow_reader,
  backend_unreachable,
  tls_failed,
  handshake_timeout,
  refused_auth,
  forbidden,
  message_timeout,
  evicted,
  count_
};

/// Past tense description for the summary line ("3 more connections ...").
std::string_view describe(log_kind kind) noexcept;

class rate_log {
public:
  using clock = std::chrono::steady_clock;

  /// Records one event; true if a line may be logged for it now, with
  /// `suppressed` the number of events of this kind not logged before it.
  bool admit(log_kind kind, clock::time_point now, uint64_t& suppressed);

  /// Logs one summary line per kind whose events were suppressed and whose
  /// window has ended, so a burst's count shows even if nothing follows it.
  /// time_point::max() flushes every count (at shutdown).
  void flush(clock::time_point now);

  /// True if some count awaits a summary line (the loop then wakes up for it).
  bool pending() const noexcept { return pending_ > 0; }

private:
  struct slot {
    clock::time_point last{};
    uint64_t suppressed = 0;
    bool used = false;
  };
  std::array<slot, static_cast<size_t>(log_kind::count_)> slots_{};
  size_t pending_ = 0;
};

} // namespace sb::intake
