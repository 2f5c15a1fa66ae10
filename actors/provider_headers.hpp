#pragma once

// Provider evidence in: a pure, table-driven reader of what a provider's
// HTTP response says about its subscription's limits. One row per header it
// understands; unknown headers are ignored, malformed values are ignored
// with a debug log line (never an error to the caller).
//
// Headers (names case-insensitive, values trimmed; a repeated header: the
// last one counts):
//   retry-after                                  seconds, or an HTTP date
//   anthropic-ratelimit-unified-status           allowed | allowed_warning
//                                                | rejected
//   anthropic-ratelimit-unified-reset            epoch seconds
//   anthropic-ratelimit-unified-5h-utilization   0..1
//   anthropic-ratelimit-unified-7d-utilization   0..1
//   anthropic-ratelimit-unified-5h-reset         epoch seconds
//   anthropic-ratelimit-unified-7d-reset         epoch seconds
//   anthropic-ratelimit-unified-5h-status        rejected = utilization 1
//   anthropic-ratelimit-unified-7d-status        rejected = utilization 1
//   date                                         HTTP date: when the
//                                                provider answered
// Error texts: "Claude AI usage limit reached|<epoch seconds>", and
// "... resets at <time>" / "resets <time>" (see parse_usage_text()).
//
// Bounds: a reset instant at or before the response's time is ignored (it
// says nothing about the future); one more than max_reset_ahead after it is
// clamped to that. Utilization above 1 (over the limit) counts as 1; below
// 0 or above max_utilization is malformed.

#include "messages/records.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace sb {

/// Resets further ahead than this are clamped (a 7-day window plus a day).
constexpr millis max_reset_ahead = 8 * day_ms;

/// A utilization above this is taken for a mistake (a percentage sent as a
/// number, say), not for "over the limit".
constexpr double max_utilization = 1.5;

/// A Date header older than this before the arrival is not believed; the
/// arrival time is used instead. A Date after the arrival (clock skew) is
/// capped at the arrival.
constexpr millis max_date_age = day_ms;

/// Reads the headers and the error text of one response that reached the
/// daemon at `arrived_at`, with the signals of `provider` (the others are
/// in actors/provider_signals.hpp). Never fails: what it cannot read stays
/// unset.
provider_evidence parse_evidence(const std::vector<http_header>& headers,
                                 std::string_view error_text, millis arrived_at,
                                 provider_kind provider
                                 = provider_kind::anthropic);

// -- the pieces, for tests
// ------------------------------------------------------

/// "120", "1.5" (seconds) or an HTTP date (IMF-fixdate "Sun, 06 Nov 1994
/// 08:49:37 GMT", RFC 850, asctime), relative to `now`: the instant.
std::optional<millis> parse_retry_after(std::string_view value, millis now);

// HTTP dates and ISO-8601 instants: parse_http_date and parse_iso_instant
// of the one date parser (messages/time.hpp).

/// Epoch seconds ("1764457200", "1764457200.5") as an instant.
std::optional<millis> parse_epoch_seconds(std::string_view value);

/// A usage-limit text: "Claude AI usage limit reached|<epoch seconds>"
/// anywhere in the text; or "resets at" / "resets" followed by an
/// ISO-8601 instant, or a time of day ("4pm", "4:30 pm", "16:00") with an
/// optional "(UTC)" / "(GMT)" / "(+02:00)" zone: the next such time after
/// `at`, UTC when no zone is given (documented: containers run in UTC).
/// A time with a zone name the parser does not know is not read.
std::optional<millis> parse_usage_text(std::string_view text, millis at);

/// Applies the bounds above to a reset instant seen at `at`: nothing if
/// it is not after `at`, else at most `at + max_reset_ahead`.
std::optional<millis> bound_reset(millis reset, millis at);

/// Checks evidence that reached an actor in a message (the POOL): what
/// parse_evidence() can produce at `now`, no more. A known status; every
/// utilization a number from 0 to 1; the response's time not ahead of
/// `now` by more than max_arrival_ahead; every instant 0 or not before the
/// epoch and at most max_reset_ahead after that.
caf::error check_evidence(const provider_evidence& ev, millis now);

} // namespace sb
