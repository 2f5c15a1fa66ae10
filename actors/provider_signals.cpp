// Provider evidence in, the error bodies (actors/provider_signals.hpp).

#include "actors/provider_signals.hpp"

#include "actors/provider_headers.hpp"
#include "actors/provider_scan.hpp"

#include <nlohmann/json.hpp>

#include <date/date.h>

#include <algorithm>
#include <array>

namespace sb {

using namespace scan;
using json = nlohmann::json;

namespace {

/// The JSON object of an error text: the text itself, or the object in it
/// ("API Error: 429 {...}"); discarded if there is none.
json body_of(std::string_view text) {
  auto open = text.find('{');
  auto close = text.rfind('}');
  if (open == std::string_view::npos || close == std::string_view::npos
      || close < open)
    return json(json::value_t::discarded);
  return json::parse(text.substr(open, close - open + 1), nullptr, false);
}

/// `doc["error"]` if it is an object, else null.
const json* error_of(const json& doc) {
  if (!doc.is_object())
    return nullptr;
  auto i = doc.find("error");
  return i != doc.end() && i->is_object() ? &*i : nullptr;
}

std::string_view text_at(const json& obj, const char* key) {
  auto i = obj.find(key);
  if (i == obj.end() || !i->is_string())
    return {};
  return i->get_ref<const std::string&>();
}

/// A non-negative whole number (as a JSON number or its text).
std::optional<int64_t> count_at(const json& obj, const char* key) {
  auto i = obj.find(key);
  if (i == obj.end())
    return std::nullopt;
  if (i->is_number_unsigned())
    return static_cast<int64_t>(
      std::min<uint64_t>(i->get<uint64_t>(), uint64_t{1} << 50));
  if (i->is_number_integer() && i->get<int64_t>() >= 0)
    return i->get<int64_t>();
  if (i->is_number_float() && i->get<double>() >= 0 && i->get<double>() < 1e15)
    return static_cast<int64_t>(i->get<double>());
  return std::nullopt;
}

bool contains_word(std::string_view text, std::string_view word) {
  return ifind(text, word, 0) != std::string_view::npos;
}

} // namespace

body_signals read_codex_body(std::string_view text, millis at) {
  body_signals out;
  auto doc = body_of(text);
  auto err = error_of(doc);
  if (err == nullptr)
    return out;
  auto type = text_at(*err, "type");
  if (type == "usage_not_included") {
    out.verdict = retire_reason::not_entitled;
    return out;
  }
  if (type != "usage_limit_reached")
    return out;
  if (auto t = count_at(*err, "resets_at"))
    out.reset_at = epoch_instant(decimal{*t, {}});
  else if (auto s = count_at(*err, "resets_in_seconds"))
    out.reset_at = at + *s * 1000;
  return out;
}

bool names_another_model(std::string_view text) {
  // "You've hit your usage limit for GPT-5-Codex. Switch to another model
  // now, or try again at ..."
  return contains_word(text, "switch to another model");
}

body_signals read_openai_body(std::string_view text) {
  // The codes of insufficient_quota: nobody's window brings these back.
  constexpr std::array<std::string_view, 5> unpaid{
    "insufficient_quota", "credit_balance_exhausted",
    "organization_spend_limit_exceeded", "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded"};
  body_signals out;
  auto doc = body_of(text);
  auto err = error_of(doc);
  if (err == nullptr)
    return out;
  for (auto key : {"type", "code"}) {
    auto v = text_at(*err, key);
    if (std::find(unpaid.begin(), unpaid.end(), v) != unpaid.end())
      out.verdict = retire_reason::not_entitled;
  }
  return out;
}

namespace {

/// The Gemini details that decide the wait.
struct gemini_details {
  std::optional<millis> delay;
  bool per_day = false;
  bool per_minute = false;
  bool exhausted = false;
  /// The models whose quota it is (quotaDimensions.model).
  std::vector<std::string> models;
};

void read_gemini_detail(const json& d, gemini_details& out) {
  if (!d.is_object())
    return;
  auto type = text_at(d, "@type");
  if (type.find("RetryInfo") != std::string_view::npos) {
    if (auto t = parse_go_duration(text_at(d, "retryDelay")))
      out.delay = t;
  } else if (type.find("QuotaFailure") != std::string_view::npos) {
    auto v = d.find("violations");
    if (v == d.end() || !v->is_array())
      return;
    for (auto& x : *v) {
      if (!x.is_object())
        continue;
      auto id = text_at(x, "quotaId");
      if (auto dims = x.find("quotaDimensions");
          dims != x.end() && dims->is_object()) {
        auto model = text_at(*dims, "model");
        if (plausible_bucket(model) && out.models.size() < max_model_limits)
          out.models.emplace_back(model);
      }
      out.per_day = out.per_day || contains_word(id, "perday")
                    || contains_word(id, "daily");
      out.per_minute = out.per_minute || contains_word(id, "perminute");
    }
  } else if (type.find("ErrorInfo") != std::string_view::npos) {
    out.exhausted = out.exhausted || text_at(d, "reason") == "QUOTA_EXHAUSTED";
  }
}

/// "Please retry in 9h54m5.7s." in a message.
std::optional<millis> retry_in(std::string_view message) {
  constexpr std::string_view marker = "retry in ";
  auto pos = ifind(message, marker, 0);
  if (pos == std::string_view::npos)
    return std::nullopt;
  auto start = pos + marker.size();
  auto end = start;
  while (end < message.size()
         && (is_digit(message[end]) || is_alpha(message[end])
             || message[end] == '.'))
    ++end;
  // The sentence's full stop is not part of the duration.
  while (end > start && message[end - 1] == '.')
    --end;
  return parse_go_duration(message.substr(start, end - start));
}

} // namespace

body_signals read_gemini_body(std::string_view text, millis at) {
  body_signals out;
  auto doc = body_of(text);
  auto err = error_of(doc);
  if (err == nullptr)
    return out;
  gemini_details g;
  if (auto d = err->find("details"); d != err->end() && d->is_array())
    for (auto& x : *d)
      read_gemini_detail(x, g);
  if (!g.delay)
    g.delay = retry_in(text_at(*err, "message"));
  if (g.delay)
    out.reset_at = at + *g.delay;
  else if (g.per_day || g.exhausted)
    out.reset_at = next_pacific_midnight(at);
  else if (g.per_minute || text_at(*err, "status") == "RESOURCE_EXHAUSTED")
    out.reset_at = at + minute_ms;
  // Quotas are per model: with a model named, the wait is that model's.
  for (auto& m : g.models)
    out.models.push_back(model_limit{m, out.reset_at});
  if (!out.models.empty())
    out.reset_at = 0;
  return out;
}

retire_reason anthropic_verdict(std::string_view text) {
  if (contains_word(text, "oauth authentication is currently not allowed"))
    return retire_reason::banned;
  if (contains_word(text, "this organization has been disabled"))
    return retire_reason::disabled;
  return retire_reason::none;
}

retire_reason suspected(int32_t status, std::string_view text) {
  if (status == 403)
    return retire_reason::banned;
  if (status == 401
      && (contains_word(text, "invalid authentication credentials")
          || contains_word(text, "oauth access token is invalid")))
    return retire_reason::dead_credential;
  return retire_reason::none;
}

bool access_token_expired(int32_t status, std::string_view text) {
  return status == 401
         && (contains_word(text, "oauth token has expired")
             || contains_word(text, "access token has expired")
             || contains_word(text, "token_expired")
             || contains_word(text, "provided authentication token is "
                                    "expired"));
}

bool model_in_bucket(std::string_view model, std::string_view bucket) {
  return !model.empty() && !bucket.empty()
         && ifind(model, bucket, 0) != std::string_view::npos;
}

bool plausible_bucket(std::string_view name) {
  return !name.empty() && name.size() <= 64
         && std::all_of(name.begin(), name.end(), [](char c) {
              return is_alpha(c) || is_digit(c) || c == '.' || c == '_'
                     || c == '-' || c == '/' || c == ':' || c == ' ';
            });
}

std::optional<millis> parse_go_duration(std::string_view text) {
  text = trim(text);
  if (text.empty())
    return std::nullopt;
  if (auto d = parse_decimal(text))
    return d->whole * 1000 + fraction_ms(d->fraction);
  cursor c{text};
  double total = 0;
  while (!c.at_end()) {
    decimal d;
    if (!read_decimal(c, d))
      return std::nullopt;
    auto unit = c.letters();
    double scale = 0;
    if (unit == "h")
      scale = hour_ms;
    else if (unit == "m")
      scale = minute_ms;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "us")
      scale = 0.001;
    else if (unit == "ns")
      scale = 0.000001;
    else
      return std::nullopt;
    total += to_double(d) * scale;
    if (total > 30.0 * day_ms)
      return std::nullopt;
  }
  return static_cast<millis>(total);
}

namespace {

/// The instant of `local` midnight of day `d` at UTC offset `hours`.
millis midnight(date::sys_days d, int hours) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           d.time_since_epoch())
           .count()
         - hours * hour_ms;
}

/// US daylight saving time of `y`: from 2:00 on the second Sunday of March
/// to 2:00 on the first Sunday of November (local), as UTC instants.
std::pair<millis, millis> pacific_dst(date::year y) {
  using namespace date;
  sys_days start = y / March / Sunday[2];
  sys_days end = y / November / Sunday[1];
  return {midnight(start, -8) + 2 * hour_ms, midnight(end, -7) + 2 * hour_ms};
}

} // namespace

millis next_pacific_midnight(millis at) {
  using namespace date;
  auto offset_at = [](millis t) {
    auto day = floor<days>(
      sys_time<std::chrono::milliseconds>{std::chrono::milliseconds{t}});
    auto [start, end] = pacific_dst(year_month_day{day}.year());
    return t >= start && t < end ? -7 : -8;
  };
  // The local day of `at`, then the next local midnight; its offset is the
  // one in force just before it (midnight never falls in a change at 2:00).
  auto local = at + offset_at(at) * hour_ms;
  auto day = floor<days>(
    sys_time<std::chrono::milliseconds>{std::chrono::milliseconds{local}});
  auto next = day + days{1};
  auto guess = midnight(next, offset_at(at));
  return midnight(next, offset_at(guess - 1));
}

} // namespace sb
