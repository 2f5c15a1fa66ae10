#pragma once

// The JSON shape of every answer: one function per message type, shared by
// the CLI's --json and the HTTP front (http/), so both doors answer the same
// document. Tokens are never part of any of these types.

#include "messages/sinks.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sb {

nlohmann::json to_json(const report_result& x);
nlohmann::json to_json(const subscription_info& x);
nlohmann::json to_json(const subscription_change& x);
nlohmann::json to_json(const subscription_state_change& x);
nlohmann::json to_json(const agent_info& x);
nlohmann::json to_json(const status_info& x);
nlohmann::json to_json(const event_info& x);
nlohmann::json to_json(const history_info& x);
nlohmann::json to_json(const notification_info& x);
nlohmann::json to_json(const watch_event& x);
/// Sinks: never a URL's path, a secret or a chat id.
nlohmann::json to_json(const sink_info& x);
nlohmann::json to_json(const sink_status& x);
nlohmann::json to_json(const delivery_failure& x);
/// `notify test`: {"sink", "delivered", "status", "error"}.
nlohmann::json sink_test_json(const std::string& sink,
                              const delivery_record& x);

// The answers that are not one message type: each built here once, so the
// CLI's --json and the HTTP route print the same document.

/// `ping`, GET /v1/ping: {"ok": true, "protocol": "..."}.
nlohmann::json ping_json(const std::string& protocol);

/// `subscription remove`, DELETE /v1/subscriptions/{name}:
/// {"removed": NAME, "unassigned": [AGENT, ...]}.
nlohmann::json
removed_subscription_json(const std::string& name,
                          const std::vector<std::string>& agents);

/// `agent remove`, DELETE /v1/agents/{name}: {"removed": NAME}.
nlohmann::json removed_agent_json(const std::string& name);

/// `agent start|stop|restart`, POST /v1/agents/{name}/{op}:
/// {"agent", "operation", "result"}.
nlohmann::json lifecycle_json(const std::string& agent, container_op op,
                              const apply_outcome& result);

/// A setting's value: a JSON number if the text is one ("6", "0.95"), the
/// text otherwise ("on", "2h", "off").
nlohmann::json setting_value_json(const std::string& value);

/// `settings get`, GET /v1/settings: {KEY: VALUE, ...}, each value as
/// setting_value_json() writes it.
nlohmann::json settings_json(const settings_map& all);

/// `settings get KEY`, GET /v1/settings/{key}: {KEY: VALUE}.
nlohmann::json setting_json(const std::string& key, const std::string& value);

/// `settings set KEY VALUE`, PUT /v1/settings/{key}: {KEY: VALUE}, with the
/// value the daemon answered in `after` (its normalized text), or the value
/// sent if the answer lacks the key.
nlohmann::json setting_set_json(const settings_map& after,
                                const std::string& key,
                                const std::string& sent);

template<class T>
nlohmann::json to_json(const std::vector<T>& xs) {
  auto result = nlohmann::json::array();
  for (auto& x : xs)
    result.push_back(to_json(x));
  return result;
}

/// ISO text of a timestamp, or null for 0.
nlohmann::json iso_or_null(millis t);

/// `j` as one line of JSON text. Never throws: a string that is not valid
/// UTF-8 (stored before it was checked, or from anywhere else) is written
/// with U+FFFD for its bad bytes (nlohmann's dump() would throw).
std::string json_text(const nlohmann::json& j);

} // namespace sb
