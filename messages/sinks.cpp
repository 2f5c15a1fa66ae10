#include "messages/sinks.hpp"

#include "messages/error.hpp"
#include "messages/validate.hpp"

#include <algorithm>

namespace sb {

const char* to_string(sink_kind x) {
  switch (x) {
  case sink_kind::webhook:
    return "webhook";
  case sink_kind::slack:
    return "slack";
  case sink_kind::discord:
    return "discord";
  case sink_kind::telegram:
    return "telegram";
  }
  return "unknown";
}

const char* to_string(delivery_state x) {
  switch (x) {
  case delivery_state::pending:
    return "pending";
  case delivery_state::delivered:
    return "delivered";
  case delivery_state::failed:
    return "failed";
  case delivery_state::skipped:
    return "skipped";
  }
  return "unknown";
}

const std::vector<std::string>& event_types() {
  static const std::vector<std::string> types{"switched",
                                              "pool_exhausted",
                                              "pool_recovered",
                                              "credential_retired",
                                              "credential_expiring",
                                              "credential_refresh_failing",
                                              "utilization_high",
                                              "agent_behind",
                                              "node_down",
                                              "test"};
  return types;
}

std::string url_host(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos)
    return {};
  auto end = url.find_first_of("/?#", scheme + 3);
  auto host = url.substr(0, end);
  // user:password@ is a secret too.
  if (auto at = host.find('@'); at != std::string::npos)
    host = host.substr(0, scheme + 3) + host.substr(at + 1);
  return host;
}

std::optional<sink_kind> parse_sink_kind(std::string_view text) {
  for (auto k : {sink_kind::webhook, sink_kind::slack, sink_kind::discord,
                 sink_kind::telegram})
    if (text == to_string(k))
      return k;
  return std::nullopt;
}

caf::error validate(const sink_spec& spec) {
  auto bad = [](std::string text) {
    return make_error(ec::invalid_argument, std::move(text));
  };
  if (auto err = validate_name("sink name", spec.name))
    return err;
  if (spec.kind > sink_kind::telegram)
    return bad("unknown sink kind: webhook, slack, discord or telegram");
  auto& u = spec.url.value;
  bool scheme = u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0;
  if (!scheme || u.size() > 2048 || url_host(u).size() <= 8
      || !std::all_of(u.begin(), u.end(), [](char ch) {
           auto c = static_cast<unsigned char>(ch);
           return c > 0x20 && c < 0x7F;
         }))
    return bad("the sink's URL must be an http:// or https:// URL of "
               "printable ASCII without spaces");
  if (spec.kind == sink_kind::telegram && spec.chat_id.value.empty())
    return bad("a telegram sink needs its chat id (--chat-id-file)");
  if (spec.kind != sink_kind::telegram && !spec.chat_id.value.empty())
    return bad("a chat id belongs to a telegram sink");
  if (spec.kind != sink_kind::webhook && !spec.signing_secret.value.empty())
    return bad("a signing secret belongs to a webhook sink");
  if (spec.signing_secret.value.size() > 4096
      || spec.chat_id.value.size() > 256)
    return bad("the secret or chat id file is too long");
  for (auto& e : spec.events)
    if (std::find(event_types().begin(), event_types().end(), e)
        == event_types().end())
      return bad("unknown event type '" + sanitize_text(e, 64)
                 + "': see switchboard notify add --help");
  if (spec.min_severity != "info" && spec.min_severity != "warning"
      && spec.min_severity != "critical")
    return bad("the lowest severity is info, warning or critical");
  return caf::none;
}

} // namespace sb
