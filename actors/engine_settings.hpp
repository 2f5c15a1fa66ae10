#pragma once

// Runtime settings of the switch engine: read at boot from the database
// (values set with `switchboard settings set`), falling back to the
// [settings] section of the config file, falling back to built-in defaults.
// A change is committed to the database first and then published by the
// ADMIN (daemon_context::settings), which every AGENT and the POOL read
// without a message.

#include "actors/option_table.hpp"
#include "messages/time.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sb {

/// Defaults come from setting_table(), not from here.
struct engine_settings {
  engine_settings();

  /// Global auto-switch.
  bool auto_switch;
  /// A subscription with a failure this recent is not a candidate.
  millis exclusion_window;
  /// Failures of one kind needed, within `threshold_window`, to switch.
  uint32_t rate_limit_threshold;
  uint32_t auth_threshold;
  millis threshold_window;
  /// At most this many switches per agent within `budget_window`
  /// (0 = unlimited); past it the agent is held and one alert is raised.
  uint32_t switch_budget;
  millis budget_window;
  /// Failure events older than this are deleted (0 = keep forever).
  uint32_t events_retention_days;
  /// After a new token was applied, reports that do not name their
  /// credential are still charged to the previous one for this long.
  millis settle_window;
  /// An observation at or above this utilization on an agent's current
  /// subscription switches it before the wall (none = off).
  std::optional<double> switch_at_utilization;
  /// Suspect failures (provider_evidence::suspect) in a row on one token
  /// that retire a subscription.
  uint32_t ban_after;
  /// Concurrency 429s move an agent only once they persist this long.
  millis concurrency_grace;
};

/// Every runtime setting: key, default, sentence, field and accepted values
/// (actors/option_table.hpp), in display order.
const option_table<engine_settings>& setting_table();

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

} // namespace sb
