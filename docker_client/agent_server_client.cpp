#include "docker_client/agent_server_client.hpp"

#include "messages/error.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace sb::docker {

namespace {

std::string base_url(const std::string& host, uint16_t port) {
  return "http://" + host + ":" + std::to_string(port);
}

} // namespace

reload_result agent_server_client::reload_token(
  const std::string& host, uint16_t port, const std::string& token,
  bool remove_api_key, std::chrono::milliseconds timeout, uint64_t generation,
  const std::string& secret, const token_terms& terms) {
  auto url = base_url(host, port) + "/api/credentials/reload-token";
  nlohmann::json body = {{"token", token}, {"remove_api_key", remove_api_key}};
  if (generation > 0)
    body["generation"] = generation;
  // The credential document the agent's CLI needs besides the token.
  if (terms.expires_at > 0)
    body["expires_at"] = terms.expires_at;
  if (!terms.scopes.empty())
    body["scopes"] = terms.scopes;
  body["kind"] = to_string(terms.kind);
  std::vector<std::string> headers;
  if (!secret.empty())
    headers.push_back(std::string{secret_header} + ": " + secret);
  auto res = http_.request("POST", url, body.dump(), timeout, headers);
  reload_result out;
  if (!res) {
    out.outcome = is(res.error(), ec::timeout) ? reload_result::timeout
                                               : reload_result::unreachable;
    out.detail = render(res.error());
    return out;
  }
  out.status = res->status;
  if (res->status >= 200 && res->status < 300) {
    out.outcome = reload_result::reloaded;
    out.detail = "agent server at " + host + ":" + std::to_string(port)
                 + " reloaded the token";
  } else if (res->status == 404) {
    out.outcome = reload_result::not_supported;
    out.detail = "agent server at " + host + ":" + std::to_string(port)
                 + " has no reload endpoint (404)";
  } else {
    out.outcome = reload_result::rejected;
    out.detail = "agent server at " + host + ":" + std::to_string(port)
                 + " refused the reload (HTTP " + std::to_string(res->status)
                 + ")";
  }
  return out;
}

caf::expected<std::string> read_secret(const std::string& path) {
  if (path.empty())
    return std::string{};
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(ec::invalid_argument,
                      "cannot read the agent secret file '" + path + "'");
  std::string text;
  char buf[4096];
  // A secret is short: at most 4 KiB are read.
  in.read(buf, sizeof(buf));
  text.assign(buf, static_cast<size_t>(in.gcount()));
  auto first = text.find_first_not_of(" \t\r\n");
  auto last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos)
    return make_error(ec::invalid_argument,
                      "the agent secret file '" + path + "' is empty");
  return text.substr(first, last - first + 1);
}

bool agent_server_client::healthy(const std::string& host, uint16_t port,
                                  std::chrono::milliseconds timeout) {
  auto res
    = http_.request("GET", base_url(host, port) + "/health", {}, timeout);
  return res && res->status >= 200 && res->status < 300;
}

} // namespace sb::docker
