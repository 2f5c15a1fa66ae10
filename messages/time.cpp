#include "messages/time.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace sb {

millis wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string format_iso(millis t) {
  auto secs = static_cast<time_t>(t >= 0 ? t / 1000 : (t - 999) / 1000);
  auto ms = static_cast<int>(t - static_cast<millis>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::string format_iso_or_empty(millis t) {
  return t == 0 ? std::string{} : format_iso(t);
}

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

} // namespace

std::optional<millis> parse_iso(std::string_view s) {
  int year, mon, day, hour, min, sec, ms = 0;
  if (s.size() < 20 || !digits(s, 0, 4, year) || s[4] != '-'
      || !digits(s, 5, 2, mon) || s[7] != '-' || !digits(s, 8, 2, day)
      || s[10] != 'T' || !digits(s, 11, 2, hour) || s[13] != ':'
      || !digits(s, 14, 2, min) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  size_t pos = 19;
  if (s[pos] == '.') {
    if (!digits(s, pos + 1, 3, ms))
      return std::nullopt;
    pos += 4;
  }
  if (pos + 1 != s.size() || s[pos] != 'Z')
    return std::nullopt;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59
      || sec > 60)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  auto secs = timegm(&tm);
  if (secs == static_cast<time_t>(-1))
    return std::nullopt;
  return static_cast<millis>(secs) * 1000 + ms;
}

} // namespace sb
