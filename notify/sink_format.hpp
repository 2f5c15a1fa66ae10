#pragma once

// What a notification sink receives (R3 6/7, docs/notifications.md): one
// typed event rendered for each kind of sink, the webhook's signature, and
// what a receiver's answer means for the delivery. Pure functions: the
// delivery worker sends what they make.
//
//   webhook   POST application/json {"id", "type", "severity", "at",
//             "agent", "subscription", "pool", "from", "to", "reason",
//             "reset_at", "text"}; X-Switchboard-Event-Id: <id>;
//             X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
//             of "<t>.<body>" keyed with the sink's secret>
//   slack     an incoming webhook: {"text", "blocks": [header, section with
//             the text, section with the fields]}
//   discord   a webhook: {"content", "embeds": [{"title", "description",
//             "color", "fields", "timestamp"}]}
//   telegram  the bot API's sendMessage: {"chat_id", "text",
//             "disable_web_page_preview": true}

#include "messages/time.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::notify {

/// How much a person should care.
enum class severity : uint8_t { info, warning, critical };

const char* to_string(severity x);
std::optional<severity> parse_severity(std::string_view text);

/// One typed event of the outbox, as sinks see it ("" and 0 = not set).
struct event {
  int64_t id = 0;
  /// switched, pool_exhausted, pool_recovered, credential_retired,
  /// credential_expiring, credential_refresh_failing, utilization_high,
  /// agent_behind, node_down, test.
  std::string type;
  severity level = severity::info;
  millis at = 0;
  std::string agent;
  std::string subscription;
  std::string pool;
  std::string from;
  std::string to;
  std::string reason;
  millis reset_at = 0;
  /// One line a person reads first.
  std::string title;
  /// What happened and what to do, in sentences.
  std::string text;
};

/// The webhook's JSON document.
std::string webhook_body(const event& e);

/// "t=<unix seconds>,v1=<64 hex digits>": HMAC-SHA256 of
/// "<unix seconds>.<body>" keyed with `secret`.
std::string signature_header(std::string_view secret, int64_t unix_seconds,
                             std::string_view body);

/// What a receiver checks: the header is well formed, its signature is
/// that of `body` with `secret`, and its time is within `tolerance_s` of
/// `now_s`.
bool signature_valid(std::string_view header, std::string_view secret,
                     std::string_view body, int64_t now_s,
                     int64_t tolerance_s = 300);

std::string slack_body(const event& e);
std::string discord_body(const event& e);
std::string telegram_body(const event& e, std::string_view chat_id);

/// Many events of one type within a digest interval, as one event: the
/// count, the first `shown` names (agents, else subscriptions) and "and N
/// more".
event digest_of(const std::vector<event>& events, size_t shown = 5);

/// What a receiver's answer means.
struct delivery_verdict {
  enum class kind : uint8_t {
    /// 2xx: done.
    delivered,
    /// 408, 429, 5xx, no answer: again after `retry_after` (0 = the
    /// backoff decides; a Retry-After may only lengthen it).
    retry,
    /// Any other 4xx (or 3xx): the request itself is wrong; trying again
    /// cannot help.
    final,
  };
  kind result = kind::retry;
  millis retry_after = 0;
};

/// `status` 0 = no answer. `headers` with lowercase names.
delivery_verdict
judge_delivery(long status, const std::map<std::string, std::string>& headers,
               millis now);

/// The wait before attempt `attempt` + 1 after `attempt` failures: about
/// `base` doubling up to `cap`, +-25 % by `jitter` in [0, 1); a longer
/// `retry_after` wins.
millis delivery_backoff(uint32_t attempt, millis base, millis cap,
                        millis retry_after, double jitter);

} // namespace sb::notify
