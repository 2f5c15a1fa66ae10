#include "notify/deliver.hpp"

#include "docker_client/http.hpp"
#include "messages/error.hpp"

namespace sb::notify {

delivery_attempt deliver(docker::http_client& http, const stored_sink& sink,
                         const event& e, millis now,
                         std::chrono::milliseconds timeout) {
  std::string body;
  std::vector<std::string> headers{"Accept: application/json",
                                   "User-Agent: switchboard"};
  switch (sink.info.kind) {
  case sink_kind::webhook:
    body = webhook_body(e);
    headers.push_back("X-Switchboard-Event-Id: " + std::to_string(e.id));
    if (!sink.signing_secret.value.empty())
      headers.push_back(
        "X-Switchboard-Signature: "
        + signature_header(sink.signing_secret.value, now / 1000, body));
    break;
  case sink_kind::slack:
    body = slack_body(e);
    break;
  case sink_kind::discord:
    body = discord_body(e);
    break;
  case sink_kind::telegram:
    body = telegram_body(e, sink.chat_id.value);
    break;
  }
  delivery_attempt out;
  auto res = http.request("POST", sink.url.value, body, timeout, headers);
  if (!res) {
    out.verdict.result = delivery_verdict::kind::retry;
    out.error = is(res.error(), ec::timeout)
                  ? "no answer from " + sink.info.host + " in time"
                  : "cannot reach " + sink.info.host;
    return out;
  }
  out.status = res->status;
  out.verdict = judge_delivery(res->status, res->headers, now);
  if (out.verdict.result != delivery_verdict::kind::delivered)
    out.error
      = sink.info.host + " answered HTTP " + std::to_string(res->status);
  return out;
}

event event_of(const notification_info& n) {
  event e;
  e.id = n.id;
  e.at = n.created_at;
  e.agent = n.agent;
  e.subscription = n.subscription;
  e.pool = n.pool;
  e.from = n.from;
  e.to = n.to;
  e.reason = n.reason;
  e.reset_at = n.reset_at;
  e.title = n.title;
  e.text = n.message;
  bool high = n.priority == notification_priority::high;
  switch (n.kind) {
  case notification_kind::switched:
    e.type = "switched";
    e.level = severity::info;
    break;
  case notification_kind::held:
    e.type = "switched";
    e.reason = "held";
    e.level = severity::warning;
    break;
  case notification_kind::pool_exhausted:
    e.type = "pool_exhausted";
    e.level = severity::critical;
    break;
  case notification_kind::pool_recovered:
    e.type = "pool_recovered";
    e.level = severity::info;
    break;
  case notification_kind::retired:
    e.type = "credential_retired";
    e.level = severity::critical;
    break;
  case notification_kind::expiring:
    e.type = "credential_expiring";
    e.level = severity::warning;
    break;
  case notification_kind::refresh_failing:
    e.type = "credential_refresh_failing";
    e.level = severity::warning;
    break;
  case notification_kind::utilization_high:
    // The critical threshold's is high priority.
    e.type = "utilization_high";
    e.level = high ? severity::critical : severity::warning;
    break;
  case notification_kind::agent_behind:
    e.type = "agent_behind";
    e.level = severity::warning;
    break;
  case notification_kind::node_down:
    e.type = "node_down";
    e.level = severity::critical;
    break;
  }
  return e;
}

} // namespace sb::notify
