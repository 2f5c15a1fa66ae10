#pragma once

// How the CLI prints what the daemon answers: one JSON shape per message type
// (for --json) and aligned text tables (for people). Tokens are never part of
// any of these types.

#include "messages/status.hpp"
#include "messages/types.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sb::client {

nlohmann::json to_json(const report_result& x);
nlohmann::json to_json(const subscription_info& x);
nlohmann::json to_json(const subscription_change& x);
nlohmann::json to_json(const agent_info& x);
nlohmann::json to_json(const status_info& x);
nlohmann::json to_json(const event_info& x);
nlohmann::json to_json(const history_info& x);
nlohmann::json to_json(const notification_info& x);

template<class T>
nlohmann::json to_json(const std::vector<T>& xs) {
  auto result = nlohmann::json::array();
  for (auto& x : xs)
    result.push_back(to_json(x));
  return result;
}

/// ISO text of a timestamp, or null for 0.
nlohmann::json iso_or_null(millis t);

/// Aligns rows into columns; the first row is the header.
std::string table(const std::vector<std::vector<std::string>>& rows);

/// One line for a report or reassignment result.
std::string describe(const report_result& x);

} // namespace sb::client
