#pragma once

// Time as the daemon sees it: milliseconds since the Unix epoch (UTC) in
// memory and on the wire, ISO-8601 UTC text with exactly one format in the
// database ("2026-11-27T22:07:09.123Z"). Fixed width and a fixed suffix make
// the text sort like the instant it names, so window cutoffs computed here in
// the same format compare correctly as strings (the seed system compared two
// formats and its events never expired).

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

/// Parses durations such as "1500ms", "30s", "10m" (or "10min"), "2h", "1d".
std::optional<millis> parse_duration(std::string_view text);

/// Renders a duration in the largest unit that divides it ("2h", "90m").
std::string format_duration(millis ms);

} // namespace sb
