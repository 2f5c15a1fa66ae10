#include "messages/validate.hpp"

#include "messages/error.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace sb {

namespace {

/// Length of the well-formed UTF-8 sequence starting at s[i], or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size())
    return 0;
  for (size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms, surrogates and values beyond U+10FFFF are ill-formed.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800)
      || (len == 4 && cp < 0x10000) || cp > 0x10FFFF
      || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

} // namespace

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto n = utf8_sequence(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s, size_t max_bytes) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (size_t i = 0; i < s.size();) {
    auto n = utf8_sequence(s, i);
    auto piece = n == 0 ? replacement : s.substr(i, n);
    if (out.size() + piece.size() > max_bytes)
      break;
    out.append(piece);
    i += n == 0 ? 1 : n;
  }
  return out;
}

namespace {

/// The code point of a valid `n`-byte sequence at s[i].
uint32_t code_point(std::string_view s, size_t i, size_t n) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  switch (n) {
  case 1:
    return b(0);
  case 2:
    return ((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu);
  case 3:
    return ((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
  default:
    return ((b(0) & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12)
           | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
  }
}

/// C0 and C1 controls, DEL, and the bidi embeddings, overrides and
/// isolates (U+202A-202E, U+2066-2069) that reorder what a terminal shows.
bool unsafe_code_point(uint32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)
         || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/// The visible escape of an unsafe code point.
std::string escaped(uint32_t c) {
  char buf[16];
  if (c < 0x80)
    std::snprintf(buf, sizeof(buf), "\\x%02X", c);
  else
    std::snprintf(buf, sizeof(buf), "\\u%04X", c);
  return buf;
}

} // namespace

std::string sanitize_text(std::string_view s, size_t max_bytes) {
  static constexpr std::string_view replacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (size_t i = 0; i < s.size();) {
    auto n = utf8_sequence(s, i);
    std::string piece;
    if (n == 0) {
      piece = replacement;
      n = 1;
    } else if (auto c = code_point(s, i, n);
               c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      ++i; // CR LF: the LF alone
      continue;
    } else if (c != '\t' && c != '\n' && unsafe_code_point(c)) {
      piece = escaped(c);
    } else {
      piece = s.substr(i, n);
    }
    if (out.size() + piece.size() > max_bytes)
      break;
    out += piece;
    i += n;
  }
  return out;
}

std::string escape_for_terminal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    auto n = utf8_sequence(s, i);
    if (n == 0) {
      std::snprintf(buf, sizeof(buf), "\\x%02X",
                    static_cast<unsigned char>(s[i]));
      out += buf;
      ++i;
      continue;
    }
    auto c = code_point(s, i, n);
    if (unsafe_code_point(c)) {
      if (c < 0x80)
        std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      else
        std::snprintf(buf, sizeof(buf), "\\u%04X", c);
      out += buf;
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

caf::error validate_name(std::string_view what, std::string_view name) {
  std::string label{what};
  if (name.empty())
    return make_error(ec::invalid_name, label + " must not be empty");
  if (name.size() > max_name_bytes)
    return make_error(ec::invalid_name, label + " is longer than "
                                          + std::to_string(max_name_bytes)
                                          + " bytes");
  if (!valid_utf8(name))
    return make_error(ec::invalid_name, label + " is not valid UTF-8");
  for (size_t i = 0; i < name.size();) {
    auto n = utf8_sequence(name, i);
    if (unsafe_code_point(code_point(name, i, n)))
      return make_error(ec::invalid_name,
                        label
                          + " contains a control character or a bidi "
                            "override");
    i += n;
  }
  return caf::none;
}

caf::error validate_token(std::string_view token) {
  if (token.empty())
    return make_error(ec::invalid_argument, "the token is empty");
  if (token.size() > max_token_bytes)
    return make_error(ec::invalid_argument, "the token is longer than "
                                              + std::to_string(max_token_bytes)
                                              + " bytes");
  for (auto ch : token) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F)
      return make_error(ec::invalid_argument,
                        "the token must be printable ASCII without spaces");
  }
  return caf::none;
}

caf::error validate_pool(std::string_view pool) {
  return pool.empty() ? caf::none : validate_name("pool name", pool);
}

caf::error validate(const subscription_spec& spec) {
  if (auto err = validate_name("subscription name", spec.name))
    return err;
  if (auto err = validate_token(spec.token.value))
    return err;
  if (spec.provider && *spec.provider > provider_kind::gemini)
    return make_error(ec::invalid_argument,
                      "unknown provider: one of anthropic, codex, openai, "
                      "gemini");
  if (auto err = validate_pool(spec.pool))
    return err;
  return validate_credential(spec);
}

caf::error validate_credential(const subscription_spec& spec) {
  auto bad = [](std::string text) {
    return make_error(ec::invalid_argument, std::move(text));
  };
  auto& t = spec.terms;
  if (t.kind > credential_kind::oauth)
    return bad("unknown credential kind: token or oauth");
  if (t.expires_at < 0 || t.expires_at > millis{253402300799000})
    return bad("the expiry must be an instant from 1970 to 9999");
  if (t.scopes.size() > 32)
    return bad("at most 32 scopes");
  for (auto& scope : t.scopes)
    if (scope.empty() || scope.size() > 128
        || !std::all_of(scope.begin(), scope.end(), [](char ch) {
             auto c = static_cast<unsigned char>(ch);
             return c > 0x20 && c < 0x7F && c != '"' && c != '\\';
           }))
      return bad("a scope is 1 to 128 printable ASCII characters without "
                 "spaces or quotes");
  bool oauth = t.kind == credential_kind::oauth;
  if (!oauth) {
    if (!spec.refresh_token.value.empty() || !spec.id_token.value.empty()
        || !spec.token_url.empty() || !spec.account_id.empty())
      return bad("a refresh token, id token, account id or token URL "
                 "belongs to an oauth credential");
    return caf::none;
  }
  if (spec.provider && *spec.provider != provider_kind::anthropic
      && *spec.provider != provider_kind::codex)
    return bad("oauth credentials are Claude (anthropic) or Codex logins");
  if (t.expires_at == 0)
    return bad("an oauth credential needs the expiry of its access token");
  if (spec.refresh_token.value.empty())
    return bad("an oauth credential needs its refresh token");
  if (auto err = validate_token(spec.refresh_token.value))
    return bad("the refresh token must be printable ASCII without spaces");
  if (!spec.id_token.value.empty())
    if (auto err = validate_token(spec.id_token.value))
      return bad("the id token must be printable ASCII without spaces");
  if (spec.refresh_token.value == spec.token.value)
    return bad("the refresh token is the access token");
  if (!spec.token_url.empty()) {
    auto& u = spec.token_url;
    bool scheme = u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0;
    if (!scheme || u.size() > 2048
        || !std::all_of(u.begin(), u.end(), [](char ch) {
             auto c = static_cast<unsigned char>(ch);
             return c > 0x20 && c < 0x7F;
           }))
      return bad("the token URL must be an http:// or https:// URL");
  }
  if (spec.account_id.size() > 256
      || !std::all_of(spec.account_id.begin(), spec.account_id.end(),
                      [](char ch) {
                        auto c = static_cast<unsigned char>(ch);
                        return c > 0x20 && c < 0x7F;
                      }))
    return bad("the account id must be printable ASCII without spaces");
  return caf::none;
}

caf::error validate_query(const query& q) {
  if (!q.agent.empty())
    if (auto err = validate_name("agent name", q.agent))
      return err;
  if (!q.subscription.empty())
    if (auto err = validate_name("subscription name", q.subscription))
      return err;
  if (q.limit == 0 || q.limit > max_query_limit)
    return make_error(ec::invalid_argument,
                      "limit must be from 1 to "
                        + std::to_string(max_query_limit));
  if (q.before < 0)
    return make_error(ec::invalid_argument,
                      "before must be an id (0 = from the newest)");
  return caf::none;
}

std::string trim_token(std::string_view raw) {
  while (!raw.empty()
         && (raw.back() == '\n' || raw.back() == '\r' || raw.back() == ' '
             || raw.back() == '\t'))
    raw.remove_suffix(1);
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t'))
    raw.remove_prefix(1);
  return std::string{raw};
}

namespace {

bool token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u))
    return true;
  return std::string_view{"!#$%&'*+-.^_`|~"}.find(c) != std::string_view::npos;
}

bool text_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return c == '\t' || (u >= 0x20 && u != 0x7f);
}

caf::error check_header(const http_header& h) {
  if (h.name.empty() || h.name.size() > max_header_name_bytes
      || !std::all_of(h.name.begin(), h.name.end(), token_char))
    return make_error(ec::invalid_argument,
                      "a header name must be 1 to "
                        + std::to_string(max_header_name_bytes)
                        + " letters, digits or !#$%&'*+-.^_`|~");
  if (h.value.size() > max_header_value_bytes)
    return make_error(ec::invalid_argument,
                      "the value of header '" + h.name + "' is longer than "
                        + std::to_string(max_header_value_bytes) + " bytes");
  if (!valid_utf8(h.value)
      || !std::all_of(h.value.begin(), h.value.end(), text_char))
    return make_error(ec::invalid_argument,
                      "the value of header '" + h.name
                        + "' must be UTF-8 without control characters");
  return caf::none;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty()
         && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'
             || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

} // namespace

caf::error validate_headers(const std::vector<http_header>& headers) {
  if (headers.size() > max_headers)
    return make_error(ec::invalid_argument,
                      "at most " + std::to_string(max_headers)
                        + " headers, got " + std::to_string(headers.size()));
  for (auto& h : headers)
    if (auto err = check_header(h))
      return err;
  return caf::none;
}

caf::expected<http_header> parse_header_line(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos)
    return make_error(ec::invalid_argument,
                      "a header looks like 'Name: value' (no ':' found)");
  http_header h{std::string{trim(line.substr(0, colon))},
                std::string{trim(line.substr(colon + 1))}};
  if (auto err = check_header(h))
    return err;
  return h;
}

caf::error validate_short_text(std::string_view what, std::string_view value) {
  if (value.size() > max_short_text_bytes)
    return make_error(ec::invalid_argument,
                      std::string{what} + " is longer than "
                        + std::to_string(max_short_text_bytes) + " bytes");
  if (!valid_utf8(value))
    return make_error(ec::invalid_argument,
                      std::string{what} + " is not valid UTF-8");
  return caf::none;
}

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
  if (r.kind != failure_kind::none && r.kind != failure_kind::rate_limit
      && r.kind != failure_kind::auth && r.kind != failure_kind::concurrency)
    return make_error(ec::invalid_argument,
                      "kind must be rate_limit, auth or concurrency");
  if (r.status == 0 && r.kind == failure_kind::none)
    return make_error(ec::invalid_argument,
                      "a report needs an HTTP status or a kind");
  if (r.status != 0 && (r.status < 100 || r.status > 599))
    return make_error(ec::invalid_argument,
                      "status must be an HTTP status from 100 to 599, got "
                        + std::to_string(r.status));
  if (!r.subscription.empty())
    if (auto err = validate_name("subscription name", r.subscription))
      return err;
  if (auto err = validate_short_text("execution id", r.execution_id))
    return err;
  if (auto err = validate_short_text("source", r.source))
    return err;
  if (auto err = validate_short_text("model", r.model))
    return err;
  if (r.retry_after_ms < 0 || r.retry_after_ms > 366 * day_ms)
    return make_error(ec::invalid_argument,
                      "retry-after must be from 0 to 366 days");
  if (r.reset_at != 0 && (r.reset_at < 0 || r.reset_at > now + 366 * day_ms))
    return make_error(ec::invalid_argument,
                      "reset instant must be within a year from now");
  if (auto err = validate_headers(r.headers))
    return err;
  // Never trusted, never stored raw: any bytes become valid UTF-8 of
  // bounded size without control characters or escape sequences (an id of
  // 256 bytes grows at most fourfold: one byte to "\x01").
  r.error = sanitize_text(r.error, max_error_bytes);
  r.execution_id = sanitize_text(r.execution_id, 4 * max_short_text_bytes);
  r.source = sanitize_text(r.source, 4 * max_short_text_bytes);
  return caf::none;
}

caf::error check_arrival(millis arrived_at, millis now) {
  // The stamp itself is not printed: it may be any number at all.
  if (arrived_at > now + max_arrival_ahead)
    return make_error(ec::invalid_argument,
                      "the arrival stamp is more than a minute ahead of the "
                      "daemon's clock ("
                        + format_iso(now) + ")");
  if (arrived_at < now - max_arrival_age)
    return make_error(ec::invalid_argument,
                      "the arrival stamp is more than ten minutes behind the "
                      "daemon's clock ("
                        + format_iso(now) + ")");
  return caf::none;
}

caf::error check_observation(const observation& o) {
  if (auto err = validate_name("agent name", o.agent))
    return err;
  if (o.headers.empty())
    return make_error(ec::invalid_argument,
                      "an observation needs the response's headers");
  if (auto err = validate_headers(o.headers))
    return err;
  if (!o.subscription.empty())
    if (auto err = validate_name("subscription name", o.subscription))
      return err;
  if (auto err = validate_short_text("model", o.model))
    return err;
  return validate_short_text("source", o.source);
}

} // namespace sb
