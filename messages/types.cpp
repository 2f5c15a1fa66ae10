#include "messages/types.hpp"

#include "messages/records.hpp"
#include "messages/status.hpp"

#include <tuple>

namespace sb {

// -- apply outcomes ---------------------------------------------------------

std::string to_string(const apply_outcome& x) {
  if (x.result == apply_result::failed)
    return x.detail.empty() ? std::string{"failed"} : "failed: " + x.detail;
  return to_string(x.result);
}

apply_outcome parse_apply_outcome(const std::string& text) {
  constexpr std::string_view failed_prefix = "failed: ";
  if (text.compare(0, failed_prefix.size(), failed_prefix) == 0)
    return apply_failed(text.substr(failed_prefix.size()));
  if (auto x = parse_kind<apply_result>(text))
    return {*x, {}};
  return apply_failed(text);
}

apply_outcome apply_failed(std::string why) {
  return {apply_result::failed, std::move(why)};
}

// -- equality: every field, listed independently of inspect() ----------------

bool operator==(const secret& x, const secret& y) {
  return x.value == y.value;
}

bool operator==(const apply_outcome& x, const apply_outcome& y) {
  return std::tie(x.result, x.detail) == std::tie(y.result, y.detail);
}

bool operator==(const watch_event& x, const watch_event& y) {
  return std::tie(x.at, x.kind, x.agent, x.from, x.to, x.generation, x.outcome,
                  x.apply, x.status, x.line)
         == std::tie(y.at, y.kind, y.agent, y.from, y.to, y.generation,
                     y.outcome, y.apply, y.status, y.line);
}

bool operator==(const http_header& x, const http_header& y) {
  return std::tie(x.name, x.value) == std::tie(y.name, y.value);
}

bool operator==(const failure_report& x, const failure_report& y) {
  return std::tie(x.agent, x.status, x.kind, x.error, x.subscription,
                  x.token_sha256, x.generation, x.execution_id, x.source,
                  x.retry_after_ms, x.reset_at, x.headers, x.arrived_at,
                  x.model)
         == std::tie(y.agent, y.status, y.kind, y.error, y.subscription,
                     y.token_sha256, y.generation, y.execution_id, y.source,
                     y.retry_after_ms, y.reset_at, y.headers, y.arrived_at,
                     y.model);
}

bool operator==(const observation& x, const observation& y) {
  return std::tie(x.agent, x.headers, x.subscription, x.token_sha256,
                  x.generation, x.source, x.arrived_at, x.model)
         == std::tie(y.agent, y.headers, y.subscription, y.token_sha256,
                     y.generation, y.source, y.arrived_at, y.model);
}

bool operator==(const report_result& x, const report_result& y) {
  return std::tie(x.result, x.agent, x.from, x.to, x.generation, x.kind,
                  x.reason, x.event_count, x.apply, x.retry_after_ms,
                  x.reset_at, x.retryable)
         == std::tie(y.result, y.agent, y.from, y.to, y.generation, y.kind,
                     y.reason, y.event_count, y.apply, y.retry_after_ms,
                     y.reset_at, y.retryable);
}

bool operator==(const subscription_info& x, const subscription_info& y) {
  return std::tie(
           x.id, x.name, x.provider, x.pool, x.fingerprint, x.agent_count,
           x.state, x.retired, x.retired_at, x.max_agents, x.model_excluded,
           x.excluded_until, x.reset_at, x.utilization_5h, x.utilization_7d,
           x.reset_5h_at, x.reset_7d_at, x.status, x.evidence_at, x.failures_2h,
           x.failures_24h, x.failures_2h_by_kind, x.failures_24h_by_kind,
           x.created_at, x.updated_at, x.kind, x.expires_at, x.refresh,
           x.refresh_detail, x.next_refresh_at, x.refreshed_at, x.refreshes)
         == std::tie(
           y.id, y.name, y.provider, y.pool, y.fingerprint, y.agent_count,
           y.state, y.retired, y.retired_at, y.max_agents, y.model_excluded,
           y.excluded_until, y.reset_at, y.utilization_5h, y.utilization_7d,
           y.reset_5h_at, y.reset_7d_at, y.status, y.evidence_at, y.failures_2h,
           y.failures_24h, y.failures_2h_by_kind, y.failures_24h_by_kind,
           y.created_at, y.updated_at, y.kind, y.expires_at, y.refresh,
           y.refresh_detail, y.next_refresh_at, y.refreshed_at, y.refreshes);
}

bool operator==(const subscription_change& x, const subscription_change& y) {
  return std::tie(x.info, x.rotated, x.reloading)
         == std::tie(y.info, y.rotated, y.reloading);
}

bool operator==(const subscription_spec& x, const subscription_spec& y) {
  return std::tie(x.name, x.token, x.provider, x.pool, x.max_agents, x.terms,
                  x.refresh_token, x.token_url, x.id_token, x.account_id)
         == std::tie(y.name, y.token, y.provider, y.pool, y.max_agents, y.terms,
                     y.refresh_token, y.token_url, y.id_token, y.account_id);
}

bool operator==(const token_terms& x, const token_terms& y) {
  return std::tie(x.kind, x.expires_at, x.scopes)
         == std::tie(y.kind, y.expires_at, y.scopes);
}

bool operator==(const subscription_state_change& x,
                const subscription_state_change& y) {
  return std::tie(x.info, x.moving) == std::tie(y.info, y.moving);
}

bool operator==(const agent_spec& x, const agent_spec& y) {
  return std::tie(x.name, x.subscription, x.container, x.pool)
         == std::tie(y.name, y.subscription, y.container, y.pool);
}

bool operator==(const agent_info& x, const agent_info& y) {
  return std::tie(
           x.name, x.pool, x.model, x.subscription, x.container, x.generation,
           x.applied_generation, x.switching, x.auto_switch, x.container_state,
           x.last_apply, x.last_apply_at, x.last_switch_at, x.epoch_started_at,
           x.settle_until, x.retry_at, x.mailbox, x.recent_switches, x.node)
         == std::tie(
           y.name, y.pool, y.model, y.subscription, y.container, y.generation,
           y.applied_generation, y.switching, y.auto_switch, y.container_state,
           y.last_apply, y.last_apply_at, y.last_switch_at, y.epoch_started_at,
           y.settle_until, y.retry_at, y.mailbox, y.recent_switches, y.node);
}

bool operator==(const query& x, const query& y) {
  return std::tie(x.agent, x.subscription, x.limit, x.before)
         == std::tie(y.agent, y.subscription, y.limit, y.before);
}

bool operator==(const backup_info& x, const backup_info& y) {
  return x.id == y.id && x.size == y.size;
}

bool operator==(const backup_chunk& x, const backup_chunk& y) {
  return x.bytes == y.bytes && x.last == y.last;
}

bool operator==(const event_info& x, const event_info& y) {
  return std::tie(x.id, x.agent, x.subscription, x.kind, x.reason, x.status,
                  x.message, x.source, x.execution_id, x.reset_at, x.at)
         == std::tie(y.id, y.agent, y.subscription, y.kind, y.reason, y.status,
                     y.message, y.source, y.execution_id, y.reset_at, y.at);
}

bool operator==(const history_info& x, const history_info& y) {
  return std::tie(x.id, x.agent, x.from, x.to, x.by, x.kind, x.event_count,
                  x.generation, x.apply, x.at)
         == std::tie(y.id, y.agent, y.from, y.to, y.by, y.kind, y.event_count,
                     y.generation, y.apply, y.at);
}

bool operator==(const notification_info& x, const notification_info& y) {
  return std::tie(x.id, x.agent, x.kind, x.title, x.message, x.priority,
                  x.status, x.created_at, x.subscription, x.pool, x.from, x.to,
                  x.reason, x.reset_at)
         == std::tie(y.id, y.agent, y.kind, y.title, y.message, y.priority,
                     y.status, y.created_at, y.subscription, y.pool, y.from,
                     y.to, y.reason, y.reset_at);
}

bool operator==(const component_health& x, const component_health& y) {
  return std::tie(x.name, x.state, x.error)
         == std::tie(y.name, y.state, y.error);
}

bool operator==(const store_status& x, const store_status& y) {
  return std::tie(x.path, x.commits, x.writes, x.failed_commits,
                  x.failed_writes, x.largest_batch, x.isolated_batches,
                  x.pending, x.writable, x.write_error, x.notifications_pending,
                  x.agents_behind, x.containers)
         == std::tie(y.path, y.commits, y.writes, y.failed_commits,
                     y.failed_writes, y.largest_batch, y.isolated_batches,
                     y.pending, y.writable, y.write_error,
                     y.notifications_pending, y.agents_behind, y.containers);
}

bool operator==(const pool_counts& x, const pool_counts& y) {
  return std::tie(x.provider, x.subscriptions, x.excluded, x.agents,
                  x.soonest_expiry)
         == std::tie(y.provider, y.subscriptions, y.excluded, y.agents,
                     y.soonest_expiry);
}

bool operator==(const pool_status& x, const pool_status& y) {
  return std::tie(x.subscriptions, x.excluded, x.selections, x.exhausted,
                  x.pools)
         == std::tie(y.subscriptions, y.excluded, y.selections, y.exhausted,
                     y.pools);
}

bool operator==(const supervisor_status& x, const supervisor_status& y) {
  return std::tie(x.containers, x.by_state, x.queued, x.workers, x.workers_busy,
                  x.operations, x.coalesced, x.superseded, x.docker_socket,
                  x.engine, x.engine_error)
         == std::tie(y.containers, y.by_state, y.queued, y.workers,
                     y.workers_busy, y.operations, y.coalesced, y.superseded,
                     y.docker_socket, y.engine, y.engine_error);
}

bool operator==(const admin_status& x, const admin_status& y) {
  return std::tie(x.agents, x.watchers, x.retention_deleted)
         == std::tie(y.agents, y.watchers, y.retention_deleted);
}

bool operator==(const intake_status& x, const intake_status& y) {
  return std::tie(x.open_connections, x.max_connections, x.accepted, x.refused,
                  x.closed_oversize, x.closed_bad_header, x.closed_slow_reader,
                  x.tls_failures, x.buffered, x.refused_auth,
                  x.closed_forbidden, x.closed_timeout, x.evicted)
         == std::tie(y.open_connections, y.max_connections, y.accepted,
                     y.refused, y.closed_oversize, y.closed_bad_header,
                     y.closed_slow_reader, y.tls_failures, y.buffered,
                     y.refused_auth, y.closed_forbidden, y.closed_timeout,
                     y.evicted);
}

bool operator==(const node_status& x, const node_status& y) {
  return std::tie(x.name, x.host, x.port, x.epoch, x.live, x.agents)
         == std::tie(y.name, y.host, y.port, y.epoch, y.live, y.agents);
}

bool operator==(const cluster_status& x, const cluster_status& y) {
  return std::tie(x.node, x.epoch, x.taken_over, x.taken_over_behind, x.nodes)
         == std::tie(y.node, y.epoch, y.taken_over, y.taken_over_behind,
                     y.nodes);
}

bool operator==(const status_info& x, const status_info& y) {
  return std::tie(x.version, x.protocol, x.started_at, x.uptime_ms, x.agents,
                  x.subscriptions, x.components, x.admin, x.intake, x.store,
                  x.pool, x.supervisor, x.cluster)
         == std::tie(y.version, y.protocol, y.started_at, y.uptime_ms, y.agents,
                     y.subscriptions, y.components, y.admin, y.intake, y.store,
                     y.pool, y.supervisor, y.cluster);
}

bool operator==(const stored_evidence& x, const stored_evidence& y) {
  return std::tie(x.subscription, x.status, x.status_at, x.status_reset,
                  x.utilization_5h, x.utilization_5h_at, x.reset_5h,
                  x.utilization_7d, x.utilization_7d_at, x.reset_7d,
                  x.evidence_at, x.readmitted_at)
         == std::tie(y.subscription, y.status, y.status_at, y.status_reset,
                     y.utilization_5h, y.utilization_5h_at, y.reset_5h,
                     y.utilization_7d, y.utilization_7d_at, y.reset_7d,
                     y.evidence_at, y.readmitted_at);
}

} // namespace sb
