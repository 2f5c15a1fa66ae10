#include "messages/kinds.hpp"

#include <array>

namespace sb {

namespace {

// One name per enumerator, in declaration order: to_string() indexes it and
// parse_kind() searches it, so the two can never disagree.

constexpr std::array failure_kind_names{"", "rate_limit", "auth", "ignored",
                                        "concurrency"};

constexpr std::array outcome_names{
  "switched",        "coalesced",      "stale",   "disabled",        "ignored",
  "no_subscription", "no_alternative", "held",    "below_threshold", "assigned",
  "rotated",         "unchanged",      "observed"};

constexpr std::array trigger_names{"auto", "manual", "rotation", "headroom"};

constexpr std::array provider_status_names{"unknown", "allowed",
                                           "allowed_warning", "rejected"};

constexpr std::array provider_kind_names{"anthropic", "codex", "openai",
                                         "gemini"};

constexpr std::array retire_reason_names{"", "banned", "disabled",
                                         "not_entitled", "dead_credential"};

constexpr std::array credential_state_names{"active", "cooling", "draining",
                                            "retired"};

constexpr std::array subscription_op_names{"drain", "undrain", "reset"};

constexpr std::array credential_kind_names{"token", "oauth"};

constexpr std::array refresh_state_names{"", "ok", "backoff", "dead"};

constexpr std::array container_op_names{"apply", "start", "stop", "restart",
                                        "inspect"};

constexpr std::array lifecycle_names{"unknown",   "absent",     "stopped",
                                     "starting",  "running",    "stopping",
                                     "reloading", "recreating", "failed"};

constexpr std::array apply_result_names{
  "",           "hot_reloaded", "restarted",   "started",
  "stopped",    "running",      "not_running", "no_container",
  "superseded", "failed",       "pending"};

constexpr std::array auto_switch_names{"on", "off"};

constexpr std::array health_names{"running", "unresponsive"};

constexpr std::array engine_state_names{"unknown", "reachable", "unreachable"};

constexpr std::array watch_kind_names{"report", "observation", "switch",
                                      "apply"};

constexpr std::array notification_kind_names{
  "switch",       "held",           "pool_exhausted",  "retired",
  "expiring",     "pool_recovered", "refresh_failing", "utilization_high",
  "agent_behind", "node_down"};

constexpr std::array notification_priority_names{"normal", "high"};

constexpr std::array notification_status_names{"pending", "delivered"};

template<class Enum, size_t N>
const char* name_of(const std::array<const char*, N>& names, Enum x) {
  auto i = static_cast<size_t>(x);
  return i < N ? names[i] : "unknown";
}

template<class Enum, size_t N>
std::optional<Enum> find_name(const std::array<const char*, N>& names,
                              std::string_view text) {
  for (size_t i = 0; i < N; ++i)
    if (text == names[i])
      return static_cast<Enum>(i);
  return std::nullopt;
}

} // namespace

#define SB_KIND_NAMES(Enum, names)                                             \
  const char* to_string(Enum x) {                                              \
    return name_of(names, x);                                                  \
  }                                                                            \
  template<>                                                                   \
  std::optional<Enum> parse_kind<Enum>(std::string_view text) {                \
    return find_name<Enum>(names, text);                                       \
  }

SB_KIND_NAMES(failure_kind, failure_kind_names)
SB_KIND_NAMES(outcome, outcome_names)
SB_KIND_NAMES(trigger, trigger_names)
SB_KIND_NAMES(container_op, container_op_names)
SB_KIND_NAMES(lifecycle, lifecycle_names)
SB_KIND_NAMES(apply_result, apply_result_names)
SB_KIND_NAMES(auto_switch_mode, auto_switch_names)
SB_KIND_NAMES(health, health_names)
SB_KIND_NAMES(provider_status, provider_status_names)
SB_KIND_NAMES(provider_kind, provider_kind_names)
SB_KIND_NAMES(retire_reason, retire_reason_names)
SB_KIND_NAMES(credential_state, credential_state_names)
SB_KIND_NAMES(subscription_op, subscription_op_names)
SB_KIND_NAMES(credential_kind, credential_kind_names)
SB_KIND_NAMES(refresh_state, refresh_state_names)
SB_KIND_NAMES(engine_state, engine_state_names)
SB_KIND_NAMES(watch_kind, watch_kind_names)
SB_KIND_NAMES(notification_kind, notification_kind_names)
SB_KIND_NAMES(notification_priority, notification_priority_names)
SB_KIND_NAMES(notification_status, notification_status_names)

#undef SB_KIND_NAMES

bool succeeded(apply_result x) {
  return x == apply_result::hot_reloaded || x == apply_result::restarted
         || x == apply_result::started || x == apply_result::running;
}

bool token_applied(apply_result x, bool has_container) {
  return succeeded(x) || (x == apply_result::no_container && !has_container);
}

} // namespace sb
