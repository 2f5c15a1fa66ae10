#pragma once

// Provider evidence in, the error bodies of each provider
// (actors/provider_headers.hpp runs the header tables and calls these).
// Pure functions: text in, instants and verdicts out; what they cannot read
// stays unset. Sources of every form: docs/providers.md.
//
//   Codex   {"error":{"type":"usage_limit_reached","resets_at":<epoch s>,
//           "resets_in_seconds":N}}; "usage_not_included" = the plan has no
//           Codex (not_entitled).
//   OpenAI  {"error":{"type"|"code":"insufficient_quota" | one of its codes}}
//           = no quota until someone pays (not_entitled);
//           rate_limit_exceeded / slow_down = a short window (the reset
//           headers say how long).
//   Gemini  {"error":{"status":"RESOURCE_EXHAUSTED","details":[QuotaFailure
//           {violations:[{quotaId}]}, RetryInfo {retryDelay:"38s"},
//           ErrorInfo {reason}]}}: the delay when given; else a quota per
//           day (quotaId with PerDay or Daily, or reason QUOTA_EXHAUSTED)
//           until the next midnight in Pacific time, a quota per minute a
//           minute. "Please retry in 9h54m5.7s" in the message counts as a
//           delay.
//   Anthropic "OAuth authentication is currently not allowed for this
//           organization" (banned), "This organization has been disabled"
//           (disabled).

#include "messages/kinds.hpp"
#include "messages/records.hpp"
#include "messages/time.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace sb {

/// What an error body says beyond the headers.
struct body_signals {
  /// When the credential serves again (0 = not said).
  millis reset_at = 0;
  retire_reason verdict = retire_reason::none;
  /// Model buckets out (a Gemini quota of one model): their waits, not the
  /// credential's.
  std::vector<model_limit> models;
};

body_signals read_codex_body(std::string_view text, millis at);

/// Codex's text of a per-model limit ("... Switch to another model now").
bool names_another_model(std::string_view text);
body_signals read_openai_body(std::string_view text);
body_signals read_gemini_body(std::string_view text, millis at);

/// Anthropic's texts that no window lifts.
retire_reason anthropic_verdict(std::string_view text);

/// A failure that retires its credential only when it repeats on the same
/// token (ban-after in a row): a 403 "Permission denied" (intermittent on
/// Anthropic's side: sub2api#241, CRS#888) suspects a ban, a 401 "Invalid
/// authentication credentials" / "OAuth access token is invalid" a dead
/// credential. A 401 "OAuth token has expired" is refreshable: none.
retire_reason suspected(int32_t status, std::string_view text);

/// A 401 that says the access token expired (Claude's "OAuth token has
/// expired", Codex's "Provided authentication token is expired"): an oauth
/// credential is refreshed, not switched away from.
bool access_token_expired(int32_t status, std::string_view text);

/// True if a request for `model` counts against the bucket `bucket`: the
/// model's name contains the bucket's, ignoring ASCII case ("opus" holds
/// "claude-opus-4-1").
bool model_in_bucket(std::string_view model, std::string_view bucket);

/// A bucket name worth keeping: 1 to 64 letters, digits and . _ - / : or
/// spaces (it is shown in `subscription list` and the log).
bool plausible_bucket(std::string_view name);

/// A Go duration ("6m0s", "12ms", "1h2m3.5s", "38s", "9h54m5.7s"; units
/// h, m, s, ms, us, ns), or a bare number of seconds ("20", "1.5"). At most
/// 30 days.
std::optional<millis> parse_go_duration(std::string_view text);

/// The first midnight in US Pacific time (the Gemini API's daily reset)
/// after `at`: UTC-8, or UTC-7 from the second Sunday of March to the first
/// Sunday of November.
millis next_pacific_midnight(millis at);

} // namespace sb
