#pragma once

// Input checks shared by the CLI (fail early, nothing sent), the FRONT DOOR
// (nothing reaches an actor unchecked) and the actors where the data lands
// (the AGENT and the POOL refuse what the FRONT DOOR refuses, so one missed
// door is not a corrupted store).

#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sb {

/// Longest agent, subscription or container name, in bytes.
constexpr size_t max_name_bytes = 128;

/// Longest error text kept from a report, in bytes.
constexpr size_t max_error_bytes = 4096;

/// Longest token, in bytes.
constexpr size_t max_token_bytes = 16384;

/// Most rows one `events`, `history` or `notifications` request returns.
constexpr uint32_t max_query_limit = 10000;

/// Most headers one report or observation may carry.
constexpr size_t max_headers = 64;

/// Longest header name and value, in bytes.
constexpr size_t max_header_name_bytes = 128;
constexpr size_t max_header_value_bytes = 1024;

/// Longest execution id or source of a report or an observation, in bytes.
constexpr size_t max_short_text_bytes = 256;

/// How far ahead of the daemon's clock a report's or an observation's
/// arrival stamp may be. The FRONT DOOR stamps it with this daemon's clock,
/// or, forwarded from another node, with that node's: a minute is far more
/// than NTP lets two hosts' clocks drift apart, and far less than moves
/// anything (attribution looks back over the 30 s settle window, exclusions
/// last an hour).
constexpr millis max_arrival_ahead = minute_ms;

/// How old an arrival stamp may be when the AGENT takes the report: it
/// waited in the FRONT DOOR's forwarding (60 s at most) and in the AGENT's
/// mailbox (behind a switch in flight: seconds). Ten minutes leave room for
/// that and for clock skew, and refuse a stamp that would charge a failure
/// to a credential the agent left long ago.
constexpr millis max_arrival_age = 10 * minute_ms;

/// True if `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

/// Replaces every ill-formed UTF-8 sequence by U+FFFD, then truncates to at
/// most `max_bytes` without cutting a character.
std::string sanitize_utf8(std::string_view s, size_t max_bytes);

/// Text from outside made safe to store and to show: ill-formed UTF-8
/// becomes U+FFFD; every control character but tab and line feed (so every
/// escape sequence: ESC, CSI) and every bidi override or isolate is
/// written out as a visible escape, as escape_for_terminal() writes it
/// ("\x1B", "\u202E"; CR LF becomes LF); the result is cut to at most
/// `max_bytes` without cutting a character.
std::string sanitize_text(std::string_view s, size_t max_bytes);

/// `s` safe for a terminal or a log line: control characters (C0, DEL, C1,
/// so ESC sequences too) and bidi overrides and isolates become \xNN or
/// \uNNNN, invalid UTF-8 bytes \xNN; everything else stays as it is.
std::string escape_for_terminal(std::string_view s);

/// Checks a name: not empty, at most max_name_bytes, valid UTF-8, no control
/// characters. `what` names the field in the error ("agent name").
caf::error validate_name(std::string_view what, std::string_view name);

/// Checks a token: not empty, at most max_token_bytes, printable ASCII.
caf::error validate_token(std::string_view token);

/// Checks a pool name given with a subscription or an agent: "" (not
/// given) or a name as validate_name() checks it.
caf::error validate_pool(std::string_view pool);

/// Checks `subscription add`: the name, the token, a known provider and
/// the pool.
/// The credential part of a subscription_spec: a token's expiry and
/// scopes; an oauth login's refresh token, expiry, endpoint, account.
caf::error validate_credential(const subscription_spec& spec);

caf::error validate(const subscription_spec& spec);

/// Checks the filters and the limit (1 to max_query_limit) of a query.
caf::error validate_query(const query& q);

/// Checks the headers of a report or an observation: at most max_headers;
/// names are HTTP tokens (RFC 9110) of at most max_header_name_bytes; values
/// are UTF-8 of at most max_header_value_bytes without control characters
/// (a tab is allowed).
caf::error validate_headers(const std::vector<http_header>& headers);

/// Checks a short text field (execution id, source): at most
/// max_short_text_bytes, valid UTF-8. `what` names the field in the error.
caf::error validate_short_text(std::string_view what, std::string_view value);

/// Checks a report and makes its text fields safe (sanitize_text(): the
/// error text bounded by max_error_bytes, the execution id and the source
/// checked by validate_short_text() first).
caf::error check_report(failure_report& r, millis now);

/// Checks an arrival stamp against the daemon's clock (`now`): at most
/// max_arrival_ahead ahead of it, at most max_arrival_age behind it.
caf::error check_arrival(millis arrived_at, millis now);

/// Checks an observation (agent, headers, identity, source).
caf::error check_observation(const observation& o);

/// Checks a container name (Docker's rules: [a-zA-Z0-9][a-zA-Z0-9_.-]*).
caf::error check_container_name(const std::string& name);

/// Reads one "Name: value" line (as curl -D writes them) into a header; the
/// value is trimmed. Errors say what is wrong with the line.
caf::expected<http_header> parse_header_line(std::string_view line);

/// Strips trailing "\r\n" and spaces (what a token file usually ends with).
std::string trim_token(std::string_view raw);

} // namespace sb
