// Provider evidence in (actors/provider_headers.hpp): the header tables, one
// per provider after the two every provider shares (date, retry-after). The
// readers of each value's form are in provider_dates.cpp and
// provider_scan.cpp; the error bodies of Codex, OpenAI and Gemini in
// provider_signals.cpp.

#include "actors/provider_headers.hpp"

#include "actors/logging.hpp"
#include "actors/provider_scan.hpp"
#include "actors/provider_signals.hpp"
#include "messages/error.hpp"
#include "messages/kinds.hpp"
#include "messages/validate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace sb {

using namespace scan;

namespace {

// -- the header table --------------------------------------------------------

/// A Codex window as its headers describe it: its length in minutes says
/// which window it is (not the words primary and secondary).
struct codex_window {
  std::optional<int64_t> minutes;
  usage_window w;
};

/// An OpenAI quota (requests or tokens): what is left and when it refills.
struct openai_quota {
  std::optional<int64_t> remaining;
  millis reset_at = 0;
};

/// One parse: the evidence so far, the arrival the Date header is checked
/// against, and what a provider's headers say in parts that are combined
/// once all are read.
struct reading {
  provider_evidence ev;
  millis arrived_at = 0;
  std::array<codex_window, 2> codex;
  std::array<openai_quota, 2> openai;
  /// Anthropic: the model-scoped weekly bucket (7d_oi, Opus) and the claim
  /// the unified status represents.
  usage_window opus;
  std::string claim;
  /// x-should-retry: false (the provider says retrying will not help).
  bool no_retry = false;
};

void malformed(std::string_view name, std::string_view why,
               std::string_view value) {
  SB_DEBUG("provider header {} ignored: {} ('{}')", name, why, shown(value));
}

/// Stores the bounded reset instant `t`, read from `name`, in `dst`.
void set_reset(std::string_view name, millis t, millis at, millis& dst) {
  auto bounded = bound_reset(t, at);
  if (!bounded) {
    SB_DEBUG("provider {} ignored: {} is not after the response ({})", name,
             format_iso(t), format_iso(at));
    return;
  }
  if (*bounded != t)
    SB_DEBUG("provider {} {} clamped to {}", name, format_iso(t),
             format_iso(*bounded));
  dst = *bounded;
}

void read_date(std::string_view name, std::string_view value, reading& r) {
  auto date = parse_http_date(value, r.arrived_at);
  if (!date)
    return malformed(name, "not an HTTP date", value);
  if (*date > r.arrived_at) {
    // The provider's clock runs ahead of ours: nothing happened after now.
    SB_DEBUG("provider header {} after the arrival, capped ('{}')", name,
             shown(value));
    return;
  }
  if (*date < r.arrived_at - max_date_age)
    return malformed(name, "more than a day before the arrival", value);
  r.ev.at = *date;
}

void read_retry_after(std::string_view name, std::string_view value,
                      reading& r) {
  auto t = parse_retry_after(value, r.ev.at);
  if (!t)
    return malformed(name, "neither seconds nor an HTTP date", value);
  set_reset(name, *t, r.ev.at, r.ev.retry_at);
}

std::optional<provider_status> read_status_value(std::string_view value) {
  // Longer than any status: garbage, and not worth a copy.
  if (value.size() > 32)
    return std::nullopt;
  std::string text;
  for (char c : value)
    text += lower(c);
  auto s = parse_kind<provider_status>(text);
  if (!s || *s == provider_status::unknown)
    return std::nullopt;
  return s;
}

void read_status(std::string_view name, std::string_view value, reading& r) {
  auto s = read_status_value(value);
  if (!s)
    return malformed(name, "not allowed, allowed_warning or rejected", value);
  r.ev.status = *s;
}

void read_reset(std::string_view name, std::string_view value, reading& r,
                millis& dst) {
  auto t = parse_epoch_seconds(value);
  if (!t) {
    // Anthropic's per-minute resets are RFC 3339: accept the unified ones so
    // too.
    t = parse_iso_instant(value);
  }
  if (!t)
    return malformed(name, "neither epoch seconds nor an ISO-8601 instant",
                     value);
  set_reset(name, *t, r.ev.at, dst);
}

void read_utilization(std::string_view name, std::string_view value,
                      usage_window& w) {
  auto d = parse_decimal(value);
  if (!d)
    return malformed(name, "not a non-negative decimal", value);
  auto u = to_double(*d);
  if (u > max_utilization)
    return malformed(name, "above the plausible maximum", value);
  // Over the limit is at the limit.
  w.utilization = std::min(u, 1.0);
}

void read_window_status(std::string_view name, std::string_view value,
                        usage_window& w) {
  auto s = read_status_value(value);
  if (!s)
    return malformed(name, "not allowed, allowed_warning or rejected", value);
  if (*s == provider_status::rejected)
    w.utilization = 1.0;
}

using handler
  = void (*)(std::string_view name, std::string_view value, reading& r);

struct row {
  std::string_view name;
  handler read;
};

/// Every provider's: the Date first, since the relative values count from
/// it.
constexpr std::array<row, 2> common_rows{{
  {"date", read_date},
  {"retry-after", read_retry_after},
}};

/// Anthropic's, in the order their handlers run: the window statuses after
/// the utilizations, since a rejected window is full whatever its number
/// says.
constexpr std::array<row, 13> anthropic_rows{{
  {"anthropic-ratelimit-unified-status", read_status},
  {"x-should-retry", [](std::string_view, std::string_view value,
                        reading& r) { r.no_retry = iequals(value, "false"); }},
  {"anthropic-ratelimit-unified-representative-claim",
   [](std::string_view, std::string_view value, reading& r) {
     if (value.size() <= 64)
       for (char c : value)
         r.claim += lower(c);
   }},
  {"anthropic-ratelimit-unified-7d_oi-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.opus.reset_at);
   }},
  {"anthropic-ratelimit-unified-7d_oi-utilization",
   [](std::string_view name, std::string_view value, reading& r) {
     read_utilization(name, value, r.opus);
   }},
  {"anthropic-ratelimit-unified-7d_oi-status",
   [](std::string_view name, std::string_view value, reading& r) {
     read_window_status(name, value, r.opus);
   }},
  {"anthropic-ratelimit-unified-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.ev.reset_at);
   }},
  {"anthropic-ratelimit-unified-5h-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.ev.five_hour.reset_at);
   }},
  {"anthropic-ratelimit-unified-7d-reset",
   [](std::string_view name, std::string_view value, reading& r) {
     read_reset(name, value, r, r.ev.seven_day.reset_at);
   }},
  {"anthropic-ratelimit-unified-5h-utilization",
   [](std::string_view name, std::string_view value, reading& r) {
     read_utilization(name, value, r.ev.five_hour);
   }},
  {"anthropic-ratelimit-unified-7d-utilization",
   [](std::string_view name, std::string_view value, reading& r) {
     read_utilization(name, value, r.ev.seven_day);
   }},
  {"anthropic-ratelimit-unified-5h-status",
   [](std::string_view name, std::string_view value, reading& r) {
     read_window_status(name, value, r.ev.five_hour);
   }},
  {"anthropic-ratelimit-unified-7d-status",
   [](std::string_view name, std::string_view value, reading& r) {
     read_window_status(name, value, r.ev.seven_day);
   }},
}};

bool full(const usage_window& w) {
  return w.utilization && *w.utilization >= 1.0;
}

/// The Opus bucket (7d_oi) full: a limit of that model. When the
/// credential's own windows are not full and the status does not stand
/// for them, the rejection and its retry-after are the bucket's only
/// (CLIProxyAPI #5915: other models still work on the credential).
void finish_anthropic(reading& r) {
  if (!full(r.opus))
    return;
  auto& ev = r.ev;
  bool own = full(ev.five_hour) || full(ev.seven_day) || r.claim == "five_hour"
             || r.claim == "seven_day";
  auto reset = r.opus.reset_at;
  if (!own) {
    reset = std::max(
      {reset, ev.retry_at,
       ev.status == provider_status::rejected ? ev.reset_at : millis{0}});
    if (ev.status == provider_status::rejected) {
      ev.status = provider_status::unknown;
      ev.reset_at = 0;
    }
    ev.retry_at = 0;
  }
  ev.models.push_back(model_limit{"opus", reset});
}

// -- Codex -------------------------------------------------------------------

/// A whole number of at most 12 digits (minutes, a percentage, a count).
std::optional<int64_t> read_count(std::string_view name,
                                  std::string_view value) {
  cursor c{value};
  int64_t n = 0;
  if (!c.number(1, 12, n) || !c.at_end()) {
    malformed(name, "not a whole number", value);
    return std::nullopt;
  }
  return n;
}

void codex_minutes(std::string_view name, std::string_view value,
                   codex_window& w) {
  if (auto n = read_count(name, value); n && *n > 0)
    w.minutes = n;
}

void codex_used(std::string_view name, std::string_view value,
                codex_window& w) {
  auto d = parse_decimal(value);
  if (!d)
    return malformed(name, "not a non-negative decimal", value);
  auto percent = to_double(*d);
  if (percent > 100 * max_utilization)
    return malformed(name, "above the plausible maximum", value);
  w.w.utilization = std::min(percent / 100.0, 1.0);
}

void codex_reset_at(std::string_view name, std::string_view value, reading& r,
                    codex_window& w) {
  if (auto t = parse_epoch_seconds(value))
    set_reset(name, *t, r.ev.at, w.w.reset_at);
  else
    malformed(name, "not epoch seconds", value);
}

void codex_reset_after(std::string_view name, std::string_view value,
                       reading& r, codex_window& w) {
  // reset-at wins when both are given (it runs first and this only fills
  // a gap).
  if (w.w.reset_at != 0)
    return;
  if (auto t = parse_retry_after(value, r.ev.at))
    set_reset(name, *t, r.ev.at, w.w.reset_at);
  else
    malformed(name, "not a number of seconds", value);
}

#define SB_CODEX_ROWS(prefix, i)                                               \
  {"x-codex-" prefix "-window-minutes",                                        \
   [](std::string_view n, std::string_view v, reading& r) {                    \
     codex_minutes(n, v, r.codex[i]);                                          \
   }},                                                                         \
    {"x-codex-" prefix "-used-percent",                                        \
     [](std::string_view n, std::string_view v, reading& r) {                  \
       codex_used(n, v, r.codex[i]);                                           \
     }},                                                                       \
    {"x-codex-" prefix "-reset-at",                                            \
     [](std::string_view n, std::string_view v, reading& r) {                  \
       codex_reset_at(n, v, r, r.codex[i]);                                    \
     }},                                                                       \
  {                                                                            \
    "x-codex-" prefix "-reset-after-seconds",                                  \
      [](std::string_view n, std::string_view v, reading& r) {                 \
        codex_reset_after(n, v, r, r.codex[i]);                                \
      }                                                                        \
  }

/// Codex (ChatGPT plans): the account's two windows. The per-model
/// families (x-<model>-primary-*) are limits of one model, not of the
/// credential, and are not read into its windows.
constexpr std::array<row, 8> codex_rows{{
  SB_CODEX_ROWS("primary", 0),
  SB_CODEX_ROWS("secondary", 1),
}};

#undef SB_CODEX_ROWS

/// Puts each Codex window where its length says: up to a day is the short
/// window (300 minutes: the 5-hour one), longer the weekly one (10080).
/// Without a length, primary is the short one. Two windows in one place:
/// the fuller one counts, and the later reset.
void finish_codex(reading& r) {
  for (size_t i = 0; i < r.codex.size(); ++i) {
    auto& cw = r.codex[i];
    if (!cw.w.utilization && cw.w.reset_at == 0)
      continue;
    bool weekly = cw.minutes ? *cw.minutes > 24 * 60 : i == 1;
    auto& dst = weekly ? r.ev.seven_day : r.ev.five_hour;
    if (cw.w.utilization)
      dst.utilization
        = std::max(dst.utilization.value_or(0.0), *cw.w.utilization);
    dst.reset_at = std::max(dst.reset_at, cw.w.reset_at);
  }
}

/// The per-model families x-<model>-primary-used-percent (with
/// -reset-at or -reset-after-seconds): a full one is that model's bucket.
void read_codex_models(const std::vector<http_header>& headers, reading& r) {
  constexpr std::string_view tail = "-primary-used-percent";
  for (auto& h : headers) {
    auto name = trim(h.name);
    if (name.size() <= 2 + tail.size() || !iequals(name.substr(0, 2), "x-")
        || !iequals(name.substr(name.size() - tail.size()), tail))
      continue;
    auto id = name.substr(2, name.size() - 2 - tail.size());
    if (iequals(id, "codex") || !plausible_bucket(id)
        || r.ev.models.size() >= max_model_limits)
      continue;
    codex_window w;
    codex_used(name, trim(h.value), w);
    if (!full(w.w))
      continue;
    std::string prefix = "x-" + std::string{id} + "-primary-";
    for (auto& g : headers) {
      auto gname = trim(g.name);
      if (iequals(gname, prefix + "reset-at"))
        codex_reset_at(gname, trim(g.value), r, w);
    }
    for (auto& g : headers) {
      auto gname = trim(g.name);
      if (iequals(gname, prefix + "reset-after-seconds"))
        codex_reset_after(gname, trim(g.value), r, w);
    }
    std::string bucket;
    for (char c : id)
      bucket += lower(c);
    r.ev.models.push_back(model_limit{std::move(bucket), w.w.reset_at});
  }
}

/// "You've hit your usage limit for GPT-5-Codex. Switch to another model
/// now, or try again at ...": the name of the model's limit.
std::string codex_limit_name(std::string_view text) {
  constexpr std::string_view marker = "usage limit for ";
  auto pos = ifind(text, marker, 0);
  if (pos == std::string_view::npos)
    return {};
  auto start = pos + marker.size();
  auto end = text.find('.', start);
  if (end == std::string_view::npos)
    return {};
  auto name = trim(text.substr(start, end - start));
  return plausible_bucket(name) ? std::string{name} : std::string{};
}

// -- OpenAI API keys ---------------------------------------------------------

void openai_remaining(std::string_view name, std::string_view value,
                      openai_quota& q) {
  if (auto n = read_count(name, value))
    q.remaining = n;
}

void openai_reset(std::string_view name, std::string_view value, reading& r,
                  openai_quota& q) {
  auto d = parse_go_duration(value);
  if (!d)
    return malformed(name, "not a duration such as 6m0s or 12ms", value);
  set_reset(name, r.ev.at + *d, r.ev.at, q.reset_at);
}

constexpr std::array<row, 4> openai_rows{{
  {"x-ratelimit-remaining-requests",
   [](std::string_view n, std::string_view v, reading& r) {
     openai_remaining(n, v, r.openai[0]);
   }},
  {"x-ratelimit-remaining-tokens",
   [](std::string_view n, std::string_view v, reading& r) {
     openai_remaining(n, v, r.openai[1]);
   }},
  {"x-ratelimit-reset-requests",
   [](std::string_view n, std::string_view v, reading& r) {
     openai_reset(n, v, r, r.openai[0]);
   }},
  {"x-ratelimit-reset-tokens",
   [](std::string_view n, std::string_view v, reading& r) {
     openai_reset(n, v, r, r.openai[1]);
   }},
}};

/// A quota's refill says when the key serves again unless it still has
/// some left: the latest such refill is the retry instant.
void finish_openai(reading& r) {
  for (auto& q : r.openai)
    if (q.reset_at != 0 && !(q.remaining && *q.remaining > 0))
      r.ev.retry_at = std::max(r.ev.retry_at, q.reset_at);
}

// -- the tables run ----------------------------------------------------------

/// The last value of each header of `table`, then its handlers in table
/// order.
template<size_t N>
void run(const std::array<row, N>& table,
         const std::vector<http_header>& headers, reading& r) {
  std::array<std::optional<std::string_view>, N> values;
  for (auto& h : headers) {
    auto name = trim(h.name);
    for (size_t i = 0; i < N; ++i)
      if (iequals(name, table[i].name))
        values[i] = trim(h.value);
  }
  for (size_t i = 0; i < N; ++i)
    if (values[i])
      table[i].read(table[i].name, *values[i], r);
}

} // namespace

provider_evidence parse_evidence(const std::vector<http_header>& headers,
                                 std::string_view error_text, millis arrived_at,
                                 provider_kind provider) {
  reading r;
  r.ev.at = arrived_at;
  r.arrived_at = arrived_at;
  run(common_rows, headers, r);
  body_signals body;
  switch (provider) {
  case provider_kind::anthropic:
    run(anthropic_rows, headers, r);
    finish_anthropic(r);
    body.verdict = anthropic_verdict(error_text);
    // A permission_error the provider says not to retry is a ban (CRS#990
    // cooled such a credential for 30 minutes, forever).
    if (body.verdict == retire_reason::none && r.no_retry
        && ifind(error_text, "permission_error", 0) != std::string_view::npos)
      body.verdict = retire_reason::banned;
    break;
  case provider_kind::codex:
    run(codex_rows, headers, r);
    finish_codex(r);
    read_codex_models(headers, r);
    body = read_codex_body(error_text, r.ev.at);
    break;
  case provider_kind::openai:
    run(openai_rows, headers, r);
    finish_openai(r);
    body = read_openai_body(error_text);
    break;
  case provider_kind::gemini:
    body = read_gemini_body(error_text, r.ev.at);
    break;
  }
  r.ev.verdict = body.verdict;
  for (auto& m : body.models)
    if (r.ev.models.size() < max_model_limits)
      r.ev.models.push_back(m);
  auto text = body.reset_at != 0 ? std::optional<millis>{body.reset_at}
                                 : parse_usage_text(error_text, r.ev.at);
  if (provider == provider_kind::codex && names_another_model(error_text)) {
    // The text's instant is a model's, not the credential's.
    millis reset = 0;
    if (text)
      set_reset("usage text", *text, r.ev.at, reset);
    auto limit = codex_limit_name(error_text);
    if (!limit.empty() && r.ev.models.size() < max_model_limits)
      r.ev.models.push_back(model_limit{std::move(limit), reset});
    for (auto& m : r.ev.models)
      m.reset_at = std::max(m.reset_at, reset);
    text.reset();
  }
  if (text)
    set_reset("usage text", *text, r.ev.at, r.ev.text_reset_at);
  for (auto& m : r.ev.models)
    if (m.reset_at != 0)
      m.reset_at = bound_reset(m.reset_at, r.ev.at).value_or(0);
  return r.ev;
}

namespace {

bool plausible_utilization(const usage_window& w) {
  return !w.utilization
         || (std::isfinite(*w.utilization) && *w.utilization >= 0.0
             && *w.utilization <= 1.0);
}

} // namespace

caf::error check_evidence(const provider_evidence& ev, millis now) {
  auto bad = [](const std::string& what) {
    return make_error(ec::invalid_argument, "provider evidence: " + what);
  };
  if (ev.status > provider_status::rejected)
    return bad("unknown status");
  if (!plausible_utilization(ev.five_hour)
      || !plausible_utilization(ev.seven_day))
    return bad("a utilization must be a number from 0 to 1");
  if (ev.verdict > retire_reason::dead_credential
      || ev.suspect > retire_reason::dead_credential)
    return bad("unknown verdict");
  if (ev.models.size() > max_model_limits)
    return bad("more than " + std::to_string(max_model_limits)
               + " model buckets");
  for (auto& m : ev.models)
    if (!plausible_bucket(m.model) || m.reset_at < 0
        || m.reset_at > now + max_arrival_ahead + max_reset_ahead)
      return bad("a model bucket needs a name of at most 64 letters, "
                 "digits and . _ - / : and a reset instant within the "
                 "bounds");
  if (ev.at < 0 || ev.at > now + max_arrival_ahead)
    return bad("the response's time is ahead of the daemon's clock");
  auto latest = now + max_arrival_ahead + max_reset_ahead;
  for (auto t : {ev.reset_at, ev.five_hour.reset_at, ev.seven_day.reset_at,
                 ev.retry_at, ev.text_reset_at})
    if (t < 0 || t > latest)
      return bad("a reset instant beyond " + format_iso(latest));
  return caf::none;
}

} // namespace sb
