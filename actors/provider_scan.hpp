#pragma once

// The hand-written readers under the provider-evidence parser
// (actors/provider_headers.hpp): ASCII text helpers, a read position and
// non-negative decimals. Values come from the network (any bytes, any
// length); strtod and friends depend on the locale or accept more than they
// should ("nan", "1e3", "0x1"), so nothing here calls them.

#include "messages/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::scan {

/// At most 64 bytes of `value` for a log line, control and high bytes as
/// '?': a value from the network must not forge or flood log lines.
std::string shown(std::string_view value);

// ASCII only: std::tolower and std::isalpha consult the locale.
inline char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

inline bool is_alpha(char c) {
  return lower(c) >= 'a' && lower(c) <= 'z';
}

bool iequals(std::string_view a, std::string_view b);

/// Where `word` (lowercase) starts in `text` at or after `from`, ignoring
/// ASCII case; npos if nowhere.
size_t ifind(std::string_view text, std::string_view word, size_t from);

/// HTTP's optional whitespace: spaces and tabs.
std::string_view trim(std::string_view s);

/// A position in a value. Readers advance it only on success, so a caller
/// tries an alternative from a copy.
struct cursor {
  std::string_view s;
  size_t pos = 0;

  bool at_end() const { return pos >= s.size(); }

  char peek() const { return at_end() ? '\0' : s[pos]; }

  bool eat(char c) {
    if (at_end() || s[pos] != c)
      return false;
    ++pos;
    return true;
  }

  /// `word` (lowercase), ignoring ASCII case.
  bool eat_word(std::string_view word);

  void skip_spaces() {
    while (!at_end() && (s[pos] == ' ' || s[pos] == '\t'))
      ++pos;
  }

  /// All digits from here, which must be between `min` and `max` (at most
  /// 18, so no overflow) of them.
  bool number(size_t min, size_t max, int64_t& out);

  /// Exactly `n` digits (more may follow: "+0530" is two fields).
  bool digits(size_t n, int64_t& out);

  /// A run of ASCII letters (maybe empty).
  std::string_view letters();
};

/// A non-negative "123" or "123.456": no sign, exponent, "nan" or "inf".
struct decimal {
  int64_t whole = 0;
  std::string_view fraction;
};

/// A decimal at the cursor (at most 15 whole and 20 fraction digits).
bool read_decimal(cursor& c, decimal& out);

/// The whole value as a decimal.
std::optional<decimal> parse_decimal(std::string_view s);

/// The first three digits of a fraction as milliseconds (truncated).
int64_t fraction_ms(std::string_view fraction);

/// The value as a double: the fraction's first 17 digits as an integer
/// divided by a power of ten, both exact, so "0.3" is the double 0.3.
double to_double(const decimal& d);

/// Epoch seconds as an instant; a number past the year 5000 in seconds is
/// taken for milliseconds.
millis epoch_instant(const decimal& d);

} // namespace sb::scan
