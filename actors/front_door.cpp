#include "actors/front_door.hpp"

#include "messages/error.hpp"
#include "messages/register.hpp"
#include "messages/validate.hpp"

#include <cctype>

namespace sb {

namespace {

using self_ptr = front_door_actor::stateful_pointer<front_door_state>;

constexpr size_t max_short_text = 256;
constexpr uint32_t max_limit = 10000;

caf::error check_query(query& q) {
  if (!q.agent.empty())
    if (auto err = validate_name("agent name", q.agent))
      return err;
  if (!q.subscription.empty())
    if (auto err = validate_name("subscription name", q.subscription))
      return err;
  if (q.limit == 0 || q.limit > max_limit)
    return make_error(ec::invalid_argument,
                      "limit must be from 1 to " + std::to_string(max_limit));
  return caf::none;
}

caf::error check_short(const char* what, const std::string& value) {
  if (value.size() > max_short_text)
    return make_error(ec::invalid_argument,
                      std::string{what} + " is longer than "
                        + std::to_string(max_short_text) + " bytes");
  if (!valid_utf8(value))
    return make_error(ec::invalid_argument,
                      std::string{what} + " is not valid UTF-8");
  return caf::none;
}

} // namespace

caf::error check_container_name(const std::string& name) {
  if (auto err = validate_name("container name", name))
    return err;
  auto ok_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'
           || c == '-';
  };
  if (!std::isalnum(static_cast<unsigned char>(name[0]))
      || !std::all_of(name.begin(), name.end(), ok_char))
    return make_error(ec::invalid_name,
                      "container name '" + name
                        + "' may only contain letters, digits, '_', '.' and "
                          "'-', and must start with a letter or digit");
  return caf::none;
}

caf::error check_report(failure_report& r, millis now) {
  if (auto err = validate_name("agent name", r.agent))
    return err;
  if (!r.kind.empty() && r.kind != "rate_limit" && r.kind != "auth")
    return make_error(ec::invalid_argument,
                      "kind must be rate_limit or auth, got '"
                        + sanitize_utf8(r.kind, 64) + "'");
  if (r.status == 0 && r.kind.empty())
    return make_error(ec::invalid_argument,
                      "a report needs an HTTP status or a kind");
  if (r.status != 0 && (r.status < 100 || r.status > 599))
    return make_error(ec::invalid_argument,
                      "status must be an HTTP status from 100 to 599, got "
                        + std::to_string(r.status));
  if (!r.subscription.empty())
    if (auto err = validate_name("subscription name", r.subscription))
      return err;
  if (auto err = check_short("execution id", r.execution_id))
    return err;
  if (auto err = check_short("source", r.source))
    return err;
  if (r.retry_after_ms < 0 || r.retry_after_ms > 366 * day_ms)
    return make_error(ec::invalid_argument,
                      "retry-after must be from 0 to 366 days");
  if (r.reset_at != 0 && (r.reset_at < 0 || r.reset_at > now + 366 * day_ms))
    return make_error(ec::invalid_argument,
                      "reset instant must be within a year from now");
  // Never trusted: any bytes become valid UTF-8 of bounded size.
  r.error = sanitize_utf8(r.error, max_error_bytes);
  return caf::none;
}

front_door_actor::behavior_type
front_door(front_door_actor::stateful_pointer<front_door_state> self,
           admin_actor admin, context_ptr ctx) {
  self->state.admin = std::move(admin);
  self->state.ctx = std::move(ctx);
  return {
    [=](ping_atom) { return std::string{protocol_version()}; },
    [=](status_atom) {
      ++self->state.requests;
      return self->delegate(self->state.admin, status_atom::value);
    },
    [=](report_atom, failure_report& r) -> caf::result<report_result> {
      auto& st = self->state;
      ++st.requests;
      auto now = st.ctx->clock();
      if (auto err = check_report(r, now)) {
        ++st.rejected;
        return err;
      }
      r.arrived_at = now;
      // Straight to the agent when the directory knows it; the ADMIN answers
      // for names it does not know.
      if (auto agent = st.ctx->directory.find(r.agent))
        return self->delegate(agent, report_atom::value, std::move(r));
      return self->delegate(st.admin, report_atom::value, std::move(r));
    },
    [=](sub_add_atom, std::string& name,
        secret& token) -> caf::result<subscription_change> {
      ++self->state.requests;
      if (auto err = validate_name("subscription name", name))
        return err;
      if (auto err = validate_token(token.value))
        return err;
      return self->delegate(self->state.admin, sub_add_atom::value,
                            std::move(name), std::move(token));
    },
    [=](sub_list_atom) {
      ++self->state.requests;
      return self->delegate(self->state.admin, sub_list_atom::value);
    },
    [=](sub_rm_atom,
        std::string& name) -> caf::result<std::vector<std::string>> {
      ++self->state.requests;
      if (auto err = validate_name("subscription name", name))
        return err;
      return self->delegate(self->state.admin, sub_rm_atom::value,
                            std::move(name));
    },
    [=](agent_add_atom, agent_spec& spec) -> caf::result<agent_info> {
      ++self->state.requests;
      if (auto err = validate_name("agent name", spec.name))
        return err;
      if (!spec.subscription.empty())
        if (auto err = validate_name("subscription name", spec.subscription))
          return err;
      if (!spec.container.empty())
        if (auto err = check_container_name(spec.container))
          return err;
      return self->delegate(self->state.admin, agent_add_atom::value,
                            std::move(spec));
    },
    [=](agent_ls_atom) {
      ++self->state.requests;
      return self->delegate(self->state.admin, agent_ls_atom::value);
    },
    [=](agent_get_atom, std::string& name) -> caf::result<agent_info> {
      ++self->state.requests;
      if (auto err = validate_name("agent name", name))
        return err;
      return self->delegate(self->state.admin, agent_get_atom::value,
                            std::move(name));
    },
    [=](agent_rm_atom, std::string& name) -> caf::result<std::string> {
      ++self->state.requests;
      if (auto err = validate_name("agent name", name))
        return err;
      return self->delegate(self->state.admin, agent_rm_atom::value,
                            std::move(name));
    },
    [=](agent_set_atom, std::string& name, std::string& key,
        std::string& value) -> caf::result<agent_info> {
      ++self->state.requests;
      if (auto err = validate_name("agent name", name))
        return err;
      if (auto err = check_short("setting key", key))
        return err;
      if (auto err = check_short("setting value", value))
        return err;
      return self->delegate(self->state.admin, agent_set_atom::value,
                            std::move(name), std::move(key), std::move(value));
    },
    [=](assign_atom, std::string& name,
        std::string& sub) -> caf::result<report_result> {
      ++self->state.requests;
      if (auto err = validate_name("agent name", name))
        return err;
      if (auto err = validate_name("subscription name", sub))
        return err;
      return self->delegate(self->state.admin, assign_atom::value,
                            std::move(name), std::move(sub));
    },
    [=](lifecycle_atom, std::string& name,
        std::string& op) -> caf::result<std::string> {
      ++self->state.requests;
      if (auto err = validate_name("agent name", name))
        return err;
      if (op != "start" && op != "stop" && op != "restart")
        return make_error(ec::invalid_argument,
                          "unknown container operation '"
                            + sanitize_utf8(op, 64)
                            + "' (use start, stop or restart)");
      return self->delegate(self->state.admin, lifecycle_atom::value,
                            std::move(name), std::move(op));
    },
    [=](settings_atom) {
      ++self->state.requests;
      return self->delegate(self->state.admin, settings_atom::value);
    },
    [=](setting_atom, std::string& key,
        std::string& value) -> caf::result<settings_map> {
      ++self->state.requests;
      if (auto err = check_short("setting key", key))
        return err;
      if (auto err = check_short("setting value", value))
        return err;
      return self->delegate(self->state.admin, setting_atom::value,
                            std::move(key), std::move(value));
    },
    [=](events_atom, query& q) -> caf::result<std::vector<event_info>> {
      ++self->state.requests;
      if (auto err = check_query(q))
        return err;
      return self->delegate(self->state.admin, events_atom::value,
                            std::move(q));
    },
    [=](history_atom, query& q) -> caf::result<std::vector<history_info>> {
      ++self->state.requests;
      if (auto err = check_query(q))
        return err;
      return self->delegate(self->state.admin, history_atom::value,
                            std::move(q));
    },
    [=](notes_atom, query& q) -> caf::result<std::vector<notification_info>> {
      ++self->state.requests;
      if (auto err = check_query(q))
        return err;
      return self->delegate(self->state.admin, notes_atom::value, std::move(q));
    },
    [=](watch_atom, watcher_actor& w) {
      ++self->state.requests;
      return self->delegate(self->state.admin, watch_atom::value, std::move(w));
    },
  };
}

} // namespace sb
