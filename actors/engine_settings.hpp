#pragma once

// Runtime settings of the switch engine: read at boot from the database
// (values set with `switchboard settings set`), falling back to the
// [settings] section of the config file, falling back to built-in defaults.
// A change is committed to the database first and then published on the
// settings board, which every AGENT and the POOL read without a message.

#include "messages/time.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sb {

struct engine_settings {
  /// Global auto-switch.
  bool auto_switch = true;
  /// A subscription with a failure this recent is not a candidate.
  millis exclusion_window = 2 * hour_ms;
  /// Failures of one kind needed, within `threshold_window`, to switch.
  uint32_t rate_limit_threshold = 1;
  uint32_t auth_threshold = 1;
  millis threshold_window = 10 * minute_ms;
  /// At most this many switches per agent within `budget_window`
  /// (0 = unlimited); past it the agent is held and one alert is raised.
  uint32_t switch_budget = 6;
  millis budget_window = hour_ms;
  /// Failure events older than this are deleted (0 = keep forever).
  uint32_t events_retention_days = 30;
};

/// One runtime setting: its key, default text and one-line description.
struct setting_spec {
  const char* key;
  const char* default_value;
  const char* description;
};

/// Every runtime setting, in display order.
const std::vector<setting_spec>& setting_specs();

/// Checks and applies one key/value to `out`. The error names the key.
caf::error apply_setting(engine_settings& out, const std::string& key,
                         const std::string& value);

/// Canonical text of a value ("2h" for "120m"), for storage and display.
caf::expected<std::string> normalize_setting(const std::string& key,
                                             const std::string& value);

/// Builds settings from key/value text: defaults overlaid with `values`.
caf::expected<engine_settings> make_engine_settings(const settings_map& values);

/// Renders every key with its effective value.
settings_map to_settings_map(const engine_settings& x);

/// Parses durations such as "1500ms", "30s", "10m", "2h", "1d".
caf::expected<millis> parse_duration(const std::string& text);

/// Renders a duration in the largest unit that divides it ("2h", "90m").
std::string format_duration(millis ms);

/// The current engine settings, shared read-mostly between actors.
class settings_board {
public:
  explicit settings_board(engine_settings initial);

  /// A consistent snapshot; cheap (one shared_ptr copy under a lock).
  std::shared_ptr<const engine_settings> get() const;

  void set(engine_settings next);

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const engine_settings> current_;
};

using settings_board_ptr = std::shared_ptr<settings_board>;

} // namespace sb
