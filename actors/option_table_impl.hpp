#pragma once

// The templates of option_table.hpp. Included only by the two places that
// own a table (actors/config.cpp, actors/engine_settings.cpp), which
// instantiate them for their options struct.

#include "actors/option_table.hpp"
#include "messages/error.hpp"

#include <charconv>
#include <chrono>
#include <type_traits>

namespace sb {

namespace detail {

inline std::string range_text(int64_t lo, int64_t hi) {
  return "from " + std::to_string(lo) + " to " + std::to_string(hi);
}

inline std::string duration_range_text(int64_t lo, int64_t hi) {
  return "a duration from " + format_duration(lo) + " to " + format_duration(hi)
         + " (e.g. 30s, 10m, 2h)";
}

/// Whole number in [lo, hi] (a sign only if lo < 0), or nothing.
inline std::optional<int64_t> parse_count(std::string_view text, int64_t lo,
                                          int64_t hi) {
  bool negative = lo < 0 && !text.empty() && text.front() == '-';
  if (negative)
    text.remove_prefix(1);
  if (text.empty() || text.size() > 18)
    return std::nullopt;
  int64_t n = 0;
  for (auto c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (negative)
    n = -n;
  if (n < lo || n > hi)
    return std::nullopt;
  return n;
}

/// "off", or a plain decimal fraction in [lo, hi] ("0.95", "1").
inline bool parse_fraction(std::string_view text, double lo, double hi,
                           std::optional<double>& out) {
  if (text == "off") {
    out.reset();
    return true;
  }
  if (text.empty() || text.size() > 12 || text.front() == '.'
      || text.back() == '.'
      || text.find_first_not_of("0123456789.") != std::string_view::npos)
    return false;
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value, std::chars_format::fixed);
  if (ec != std::errc{} || end != text.data() + text.size())
    return false;
  if (value < lo || value > hi)
    return false;
  out = value;
  return true;
}

inline std::string fraction_text(const std::optional<double>& x) {
  if (!x)
    return "off";
  auto text = std::to_string(*x); // "0.950000"
  while (text.back() == '0')
    text.pop_back();
  if (text.back() == '.')
    text.pop_back();
  return text;
}

inline bool one_of(std::string_view choices, std::string_view text) {
  while (!choices.empty()) {
    auto bar = choices.find('|');
    if (choices.substr(0, bar) == text)
      return true;
    if (bar == std::string_view::npos)
      break;
    choices.remove_prefix(bar + 1);
  }
  return false;
}

} // namespace detail

template<class Options>
caf::error set_option(const option_row<Options>& row, Options& out,
                      std::string_view text, std::string_view prefix) {
  auto bad = [&](const std::string& expected) {
    return make_error(ec::invalid_argument,
                      std::string{prefix} + std::string{row.key} + ": '"
                        + std::string{text} + "' is not " + expected);
  };
  return std::visit(
    [&](auto member) -> caf::error {
      using T = std::decay_t<decltype(out.*member)>;
      auto& field = out.*member;
      if constexpr (std::is_same_v<T, std::string>) {
        if (row.lo > 0 && text.empty())
          return bad("allowed: it must not be empty");
        if (!row.choices.empty() && !detail::one_of(row.choices, text))
          return bad("one of " + std::string{row.choices});
        field = std::string{text};
      } else if constexpr (std::is_same_v<T, bool>) {
        if (!parse_switch(text, field))
          return bad("on or off");
      } else if constexpr (std::is_same_v<
                             T, caf::timespan> || std::is_same_v<T, millis>) {
        auto ms = parse_duration(text);
        if (!ms || *ms < row.lo || *ms > row.hi)
          return bad(detail::duration_range_text(row.lo, row.hi));
        if constexpr (std::is_same_v<T, millis>)
          field = *ms;
        else
          field = std::chrono::milliseconds(*ms);
      } else if constexpr (std::is_same_v<T, std::optional<double>>) {
        if (!detail::parse_fraction(text, row.lo / 100.0, row.hi / 100.0,
                                    field))
          return bad("off or a fraction from "
                     + detail::fraction_text(row.lo / 100.0) + " to "
                     + detail::fraction_text(row.hi / 100.0));
      } else {
        auto n = detail::parse_count(text, row.lo, row.hi);
        if (!n)
          return bad("a whole number " + detail::range_text(row.lo, row.hi));
        field = static_cast<T>(*n);
      }
      return caf::none;
    },
    row.field);
}

template<class Options>
std::string option_text(const option_row<Options>& row, const Options& x) {
  return std::visit(
    [&](auto member) -> std::string {
      using T = std::decay_t<decltype(x.*member)>;
      auto& field = x.*member;
      if constexpr (std::is_same_v<T, std::string>)
        return field;
      else if constexpr (std::is_same_v<T, bool>)
        return field ? "on" : "off";
      else if constexpr (std::is_same_v<T, millis>)
        return format_duration(field);
      else if constexpr (std::is_same_v<T, caf::timespan>)
        return format_duration(
          std::chrono::duration_cast<std::chrono::milliseconds>(field).count());
      else if constexpr (std::is_same_v<T, std::optional<double>>)
        return detail::fraction_text(field);
      else
        return std::to_string(field);
    },
    row.field);
}

template<class Options>
void apply_defaults(const option_table<Options>& table, Options& out) {
  for (auto& row : table)
    // The defaults are checked by a test; a bad one is a programming error.
    static_cast<void>(set_option(row, out, row.default_value, ""));
}

template<class Options>
const option_row<Options>* find_option(const option_table<Options>& table,
                                       std::string_view key) {
  for (auto& row : table)
    if (row.key == key)
      return &row;
  return nullptr;
}

template<class Options>
std::string option_help(const option_table<Options>& table,
                        std::string_view section) {
  std::string out;
  for (auto& row : table) {
    auto left = "  --" + std::string{section} + "." + std::string{row.key} + "="
                + (row.default_value.empty() ? std::string{"\"\""}
                                             : std::string{row.default_value});
    if (left.size() < 44)
      left.append(44 - left.size(), ' ');
    else
      left += "\n" + std::string(44, ' ');
    out += left + std::string{row.description} + "\n";
  }
  return out;
}

} // namespace sb
