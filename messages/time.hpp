#pragma once

// Time as the daemon sees it: milliseconds since the Unix epoch (UTC) in
// memory and on the wire, ISO-8601 UTC text with exactly one format in the
// database ("2026-11-27T22:07:09.123Z"). Fixed width and a fixed suffix make
// the text sort like the instant it names, so window cutoffs computed here in
// the same format compare correctly as strings (the seed system compared two
// formats and its events never expired).
//
// The one date parser of the tree: every date text (the database's, ISO-8601
// from providers, RFC 9110's HTTP dates) is read here, the calendar by
// H. Hinnant's date library (Debian's libhowardhinnant-date-dev, C locale
// only, no TZ variable). The library reads fields of any width ("2026-1-2"),
// so each form's shape is checked here first.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb {

/// Milliseconds since the Unix epoch, UTC. 0 means "none".
using millis = int64_t;

/// One minute, hour and day in milliseconds.
constexpr millis minute_ms = 60 * 1000;
constexpr millis hour_ms = 60 * minute_ms;
constexpr millis day_ms = 24 * hour_ms;

/// The wall clock, in milliseconds.
millis wall_clock_ms();

/// Formats `t` as "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters).
std::string format_iso(millis t);

/// Parses the format produced by `format_iso`, and also accepts seconds
/// without a fraction ("2026-11-27T22:07:09Z"). Returns nothing on any other
/// input.
std::optional<millis> parse_iso(std::string_view text);

/// A value read from the start of a text (an instant, an offset), and how
/// many characters it took.
struct time_prefix {
  millis value = 0;
  size_t length = 0;
};

/// An ISO-8601 / RFC 3339 instant at the start of `text`:
/// "2026-11-29T16:00:00Z", 't' or ' ' for 'T', a fraction of up to nine
/// digits (truncated to milliseconds), then 'Z', 'z' or an offset. A time
/// without a zone is local somewhere unknown: not read.
std::optional<time_prefix> read_iso_instant(std::string_view text);

/// The whole `text` as such an instant.
std::optional<millis> parse_iso_instant(std::string_view text);

/// A UTC offset at the start of `text` ("+02:00", "-0530", "+02", not
/// followed by a digit): the offset east of UTC and its length.
std::optional<time_prefix> read_utc_offset(std::string_view text);

/// The first instant after `at` whose wall time at the UTC offset `offset`
/// (east of UTC) is `in_day` milliseconds into the day ("resets 4pm").
millis next_wall_time(millis in_day, millis offset, millis at);

/// An HTTP date in any of the three forms RFC 9110 (5.6.7) requires a
/// recipient to accept: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (a
/// one-digit day too, as RFC 1123 had), RFC 850 "Sunday, 06-Nov-94 08:49:37
/// GMT" and asctime "Sun Nov  6 08:49:37 1994"; names in any case. `now`
/// places RFC 850's two-digit year: one more than 50 years after now's year
/// is in the past century. The weekday is checked for a name only.
std::optional<millis> parse_http_date(std::string_view text, millis now);

/// Parses durations such as "1500ms", "30s", "10m" (or "10min"), "2h", "1d".
std::optional<millis> parse_duration(std::string_view text);

/// Renders a duration in the largest unit that divides it ("2h", "90m").
std::string format_duration(millis ms);

} // namespace sb
