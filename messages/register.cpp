#include "messages/register.hpp"

#include "messages/actors.hpp"
#include "messages/error.hpp"
#include "messages/types.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

#include <string>
#include <vector>

#ifndef SB_VERSION
#define SB_VERSION "0.0.0"
#endif

namespace sb {

const char* version() {
  return SB_VERSION;
}

const char* protocol_version() {
  return "switchboard-protocol-11";
}

const char* to_string(ec code) {
  switch (code) {
  case ec::none:
    return "none";
  case ec::unknown_agent:
    return "unknown_agent";
  case ec::unknown_subscription:
    return "unknown_subscription";
  case ec::duplicate_agent:
    return "duplicate_agent";
  case ec::invalid_name:
    return "invalid_name";
  case ec::invalid_argument:
    return "invalid_argument";
  case ec::store_failure:
    return "store_failure";
  case ec::conflict:
    return "conflict";
  case ec::unavailable:
    return "unavailable";
  case ec::shutting_down:
    return "shutting_down";
  case ec::docker_failure:
    return "docker_failure";
  case ec::docker_unreachable:
    return "docker_unreachable";
  case ec::timeout:
    return "timeout";
  case ec::not_found:
    return "not_found";
  case ec::forbidden:
    return "forbidden";
  case ec::unauthenticated:
    return "unauthenticated";
  }
  return "unknown_error";
}

namespace {

std::string render_sb(uint8_t code, caf::atom_value, const caf::message& ctx) {
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return to_string(static_cast<ec>(code));
}

} // namespace

std::string render(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category)
    return render_sb(err.code(), err.category(), err.context());
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    switch (code) {
    case caf::sec::request_timeout:
      return "the daemon did not answer in time";
    case caf::sec::incompatible_application_ids:
      return "the daemon speaks another protocol version (this client: "
             + std::string{protocol_version()} + ")";
    case caf::sec::unexpected_actor_messaging_interface:
      return "the daemon's interface does not match this client's version";
    case caf::sec::request_receiver_down:
      return "the daemon went away before answering";
    default:
      return "system error: " + caf::to_string(err);
    }
  }
  return caf::to_string(err);
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<secret>("sb::secret");
  cfg.add_message_type<container_op>("sb::container_op");
  cfg.add_message_type<auto_switch_mode>("sb::auto_switch_mode");
  cfg.add_message_type<apply_outcome>("sb::apply_outcome");
  cfg.add_message_type<http_header>("sb::http_header");
  cfg.add_message_type<watch_event>("sb::watch_event");
  cfg.add_message_type<std::vector<http_header>>("sb::header_list");
  cfg.add_message_type<failure_report>("sb::failure_report");
  cfg.add_message_type<observation>("sb::observation");
  cfg.add_message_type<report_result>("sb::report_result");
  cfg.add_message_type<subscription_info>("sb::subscription_info");
  cfg.add_message_type<subscription_spec>("sb::subscription_spec");
  cfg.add_message_type<subscription_op>("sb::subscription_op");
  cfg.add_message_type<subscription_state_change>(
    "sb::subscription_state_change");
  cfg.add_message_type<subscription_change>("sb::subscription_change");
  cfg.add_message_type<agent_spec>("sb::agent_spec");
  cfg.add_message_type<agent_info>("sb::agent_info");
  cfg.add_message_type<status_info>("sb::status_info");
  cfg.add_message_type<query>("sb::query");
  cfg.add_message_type<event_info>("sb::event_info");
  cfg.add_message_type<history_info>("sb::history_info");
  cfg.add_message_type<notification_info>("sb::notification_info");
  cfg.add_message_type<event_page>("sb::event_page");
  cfg.add_message_type<history_page>("sb::history_page");
  cfg.add_message_type<notification_page>("sb::notification_page");
  cfg.add_message_type<backup_info>("sb::backup_info");
  cfg.add_message_type<backup_chunk>("sb::backup_chunk");
  cfg.add_message_type<settings_map>("sb::settings_map");
  cfg.add_message_type<std::map<std::string, uint32_t>>("sb::count_map");
  cfg.add_message_type<std::vector<std::string>>("sb::string_list");
  cfg.add_message_type<watcher_actor>("sb::watcher_actor");
  cfg.add_message_type<sink_kind>("sb::sink_kind");
  cfg.add_message_type<sink_spec>("sb::sink_spec");
  cfg.add_message_type<sink_info>("sb::sink_info");
  cfg.add_message_type<sink_status>("sb::sink_status");
  cfg.add_message_type<std::vector<sink_status>>("sb::sink_status_list");
  cfg.add_message_type<delivery_state>("sb::delivery_state");
  cfg.add_message_type<delivery_record>("sb::delivery_record");
  cfg.add_message_type<delivery_failure>("sb::delivery_failure");
  cfg.add_message_type<std::vector<delivery_failure>>(
    "sb::delivery_failure_list");
  cfg.add_error_category(error_category, render_sb);
  cfg.set("middleman.app-identifiers",
          std::vector<std::string>{protocol_version()});
}

} // namespace sb
