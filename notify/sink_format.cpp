#include "notify/sink_format.hpp"

#include "messages/backoff.hpp"

#include <nlohmann/json.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

namespace sb::notify {

namespace {

using json = nlohmann::json;

json text_or_null(const std::string& x) {
  return x.empty() ? json(nullptr) : json(x);
}

json time_or_null(millis t) {
  return t == 0 ? json(nullptr) : json(format_iso(t));
}

/// The event's fields a person may want, in order, as (label, value).
std::vector<std::pair<std::string, std::string>> fields_of(const event& e) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const char* label, const std::string& value) {
    if (!value.empty())
      out.emplace_back(label, value);
  };
  add("Agent", e.agent);
  add("Subscription", e.subscription);
  add("Pool", e.pool);
  add("From", e.from);
  add("To", e.to);
  add("Reason", e.reason);
  if (e.reset_at != 0)
    add("Reset", format_iso(e.reset_at));
  add("Severity", to_string(e.level));
  return out;
}

const char* icon(severity x) {
  switch (x) {
  case severity::info:
    return "ℹ️";
  case severity::warning:
    return "⚠️";
  case severity::critical:
    return "🚨";
  }
  return "";
}

std::string hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::array<unsigned char, crypto_auth_hmacsha256_BYTES>
hmac(std::string_view key, std::string_view message) {
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(
    &st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(
    &st, reinterpret_cast<const unsigned char*>(message.data()),
    message.size());
  crypto_auth_hmacsha256_final(&st, mac.data());
  return mac;
}

} // namespace

const char* to_string(severity x) {
  switch (x) {
  case severity::info:
    return "info";
  case severity::warning:
    return "warning";
  case severity::critical:
    return "critical";
  }
  return "unknown";
}

std::optional<severity> parse_severity(std::string_view text) {
  for (auto x : {severity::info, severity::warning, severity::critical})
    if (text == to_string(x))
      return x;
  return std::nullopt;
}

std::string webhook_body(const event& e) {
  json doc = {{"id", e.id},
              {"type", e.type},
              {"severity", to_string(e.level)},
              {"at", time_or_null(e.at)},
              {"agent", text_or_null(e.agent)},
              {"subscription", text_or_null(e.subscription)},
              {"pool", text_or_null(e.pool)},
              {"from", text_or_null(e.from)},
              {"to", text_or_null(e.to)},
              {"reason", text_or_null(e.reason)},
              {"reset_at", time_or_null(e.reset_at)},
              {"title", e.title},
              {"text", e.text}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string signature_header(std::string_view secret, int64_t unix_seconds,
                             std::string_view body) {
  auto t = std::to_string(unix_seconds);
  std::string message;
  message.reserve(t.size() + 1 + body.size());
  message.append(t).append(".").append(body);
  auto mac = hmac(secret, message);
  return "t=" + t + ",v1=" + hex(mac.data(), mac.size());
}

bool signature_valid(std::string_view header, std::string_view secret,
                     std::string_view body, int64_t now_s,
                     int64_t tolerance_s) {
  if (header.rfind("t=", 0) != 0)
    return false;
  auto comma = header.find(",v1=");
  if (comma == std::string_view::npos || comma == 2 || comma > 14)
    return false;
  auto t_text = header.substr(2, comma - 2);
  if (!std::all_of(t_text.begin(), t_text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      }))
    return false;
  auto t = std::stoll(std::string{t_text});
  if (std::llabs(now_s - t) > tolerance_s)
    return false;
  auto expected = signature_header(secret, t, body);
  if (expected.size() != header.size())
    return false;
  return sodium_memcmp(expected.data(), header.data(), header.size()) == 0;
}

std::string slack_body(const event& e) {
  auto head = std::string{icon(e.level)} + " " + e.title;
  json fields = json::array();
  for (auto& [label, value] : fields_of(e))
    fields.push_back(
      {{"type", "mrkdwn"}, {"text", "*" + label + "*\n" + value}});
  json blocks = json::array(
    {{{"type", "header"},
      {"text", {{"type", "plain_text"}, {"text", head.substr(0, 150)}}}},
     {{"type", "section"},
      {"text", {{"type", "mrkdwn"}, {"text", e.text.substr(0, 3000)}}}}});
  if (!fields.empty()) {
    // Slack takes at most 10 fields in a section.
    if (fields.size() > 10)
      fields.erase(fields.begin() + 10, fields.end());
    blocks.push_back({{"type", "section"}, {"fields", fields}});
  }
  json doc = {{"text", head + ": " + e.text}, {"blocks", blocks}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string discord_body(const event& e) {
  // Discord's embed colours: blue, amber, red.
  int color = e.level == severity::critical  ? 0xD93025
              : e.level == severity::warning ? 0xF2A600
                                             : 0x1A73E8;
  json fields = json::array();
  for (auto& [label, value] : fields_of(e))
    fields.push_back({{"name", label}, {"value", value}, {"inline", true}});
  json embed = {{"title", e.title.substr(0, 256)},
                {"description", e.text.substr(0, 4096)},
                {"color", color},
                {"fields", fields}};
  if (e.at != 0)
    embed["timestamp"] = format_iso(e.at);
  json doc = {
    {"content", (std::string{icon(e.level)} + " " + e.title).substr(0, 2000)},
    {"embeds", json::array({embed})}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string telegram_body(const event& e, std::string_view chat_id) {
  std::string text
    = std::string{icon(e.level)} + " " + e.title + "\n\n" + e.text;
  auto f = fields_of(e);
  if (!f.empty())
    text += "\n";
  for (auto& [label, value] : f)
    text += "\n" + label + ": " + value;
  json doc = {{"chat_id", std::string{chat_id}},
              {"text", text.substr(0, 4096)},
              {"disable_web_page_preview", true}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

event digest_of(const std::vector<event>& events, size_t shown) {
  event out;
  if (events.empty())
    return out;
  out = events.front();
  out.id = events.back().id;
  out.at = events.back().at;
  for (auto& e : events)
    out.level = std::max(out.level, e.level);
  std::vector<std::string> names;
  for (auto& e : events) {
    auto& name = e.agent.empty() ? e.subscription : e.agent;
    if (!name.empty()
        && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  }
  out.title
    = std::to_string(events.size()) + " " + events.front().type + " events";
  std::string list;
  for (size_t i = 0; i < names.size() && i < shown; ++i)
    list += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > shown)
    list += " and " + std::to_string(names.size() - shown) + " more";
  out.text = std::to_string(events.size()) + " " + events.front().type
             + " events" + (list.empty() ? "" : ": " + list) + ".";
  out.agent.clear();
  out.subscription.clear();
  out.from.clear();
  out.to.clear();
  out.reason = "digest";
  return out;
}

delivery_verdict
judge_delivery(long status, const std::map<std::string, std::string>& headers,
               millis now) {
  delivery_verdict v;
  if (status >= 200 && status < 300) {
    v.result = delivery_verdict::kind::delivered;
    return v;
  }
  if (status != 0 && status != 408 && status != 429 && status < 500) {
    v.result = delivery_verdict::kind::final;
    return v;
  }
  auto i = headers.find("retry-after");
  if (i != headers.end()) {
    auto& text = i->second;
    if (!text.empty() && text.size() < 10
        && std::all_of(text.begin(), text.end(), [](char c) {
             return std::isdigit(static_cast<unsigned char>(c));
           }))
      v.retry_after = std::stoll(text) * 1000;
    else if (auto at = parse_http_date(text, now); at && *at > now)
      v.retry_after = *at - now;
    v.retry_after = std::min<millis>(v.retry_after, day_ms);
  }
  return v;
}

millis delivery_backoff(uint32_t attempt, millis base, millis cap,
                        millis retry_after, double jitter) {
  return backoff_wait(attempt, base, cap, 0.25, jitter, retry_after);
}

} // namespace sb::notify
