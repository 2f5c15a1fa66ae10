// Provider evidence in (actors/provider_headers.hpp): the header table. The
// readers of each value's form are in provider_dates.cpp and
// provider_scan.cpp.

#include "actors/provider_headers.hpp"

#include "actors/logging.hpp"
#include "actors/provider_scan.hpp"
#include "messages/error.hpp"
#include "messages/kinds.hpp"
#include "messages/validate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace sb {

using namespace scan;

namespace {

// -- the header table --------------------------------------------------------

/// One parse: the evidence so far, and the arrival the Date header is
/// checked against.
struct reading {
  provider_evidence ev;
  millis arrived_at = 0;
};

void malformed(std::string_view name, std::string_view why,
               std::string_view value) {
  SB_DEBUG("provider header {} ignored: {} ('{}')", name, why, shown(value));
}

/// Stores the bounded reset instant `t`, read from `name`, in `dst`.
void set_reset(std::string_view name, millis t, millis at, millis& dst) {
  auto bounded = bound_reset(t, at);
  if (!bounded) {
    SB_DEBUG("provider {} ignored: {} is not after the response ({})", name,
             format_iso(t), format_iso(at));
    return;
  }
  if (*bounded != t)
    SB_DEBUG("provider {} {} clamped to {}", name, format_iso(t),
             format_iso(*bounded));
  dst = *bounded;
}

void read_date(std::string_view name, std::string_view value, reading& r) {
  auto date = parse_http_date(value, r.arrived_at);
  if (!date)
    return malformed(name, "not an HTTP date", value);
  if (*date > r.arrived_at) {
    // The provider's clock runs ahead of ours: nothing happened after now.
    SB_DEBUG("provider header {} after the arrival, capped ('{}')", name,
             shown(value));
    return;
  }
  if (*date < r.arrived_at - max_date_age)
    return malformed(name, "more than a day before the arrival", value);
  r.ev.at = *date;
}

void read_retry_after(std::string_view name, std::string_view value,
                      reading& r) {
  auto t = parse_retry_after(value, r.ev.at);
  if (!t)
    return malformed(name, "neither seconds nor an HTTP date", value);
  set_reset(name, *t, r.ev.at, r.ev.retry_at);
}

std::optional<provider_status> read_status_value(std::string_view value) {
  // Longer than any status: garbage, and not worth a copy.
  if (value.size() > 32)
    return std::nullopt;
  std::string text;
  for (char c : value)
    text += lower(c);
  auto s = parse_kind<provider_status>(text);
  if (!s || *s == provider_status::unknown)
    return std::nullopt;
  return s;
}

void read_status(std::string_view name, std::string_view value, reading& r) {
  auto s = read_status_value(value);
  if (!s)
    return malformed(name, "not allowed, allowed_warning or rejected", value);
  r.ev.status = *s;
}

void read_reset(std::string_view name, std::string_view value, reading& r,
                millis& dst) {
  auto t = parse_epoch_seconds(value);
  if (!t) {
    // Anthropic's per-minute resets are RFC 3339: accept the unified ones so
    // too.
    t = parse_iso_instant(value);
  }
  if (!t)
    return malformed(name, "neither epoch seconds nor an ISO-8601 instant",
                     value);
  set_reset(name, *t, r.ev.at, dst);
}

void read_utilization(std::string_view name, std::string_view value,
                      usage_window& w) {
  auto d = parse_decimal(value);
  if (!d)
    return malformed(name, "not a non-negative decimal", value);
  auto u = to_double(*d);
  if (u > max_utilization)
    return malformed(name, "above the plausible maximum", value);
  // Over the limit is at the limit.
  w.utilization = std::min(u, 1.0);
}

void read_window_status(std::string_view name, std::string_view value,
                        usage_window& w) {
  auto s = read_status_value(value);
  if (!s)
    return malformed(name, "not allowed, allowed_warning or rejected", value);
  if (*s == provider_status::rejected)
    w.utilization = 1.0;
}

using handler
  = void (*)(std::string_view name, std::string_view value, reading& r);

struct row {
  std::string_view name;
  handler read;
};

/// The headers, in the order their handlers run: the Date first, since the
/// relative values count from it; the window statuses after the
/// utilizations, since a rejected window is full whatever its number says.
constexpr std::array<row, 10> rows{{
  {"date", read_date},
  {"retry-after", read_retry_after},
  {"anthropic-ratelimit-unified-status", read_status},
  {"anthropic-ratelimit-unified-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.ev.reset_at);
   }},
  {"anthropic-ratelimit-unified-5h-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.ev.five_hour.reset_at);
   }},
  {"anthropic-ratelimit-unified-7d-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.ev.seven_day.reset_at);
   }},
  {"anthropic-ratelimit-unified-5h-utilization",
   [](std::string_view name, std::string_view value, reading& r) {
     read_utilization(name, value, r.ev.five_hour);
   }},
  {"anthropic-ratelimit-unified-7d-utilization",
   [](std::string_view name, std::string_view value, reading& r) {
     read_utilization(name, value, r.ev.seven_day);
   }},
  {"anthropic-ratelimit-unified-5h-status",
   [](std::string_view name, std::string_view value, reading& r) {
     read_window_status(name, value, r.ev.five_hour);
   }},
  {"anthropic-ratelimit-unified-7d-status",
   [](std::string_view name, std::string_view value, reading& r) {
     read_window_status(name, value, r.ev.seven_day);
   }},
}};

} // namespace

provider_evidence parse_evidence(const std::vector<http_header>& headers,
                                 std::string_view error_text,
                                 millis arrived_at) {
  reading r;
  r.ev.at = arrived_at;
  r.arrived_at = arrived_at;
  // The last value of each known header, then the handlers in table order.
  std::array<std::optional<std::string_view>, rows.size()> values;
  for (auto& h : headers) {
    auto name = trim(h.name);
    for (size_t i = 0; i < rows.size(); ++i)
      if (iequals(name, rows[i].name))
        values[i] = trim(h.value);
  }
  for (size_t i = 0; i < rows.size(); ++i)
    if (values[i])
      rows[i].read(rows[i].name, *values[i], r);
  if (auto t = parse_usage_text(error_text, r.ev.at))
    set_reset("usage text", *t, r.ev.at, r.ev.text_reset_at);
  return r.ev;
}

namespace {

bool plausible_utilization(const usage_window& w) {
  return !w.utilization
         || (std::isfinite(*w.utilization) && *w.utilization >= 0.0
             && *w.utilization <= 1.0);
}

} // namespace

caf::error check_evidence(const provider_evidence& ev, millis now) {
  auto bad = [](const std::string& what) {
    return make_error(ec::invalid_argument, "provider evidence: " + what);
  };
  if (ev.status > provider_status::rejected)
    return bad("unknown status");
  if (!plausible_utilization(ev.five_hour)
      || !plausible_utilization(ev.seven_day))
    return bad("a utilization must be a number from 0 to 1");
  if (ev.at < 0 || ev.at > now + max_arrival_ahead)
    return bad("the response's time is ahead of the daemon's clock");
  auto latest = now + max_arrival_ahead + max_reset_ahead;
  for (auto t : {ev.reset_at, ev.five_hour.reset_at, ev.seven_day.reset_at,
                 ev.retry_at, ev.text_reset_at})
    if (t < 0 || t > latest)
      return bad("a reset instant beyond " + format_iso(latest));
  return caf::none;
}

} // namespace sb
