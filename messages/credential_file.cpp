#include "messages/credential_file.hpp"

#include "messages/error.hpp"

#include <nlohmann/json.hpp>

namespace sb {

namespace {

using json = nlohmann::json;

caf::error bad(std::string text) {
  return make_error(ec::invalid_argument, std::move(text));
}

/// A string field of `obj`, or "" (never the value in an error).
std::string text_field(const json& obj, const char* key) {
  auto i = obj.find(key);
  return i != obj.end() && i->is_string() ? i->get<std::string>()
                                          : std::string{};
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-' || c == '+')
    return 62;
  if (c == '_' || c == '/')
    return 63;
  return -1;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (auto c : in) {
    if (c == '=')
      break;
    auto v = base64url_value(c);
    if (v < 0)
      return std::nullopt;
    acc = ((acc << 6) | static_cast<uint32_t>(v)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

caf::error read_claude(const json& oauth, subscription_spec& spec) {
  if (!oauth.is_object())
    return bad("claudeAiOauth must be an object");
  spec.token.value = text_field(oauth, "accessToken");
  spec.refresh_token.value = text_field(oauth, "refreshToken");
  if (spec.token.value.empty())
    return bad("the Claude login has no accessToken");
  if (spec.refresh_token.value.empty())
    return bad("the Claude login has no refreshToken (a setup token is "
               "added with --token-file)");
  auto exp = oauth.find("expiresAt");
  if (exp == oauth.end() || !exp->is_number() || *exp <= 0)
    return bad("the Claude login has no expiresAt (ms since the epoch)");
  spec.terms.expires_at = static_cast<millis>(exp->get<double>());
  spec.terms.scopes.clear();
  if (auto s = oauth.find("scopes"); s != oauth.end()) {
    if (!s->is_array())
      return bad("scopes must be an array of strings");
    for (auto& x : *s) {
      if (!x.is_string())
        return bad("scopes must be an array of strings");
      spec.terms.scopes.push_back(x.get<std::string>());
    }
  }
  spec.provider = provider_kind::anthropic;
  return caf::none;
}

caf::error read_codex(const json& tokens, subscription_spec& spec) {
  if (!tokens.is_object())
    return bad("tokens must be an object");
  spec.token.value = text_field(tokens, "access_token");
  spec.refresh_token.value = text_field(tokens, "refresh_token");
  spec.id_token.value = text_field(tokens, "id_token");
  spec.account_id = text_field(tokens, "account_id");
  if (spec.token.value.empty())
    return bad("the Codex login has no tokens.access_token");
  if (spec.refresh_token.value.empty())
    return bad("the Codex login has no tokens.refresh_token");
  auto exp = jwt_expiry(spec.token.value);
  if (!exp)
    return bad("the Codex access token carries no expiry (exp claim)");
  spec.terms.expires_at = *exp;
  spec.terms.scopes.clear();
  spec.provider = provider_kind::codex;
  return caf::none;
}

} // namespace

std::optional<millis> jwt_expiry(std::string_view jwt) {
  auto first = jwt.find('.');
  if (first == std::string_view::npos)
    return std::nullopt;
  auto second = jwt.find('.', first + 1);
  if (second == std::string_view::npos || second - first > 16384)
    return std::nullopt;
  auto payload = base64url_decode(jwt.substr(first + 1, second - first - 1));
  if (!payload)
    return std::nullopt;
  auto doc = json::parse(*payload, nullptr, false);
  if (!doc.is_object())
    return std::nullopt;
  auto exp = doc.find("exp");
  if (exp == doc.end() || !exp->is_number() || *exp <= 0
      || *exp > 253402300799.0)
    return std::nullopt;
  return static_cast<millis>(exp->get<double>() * 1000);
}

caf::error read_login_document(std::string_view text, subscription_spec& spec) {
  auto doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return bad("the login file is not a JSON object");
  std::optional<provider_kind> wanted;
  if (spec.provider)
    wanted = *spec.provider;
  caf::error err;
  if (auto c = doc.find("claudeAiOauth"); c != doc.end())
    err = read_claude(*c, spec);
  else if (auto t = doc.find("tokens"); t != doc.end() && !t->is_null())
    err = read_codex(*t, spec);
  else
    return bad("the login file is neither Claude Code's .credentials.json "
               "(claudeAiOauth) nor Codex's auth.json (tokens)");
  if (err)
    return err;
  if (wanted && *wanted != *spec.provider)
    return bad(std::string{"the login file is a "} + to_string(*spec.provider)
               + " login, not " + to_string(*wanted));
  spec.terms.kind = credential_kind::oauth;
  return caf::none;
}

} // namespace sb
