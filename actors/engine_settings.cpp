#include "actors/engine_settings.hpp"

#include "actors/option_table_impl.hpp"
#include "messages/error.hpp"

namespace sb {

const option_table<engine_settings>& setting_table() {
  using s = engine_settings;
  static const option_table<engine_settings> table = {
    {"auto-switch", "on",
     "Switch agents automatically on rate-limit and auth failures (on|off).",
     &s::auto_switch},
    {"exclusion-window", "2h",
     "A subscription with any failure this recent is not a switch target.",
     &s::exclusion_window, 0, 30 * day_ms},
    {"rate-limit-threshold", "1",
     "Rate-limit failures within threshold-window needed to switch.",
     &s::rate_limit_threshold, 1, 1000},
    {"auth-threshold", "1",
     "Auth failures within threshold-window needed to switch.",
     &s::auth_threshold, 1, 1000},
    {"threshold-window", "10m",
     "Window in which failures count towards the thresholds.",
     &s::threshold_window, 1000, 7 * day_ms},
    {"switch-budget", "6",
     "At most this many switches per agent per budget-window (0 = no limit).",
     &s::switch_budget, 0, 1000},
    {"budget-window", "1h", "Window of the per-agent switch budget.",
     &s::budget_window, 1000, 7 * day_ms},
    {"events-retention-days", "30",
     "Failure events older than this many days are deleted (0 = keep).",
     &s::events_retention_days, 0, 3650},
    {"settle-window", "30s",
     "After a token is applied, unnamed reports still count against the "
     "previous one for this long (0 = off).",
     &s::settle_window, 0, hour_ms},
    {"switch-at-utilization", "0.95",
     "An observed utilization this high on an agent's subscription switches "
     "it before the limit, to one at least 0.10 lower (off = never).",
     &s::switch_at_utilization, 10, 100},
    {"ban-after", "3",
     "A 403 'Permission denied' or a 401 'Invalid authentication "
     "credentials' this many times in a row on one token retires the "
     "subscription.",
     &s::ban_after, 1, 100},
    {"concurrency-grace", "60s",
     "'Too many concurrent requests' moves an agent only once they persist "
     "this long.",
     &s::concurrency_grace, 0, hour_ms},
  };
  return table;
}

engine_settings::engine_settings() {
  apply_defaults(setting_table(), *this);
}

caf::error apply_setting(engine_settings& out, const std::string& key,
                         const std::string& value) {
  if (auto row = find_option(setting_table(), key))
    return set_option(*row, out, value, "setting ");
  std::string known;
  for (auto& row : setting_table())
    known += (known.empty() ? "" : ", ") + std::string{row.key};
  return make_error(ec::invalid_argument,
                    "unknown setting '" + key + "' (known: " + known + ")");
}

caf::expected<std::string> normalize_setting(const std::string& key,
                                             const std::string& value) {
  engine_settings tmp;
  if (auto err = apply_setting(tmp, key, value))
    return err;
  return option_text(*find_option(setting_table(), key), tmp);
}

caf::expected<engine_settings>
make_engine_settings(const settings_map& values) {
  engine_settings result;
  for (auto& [key, value] : values)
    if (auto err = apply_setting(result, key, value))
      return err;
  return result;
}

settings_map to_settings_map(const engine_settings& x) {
  settings_map result;
  for (auto& row : setting_table())
    result.emplace(std::string{row.key}, option_text(row, x));
  return result;
}

} // namespace sb
