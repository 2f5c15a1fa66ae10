#pragma once

// A notification sink (R3 6/7): where notifications are delivered, which
// events and from which severity. Its URL, secret and chat id are secrets:
// read from files by the CLI, sealed in the database, never printed (a
// sink_info shows only whether each is set).

#include "messages/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

/// webhook: signed JSON; slack, discord: their incoming webhooks;
/// telegram: the bot API's sendMessage.
enum class sink_kind : uint8_t { webhook, slack, discord, telegram };

const char* to_string(sink_kind x);

/// "webhook" -> sink_kind::webhook; nothing for any other text.
std::optional<sink_kind> parse_sink_kind(std::string_view text);

/// `notify add`: a new sink, or new settings for the one of that name.
struct sink_spec {
  std::string name;
  sink_kind kind = sink_kind::webhook;
  secret url;
  /// webhook: the HMAC key of its signature ("" = unsigned).
  secret signing_secret;
  /// telegram: the chat to send to.
  secret chat_id;
  /// The event types it takes (empty = all).
  std::vector<std::string> events;
  /// info, warning or critical: the lowest severity it takes.
  std::string min_severity = "info";
  /// Many events of one type in a short time become one digest message.
  bool digest = true;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, sink_spec& x) {
  return f(caf::meta::type_name("sb::sink_spec"), x.name, x.kind, x.url,
           x.signing_secret, x.chat_id, x.events, x.min_severity, x.digest);
}

/// A sink as `notify list` shows it: nothing secret.
struct sink_info {
  int64_t id = 0;
  std::string name;
  sink_kind kind = sink_kind::webhook;
  /// The URL's scheme and host only ("https://hooks.slack.com").
  std::string host;
  bool signed_ = false;
  std::vector<std::string> events;
  std::string min_severity;
  bool digest = true;
  millis created_at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, sink_info& x) {
  return f(caf::meta::type_name("sb::sink_info"), x.id, x.name, x.kind, x.host,
           x.signed_, x.events, x.min_severity, x.digest, x.created_at);
}

/// A sink and how its deliveries went (`notify list`).
struct sink_status {
  sink_info info;
  uint64_t delivered = 0;
  /// Gave up (notify-max-attempts, or a final answer).
  uint64_t failed = 0;
  /// Still to deliver, retries included.
  uint64_t pending = 0;
  /// The last delivery that reached the receiver (0 = none yet).
  millis last_delivered_at = 0;
  /// The newest attempt's answer (0 = none) and error ("" = none).
  int32_t last_status = 0;
  std::string last_error;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, sink_status& x) {
  return f(caf::meta::type_name("sb::sink_status"), x.info, x.delivered,
           x.failed, x.pending, x.last_delivered_at, x.last_status,
           x.last_error);
}

/// A sink with its secrets opened, for the delivery worker only.
struct stored_sink {
  sink_info info;
  secret url;
  secret signing_secret;
  secret chat_id;
  /// It takes the notifications with a larger id (those after it came).
  int64_t since_id = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_sink& x) {
  return f(caf::meta::type_name("sb::stored_sink"), x.info, x.url,
           x.signing_secret, x.chat_id, x.since_id);
}

/// A notification a sink has to deliver, and how often it tried so far.
struct delivery_due {
  notification_info note;
  uint32_t attempts = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_due& x) {
  return f(caf::meta::type_name("sb::delivery_due"), x.note, x.attempts);
}

/// Where one notification stands at one sink.
enum class delivery_state : uint8_t { pending, delivered, failed, skipped };

const char* to_string(delivery_state x);

struct delivery_record {
  int64_t sink_id = 0;
  int64_t notification_id = 0;
  delivery_state state = delivery_state::pending;
  uint32_t attempts = 0;
  /// pending: not before this instant.
  millis next_at = 0;
  /// The receiver's last answer (0 = none), and what went wrong, in words
  /// (never a URL with its secret path, never a body).
  int32_t last_status = 0;
  std::string last_error;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_record& x) {
  return f(caf::meta::type_name("sb::delivery_record"), x.sink_id,
           x.notification_id, x.state, x.attempts, x.next_at, x.last_status,
           x.last_error);
}

/// A delivery that gave up (`notifications --failed`).
struct delivery_failure {
  std::string sink;
  int64_t notification_id = 0;
  uint32_t attempts = 0;
  int32_t last_status = 0;
  std::string last_error;
  millis at = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_failure& x) {
  return f(caf::meta::type_name("sb::delivery_failure"), x.sink,
           x.notification_id, x.attempts, x.last_status, x.last_error, x.at);
}

/// Checks a sink_spec: a name, an http(s) URL, a chat id for telegram, known
/// event types and severity. The message never quotes a secret.
caf::error validate(const sink_spec& spec);

/// "https://hooks.slack.com/services/T/B/X" -> "https://hooks.slack.com".
std::string url_host(const std::string& url);

/// Every event type a sink may subscribe to.
const std::vector<std::string>& event_types();

} // namespace sb
