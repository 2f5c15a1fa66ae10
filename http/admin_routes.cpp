// The admin writes over HTTP (http/front_impl.hpp): each CLI command as a
// route, the same message through the same FRONT DOOR, the same --json
// answer (messages/json.hpp). The FRONT DOOR of the caller's credential
// decides what it may do (403 for a write with the report credential).

#include "http/front_impl.hpp"
#include "messages/validate.hpp"

namespace sb::http {

namespace {

using json = nlohmann::json;

/// A container operation waits for the engine: stop-timeout and the health
/// wait of a restart.
constexpr auto lifecycle_wait = std::chrono::minutes(2);

void ping(front_impl& f, const exchange_ptr& ex, const route_args&) {
  f.answer_with<std::string>(
    ex, caf::duration{read_wait},
    [](std::string& protocol) { return ping_json(protocol); },
    ping_atom::value);
}

void add_subscription(front_impl& f, const exchange_ptr& ex,
                      const route_args&) {
  auto body = subscription_add_from_json(ex->req().body);
  if (!body)
    return ex->reply(error_response(body.error()));
  f.answer<subscription_change>(ex, caf::duration{read_wait},
                                sub_add_atom::value, std::move(*body));
}

void remove_subscription(front_impl& f, const exchange_ptr& ex,
                         const route_args& args) {
  auto name = args[0];
  f.answer_with<std::vector<std::string>>(
    ex, caf::duration{read_wait},
    [name](std::vector<std::string>& agents) {
      return removed_subscription_json(name, agents);
    },
    sub_rm_atom::value, name);
}

void add_agent(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto spec = agent_add_from_json(ex->req().body);
  if (!spec)
    return ex->reply(error_response(spec.error()));
  f.answer<agent_info>(ex, caf::duration{read_wait}, agent_add_atom::value,
                       std::move(*spec));
}

void remove_agent(front_impl& f, const exchange_ptr& ex,
                  const route_args& args) {
  f.answer_with<std::string>(
    ex, caf::duration{read_wait},
    [](std::string& name) { return removed_agent_json(name); },
    agent_rm_atom::value, args[0]);
}

void set_agent(front_impl& f, const exchange_ptr& ex, const route_args& args) {
  auto mode = agent_set_from_json(ex->req().body);
  if (!mode)
    return ex->reply(error_response(mode.error()));
  f.answer<agent_info>(ex, caf::duration{read_wait}, agent_set_atom::value,
                       args[0], *mode);
}

void assign(front_impl& f, const exchange_ptr& ex, const route_args& args) {
  bool force = false;
  auto sub = assign_from_json(ex->req().body, &force);
  if (!sub)
    return ex->reply(error_response(sub.error()));
  f.answer<report_result>(ex, f.report_timeout(), assign_atom::value, args[0],
                          std::move(*sub), force);
}

void change_subscription(front_impl& f, const exchange_ptr& ex,
                         const route_args& args, subscription_op op) {
  f.answer<subscription_state_change>(ex, caf::duration{read_wait},
                                      sub_state_atom::value, args[0], op);
}

void cap_subscription(front_impl& f, const exchange_ptr& ex,
                      const route_args& args) {
  auto n = max_agents_from_json(ex->req().body);
  if (!n)
    return ex->reply(error_response(n.error()));
  f.answer<subscription_state_change>(ex, caf::duration{read_wait},
                                      sub_set_atom::value, args[0], *n);
}

void lifecycle(front_impl& f, const exchange_ptr& ex, const route_args& args) {
  auto op = container_op_of(args[1]);
  if (!op)
    return ex->reply(error_response(op.error()));
  auto agent = args[0];
  auto which = *op;
  f.answer_with<apply_outcome>(
    ex, caf::duration{lifecycle_wait},
    [agent, which](apply_outcome& outcome) {
      return lifecycle_json(agent, which, outcome);
    },
    lifecycle_atom::value, agent, which);
}

void get_settings(front_impl& f, const exchange_ptr& ex, const route_args&) {
  f.answer_with<settings_map>(
    ex, caf::duration{read_wait},
    [](settings_map& all) { return settings_json(all); }, settings_atom::value);
}

void get_setting(front_impl& f, const exchange_ptr& ex,
                 const route_args& args) {
  auto key = args[0];
  f.ask<settings_map>(
    f.door_of(ex->req()), caf::duration{read_wait},
    [ex, key](caf::expected<settings_map> all) {
      if (!all)
        return ex->reply(error_response(all.error()));
      auto i = all->find(key);
      if (i == all->end())
        return ex->reply(error_response(404, "not_found",
                                        "unknown setting '"
                                          + sanitize_utf8(key, 64)
                                          + "' (GET /v1/settings lists them)"));
      ex->reply(json_response(200, setting_json(i->first, i->second)));
    },
    settings_atom::value);
}

void put_setting(front_impl& f, const exchange_ptr& ex,
                 const route_args& args) {
  auto value = setting_value_from_json(ex->req().body);
  if (!value)
    return ex->reply(error_response(value.error()));
  auto key = args[0];
  auto sent = *value;
  f.answer_with<settings_map>(
    ex, caf::duration{read_wait},
    [key, sent](settings_map& after) {
      return setting_set_json(after, key, sent);
    },
    setting_atom::value, key, *value);
}

void add_sink(front_impl& f, const exchange_ptr& ex, const route_args&) {
  auto spec = sink_add_from_json(ex->req().body);
  if (!spec)
    return ex->reply(error_response(spec.error()));
  f.answer<sink_info>(ex, caf::duration{read_wait}, sink_add_atom::value,
                      std::move(*spec));
}

void remove_sink(front_impl& f, const exchange_ptr& ex,
                 const route_args& args) {
  auto name = args[0];
  f.answer_with<ok_atom>(
    ex, caf::duration{read_wait},
    [name](ok_atom) {
      return json{{"removed", name}};
    },
    sink_rm_atom::value, name);
}

void test_sink(front_impl& f, const exchange_ptr& ex, const route_args& args) {
  auto name = args[0];
  f.answer_with<delivery_record>(
    ex, caf::duration{std::chrono::seconds(40)},
    [name](delivery_record& r) { return sink_test_json(name, r); },
    sink_test_atom::value, name);
}

void list_sinks(front_impl& f, const exchange_ptr& ex, const route_args&) {
  f.answer_with<std::vector<sink_status>>(
    ex, caf::duration{read_wait},
    [](std::vector<sink_status>& xs) {
      auto j = json::array();
      for (auto& x : xs)
        j.push_back(to_json(x));
      return j;
    },
    sink_show_atom::value);
}

void failed_deliveries(front_impl& f, const exchange_ptr& ex,
                       const route_args&) {
  auto q = query_from_params(ex->req().params, false);
  if (!q)
    return ex->reply(error_response(q.error()));
  f.answer_with<std::vector<delivery_failure>>(
    ex, caf::duration{read_wait},
    [](std::vector<delivery_failure>& xs) {
      auto j = json::array();
      for (auto& x : xs)
        j.push_back(to_json(x));
      return j;
    },
    delivery_atom::value, q->limit);
}

} // namespace

void add_admin_routes(std::vector<route>& routes) {
  // The writes on one subscription or agent are POSTs of the CLI's verb to
  // it: /v1/agents/{name} keeps only GET (its other methods stay 405).
  routes.push_back({"GET", "/v1/ping", ping});
  routes.push_back({"POST", "/v1/subscriptions", add_subscription});
  routes.push_back({"POST", "/v1/subscriptions/*/remove", remove_subscription});
  for (auto op : {subscription_op::drain, subscription_op::undrain,
                  subscription_op::reset})
    routes.push_back(
      {"POST", std::string{"/v1/subscriptions/*/"} + to_string(op),
       [op](front_impl& f, const exchange_ptr& ex, const route_args& args) {
         change_subscription(f, ex, args, op);
       }});
  routes.push_back({"POST", "/v1/subscriptions/*/set", cap_subscription});
  routes.push_back({"POST", "/v1/agents", add_agent});
  // Before the container operations: these are not ones.
  routes.push_back({"POST", "/v1/agents/*/remove", remove_agent});
  routes.push_back({"POST", "/v1/agents/*/set", set_agent});
  routes.push_back({"POST", "/v1/agents/*/assign", assign});
  routes.push_back({"POST", "/v1/agents/*/*", lifecycle});
  routes.push_back({"GET", "/v1/settings", get_settings});
  routes.push_back({"GET", "/v1/settings/*", get_setting});
  routes.push_back({"PUT", "/v1/settings/*", put_setting});
  routes.push_back({"GET", "/v1/sinks", list_sinks});
  routes.push_back({"POST", "/v1/sinks", add_sink});
  routes.push_back({"POST", "/v1/sinks/*/remove", remove_sink});
  routes.push_back({"POST", "/v1/sinks/*/test", test_sink});
  routes.push_back({"GET", "/v1/notifications/failed", failed_deliveries});
}

} // namespace sb::http
