// Provider evidence in, the time forms (actors/provider_headers.hpp):
// retry-after, epoch seconds and the usage-limit texts. Dates (HTTP dates,
// ISO-8601 instants, UTC offsets) are read by the one date parser,
// messages/time.hpp.

#include "actors/logging.hpp"
#include "actors/provider_headers.hpp"
#include "actors/provider_scan.hpp"

#include <date/date.h>

#include <algorithm>
#include <array>

namespace sb {

using namespace scan;

namespace {

// -- usage-limit texts -------------------------------------------------------

/// "Claude AI usage limit reached|<epoch>" anywhere in the text.
std::optional<millis> read_limit_reached(std::string_view text) {
  constexpr std::string_view marker = "claude ai usage limit reached";
  for (auto at = ifind(text, marker, 0); at != std::string_view::npos;
       at = ifind(text, marker, at + 1)) {
    cursor c{text, at + marker.size()};
    c.skip_spaces();
    if (!c.eat('|'))
      continue;
    c.skip_spaces();
    decimal d;
    if (read_decimal(c, d))
      return epoch_instant(d);
  }
  return std::nullopt;
}

/// "4pm", "4:30 pm", "16:00": milliseconds into the day.
std::optional<millis> read_time_of_day(cursor& c) {
  auto t = c;
  int64_t h = 0, m = 0;
  if (!t.number(1, 2, h))
    return std::nullopt;
  bool has_minutes = t.eat(':');
  if (has_minutes && !t.number(2, 2, m))
    return std::nullopt;
  auto u = t;
  u.skip_spaces();
  bool pm = u.eat_word("pm");
  bool am = !pm && u.eat_word("am");
  if ((am || pm) && !is_alpha(u.peek())) {
    // 12am is midnight, 12pm noon.
    if (h < 1 || h > 12)
      return std::nullopt;
    h = h % 12 + (pm ? 12 : 0);
    t = u;
  } else if (!has_minutes || h > 23) {
    return std::nullopt; // a bare number is not a time
  }
  if (m > 59)
    return std::nullopt;
  c = t;
  return h * hour_ms + m * minute_ms;
}

/// "UTC", "GMT", "Z" or an offset: the offset east of UTC.
std::optional<millis> zone_offset(std::string_view zone) {
  if (iequals(zone, "utc") || iequals(zone, "gmt") || iequals(zone, "z"))
    return 0;
  auto offset = read_utc_offset(zone);
  if (offset && offset->length == zone.size())
    return offset->value;
  return std::nullopt;
}

/// A bare word that names a zone the parser does not know ("Europe/Berlin",
/// "PST") rather than the text going on ("resets 4pm Try again").
bool looks_like_zone(std::string_view word) {
  if (word.find('/') != std::string_view::npos)
    return true;
  return word.size() >= 3 && word.size() <= 5
         && std::all_of(word.begin(), word.end(),
                        [](char ch) { return ch >= 'A' && ch <= 'Z'; });
}

bool zone_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == ':'
         || c == '/' || c == '_';
}

/// The zone after a time of day: its offset, 0 if none is given, nothing if
/// one is given that the parser does not know (guessing UTC could be hours
/// off).
std::optional<millis> read_zone(cursor& c) {
  auto t = c;
  t.skip_spaces();
  std::string_view zone;
  if (t.eat('(')) {
    auto close = t.s.find(')', t.pos);
    if (close == std::string_view::npos)
      close = t.s.size();
    zone = trim(t.s.substr(t.pos, close - t.pos));
    t.pos = std::min(close + 1, t.s.size());
  } else {
    auto start = t.pos;
    while (!t.at_end() && zone_char(t.peek()))
      ++t.pos;
    zone = t.s.substr(start, t.pos - start);
    if (!zone_offset(zone) && !looks_like_zone(zone))
      return 0; // no zone: UTC
  }
  auto offset = zone_offset(zone);
  if (!offset) {
    SB_DEBUG("usage text reset time ignored: unknown time zone '{}'",
             shown(zone));
    return std::nullopt;
  }
  c = t;
  return offset;
}

/// What follows one "resets": "at" maybe, then an instant or a time of day.
std::optional<millis> read_reset_time(cursor c, millis at) {
  c.skip_spaces();
  auto t = c;
  if (t.eat_word("at") && !is_alpha(t.peek())) {
    t.skip_spaces();
    c = t;
  }
  if (auto instant = read_iso_instant(c.s.substr(c.pos)))
    return instant->value;
  auto in_day = read_time_of_day(c);
  if (!in_day)
    return std::nullopt;
  auto offset = read_zone(c);
  if (!offset)
    return std::nullopt;
  return next_wall_time(*in_day, *offset, at);
}

/// "resets at <time>" / "resets <time>": the first that reads.
std::optional<millis> read_resets(std::string_view text, millis at) {
  constexpr std::string_view word = "resets";
  for (auto pos = ifind(text, word, 0); pos != std::string_view::npos;
       pos = ifind(text, word, pos + 1)) {
    auto end = pos + word.size();
    // A word of its own: not "presets", not "resetsfoo".
    if ((pos > 0 && is_alpha(text[pos - 1]))
        || (end < text.size() && is_alpha(text[end])))
      continue;
    if (auto t = read_reset_time(cursor{text, end}, at))
      return t;
  }
  return std::nullopt;
}

/// "Jul 10th, 2026 11:52 AM" (Codex): a month's name, a day (st, nd, rd,
/// th may follow), the year, a time of day and maybe a zone (UTC if none).
std::optional<millis> read_month_date(cursor c) {
  constexpr std::array<std::string_view, 12> months{"jan", "feb", "mar", "apr",
                                                    "may", "jun", "jul", "aug",
                                                    "sep", "oct", "nov", "dec"};
  auto name = c.letters();
  if (name.size() < 3)
    return std::nullopt;
  unsigned month = 0;
  for (unsigned i = 0; i < months.size(); ++i)
    if (iequals(name.substr(0, 3), months[i]))
      month = i + 1;
  int64_t day = 0, year = 0;
  c.skip_spaces();
  if (month == 0 || !c.number(1, 2, day))
    return std::nullopt;
  c.letters(); // st, nd, rd, th
  c.eat(',');
  c.skip_spaces();
  if (!c.number(4, 4, year))
    return std::nullopt;
  c.eat(',');
  c.skip_spaces();
  auto in_day = read_time_of_day(c);
  auto offset = in_day ? read_zone(c) : std::nullopt;
  date::year_month_day ymd{date::year{static_cast<int>(year)},
                           date::month{month},
                           date::day{static_cast<unsigned>(day)}};
  if (!offset || !ymd.ok())
    return std::nullopt;
  auto midnight = date::sys_days{ymd}.time_since_epoch();
  return std::chrono::duration_cast<std::chrono::milliseconds>(midnight).count()
         + *in_day - *offset;
}

/// "5 days 22 hours 11 minutes" (older Codex CLIs): numbers with unit
/// words, "and" and commas between them.
std::optional<millis> read_word_duration(cursor c) {
  millis total = 0;
  bool any = false;
  for (;;) {
    c.skip_spaces();
    int64_t n = 0;
    if (!c.number(1, 6, n))
      break;
    c.skip_spaces();
    auto unit = c.letters();
    if (unit.empty())
      return std::nullopt;
    millis scale = 0;
    for (auto [word, ms] : {std::pair{"day", day_ms},
                            {"hour", hour_ms},
                            {"minute", minute_ms},
                            {"min", minute_ms},
                            {"second", millis{1000}},
                            {"sec", millis{1000}}})
      if (iequals(unit, word)
          || (iequals(unit.substr(0, unit.size() - 1), word)
              && lower(unit.back()) == 's'))
        scale = ms;
    if (scale == 0)
      return std::nullopt;
    total += n * scale;
    any = true;
    c.eat(',');
    c.skip_spaces();
    auto t = c;
    if (t.eat_word("and") && !is_alpha(t.peek()))
      c = t;
  }
  return any ? std::optional<millis>{total} : std::nullopt;
}

/// "try again at <time or date>" / "try again in <duration>" (Codex).
std::optional<millis> read_try_again(std::string_view text, millis at) {
  constexpr std::string_view phrase = "try again";
  for (auto pos = ifind(text, phrase, 0); pos != std::string_view::npos;
       pos = ifind(text, phrase, pos + 1)) {
    cursor c{text, pos + phrase.size()};
    c.skip_spaces();
    auto t = c;
    if (t.eat_word("in") && !is_alpha(t.peek())) {
      if (auto d = read_word_duration(t))
        return at + *d;
      continue;
    }
    t = c;
    if (!t.eat_word("at") || is_alpha(t.peek()))
      continue;
    t.skip_spaces();
    if (auto d = read_month_date(t))
      return d;
    if (auto d = read_reset_time(t, at))
      return d;
  }
  return std::nullopt;
}

} // namespace

std::optional<millis> parse_retry_after(std::string_view value, millis now) {
  if (auto d = parse_decimal(value))
    return now + d->whole * 1000 + fraction_ms(d->fraction);
  return parse_http_date(value, now);
}

std::optional<millis> parse_epoch_seconds(std::string_view value) {
  auto d = parse_decimal(value);
  if (!d)
    return std::nullopt;
  return epoch_instant(*d);
}

std::optional<millis> parse_usage_text(std::string_view text, millis at) {
  if (auto t = read_limit_reached(text))
    return t;
  if (auto t = read_resets(text, at))
    return t;
  return read_try_again(text, at);
}

std::optional<millis> bound_reset(millis reset, millis at) {
  if (reset <= at)
    return std::nullopt;
  return std::min(reset, at + max_reset_ahead);
}

} // namespace sb
