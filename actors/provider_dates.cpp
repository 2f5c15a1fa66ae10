// Provider evidence in, the time forms (actors/provider_headers.hpp): HTTP
// dates, epoch seconds, ISO-8601 instants and the usage-limit texts. Civil
// time is computed here, not with timegm or strptime: those depend on the TZ
// variable or the locale.

#include "actors/logging.hpp"
#include "actors/provider_headers.hpp"
#include "actors/provider_scan.hpp"

#include <algorithm>
#include <array>

namespace sb {

using namespace scan;

namespace {

// -- civil time --------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm): timegm without the TZ variable or time_t's range.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  auto era = floor_div(y, 400);
  auto yoe = y - era * 400;
  auto doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  auto doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/// The year of an instant (the inverse of days_from_civil, year only).
int64_t year_of(millis t) {
  auto z = floor_div(t, day_ms) + 719468;
  auto era = floor_div(z, 146097);
  auto doe = z - era * 146097;
  auto yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  auto mp = (5 * doy + 2) / 153;
  return yoe + era * 400 + (mp >= 10);
}

int64_t days_in_month(int64_t y, int64_t m) {
  constexpr std::array<int64_t, 12> days{31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
  bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return m == 2 && leap ? 29 : days[static_cast<size_t>(m - 1)];
}

/// A UTC wall time as read, before its ranges are checked.
struct civil {
  int64_t year = 0, month = 0, day = 0;
  int64_t hour = 0, minute = 0, second = 0, ms = 0;
};

/// The instant, if every field is in range (second 60: a leap second).
std::optional<millis> to_instant(const civil& t) {
  if (t.month < 1 || t.month > 12 || t.day < 1
      || t.day > days_in_month(t.year, t.month) || t.hour > 23 || t.minute > 59
      || t.second > 60)
    return std::nullopt;
  auto days = days_from_civil(t.year, t.month, t.day);
  return ((days * 24 + t.hour) * 60 + t.minute) * 60 * 1000 + t.second * 1000
         + t.ms;
}

/// "08:49:37".
bool read_clock(cursor& c, civil& t) {
  return c.number(2, 2, t.hour) && c.eat(':') && c.number(2, 2, t.minute)
         && c.eat(':') && c.number(2, 2, t.second);
}

// -- HTTP dates (RFC 9110, 5.6.7) --------------------------------------------

constexpr std::array<std::string_view, 12> month_names{
  "jan", "feb", "mar", "apr", "may", "jun",
  "jul", "aug", "sep", "oct", "nov", "dec"};

constexpr std::array<std::string_view, 7> day_names{"mon", "tue", "wed", "thu",
                                                    "fri", "sat", "sun"};

constexpr std::array<std::string_view, 7> long_day_names{
  "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

/// A name of `names` (the weekday is checked for a name only: RFC 9110 does
/// not ask a recipient to check it against the date).
template<size_t N>
bool read_name(cursor& c, const std::array<std::string_view, N>& names,
               int64_t& index) {
  auto t = c;
  auto word = t.letters();
  for (size_t i = 0; i < N; ++i)
    if (iequals(word, names[i])) {
      index = static_cast<int64_t>(i);
      c = t;
      return true;
    }
  return false;
}

bool read_month(cursor& c, civil& t) {
  if (!read_name(c, month_names, t.month))
    return false;
  ++t.month;
  return true;
}

/// "Sun, 06 Nov 1994 08:49:37 GMT" (a one-digit day too, as RFC 1123 had).
std::optional<millis> read_imf_fixdate(cursor c) {
  civil t;
  int64_t weekday;
  if (read_name(c, day_names, weekday) && c.eat(',') && c.eat(' ')
      && c.number(1, 2, t.day) && c.eat(' ') && read_month(c, t) && c.eat(' ')
      && c.number(4, 4, t.year) && c.eat(' ') && read_clock(c, t) && c.eat(' ')
      && c.eat_word("gmt") && c.at_end())
    return to_instant(t);
  return std::nullopt;
}

/// RFC 9110: a two-digit year more than 50 years after now's is in the
/// past century; symmetrically, one 50 or more years before is in the next.
int64_t full_year(int64_t two_digits, millis now) {
  auto now_year = year_of(now);
  auto year
    = now_year - (now_year - floor_div(now_year, 100) * 100) + two_digits;
  if (year > now_year + 50)
    year -= 100;
  else if (year <= now_year - 50)
    year += 100;
  return year;
}

/// "Sunday, 06-Nov-94 08:49:37 GMT".
std::optional<millis> read_rfc850(cursor c, millis now) {
  civil t;
  int64_t weekday;
  if (read_name(c, long_day_names, weekday) && c.eat(',') && c.eat(' ')
      && c.number(2, 2, t.day) && c.eat('-') && read_month(c, t) && c.eat('-')
      && c.number(2, 2, t.year) && c.eat(' ') && read_clock(c, t) && c.eat(' ')
      && c.eat_word("gmt") && c.at_end()) {
    t.year = full_year(t.year, now);
    return to_instant(t);
  }
  return std::nullopt;
}

/// "Sun Nov  6 08:49:37 1994" (a day padded with a space, or not).
std::optional<millis> read_asctime(cursor c) {
  civil t;
  int64_t weekday;
  if (!read_name(c, day_names, weekday) || !c.eat(' ') || !read_month(c, t)
      || !c.eat(' '))
    return std::nullopt;
  c.eat(' ');
  if (c.number(1, 2, t.day) && c.eat(' ') && read_clock(c, t) && c.eat(' ')
      && c.number(4, 4, t.year) && c.at_end())
    return to_instant(t);
  return std::nullopt;
}

// -- ISO-8601 / RFC 3339 instants --------------------------------------------

/// "+02:00", "-0530", "+02": the offset east of UTC.
bool read_offset(cursor& c, millis& offset) {
  auto t = c;
  int64_t sign = t.eat('+') ? 1 : t.eat('-') ? -1 : 0;
  int64_t h = 0, m = 0;
  if (sign == 0 || !t.digits(2, h))
    return false;
  auto colon = t.eat(':');
  if ((colon || is_digit(t.peek())) && !t.digits(2, m))
    return false;
  if (is_digit(t.peek()))
    return false;
  if (h > 23 || m > 59)
    return false;
  offset = sign * (h * hour_ms + m * minute_ms);
  c = t;
  return true;
}

/// "2026-11-29T16:00:00Z", with a fraction or an offset. A time without a
/// zone is local somewhere unknown: not read.
std::optional<millis> read_iso(cursor& c) {
  auto t = c;
  civil v;
  if (!t.number(4, 4, v.year) || !t.eat('-') || !t.number(2, 2, v.month)
      || !t.eat('-') || !t.number(2, 2, v.day)
      || !(t.eat('T') || t.eat('t') || t.eat(' ')) || !read_clock(t, v))
    return std::nullopt;
  if (t.eat('.')) {
    auto start = t.pos;
    while (!t.at_end() && is_digit(t.peek()))
      ++t.pos;
    if (t.pos == start || t.pos - start > 9)
      return std::nullopt;
    v.ms = fraction_ms(t.s.substr(start, t.pos - start));
  }
  millis offset = 0;
  if (!(t.eat('Z') || t.eat('z') || read_offset(t, offset)))
    return std::nullopt;
  auto local = to_instant(v);
  if (!local)
    return std::nullopt;
  c = t;
  return *local - offset;
}

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
  cursor c{zone};
  millis offset = 0;
  if (read_offset(c, offset) && c.at_end())
    return offset;
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

/// The first instant after `at` whose wall time in the zone is `in_day`.
millis next_wall_time(millis in_day, millis offset, millis at) {
  auto local = at + offset;
  auto t = floor_div(local, day_ms) * day_ms + in_day;
  if (t <= local)
    t += day_ms;
  return t - offset;
}

/// What follows one "resets": "at" maybe, then an instant or a time of day.
std::optional<millis> read_reset_time(cursor c, millis at) {
  c.skip_spaces();
  auto t = c;
  if (t.eat_word("at") && !is_alpha(t.peek())) {
    t.skip_spaces();
    c = t;
  }
  if (auto instant = read_iso(c))
    return instant;
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

} // namespace

std::optional<millis> parse_retry_after(std::string_view value, millis now) {
  if (auto d = parse_decimal(value))
    return now + d->whole * 1000 + fraction_ms(d->fraction);
  return parse_http_date(value, now);
}

std::optional<millis> parse_http_date(std::string_view value, millis now) {
  cursor c{value};
  if (auto t = read_imf_fixdate(c))
    return t;
  if (auto t = read_rfc850(c, now))
    return t;
  return read_asctime(c);
}

std::optional<millis> parse_iso_instant(std::string_view value) {
  cursor c{value};
  auto t = read_iso(c);
  if (!t || !c.at_end())
    return std::nullopt;
  return t;
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
  return read_resets(text, at);
}

std::optional<millis> bound_reset(millis reset, millis at) {
  if (reset <= at)
    return std::nullopt;
  return std::min(reset, at + max_reset_ahead);
}

} // namespace sb
