#include "actors/engine_settings.hpp"

#include "messages/error.hpp"

#include <cctype>
#include <limits>

namespace sb {

const std::vector<setting_spec>& setting_specs() {
  static const std::vector<setting_spec> specs = {
    {"auto-switch", "on",
     "Switch agents automatically on rate-limit and auth failures (on|off)."},
    {"exclusion-window", "2h",
     "A subscription with any failure this recent is not a switch target."},
    {"rate-limit-threshold", "1",
     "Rate-limit failures within threshold-window needed to switch."},
    {"auth-threshold", "1",
     "Auth failures within threshold-window needed to switch."},
    {"threshold-window", "10m",
     "Window in which failures count towards the thresholds."},
    {"switch-budget", "6",
     "At most this many switches per agent per budget-window (0 = no limit)."},
    {"budget-window", "1h", "Window of the per-agent switch budget."},
    {"events-retention-days", "30",
     "Failure events older than this many days are deleted (0 = keep)."},
  };
  return specs;
}

caf::expected<millis> parse_duration(const std::string& text) {
  auto bad = [&] {
    return make_error(ec::invalid_argument,
                      "'" + text
                        + "' is not a duration (use e.g. 30s, 10m, 2h, 1d)");
  };
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  if (i == 0 || i > 12)
    return bad();
  auto n = std::stoll(text.substr(0, i));
  auto unit = text.substr(i);
  millis factor;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m" || unit == "min")
    factor = minute_ms;
  else if (unit == "h")
    factor = hour_ms;
  else if (unit == "d")
    factor = day_ms;
  else
    return bad();
  return n * factor;
}

std::string format_duration(millis ms) {
  if (ms == 0)
    return "0s";
  if (ms % day_ms == 0)
    return std::to_string(ms / day_ms) + "d";
  if (ms % hour_ms == 0)
    return std::to_string(ms / hour_ms) + "h";
  if (ms % minute_ms == 0)
    return std::to_string(ms / minute_ms) + "m";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

namespace {

caf::error bad_value(const std::string& key, const std::string& value,
                     const std::string& expected) {
  return make_error(ec::invalid_argument, "setting '" + key + "': '" + value
                                            + "' is not " + expected);
}

caf::expected<uint32_t> parse_count(const std::string& key,
                                    const std::string& value, uint32_t lo,
                                    uint32_t hi) {
  auto expected
    = "a whole number from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (value.empty() || value.size() > 10)
    return bad_value(key, value, expected);
  for (auto c : value)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return bad_value(key, value, expected);
  auto n = std::stoull(value);
  if (n < lo || n > hi)
    return bad_value(key, value, expected);
  return static_cast<uint32_t>(n);
}

caf::expected<millis> parse_window(const std::string& key,
                                   const std::string& value, millis lo,
                                   millis hi) {
  auto d = parse_duration(value);
  auto expected = "a duration from " + format_duration(lo) + " to "
                  + format_duration(hi) + " (e.g. 30s, 10m, 2h)";
  if (!d || *d < lo || *d > hi)
    return bad_value(key, value, expected);
  return *d;
}

} // namespace

caf::error apply_setting(engine_settings& out, const std::string& key,
                         const std::string& value) {
  if (key == "auto-switch") {
    if (value == "on" || value == "true")
      out.auto_switch = true;
    else if (value == "off" || value == "false")
      out.auto_switch = false;
    else
      return bad_value(key, value, "on or off");
    return caf::none;
  }
  auto set_count
    = [&](uint32_t& field, uint32_t lo, uint32_t hi) -> caf::error {
    auto n = parse_count(key, value, lo, hi);
    if (!n)
      return n.error();
    field = *n;
    return caf::none;
  };
  auto set_window = [&](millis& field, millis lo, millis hi) -> caf::error {
    auto d = parse_window(key, value, lo, hi);
    if (!d)
      return d.error();
    field = *d;
    return caf::none;
  };
  if (key == "exclusion-window")
    return set_window(out.exclusion_window, 0, 30 * day_ms);
  if (key == "rate-limit-threshold")
    return set_count(out.rate_limit_threshold, 1, 1000);
  if (key == "auth-threshold")
    return set_count(out.auth_threshold, 1, 1000);
  if (key == "threshold-window")
    return set_window(out.threshold_window, 1000, 7 * day_ms);
  if (key == "switch-budget")
    return set_count(out.switch_budget, 0, 1000);
  if (key == "budget-window")
    return set_window(out.budget_window, 1000, 7 * day_ms);
  if (key == "events-retention-days")
    return set_count(out.events_retention_days, 0, 3650);
  std::string known;
  for (auto& spec : setting_specs())
    known += (known.empty() ? "" : ", ") + std::string{spec.key};
  return make_error(ec::invalid_argument,
                    "unknown setting '" + key + "' (known: " + known + ")");
}

caf::expected<std::string> normalize_setting(const std::string& key,
                                             const std::string& value) {
  engine_settings tmp;
  if (auto err = apply_setting(tmp, key, value))
    return err;
  return to_settings_map(tmp).at(key);
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
  return {
    {"auto-switch", x.auto_switch ? "on" : "off"},
    {"exclusion-window", format_duration(x.exclusion_window)},
    {"rate-limit-threshold", std::to_string(x.rate_limit_threshold)},
    {"auth-threshold", std::to_string(x.auth_threshold)},
    {"threshold-window", format_duration(x.threshold_window)},
    {"switch-budget", std::to_string(x.switch_budget)},
    {"budget-window", format_duration(x.budget_window)},
    {"events-retention-days", std::to_string(x.events_retention_days)},
  };
}

settings_board::settings_board(engine_settings initial)
    : current_(std::make_shared<const engine_settings>(std::move(initial))) {
  // nop
}

std::shared_ptr<const engine_settings> settings_board::get() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return current_;
}

void settings_board::set(engine_settings next) {
  auto ptr = std::make_shared<const engine_settings>(std::move(next));
  std::lock_guard<std::mutex> guard{mtx_};
  current_ = std::move(ptr);
}

} // namespace sb
