// The HTTP front's pure half (http/routes.hpp).

#include "http/routes.hpp"

#include "messages/credential_file.hpp"
#include "messages/error.hpp"
#include "messages/kinds.hpp"
#include "messages/time.hpp"
#include "messages/validate.hpp"

#include <caf/sec.hpp>

#include <cmath>
#include <set>

namespace sb::http {

namespace {

using json = nlohmann::json;

caf::error bad(std::string what) {
  return make_error(ec::invalid_argument, std::move(what));
}

/// Reads the fields of one JSON object, each at most once, and refuses any
/// field it was not asked for.
class fields {
public:
  explicit fields(const json& object) : object_(object) {
    // nop
  }

  /// A string field; nothing if absent (null counts as absent).
  caf::expected<std::optional<std::string>> text(const char* name) {
    auto x = take(name);
    if (!x)
      return std::optional<std::string>{};
    if (!x->is_string())
      return bad(std::string{"'"} + name + "' must be a string");
    return std::optional<std::string>{x->get<std::string>()};
  }

  /// A whole number from lo to hi.
  caf::expected<std::optional<int64_t>> whole(const char* name, int64_t lo,
                                              int64_t hi) {
    auto x = take(name);
    if (!x)
      return std::optional<int64_t>{};
    auto out_of_range
      = bad(std::string{"'"} + name + "' must be a whole number from "
            + std::to_string(lo) + " to " + std::to_string(hi));
    if (!x->is_number_integer())
      return out_of_range;
    if (x->is_number_unsigned()) {
      auto v = x->get<uint64_t>();
      if (v > static_cast<uint64_t>(hi))
        return out_of_range;
      return std::optional<int64_t>{static_cast<int64_t>(v)};
    }
    auto v = x->get<int64_t>();
    if (v < lo || v > hi)
      return out_of_range;
    return std::optional<int64_t>{v};
  }

  /// A number (integer or not) from lo to hi.
  caf::expected<std::optional<double>> number(const char* name, double lo,
                                              double hi) {
    auto x = take(name);
    if (!x)
      return std::optional<double>{};
    if (!x->is_number())
      return bad(std::string{"'"} + name + "' must be a number");
    auto v = x->get<double>();
    if (!std::isfinite(v) || v < lo || v > hi)
      return bad(std::string{"'"} + name + "' must be from "
                 + std::to_string(static_cast<int64_t>(lo)) + " to "
                 + std::to_string(static_cast<int64_t>(hi)));
    return std::optional<double>{v};
  }

  /// The raw value, or nullptr if absent or null.
  const json* take(const char* name) {
    taken_.insert(name);
    auto i = object_.find(name);
    if (i == object_.end() || i->is_null())
      return nullptr;
    return &*i;
  }

  /// An error naming the first field nobody asked for.
  caf::error unknown() const {
    for (auto& [key, value] : object_.items())
      if (taken_.count(key) == 0)
        return bad("unknown field '" + sanitize_text(key, 64) + "'");
    return caf::none;
  }

private:
  const json& object_;
  std::set<std::string> taken_;
};

/// Parses a body that must be one JSON object. A key given twice in any
/// object, at any depth, is refused: nlohmann would keep the last one, and
/// a caller who sends two values must not have one of them silently
/// ignored. The error names the key (sanitized), never a value.
caf::expected<json> parse_object(std::string_view body) {
  // The keys seen so far in each object being read, innermost last.
  std::vector<std::set<std::string>> open;
  std::optional<std::string> repeated;
  json::parser_callback_t track
    = [&open, &repeated](int, json::parse_event_t event, json& parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
          open.emplace_back();
          break;
        case json::parse_event_t::object_end:
          if (!open.empty())
            open.pop_back();
          break;
        case json::parse_event_t::key:
          if (!open.empty() && parsed.is_string()
              && !open.back().insert(parsed.get<std::string>()).second
              && !repeated)
            repeated = parsed.get<std::string>();
          break;
        default:
          break;
        }
        return true;
      };
  auto doc = json::parse(body.begin(), body.end(), track, false);
  if (doc.is_discarded())
    return bad("the body is not valid JSON");
  if (repeated)
    return bad("field '" + sanitize_text(*repeated, 64)
               + "' is given more than once");
  if (!doc.is_object())
    return bad("the body must be a JSON object");
  return doc;
}

/// "headers": {"name": "value" | ["value", ...]}.
caf::error read_headers(const json* x, std::vector<http_header>& out) {
  if (x == nullptr)
    return caf::none;
  if (!x->is_object())
    return bad("'headers' must be an object of header names to values");
  for (auto& [name, value] : x->items()) {
    if (value.is_string()) {
      out.push_back({name, value.get<std::string>()});
      continue;
    }
    if (!value.is_array())
      return bad("header '" + sanitize_utf8(name, 64)
                 + "' must be a string or an array of strings");
    for (auto& v : value) {
      if (!v.is_string())
        return bad("header '" + sanitize_utf8(name, 64)
                   + "' must be a string or an array of strings");
      out.push_back({name, v.get<std::string>()});
    }
  }
  // The body's bound limits how many; the FRONT DOOR's validate_headers
  // checks the count, the names and the values.
  return caf::none;
}

/// The credential fields a report and an observation share.
template<class T>
caf::error read_identity(fields& f, T& x) {
  auto sub = f.text("subscription");
  if (!sub)
    return sub.error();
  x.subscription = sub->value_or("");
  auto sha = f.text("token_sha256");
  if (!sha)
    return sha.error();
  x.token_sha256 = sha->value_or("");
  auto gen = f.whole("generation", 0, INT64_MAX);
  if (!gen)
    return gen.error();
  if (*gen)
    x.generation = static_cast<uint64_t>(**gen);
  auto source = f.text("source");
  if (!source)
    return source.error();
  x.source = source->value_or("");
  auto model = f.text("model");
  if (!model)
    return model.error();
  x.model = model->value_or("");
  return caf::none;
}

caf::error read_agent(fields& f, std::string& agent) {
  auto name = f.text("agent");
  if (!name)
    return name.error();
  if (!*name)
    return bad("'agent' is required");
  agent = std::move(**name);
  return caf::none;
}

caf::error read_report_extras(fields& f, failure_report& r) {
  auto kind = f.text("kind");
  if (!kind)
    return kind.error();
  if (*kind) {
    auto k = parse_kind<failure_kind>(**kind);
    if (!k
        || (*k != failure_kind::rate_limit && *k != failure_kind::auth
            && *k != failure_kind::concurrency))
      return bad("'kind' must be rate_limit, auth or concurrency");
    r.kind = *k;
  }
  auto error = f.text("error");
  if (!error)
    return error.error();
  r.error = error->value_or("");
  auto retry = f.number("retry_after", 0, 366.0 * 86400);
  if (!retry)
    return retry.error();
  if (*retry)
    r.retry_after_ms = static_cast<int64_t>(std::llround(**retry * 1000));
  auto reset = f.text("reset_at");
  if (!reset)
    return reset.error();
  if (*reset) {
    auto t = parse_iso(**reset);
    if (!t)
      return bad("'reset_at' must look like 2026-11-27T22:00:00Z");
    r.reset_at = *t;
  }
  auto execution = f.text("execution_id");
  if (!execution)
    return execution.error();
  r.execution_id = execution->value_or("");
  return caf::none;
}

/// A required string field that must be a valid name (validate_name(),
/// `what` names it in the error: "agent name").
caf::error read_name(fields& f, const char* field, std::string_view what,
                     std::string& out) {
  auto x = f.text(field);
  if (!x)
    return x.error();
  if (!*x)
    return bad(std::string{"'"} + field + "' is required");
  if (auto err = validate_name(what, **x))
    return err;
  out = std::move(**x);
  return caf::none;
}

/// An optional string field that must be a valid name when given (and not
/// empty: "" is absent, as an omitted CLI option).
caf::error read_optional_name(fields& f, const char* field,
                              std::string_view what, std::string& out) {
  auto x = f.text(field);
  if (!x)
    return x.error();
  if (!*x || (*x)->empty())
    return caf::none;
  if (auto err = validate_name(what, **x))
    return err;
  out = std::move(**x);
  return caf::none;
}

/// A setting's value as text, as `switchboard settings set KEY VALUE` would
/// pass it: a whole number in decimal, a fraction in its shortest form
/// ("0.95"), true and false as on and off.
caf::expected<std::string> setting_text(const json& x) {
  if (x.is_string())
    return x.get<std::string>();
  if (x.is_boolean())
    return std::string{x.get<bool>() ? "on" : "off"};
  if (x.is_number_unsigned())
    return std::to_string(x.get<uint64_t>());
  if (x.is_number_integer())
    return std::to_string(x.get<int64_t>());
  if (x.is_number_float()) {
    auto v = x.get<double>();
    if (!std::isfinite(v))
      return bad("'value' must be a finite number");
    // 6.0 is the whole number 6: the daemon's whole-number settings take it.
    if (v == std::trunc(v) && std::fabs(v) < 1e15)
      return std::to_string(static_cast<int64_t>(v));
    return x.dump();
  }
  return bad("'value' must be a string, a number or true/false");
}

} // namespace

/// A subscription's credential: "token" (with "expires_at" when known) or
/// "oauth_document" (a login file's content: Claude Code's
/// .credentials.json or Codex's auth.json) with an optional "token_url".
caf::error read_subscription_credential(fields& f, subscription_spec& out) {
  auto token = f.text("token");
  if (!token)
    return token.error();
  auto expires = f.text("expires_at");
  if (!expires)
    return expires.error();
  auto url = f.text("token_url");
  if (!url)
    return url.error();
  auto doc = f.take("oauth_document");
  if (static_cast<bool>(*token) == (doc != nullptr))
    return bad("one of 'token' or 'oauth_document' is required");
  if (doc != nullptr) {
    if (*expires)
      return bad("'expires_at' is for a token; a login says when its access "
                 "token expires");
    if (auto err = read_login_document(doc->dump(), out))
      return err;
    out.token_url = url->value_or(std::string{});
    return caf::none;
  }
  if (*url)
    return bad("'token_url' is for an oauth login ('oauth_document')");
  // The checks of `subscription add --token-file`: surrounding whitespace
  // (a file's trailing newline) goes, then validate_token. Neither error
  // quotes the token.
  out.token.value = trim_token(**token);
  if (auto err = validate_token(out.token.value))
    return err;
  if (*expires) {
    auto at = parse_iso_instant(**expires);
    if (!at || *at <= 0)
      return bad("'expires_at' must be an ISO instant such as "
                 "2027-06-01T00:00:00Z");
    out.terms.expires_at = *at;
  } else if (auto exp = jwt_expiry(out.token.value)) {
    out.terms.expires_at = *exp;
  }
  return caf::none;
}

caf::expected<subscription_spec>
subscription_add_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  subscription_spec result;
  if (auto err = read_name(f, "name", "subscription name", result.name))
    return err;
  auto provider = f.text("provider");
  if (!provider)
    return provider.error();
  if (*provider) {
    auto p = parse_kind<provider_kind>(**provider);
    if (!p)
      return bad("'provider' is one of anthropic, codex, openai, gemini");
    result.provider = *p;
  }
  if (auto err = read_subscription_credential(f, result))
    return err;
  if (auto err = read_optional_name(f, "pool", "pool name", result.pool))
    return err;
  auto cap = f.whole("max_agents", 0, 1000000);
  if (!cap)
    return cap.error();
  if (*cap)
    result.max_agents = static_cast<uint32_t>(**cap);
  if (auto err = f.unknown())
    return err;
  return result;
}

caf::expected<sink_spec> sink_add_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  sink_spec spec;
  if (auto err = read_name(f, "name", "sink name", spec.name))
    return err;
  auto kind = f.text("kind");
  if (!kind)
    return kind.error();
  auto k = *kind ? parse_sink_kind(**kind) : std::nullopt;
  if (!k)
    return bad("'kind' is one of webhook, slack, discord, telegram");
  spec.kind = *k;
  // The secrets: trimmed like the CLI's files, never quoted back.
  for (auto [name, out] : {std::pair{"url", &spec.url.value},
                           std::pair{"secret", &spec.signing_secret.value},
                           std::pair{"chat_id", &spec.chat_id.value}}) {
    auto x = f.text(name);
    if (!x)
      return x.error();
    if (*x)
      *out = trim_token(**x);
  }
  if (auto* events = f.take("events")) {
    if (!events->is_array())
      return bad("'events' must be an array of event types");
    for (auto& e : *events) {
      if (!e.is_string())
        return bad("'events' must be an array of event types");
      spec.events.push_back(e.get<std::string>());
    }
  }
  auto lowest = f.text("min_severity");
  if (!lowest)
    return lowest.error();
  if (*lowest)
    spec.min_severity = **lowest;
  if (auto* digest = f.take("digest")) {
    if (!digest->is_boolean())
      return bad("'digest' must be true or false");
    spec.digest = digest->get<bool>();
  }
  if (auto err = f.unknown())
    return err;
  if (auto err = validate(spec))
    return err;
  return spec;
}

caf::expected<agent_spec> agent_add_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  agent_spec spec;
  if (auto err = read_name(f, "name", "agent name", spec.name))
    return err;
  if (auto err = read_optional_name(f, "subscription", "subscription name",
                                    spec.subscription))
    return err;
  auto container = f.text("container");
  if (!container)
    return container.error();
  if (*container && !(*container)->empty()) {
    if (auto err = check_container_name(**container))
      return err;
    spec.container = std::move(**container);
  }
  if (auto err = read_optional_name(f, "pool", "pool name", spec.pool))
    return err;
  if (auto err = f.unknown())
    return err;
  return spec;
}

caf::expected<auto_switch_mode> agent_set_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  auto value = f.text("auto_switch");
  if (!value)
    return value.error();
  if (!*value)
    return bad("'auto_switch' is required");
  auto mode = parse_kind<auto_switch_mode>(**value);
  if (!mode)
    return bad("'auto_switch' must be on or off");
  if (auto err = f.unknown())
    return err;
  return *mode;
}

caf::expected<std::string> assign_from_json(std::string_view body,
                                            bool* force) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  std::string subscription;
  if (auto err
      = read_name(f, "subscription", "subscription name", subscription))
    return err;
  if (auto x = f.take("force")) {
    if (!x->is_boolean())
      return bad("'force' must be true or false");
    if (force != nullptr)
      *force = x->get<bool>();
  }
  if (auto err = f.unknown())
    return err;
  return subscription;
}

caf::expected<uint32_t> max_agents_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  auto n = f.whole("max_agents", 0, 1000000);
  if (!n)
    return n.error();
  if (!*n)
    return bad("'max_agents' is required (0 = no cap)");
  if (auto err = f.unknown())
    return err;
  return static_cast<uint32_t>(**n);
}

caf::expected<std::string> setting_value_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  auto x = f.take("value");
  if (!x)
    return bad("'value' is required");
  auto text = setting_text(*x);
  if (!text)
    return text.error();
  if (auto err = f.unknown())
    return err;
  return text;
}

caf::expected<container_op> container_op_of(std::string_view word) {
  auto op = parse_kind<container_op>(word);
  if (!op
      || (*op != container_op::start && *op != container_op::stop
          && *op != container_op::restart))
    return make_error(ec::not_found, "unknown agent operation '"
                                       + sanitize_text(word, 64)
                                       + "' (start, stop or restart)");
  return *op;
}

caf::expected<failure_report> report_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  failure_report r;
  if (auto err = read_agent(f, r.agent))
    return err;
  auto status = f.whole("status", 0, 999);
  if (!status)
    return status.error();
  r.status = static_cast<int32_t>(status->value_or(0));
  if (auto err = read_report_extras(f, r))
    return err;
  if (auto err = read_identity(f, r))
    return err;
  if (auto err = read_headers(f.take("headers"), r.headers))
    return err;
  if (auto err = f.unknown())
    return err;
  return r;
}

caf::expected<observation> observation_from_json(std::string_view body) {
  auto doc = parse_object(body);
  if (!doc)
    return doc.error();
  fields f{*doc};
  observation o;
  if (auto err = read_agent(f, o.agent))
    return err;
  if (auto err = read_identity(f, o))
    return err;
  if (auto err = read_headers(f.take("headers"), o.headers))
    return err;
  if (auto err = f.unknown())
    return err;
  return o;
}

caf::expected<query>
query_from_params(const std::multimap<std::string, std::string>& params,
                  bool with_subscription) {
  query q;
  for (auto& [key, value] : params) {
    if (params.count(key) > 1)
      return bad("query parameter '" + sanitize_utf8(key, 64)
                 + "' is given more than once");
    if (key == "agent") {
      q.agent = value;
    } else if (key == "subscription" && with_subscription) {
      q.subscription = value;
    } else if (key == "limit") {
      uint64_t n = 0;
      bool digits
        = !value.empty() && value.size() <= 9
          && value.find_first_not_of("0123456789") == std::string::npos;
      if (digits)
        n = std::stoull(value);
      if (!digits || n < 1 || n > max_query_limit)
        return bad("limit must be from 1 to "
                   + std::to_string(max_query_limit));
      q.limit = static_cast<uint32_t>(n);
    } else if (key == "before") {
      bool digits
        = !value.empty() && value.size() <= 18
          && value.find_first_not_of("0123456789") == std::string::npos;
      if (!digits)
        return bad("before must be an id (the X-Switchboard-Next header of "
                   "the previous page)");
      q.before = std::stoll(value);
    } else {
      return bad("unknown query parameter '" + sanitize_utf8(key, 64) + "'");
    }
  }
  if (auto err = validate_query(q))
    return err;
  return q;
}

int status_of(const caf::error& err) {
  if (err.category() == error_category) {
    switch (static_cast<ec>(err.code())) {
    case ec::invalid_name:
    case ec::invalid_argument:
      return 400;
    case ec::unknown_agent:
    case ec::unknown_subscription:
    case ec::not_found:
      return 404;
    case ec::duplicate_agent:
    case ec::conflict:
      return 409;
    case ec::forbidden:
      return 403;
    case ec::unauthenticated:
      return 401;
    case ec::unavailable:
    case ec::shutting_down:
    case ec::docker_unreachable:
      return 503;
    case ec::timeout:
      return 504;
    default:
      return 500;
    }
  }
  if (err == caf::sec::request_timeout)
    return 504;
  if (err == caf::sec::request_receiver_down)
    return 503;
  return 500;
}

json error_json(std::string_view code, std::string_view message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

json error_json(const caf::error& err) {
  std::string code;
  if (err.category() == error_category)
    code = to_string(static_cast<ec>(err.code()));
  else if (err == caf::sec::request_timeout)
    code = "timeout";
  else if (err == caf::sec::request_receiver_down)
    code = "unavailable";
  else
    code = "internal";
  return error_json(code, render(err));
}

bool any_container(const status_info& st) {
  return st.store && st.store->containers > 0;
}

readiness judge_readiness(const status_info& st, std::optional<bool> engine_up,
                          bool draining) {
  readiness r;
  auto no = [&r](std::string why) {
    r.ready = false;
    r.reasons.push_back(std::move(why));
  };
  if (draining)
    no("the daemon is shutting down");
  for (auto& c : st.components)
    if (c.state != health::running)
      no("component " + c.name + " did not answer: " + c.error);
  if (st.store && !st.store->writable)
    no("the store cannot write: " + st.store->write_error);
  if (any_container(st) && engine_up && !*engine_up)
    no("the Docker engine does not answer");
  return r;
}

metric_gauges gauges_of(const status_info& st, bool engine_up) {
  metric_gauges g;
  g.agents = st.agents;
  if (st.pool) {
    g.subscriptions = st.pool->subscriptions;
    g.subscriptions_excluded = st.pool->excluded;
    auto now = wall_clock_ms();
    for (auto& [name, p] : st.pool->pools) {
      auto& out = g.pools[name];
      out.subscriptions = p.subscriptions;
      out.excluded = p.excluded;
      if (p.soonest_expiry > 0)
        out.expiry_seconds
          = static_cast<double>(p.soonest_expiry - now) / 1000.0;
    }
  }
  if (st.store) {
    g.notifications_pending = st.store->notifications_pending;
    g.agents_behind = st.store->agents_behind;
    g.containers = st.store->containers;
  }
  g.docker_engine_up = engine_up;
  for (auto& c : st.components)
    if (c.state != health::running)
      ++g.components_unresponsive;
  if (st.intake)
    g.intake = *st.intake;
  return g;
}

} // namespace sb::http
