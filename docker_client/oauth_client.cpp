#include "docker_client/oauth_client.hpp"

#include "docker_client/http.hpp"
#include "messages/credential_file.hpp"
#include "messages/error.hpp"
#include "messages/text_list.hpp"
#include "messages/validate.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace sb::docker {

namespace {

using json = nlohmann::json;

/// A grant lasts an hour when neither expires_in nor the token says.
constexpr millis default_lifetime = 3600 * 1000;

/// A field of an answer that a refresh may carry: a usable token or "".
std::string token_field(const json& doc, const char* key) {
  auto i = doc.find(key);
  if (i == doc.end() || !i->is_string())
    return {};
  auto text = i->get<std::string>();
  return validate_token(text) ? std::string{} : text;
}

/// The error code of an OAuth answer: {"error": "invalid_grant"} (RFC 6749,
/// Anthropic) or {"error": {"code": "refresh_token_reused"}} (OpenAI).
std::string error_code(const json& doc) {
  if (!doc.is_object())
    return {};
  auto i = doc.find("error");
  if (i == doc.end())
    return doc.value("code", std::string{});
  if (i->is_string())
    return i->get<std::string>();
  if (i->is_object()) {
    for (auto key : {"code", "type"}) {
      auto j = i->find(key);
      if (j != i->end() && j->is_string())
        return j->get<std::string>();
    }
  }
  return {};
}

bool rejects_refresh_token(const std::string& code) {
  return code == "invalid_grant" || code == "refresh_token_reused"
         || code == "refresh_token_expired"
         || code == "refresh_token_invalidated";
}

/// Retry-After: seconds, or an HTTP date; 0 when absent or unreadable.
millis retry_after_of(const std::map<std::string, std::string>& headers,
                      millis now) {
  auto i = headers.find("retry-after");
  if (i == headers.end())
    return 0;
  auto& text = i->second;
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      })) {
    auto seconds = text.size() > 9 ? int64_t{999999999} : std::stoll(text);
    return std::min<millis>(seconds * 1000, millis{7} * 24 * 3600 * 1000);
  }
  auto at = curl_getdate(text.c_str(), nullptr);
  if (at <= 0)
    return 0;
  auto delta = static_cast<millis>(at) * 1000 - now;
  return std::clamp<millis>(delta, 0, millis{7} * 24 * 3600 * 1000);
}

refresh_outcome granted(const json& doc, millis now) {
  refresh_outcome out;
  auto access = token_field(doc, "access_token");
  if (access.empty()) {
    out.detail = "the token endpoint answered without an access token";
    return out;
  }
  out.result = refresh_outcome::verdict::granted;
  out.detail = "granted";
  auto& g = out.grant;
  g.access_token.value = access;
  g.refresh_token.value = token_field(doc, "refresh_token");
  g.id_token.value = token_field(doc, "id_token");
  auto lifetime = doc.find("expires_in");
  if (lifetime != doc.end() && lifetime->is_number() && *lifetime > 0)
    g.expires_at
      = now
        + static_cast<millis>(
          std::min(lifetime->get<double>(), 400.0 * 24 * 3600) * 1000);
  else if (auto exp = jwt_expiry(access); exp && *exp > now)
    g.expires_at = *exp;
  else
    g.expires_at = now + default_lifetime;
  auto scope = doc.find("scope");
  if (scope != doc.end() && scope->is_string())
    g.scopes = split_list(scope->get<std::string>(), ' ');
  return out;
}

} // namespace

refresh_outcome
read_token_answer(long status, const std::string& body,
                  const std::map<std::string, std::string>& headers,
                  millis now) {
  auto doc = json::parse(body, nullptr, false);
  if (status >= 200 && status < 300) {
    if (doc.is_object())
      return granted(doc, now);
    refresh_outcome out;
    out.detail = "the token endpoint answered HTTP " + std::to_string(status)
                 + " without JSON";
    return out;
  }
  refresh_outcome out;
  auto code = error_code(doc);
  bool clean = !code.empty() && code.size() <= 64
               && std::all_of(code.begin(), code.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c))
                           || c == '_' || c == '-' || c == '.';
                  });
  out.detail = "HTTP " + std::to_string(status) + (clean ? " " + code : "");
  if (status != 429 && status < 500 && rejects_refresh_token(code)) {
    out.result = refresh_outcome::verdict::rejected;
    return out;
  }
  out.retry_after = retry_after_of(headers, now);
  return out;
}

refresh_outcome refresh_access_token(http_client& http, const oauth_call& call,
                                     millis now) {
  json body = {{"grant_type", "refresh_token"},
               {"refresh_token", call.refresh_token.value},
               {"client_id", call.client_id}};
  // The client adds Content-Type: application/json to a POST.
  std::vector<std::string> headers{"Accept: application/json"};
  if (!call.user_agent.empty())
    headers.push_back("User-Agent: " + call.user_agent);
  auto res = http.request("POST", call.url, body.dump(), call.timeout, headers);
  if (!res) {
    refresh_outcome out;
    out.detail = is(res.error(), ec::timeout)
                   ? "the token endpoint did not answer in time"
                   : "cannot reach the token endpoint";
    return out;
  }
  return read_token_answer(res->status, res->body, res->headers, now);
}

} // namespace sb::docker
