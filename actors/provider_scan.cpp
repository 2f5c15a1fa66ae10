// Readers under the provider-evidence parser (actors/provider_scan.hpp).

#include "actors/provider_scan.hpp"

#include <algorithm>

namespace sb::scan {

namespace {

/// Bytes of a value a log line may show.
constexpr size_t max_shown = 64;

/// Whole digits beyond this are garbage, not a time or a ratio (and would
/// overflow milliseconds: 10^15 s is 10^18 ms, below 2^63).
constexpr size_t max_whole_digits = 15;

/// Fraction digits beyond this are garbage too ("0.30000000000000004" is a
/// double printed in full and must pass).
constexpr size_t max_fraction_digits = 20;

/// Above this an epoch "in seconds" would be past the year 5000: it is in
/// milliseconds.
constexpr int64_t max_epoch_seconds = 100'000'000'000;

} // namespace

std::string shown(std::string_view value) {
  std::string out;
  auto n = std::min(value.size(), max_shown);
  out.reserve(n + 3);
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  if (value.size() > max_shown)
    out += "...";
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

size_t ifind(std::string_view text, std::string_view word, size_t from) {
  for (size_t i = from; i + word.size() <= text.size(); ++i)
    if (iequals(text.substr(i, word.size()), word))
      return i;
  return std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// -- cursor ------------------------------------------------------------------

bool cursor::eat_word(std::string_view word) {
  if (!iequals(s.substr(pos, word.size()), word))
    return false;
  pos += word.size();
  return true;
}

bool cursor::number(size_t min, size_t max, int64_t& out) {
  auto end = pos;
  while (end < s.size() && is_digit(s[end]))
    ++end;
  if (end - pos < min || end - pos > max)
    return false;
  out = 0;
  for (; pos < end; ++pos)
    out = out * 10 + (s[pos] - '0');
  return true;
}

bool cursor::digits(size_t n, int64_t& out) {
  if (pos + n > s.size())
    return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  pos += n;
  return true;
}

std::string_view cursor::letters() {
  auto start = pos;
  while (!at_end() && is_alpha(s[pos]))
    ++pos;
  return s.substr(start, pos - start);
}

// -- decimals ----------------------------------------------------------------

bool read_decimal(cursor& c, decimal& out) {
  auto t = c;
  if (!t.number(1, max_whole_digits, out.whole))
    return false;
  out.fraction = {};
  if (t.eat('.')) {
    auto start = t.pos;
    while (!t.at_end() && is_digit(t.peek()))
      ++t.pos;
    auto n = t.pos - start;
    if (n == 0 || n > max_fraction_digits)
      return false;
    out.fraction = t.s.substr(start, n);
  }
  c = t;
  return true;
}

std::optional<decimal> parse_decimal(std::string_view s) {
  cursor c{s};
  decimal d;
  if (!read_decimal(c, d) || !c.at_end())
    return std::nullopt;
  return d;
}

int64_t fraction_ms(std::string_view fraction) {
  int64_t ms = 0;
  for (size_t i = 0; i < 3; ++i)
    ms = ms * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  return ms;
}

double to_double(const decimal& d) {
  auto n = std::min<size_t>(d.fraction.size(), 17);
  double digits = 0;
  double scale = 1;
  for (size_t i = 0; i < n; ++i) {
    digits = digits * 10 + (d.fraction[i] - '0');
    scale *= 10;
  }
  return static_cast<double>(d.whole) + digits / scale;
}

millis epoch_instant(const decimal& d) {
  if (d.whole > max_epoch_seconds)
    return d.whole;
  return d.whole * 1000 + fraction_ms(d.fraction);
}

} // namespace sb::scan
