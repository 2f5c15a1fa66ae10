// The JSON shape of each answer (messages/json.hpp).

#include "messages/json.hpp"

#include "messages/kinds.hpp"
#include "messages/time.hpp"

#include <algorithm>

namespace sb {

namespace {

/// A count per kind as an object keyed by the kind's name (sorted by name,
/// as nlohmann-json sorts keys).
template<class Enum, class Count>
nlohmann::json by_name(const std::map<Enum, Count>& xs) {
  auto result = nlohmann::json::object();
  for (auto& [kind, n] : xs)
    result[to_string(kind)] = n;
  return result;
}

nlohmann::json opt(const caf::optional<std::string>& x) {
  if (x)
    return *x;
  return nullptr;
}

nlohmann::json text_or_null(const std::string& x) {
  if (x.empty())
    return nullptr;
  return x;
}

nlohmann::json kind_or_null(failure_kind x) {
  if (x == failure_kind::none)
    return nullptr;
  return to_string(x);
}

nlohmann::json apply_or_null(const apply_outcome& x) {
  if (x.result == apply_result::none)
    return nullptr;
  return to_string(x);
}

nlohmann::json component_json(const store_status& x) {
  return {{"path", x.path},
          {"commits", x.commits},
          {"writes", x.writes},
          {"failed_commits", x.failed_commits},
          {"failed_writes", x.failed_writes},
          {"largest_batch", x.largest_batch},
          {"isolated_batches", x.isolated_batches},
          {"pending", x.pending},
          {"writable", x.writable},
          {"write_error", x.write_error.empty()
                            ? nlohmann::json(nullptr)
                            : nlohmann::json(x.write_error)},
          {"notifications_pending", x.notifications_pending},
          {"agents_behind", x.agents_behind},
          {"containers", x.containers}};
}

nlohmann::json component_json(const pool_status& x) {
  auto pools = nlohmann::json::object();
  for (auto& [name, c] : x.pools)
    pools[name] = {{"provider", to_string(c.provider)},
                   {"subscriptions", c.subscriptions},
                   {"excluded", c.excluded},
                   {"agents", c.agents}};
  return {{"subscriptions", x.subscriptions},
          {"excluded", x.excluded},
          {"selections", x.selections},
          {"exhausted", x.exhausted},
          {"pools", pools}};
}

nlohmann::json component_json(const supervisor_status& x) {
  return {{"containers", x.containers},
          {"by_state", by_name(x.by_state)},
          {"queued", x.queued},
          {"workers", x.workers},
          {"workers_busy", x.workers_busy},
          {"operations", x.operations},
          {"coalesced", x.coalesced},
          {"superseded", x.superseded},
          {"docker_socket", x.docker_socket},
          {"engine", to_string(x.engine)},
          {"engine_error", x.engine_error.empty()
                             ? nlohmann::json(nullptr)
                             : nlohmann::json(x.engine_error)}};
}

nlohmann::json component_json(const cluster_status& x) {
  auto nodes = nlohmann::json::array();
  for (auto& n : x.nodes)
    nodes.push_back({{"name", n.name},
                     {"address", n.host + ":" + std::to_string(n.port)},
                     {"epoch", n.epoch},
                     {"live", n.live},
                     {"agents", n.agents}});
  return {{"node", x.node},
          {"epoch", x.epoch},
          {"taken_over", x.taken_over},
          {"taken_over_behind", x.taken_over_behind},
          {"nodes", nodes}};
}

nlohmann::json component_json(const intake_status& x) {
  return {{"open_connections", x.open_connections},
          {"max_connections", x.max_connections},
          {"accepted", x.accepted},
          {"refused", x.refused},
          {"closed_oversize", x.closed_oversize},
          {"closed_bad_header", x.closed_bad_header},
          {"closed_slow_reader", x.closed_slow_reader},
          {"tls_failures", x.tls_failures},
          {"buffered", x.buffered},
          {"refused_auth", x.refused_auth},
          {"closed_forbidden", x.closed_forbidden},
          {"closed_timeout", x.closed_timeout},
          {"evicted", x.evicted}};
}

nlohmann::json component_json(const admin_status& x) {
  return {{"agents", x.agents},
          {"watchers", x.watchers},
          {"retention_deleted", x.retention_deleted}};
}

nlohmann::json models_json(const std::map<std::string, millis>& x) {
  auto result = nlohmann::json::object();
  for (auto& [model, until] : x)
    result[model] = format_iso(until);
  return result;
}

nlohmann::json number_or_null(const caf::optional<double>& x) {
  return x ? nlohmann::json(*x) : nlohmann::json(nullptr);
}

} // namespace

nlohmann::json iso_or_null(millis t) {
  if (t == 0)
    return nullptr;
  return format_iso(t);
}

nlohmann::json to_json(const report_result& x) {
  return {
    {"outcome", to_string(x.result)},
    {"agent", x.agent},
    {"from", opt(x.from)},
    {"to", opt(x.to)},
    {"generation", x.generation},
    {"failure_kind", kind_or_null(x.kind)},
    {"reason", x.reason},
    {"event_count", x.event_count},
    {"apply", apply_or_null(x.apply)},
    {"retry_after_ms", x.retry_after_ms},
    {"retryable", x.retryable},
    {"reset_at", iso_or_null(x.reset_at)},
    {"earliest_reset", x.result == outcome::no_alternative
                         ? iso_or_null(x.reset_at)
                         : nlohmann::json(nullptr)},
  };
}

nlohmann::json to_json(const subscription_info& x) {
  return {
    {"id", x.id},
    {"name", x.name},
    {"pool", x.pool},
    {"provider", to_string(x.provider)},
    {"fingerprint", x.fingerprint},
    {"agent_count", x.agent_count},
    {"state", to_string(x.state)},
    {"retired", x.retired == retire_reason::none
                  ? nlohmann::json(nullptr)
                  : nlohmann::json(to_string(x.retired))},
    {"retired_at", iso_or_null(x.retired_at)},
    {"max_agents", x.max_agents},
    {"models_excluded", models_json(x.model_excluded)},
    {"excluded_until", iso_or_null(x.excluded_until)},
    {"reset_at", iso_or_null(x.reset_at)},
    {"utilization_5h", number_or_null(x.utilization_5h)},
    {"utilization_7d", number_or_null(x.utilization_7d)},
    {"reset_5h_at", iso_or_null(x.reset_5h_at)},
    {"reset_7d_at", iso_or_null(x.reset_7d_at)},
    {"provider_status", to_string(x.status)},
    {"evidence_at", iso_or_null(x.evidence_at)},
    {"failures_2h", x.failures_2h},
    {"failures_24h", x.failures_24h},
    {"failures_2h_by_kind", by_name(x.failures_2h_by_kind)},
    {"failures_24h_by_kind", by_name(x.failures_24h_by_kind)},
    {"created_at", iso_or_null(x.created_at)},
    {"updated_at", iso_or_null(x.updated_at)},
    {"kind", to_string(x.kind)},
    {"expires_at", iso_or_null(x.expires_at)},
    {"refresh",
     x.kind == credential_kind::oauth
       ? nlohmann::json{{"state", to_string(x.refresh)},
                        {"detail", x.refresh_detail.empty()
                                     ? nlohmann::json(nullptr)
                                     : nlohmann::json(x.refresh_detail)},
                        {"next_attempt_at", iso_or_null(x.next_refresh_at)},
                        {"refreshed_at", iso_or_null(x.refreshed_at)},
                        {"refreshes", x.refreshes}}
       : nlohmann::json(nullptr)},
  };
}

nlohmann::json to_json(const subscription_state_change& x) {
  auto result = to_json(x.info);
  result["moving"] = x.moving;
  return result;
}

nlohmann::json to_json(const subscription_change& x) {
  auto result = to_json(x.info);
  result["rotated"] = x.rotated;
  result["reloading"] = x.reloading;
  return result;
}

nlohmann::json to_json(const agent_info& x) {
  nlohmann::json last_apply = nullptr;
  if (x.last_apply.result != apply_result::none)
    last_apply = {{"result", to_string(x.last_apply)},
                  {"at", iso_or_null(x.last_apply_at)}};
  return {
    {"name", x.name},
    {"pool", x.pool},
    {"model",
     x.model.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.model)},
    {"subscription", opt(x.subscription)},
    {"generation", x.generation},
    {"applied_generation", x.applied_generation},
    {"container", opt(x.container)},
    {"container_state", x.container
                          ? nlohmann::json(to_string(x.container_state))
                          : nlohmann::json(nullptr)},
    {"switching", x.switching},
    {"auto_switch", to_string(x.auto_switch)},
    {"last_apply", last_apply},
    {"last_switch_at", iso_or_null(x.last_switch_at)},
    {"epoch_started_at", iso_or_null(x.epoch_started_at)},
    {"settle_until", iso_or_null(x.settle_until)},
    {"retry_at", iso_or_null(x.retry_at)},
    {"recent_switches", x.recent_switches},
    {"mailbox", x.mailbox},
    {"node", x.node.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.node)},
  };
}

nlohmann::json to_json(const status_info& x) {
  auto components = nlohmann::json::object();
  for (auto& c : x.components) {
    nlohmann::json entry = nlohmann::json::object();
    if (c.name == "admin")
      entry = component_json(x.admin);
    else if (c.name == "intake" && x.intake)
      entry = component_json(*x.intake);
    else if (c.name == "store" && x.store)
      entry = component_json(*x.store);
    else if (c.name == "subscription-pool" && x.pool)
      entry = component_json(*x.pool);
    else if (c.name == "container-supervisor" && x.supervisor)
      entry = component_json(*x.supervisor);
    else if (c.name == "cluster" && x.cluster)
      entry = component_json(*x.cluster);
    entry["state"] = to_string(c.state);
    if (!c.error.empty())
      entry["error"] = c.error;
    components[c.name] = std::move(entry);
  }
  return {
    {"version", x.version},
    {"protocol", x.protocol},
    {"started_at", iso_or_null(x.started_at)},
    {"uptime_s", static_cast<double>(x.uptime_ms) / 1000.0},
    {"agents", x.agents},
    {"subscriptions", x.subscriptions ? nlohmann::json(*x.subscriptions)
                                      : nlohmann::json(nullptr)},
    {"components", components},
  };
}

nlohmann::json to_json(const event_info& x) {
  return {
    {"id", x.id},
    {"agent", x.agent},
    {"subscription", x.subscription},
    {"kind", to_string(x.kind)},
    {"reason", x.reason},
    {"status", x.status},
    {"message", x.message},
    {"source", x.source},
    {"execution_id", x.execution_id},
    {"reset_at", iso_or_null(x.reset_at)},
    {"at", iso_or_null(x.at)},
  };
}

nlohmann::json to_json(const history_info& x) {
  return {
    {"id", x.id},
    {"agent", x.agent},
    {"from", opt(x.from)},
    {"to", opt(x.to)},
    {"trigger", to_string(x.by)},
    {"generation", x.generation},
    {"failure_kind", kind_or_null(x.kind)},
    {"event_count", x.event_count},
    {"apply", to_string(x.apply)},
    {"at", iso_or_null(x.at)},
  };
}

nlohmann::json to_json(const notification_info& x) {
  return {
    {"id", x.id},
    {"agent", x.agent},
    {"kind", to_string(x.kind)},
    {"title", x.title},
    {"message", x.message},
    {"priority", to_string(x.priority)},
    {"status", to_string(x.status)},
    {"created_at", iso_or_null(x.created_at)},
    {"subscription", text_or_null(x.subscription)},
    {"pool", text_or_null(x.pool)},
    {"from", text_or_null(x.from)},
    {"to", text_or_null(x.to)},
    {"reason", text_or_null(x.reason)},
    {"reset_at", iso_or_null(x.reset_at)},
  };
}

nlohmann::json to_json(const sink_info& x) {
  return {
    {"name", x.name},     {"kind", to_string(x.kind)},
    {"host", x.host},     {"signed", x.signed_},
    {"events", x.events}, {"min_severity", x.min_severity},
    {"digest", x.digest}, {"created_at", iso_or_null(x.created_at)},
  };
}

nlohmann::json to_json(const sink_status& x) {
  auto j = to_json(x.info);
  j["delivered"] = x.delivered;
  j["failed"] = x.failed;
  j["pending"] = x.pending;
  j["last_delivered_at"] = iso_or_null(x.last_delivered_at);
  j["last_status"] = x.last_status == 0 ? nlohmann::json(nullptr)
                                        : nlohmann::json(x.last_status);
  j["last_error"] = text_or_null(x.last_error);
  return j;
}

nlohmann::json to_json(const delivery_failure& x) {
  return {
    {"sink", x.sink},
    {"notification_id", x.notification_id},
    {"attempts", x.attempts},
    {"last_status", x.last_status == 0 ? nlohmann::json(nullptr)
                                       : nlohmann::json(x.last_status)},
    {"last_error", text_or_null(x.last_error)},
    {"at", iso_or_null(x.at)},
  };
}

nlohmann::json sink_test_json(const std::string& sink,
                              const delivery_record& x) {
  return {
    {"sink", sink},
    {"delivered", x.state == delivery_state::delivered},
    {"status", x.last_status == 0 ? nlohmann::json(nullptr)
                                  : nlohmann::json(x.last_status)},
    {"error", text_or_null(x.last_error)},
  };
}

nlohmann::json to_json(const watch_event& x) {
  nlohmann::json j = {{"at", iso_or_null(x.at)}, {"kind", to_string(x.kind)},
                      {"agent", x.agent},        {"from", opt(x.from)},
                      {"to", opt(x.to)},         {"generation", x.generation}};
  j["outcome"]
    = x.outcome.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.outcome);
  j["apply"]
    = x.apply.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.apply);
  j["status"]
    = x.status == 0 ? nlohmann::json(nullptr) : nlohmann::json(x.status);
  return j;
}

nlohmann::json ping_json(const std::string& protocol) {
  return {{"ok", true}, {"protocol", protocol}};
}

nlohmann::json
removed_subscription_json(const std::string& name,
                          const std::vector<std::string>& agents) {
  return {{"removed", name}, {"unassigned", agents}};
}

nlohmann::json removed_agent_json(const std::string& name) {
  return {{"removed", name}};
}

nlohmann::json lifecycle_json(const std::string& agent, container_op op,
                              const apply_outcome& result) {
  return {{"agent", agent},
          {"operation", to_string(op)},
          {"result", to_string(result)}};
}

nlohmann::json setting_value_json(const std::string& value) {
  bool numeric = !value.empty()
                 && value.find_first_not_of("0123456789.") == std::string::npos
                 && std::count(value.begin(), value.end(), '.') <= 1
                 && value.front() != '.' && value.back() != '.';
  if (!numeric)
    return value;
  if (value.find('.') == std::string::npos && value.size() <= 18)
    return std::stoll(value);
  return std::stod(value);
}

nlohmann::json settings_json(const settings_map& all) {
  auto doc = nlohmann::json::object();
  for (auto& [key, value] : all)
    doc[key] = setting_value_json(value);
  return doc;
}

nlohmann::json setting_json(const std::string& key, const std::string& value) {
  return {{key, setting_value_json(value)}};
}

nlohmann::json setting_set_json(const settings_map& after,
                                const std::string& key,
                                const std::string& sent) {
  auto i = after.find(key);
  return setting_json(key, i != after.end() ? i->second : sent);
}

std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace sb
