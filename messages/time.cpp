#include "messages/time.hpp"

#include <chrono>
#include <ctime>

namespace sb {

millis wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

namespace {

/// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
void civil_from_days(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  auto era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  auto yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  auto mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<int64_t>(yoe) + era * 400 + (m <= 2));
}

void put2(char* out, unsigned v) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

} // namespace

// On the hot path (every event), so without snprintf or gmtime.
std::string format_iso(millis t) {
  auto days = t >= 0 ? t / day_ms : (t - day_ms + 1) / day_ms;
  auto in_day = t - days * day_ms;
  int y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  auto secs = static_cast<unsigned>(in_day / 1000);
  auto ms = static_cast<unsigned>(in_day % 1000);
  char buf[24];
  auto uy = static_cast<unsigned>(y < 0 ? 0 : y % 10000);
  buf[0] = static_cast<char>('0' + uy / 1000);
  buf[1] = static_cast<char>('0' + uy / 100 % 10);
  put2(buf + 2, uy % 100);
  buf[4] = '-';
  put2(buf + 5, mo);
  buf[7] = '-';
  put2(buf + 8, d);
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
