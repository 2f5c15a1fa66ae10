#include "docker_client/docker_api.hpp"

#include "messages/error.hpp"

#include <cctype>
#include <cstdio>

namespace sb::docker {

namespace {

constexpr const char* api_prefix = "http://localhost/v1.41";

std::string engine_message(const std::string& body) {
  try {
    auto doc = nlohmann::json::parse(body);
    if (doc.contains("message") && doc["message"].is_string())
      return doc["message"].get<std::string>();
  } catch (...) {
    // not JSON
  }
  return body.substr(0, 200);
}

std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string str(const nlohmann::json& doc, const char* key) {
  auto i = doc.find(key);
  if (i == doc.end() || !i->is_string())
    return {};
  return i->get<std::string>();
}

/// One line of GET /events.
bool parse_event(const std::string& line, docker_event& ev) {
  try {
    auto doc = nlohmann::json::parse(line);
    ev.action = str(doc, "Action");
    if (auto actor = doc.find("Actor"); actor != doc.end()) {
      ev.id = str(*actor, "ID");
      if (auto attrs = actor->find("Attributes"); attrs != actor->end())
        ev.name = str(*attrs, "name");
    }
    ev.time_nano = doc.value("timeNano", int64_t{0});
    return true;
  } catch (...) {
    return false;
  }
}

std::string events_filters(const std::string& container) {
  nlohmann::json filters = {{"type", {"container"}}};
  if (!container.empty())
    filters["container"] = {container};
  return url_escape(filters.dump());
}

} // namespace

container_info parse_container_info(const nlohmann::json& doc) {
  container_info info;
  info.raw = doc;
  info.id = str(doc, "Id");
  info.name = str(doc, "Name");
  if (!info.name.empty() && info.name[0] == '/')
    info.name.erase(0, 1);
  if (auto cfg = doc.find("Config"); cfg != doc.end() && cfg->is_object()) {
    info.image = str(*cfg, "Image");
    if (auto env = cfg->find("Env"); env != cfg->end() && env->is_array())
      for (auto& e : *env)
        if (e.is_string())
          info.env.push_back(e.get<std::string>());
    if (auto labels = cfg->find("Labels");
        labels != cfg->end() && labels->is_object())
      for (auto& [k, v] : labels->items())
        if (v.is_string())
          info.labels[k] = v.get<std::string>();
  }
  if (auto state = doc.find("State");
      state != doc.end() && state->is_object()) {
    info.status = str(*state, "Status");
    info.running = state->value("Running", false);
    info.pid = state->value("Pid", int64_t{0});
    info.started_at = str(*state, "StartedAt");
  }
  if (auto hc = doc.find("HostConfig"); hc != doc.end() && hc->is_object())
    info.network_mode = str(*hc, "NetworkMode");
  if (auto ns = doc.find("NetworkSettings");
      ns != doc.end() && ns->is_object()) {
    info.ip_address = str(*ns, "IPAddress");
    if (auto nets = ns->find("Networks");
        info.ip_address.empty() && nets != ns->end() && nets->is_object())
      for (auto& [k, v] : nets->items())
        if (v.is_object() && !str(v, "IPAddress").empty()) {
          info.ip_address = str(v, "IPAddress");
          break;
        }
  }
  return info;
}

docker_api::docker_api(std::string socket_path,
                       std::chrono::milliseconds timeout)
    : socket_(std::move(socket_path)), timeout_(timeout), http_(socket_) {
  // nop
}

caf::expected<http_response>
docker_api::call(const std::string& method, const std::string& path,
                 const std::string& body, const std::string& what,
                 std::chrono::milliseconds timeout) {
  auto res = http_.request(method, api_prefix + path, body, timeout);
  if (!res) {
    if (is(res.error(), ec::docker_unreachable))
      return make_error(ec::docker_unreachable, "docker engine unreachable at "
                                                  + socket_ + " (" + what
                                                  + ")");
    if (is(res.error(), ec::timeout))
      return make_error(
        ec::timeout, "docker engine at " + socket_ + " did not answer " + what
                       + " within " + std::to_string(timeout.count()) + " ms");
    return res.error();
  }
  if (res->status == 404)
    return make_error(ec::not_found, what + ": " + engine_message(res->body));
  if (res->status == 409)
    return make_error(ec::conflict, what + ": " + engine_message(res->body));
  if (res->status >= 400)
    return make_error(ec::docker_failure,
                      what + " failed (HTTP " + std::to_string(res->status)
                        + "): " + engine_message(res->body));
  return res;
}

caf::expected<std::string> docker_api::version() {
  auto res = call("GET", "/version", {}, "version", timeout_);
  if (!res)
    return res.error();
  try {
    return nlohmann::json::parse(res->body).at("ApiVersion").get<std::string>();
  } catch (const std::exception& e) {
    return make_error(ec::docker_failure,
                      std::string{"unexpected /version answer: "} + e.what());
  }
}

caf::expected<container_info> docker_api::inspect(const std::string& c) {
  auto res = call("GET", "/containers/" + url_escape(c) + "/json", {},
                  "inspect " + c, timeout_);
  if (!res)
    return res.error();
  try {
    return parse_container_info(nlohmann::json::parse(res->body));
  } catch (const std::exception& e) {
    return make_error(ec::docker_failure,
                      "unexpected inspect answer for " + c + ": " + e.what());
  }
}

caf::expected<std::string> docker_api::create(const std::string& name,
                                              const nlohmann::json& config) {
  auto res = call("POST", "/containers/create?name=" + url_escape(name),
                  config.dump(), "create " + name, timeout_);
  if (!res)
    return res.error();
  try {
    return nlohmann::json::parse(res->body).at("Id").get<std::string>();
  } catch (const std::exception& e) {
    return make_error(ec::docker_failure,
                      "unexpected create answer for " + name + ": " + e.what());
  }
}

caf::error docker_api::start(const std::string& c) {
  auto res = call("POST", "/containers/" + url_escape(c) + "/start", {},
                  "start " + c, timeout_);
  return res ? caf::none : res.error();
}

caf::error docker_api::stop(const std::string& c, std::chrono::seconds grace) {
  // The engine waits `grace` before it kills: give the call that long extra.
  auto res = call("POST",
                  "/containers/" + url_escape(c)
                    + "/stop?t=" + std::to_string(grace.count()),
                  {}, "stop " + c, timeout_ + grace);
  return res ? caf::none : res.error();
}

caf::error docker_api::remove(const std::string& c, bool force) {
  auto res
    = call("DELETE",
           "/containers/" + url_escape(c) + (force ? "?force=1&v=1" : "?v=1"),
           {}, "remove " + c, timeout_);
  return res ? caf::none : res.error();
}

caf::error docker_api::rename(const std::string& c, const std::string& name) {
  auto res = call(
    "POST", "/containers/" + url_escape(c) + "/rename?name=" + url_escape(name),
    {}, "rename " + c, timeout_);
  return res ? caf::none : res.error();
}

caf::expected<std::vector<container_info>>
docker_api::list(const std::string& label) {
  std::string path = "/containers/json?all=1";
  if (!label.empty())
    path += "&filters=" + url_escape(nlohmann::json{{"label", {label}}}.dump());
  auto res = call("GET", path, {}, "list containers", timeout_);
  if (!res)
    return res.error();
  std::vector<container_info> result;
  try {
    for (auto& entry : nlohmann::json::parse(res->body)) {
      container_info info;
      info.id = str(entry, "Id");
      if (auto names = entry.find("Names");
          names != entry.end() && names->is_array() && !names->empty())
        info.name = names->at(0).get<std::string>();
      if (!info.name.empty() && info.name[0] == '/')
        info.name.erase(0, 1);
      info.image = str(entry, "Image");
      info.status = str(entry, "State");
      info.running = info.status == "running";
      if (auto labels = entry.find("Labels");
          labels != entry.end() && labels->is_object())
        for (auto& [k, v] : labels->items())
          if (v.is_string())
            info.labels[k] = v.get<std::string>();
      info.raw = entry;
      result.push_back(std::move(info));
    }
  } catch (const std::exception& e) {
    return make_error(ec::docker_failure,
                      std::string{"unexpected list answer: "} + e.what());
  }
  return result;
}

caf::expected<int64_t> docker_api::wait(const std::string& c,
                                        std::chrono::milliseconds timeout) {
  auto res = call("POST", "/containers/" + url_escape(c) + "/wait", {},
                  "wait " + c, timeout);
  if (!res)
    return res.error();
  try {
    return nlohmann::json::parse(res->body).at("StatusCode").get<int64_t>();
  } catch (const std::exception& e) {
    return make_error(ec::docker_failure,
                      "unexpected wait answer for " + c + ": " + e.what());
  }
}

caf::expected<std::vector<docker_event>>
docker_api::events(int64_t since, int64_t until, const std::string& c) {
  auto path = "/events?since=" + std::to_string(since) + "&until="
              + std::to_string(until) + "&filters=" + events_filters(c);
  auto res = call("GET", path, {}, "events", timeout_);
  if (!res)
    return res.error();
  // One JSON object per line.
  std::vector<docker_event> result;
  size_t pos = 0;
  while (pos < res->body.size()) {
    auto end = res->body.find('\n', pos);
    if (end == std::string::npos)
      end = res->body.size();
    docker_event ev;
    if (parse_event(res->body.substr(pos, end - pos), ev))
      result.push_back(std::move(ev));
    pos = end + 1;
  }
  return result;
}

caf::error docker_api::watch_events(
  int64_t since, const std::function<bool(const docker_event&)>& on_event,
  std::chrono::milliseconds listen, const std::string& c) {
  http_client stream_http{socket_};
  std::string url
    = std::string{api_prefix} + "/events?filters=" + events_filters(c);
  if (since > 0)
    url += "&since=" + std::to_string(since);
  std::string pending;
  auto res = stream_http.stream(
    "GET", url,
    [&](const char* data, size_t n) {
      pending.append(data, n);
      size_t end;
      while ((end = pending.find('\n')) != std::string::npos) {
        docker_event ev;
        auto line = pending.substr(0, end);
        pending.erase(0, end + 1);
        if (parse_event(line, ev) && !on_event(ev))
          return false;
      }
      return true;
    },
    listen);
  if (!res)
    return res.error();
  if (*res >= 400)
    return make_error(ec::docker_failure, "events stream refused (HTTP "
                                            + std::to_string(*res) + ")");
  return caf::none;
}

} // namespace sb::docker
