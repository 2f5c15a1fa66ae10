#pragma once

// The JSON shape of every answer: one function per message type, shared by
// the CLI's --json and the HTTP front (http/), so both doors answer the same
// document. Tokens are never part of any of these types.

#include "messages/status.hpp"
#include "messages/types.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sb {

nlohmann::json to_json(const report_result& x);
nlohmann::json to_json(const subscription_info& x);
nlohmann::json to_json(const subscription_change& x);
nlohmann::json to_json(const agent_info& x);
nlohmann::json to_json(const status_info& x);
nlohmann::json to_json(const event_info& x);
nlohmann::json to_json(const history_info& x);
nlohmann::json to_json(const notification_info& x);
nlohmann::json to_json(const watch_event& x);

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
