#pragma once

// The HTTP front's pure half: JSON bodies and query strings in, the same
// messages the CAF FRONT DOOR takes out; errors as HTTP statuses with
// {"error": {"code", "message"}}; readiness and metric gauges from what the
// daemon's components answered. Nothing here talks to an actor or a socket,
// so every rule is tested case by case (tests/http/routes_test.cpp).

#include "actors/metrics.hpp"
#include "messages/kinds.hpp"
#include "messages/sinks.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::http {

/// Largest request body accepted (413 above).
constexpr size_t max_body_bytes = 64 * 1024;

/// POST /v1/reports: {"agent", "status", and optionally "kind", "error",
/// "subscription", "token_sha256", "generation", "retry_after" (seconds),
/// "reset_at" (ISO-8601), "headers" (object: name -> value or [values]),
/// "execution_id", "source"}. Unknown fields and wrong types are errors
/// (ec::invalid_argument); the FRONT DOOR checks the values.
caf::expected<failure_report> report_from_json(std::string_view body);

/// POST /v1/observations: {"agent", "headers", and optionally
/// "subscription", "token_sha256", "generation", "source"}.
caf::expected<observation> observation_from_json(std::string_view body);

/// POST /v1/subscriptions: {"name", "token", and optionally "provider",
/// "pool"} (registers the subscription, or rotates its token if the name
/// exists). The token gets the checks of `subscription add --token-file`:
/// surrounding whitespace is trimmed, then validate_token(). No error
/// message quotes it.
caf::expected<subscription_spec>
subscription_add_from_json(std::string_view body);

/// POST /v1/sinks: {"name", "kind", "url", and optionally "secret"
/// (webhook), "chat_id" (telegram), "events" (an array of event types),
/// "min_severity", "digest"} (`notify add`). Checked like the CLI's; no
/// error message quotes the URL, the secret or the chat id.
caf::expected<sink_spec> sink_add_from_json(std::string_view body);

/// POST /v1/agents: {"name", and optionally "subscription", "container",
/// "pool"}
/// (`agent add NAME --subscription S --container C`; "" is absent).
caf::expected<agent_spec> agent_add_from_json(std::string_view body);

/// POST /v1/agents/{name}/set: {"auto_switch": "on" | "off"}
/// (`agent set NAME auto-switch on|off`).
caf::expected<auto_switch_mode> agent_set_from_json(std::string_view body);

/// POST /v1/agents/{name}/assign: {"subscription"} and optionally
/// {"force": true} (also onto an excluded, draining or retired one, stored
/// in `*force` when given); the subscription's name.
caf::expected<std::string> assign_from_json(std::string_view body,
                                            bool* force = nullptr);

/// POST /v1/subscriptions/{name}/set: {"max_agents": N} (0 = no cap).
caf::expected<uint32_t> max_agents_from_json(std::string_view body);

/// PUT /v1/settings/{key}: {"value": string | number | true | false}; the
/// value as `settings set KEY VALUE` would pass it (6 -> "6", 0.95 ->
/// "0.95", true -> "on", false -> "off"). The daemon checks it against the
/// key.
caf::expected<std::string> setting_value_from_json(std::string_view body);

/// POST /v1/agents/{name}/{start|stop|restart}: the operation of the last
/// path segment; any other word is ec::not_found (404).
caf::expected<container_op> container_op_of(std::string_view word);

/// The filters of /v1/events, /v1/history (agent, subscription, limit,
/// before) and /v1/notifications (agent, limit, before): an unknown or
/// repeated parameter is an
/// error.
caf::expected<query>
query_from_params(const std::multimap<std::string, std::string>& params,
                  bool with_subscription);

/// The HTTP status of an error: 400 bad input, 404 unknown agent or
/// subscription, 409 conflict, 503 unavailable or shutting down, 504
/// timeout, 500 anything else.
int status_of(const caf::error& err);

/// {"error": {"code": "...", "message": "..."}}.
nlohmann::json error_json(const caf::error& err);
nlohmann::json error_json(std::string_view code, std::string_view message);

/// What /readyz answers: ready, or the reasons why not.
struct readiness {
  bool ready = true;
  std::vector<std::string> reasons;
};

/// Ready when every component answered, the store is writable, the Docker
/// engine answered if any of this node's agents has a container
/// (`engine_up` nothing: not asked), and the daemon is not draining. Only
/// this node counts: no other node and no AGENT is asked (the store keeps
/// the counts).
readiness judge_readiness(const status_info& st, std::optional<bool> engine_up,
                          bool draining);

/// True if any of this node's agents runs in a container (the engine
/// matters then).
bool any_container(const status_info& st);

/// The gauges of a scrape, from this node's status.
metric_gauges gauges_of(const status_info& st, bool engine_up);

} // namespace sb::http
