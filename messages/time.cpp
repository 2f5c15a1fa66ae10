#include "messages/time.hpp"

// GCC 12 sees date::parse's seconds field (its local `S`) as maybe
// uninitialized where parsing fails before it; the library never reads it
// then. The warning is decided after inlining, so it is off for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <date/date.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <sstream>

namespace sb {

using std::chrono::milliseconds;
using utc_ms = date::sys_time<milliseconds>;

millis wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

namespace {

void put2(char* out, unsigned v) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

} // namespace

// On the hot path (every event), so without a stream or snprintf.
std::string format_iso(millis t) {
  auto tp = utc_ms{milliseconds{t}};
  auto day = date::floor<date::days>(tp);
  date::year_month_day ymd{day};
  auto in_day = (tp - day).count();
  auto secs = static_cast<unsigned>(in_day / 1000);
  auto ms = static_cast<unsigned>(in_day % 1000);
  char buf[24];
  auto y = static_cast<int>(ymd.year());
  auto uy = static_cast<unsigned>(y < 0 ? 0 : y % 10000);
  buf[0] = static_cast<char>('0' + uy / 1000);
  buf[1] = static_cast<char>('0' + uy / 100 % 10);
  put2(buf + 2, uy % 100);
  buf[4] = '-';
  put2(buf + 5, static_cast<unsigned>(ymd.month()));
  buf[7] = '-';
  put2(buf + 8, static_cast<unsigned>(ymd.day()));
  buf[10] = 'T';
  put2(buf + 11, secs / 3600);
  buf[13] = ':';
  put2(buf + 14, secs / 60 % 60);
  buf[16] = ':';
  put2(buf + 17, secs % 60);
  buf[19] = '.';
  buf[20] = static_cast<char>('0' + ms / 100);
  put2(buf + 21, ms % 100);
  buf[23] = 'Z';
  return std::string{buf, sizeof(buf)};
}

namespace {

// -- shapes ------------------------------------------------------------------

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_alpha(char c) {
  return lower(c) >= 'a' && lower(c) <= 'z';
}

/// `text` has the shape of `pattern`: '9' a digit, 'a' an ASCII letter,
/// '?' any character, anything else itself.
bool has_shape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size())
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    auto p = pattern[i];
    if (p == '9'   ? !is_digit(text[i])
        : p == 'a' ? !is_alpha(text[i])
                   : p != '?' && p != text[i])
      return false;
  }
  return true;
}

bool has_any_shape(std::string_view text,
                   std::initializer_list<std::string_view> patterns) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](auto p) { return has_shape(text, p); });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(),
                       [](char x, char y) { return lower(x) == lower(y); });
}

// -- the library -------------------------------------------------------------

/// The whole `text` read by date::parse with `format` as UTC. A leap second
/// (":60" after hours and minutes) is the next minute's first second; the
/// library does not take it.
std::optional<utc_ms> parse_utc(std::string text, const char* format) {
  auto leap = text.find(":60");
  bool is_leap
    = leap != std::string::npos && leap >= 3 && text[leap - 3] == ':';
  if (is_leap)
    text.replace(leap + 1, 2, "59");
  std::istringstream in{text};
  utc_ms t;
  in >> date::parse(format, t);
  if (in.fail() || in.rdbuf()->sgetc() != std::char_traits<char>::eof())
    return std::nullopt;
  return is_leap ? t + std::chrono::seconds{1} : t;
}

/// A weekday's name, short ("Sun") or long ("Sunday"), in any case.
bool is_weekday(std::string_view name) {
  std::istringstream in{std::string{name}};
  date::weekday wd;
  in >> date::parse("%a", wd);
  return !in.fail() && in.rdbuf()->sgetc() == std::char_traits<char>::eof();
}

millis to_millis(utc_ms t) {
  return t.time_since_epoch().count();
}

} // namespace

// -- ISO-8601 ----------------------------------------------------------------

std::optional<time_prefix> read_utc_offset(std::string_view s) {
  if (s.empty() || (s[0] != '+' && s[0] != '-'))
    return std::nullopt;
  size_t n = s.size() > 3 && s[3] == ':'          ? 6
             : has_shape(s.substr(0, 5), "?9999") ? 5
                                                  : 3;
  auto digits_at = [&](size_t i) { return i < s.size() && is_digit(s[i]); };
  if (s.size() < n || digits_at(n) || !digits_at(1) || !digits_at(2)
      || (n > 3 && (!digits_at(n - 2) || !digits_at(n - 1))))
    return std::nullopt;
  auto h = (s[1] - '0') * 10 + (s[2] - '0');
  auto m = n > 3 ? (s[n - 2] - '0') * 10 + (s[n - 1] - '0') : 0;
  if (h > 23 || m > 59)
    return std::nullopt;
  auto offset = h * hour_ms + m * minute_ms;
  return time_prefix{s[0] == '-' ? -offset : offset, n};
}

std::optional<time_prefix> read_iso_instant(std::string_view s) {
  if (s.size() < 20 || !has_shape(s.substr(0, 19), "9999-99-99?99:99:99")
      || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
    return std::nullopt;
  std::string civil{s.substr(0, 19)};
  civil[10] = 'T';
  size_t pos = 19;
  if (s[pos] == '.') {
    auto end = pos + 1;
    while (end < s.size() && is_digit(s[end]))
      ++end;
    if (end == pos + 1 || end - pos - 1 > 9)
      return std::nullopt;
    civil += s.substr(pos, std::min<size_t>(end - pos, 4)); // milliseconds
    pos = end;
  }
  millis offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (auto o = read_utc_offset(s.substr(pos))) {
    offset = o->value;
    pos += o->length;
  } else {
    return std::nullopt;
  }
  auto t = parse_utc(std::move(civil), "%Y-%m-%dT%T");
  if (!t)
    return std::nullopt;
  return time_prefix{to_millis(*t) - offset, pos};
}

std::optional<millis> parse_iso_instant(std::string_view text) {
  auto t = read_iso_instant(text);
  if (!t || t->length != text.size())
    return std::nullopt;
  return t->value;
}

std::optional<millis> parse_iso(std::string_view text) {
  if (!has_any_shape(text,
                     {"9999-99-99T99:99:99Z", "9999-99-99T99:99:99.999Z"}))
    return std::nullopt;
  return parse_iso_instant(text);
}

millis next_wall_time(millis in_day, millis offset, millis at) {
  auto local = utc_ms{milliseconds{at + offset}};
  auto t = date::floor<date::days>(local) + milliseconds{in_day};
  if (t <= local)
    t += date::days{1};
  return to_millis(t) - offset;
}

// -- HTTP dates --------------------------------------------------------------

namespace {

/// `s` ends in " GMT" (any case).
bool ends_in_gmt(std::string_view s) {
  return s.size() >= 4 && iequals(s.substr(s.size() - 4), " gmt");
}

/// "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<millis> read_imf_fixdate(std::string_view s) {
  if (!has_any_shape(
        s, {"aaa, 99 aaa 9999 99:99:99 aaa", "aaa, 9 aaa 9999 99:99:99 aaa"})
      || !is_weekday(s.substr(0, 3)) || !ends_in_gmt(s))
    return std::nullopt;
  auto t = parse_utc(std::string{s.substr(5, s.size() - 9)}, "%d %b %Y %T");
  if (!t)
    return std::nullopt;
  return to_millis(*t);
}

/// RFC 9110: a two-digit year more than 50 years after now's is in the
/// past century; symmetrically, one 50 or more years before is in the next.
int full_year(int two_digits, millis now) {
  auto now_day = date::floor<date::days>(utc_ms{milliseconds{now}});
  auto now_year = static_cast<int>(date::year_month_day{now_day}.year());
  auto year = now_year - (now_year % 100 + 100) % 100 + two_digits;
  if (year > now_year + 50)
    year -= 100;
  else if (year <= now_year - 50)
    year += 100;
  return year;
}

/// "Sunday, 06-Nov-94 08:49:37 GMT": the library reads the two-digit year
/// into 1969-2068, moved here to the century RFC 9110 asks for.
std::optional<millis> read_rfc850(std::string_view s, millis now) {
  auto comma = s.find(',');
  auto rest = s.substr(comma);
  if (comma < 6 || !is_weekday(s.substr(0, comma))
      || !has_shape(rest, ", 99-aaa-99 99:99:99 aaa") || !ends_in_gmt(rest))
    return std::nullopt;
  auto t
    = parse_utc(std::string{rest.substr(2, rest.size() - 6)}, "%d-%b-%y %T");
  if (!t)
    return std::nullopt;
  auto day = date::floor<date::days>(*t);
  date::year_month_day ymd{day};
  auto year = full_year(static_cast<int>(ymd.year()) % 100, now);
  auto moved = date::year{year} / ymd.month() / ymd.day();
  if (!moved.ok()) // 29-Feb-00 in 2100
    return std::nullopt;
  return to_millis(date::sys_days{moved} + (*t - day));
}

/// "Sun Nov  6 08:49:37 1994" (a day padded with a space, or not).
std::optional<millis> read_asctime(std::string_view s) {
  if (s.size() < 4 || !is_weekday(s.substr(0, 3)) || s[3] != ' ')
    return std::nullopt;
  auto rest = s.substr(4);
  if (!has_any_shape(rest, {"aaa 99 99:99:99 9999", "aaa 9 99:99:99 9999",
                            "aaa  9 99:99:99 9999", "aaa  99 99:99:99 9999"}))
    return std::nullopt;
  auto t = parse_utc(std::string{rest}, "%b %d %T %Y");
  if (!t)
    return std::nullopt;
  return to_millis(*t);
}

} // namespace

std::optional<millis> parse_http_date(std::string_view text, millis now) {
  auto comma = text.find(',');
  if (comma == 3)
    return read_imf_fixdate(text);
  if (comma != std::string_view::npos)
    return read_rfc850(text, now);
  return read_asctime(text);
}

// -- durations ---------------------------------------------------------------

std::optional<millis> parse_duration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9')
    ++i;
  if (i == 0 || i > 12)
    return std::nullopt;
  millis n = 0;
  for (size_t j = 0; j < i; ++j)
    n = n * 10 + (text[j] - '0');
  auto unit = text.substr(i);
  if (unit == "ms")
    return n;
  if (unit == "s")
    return n * 1000;
  if (unit == "m" || unit == "min")
    return n * minute_ms;
  if (unit == "h")
    return n * hour_ms;
  if (unit == "d")
    return n * day_ms;
  return std::nullopt;
}

std::string format_duration(millis ms) {
  if (ms == 0)
    return "0s";
  if (ms % day_ms == 0)
    return std::to_string(ms / day_ms) + "d";
  if (ms % hour_ms == 0)
    return std::to_string(ms / hour_ms) + "h";
  if (ms % minute_ms == 0)
    return std::to_string(ms / minute_ms) + "m";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

} // namespace sb
