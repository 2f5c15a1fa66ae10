#pragma once

// Options declared once: a table row names a key, its default (as written in
// conf/switchboard.ini and the README), one sentence, the field it sets and
// the values it accepts. The same rows produce the CAF options, check the
// config file, print `--help`, set the defaults and parse runtime settings;
// a test keeps the README's key tables and the example config equal to them.

#include "messages/time.hpp"

#include <caf/error.hpp>
#include <caf/timestamp.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sb {

/// The field of `Options` a row sets; its type decides how text is read.
/// A std::optional<double> field is a fraction from lo/100 to hi/100, or
/// "off" (none).
template<class Options>
using option_field
  = std::variant<std::string Options::*, bool Options::*, uint16_t Options::*,
                 uint32_t Options::*, uint64_t Options::*, int32_t Options::*,
                 caf::timespan Options::*, millis Options::*,
                 std::optional<double> Options::*>;

template<class Options>
struct option_row {
  std::string_view key;
  /// The default, as text.
  std::string_view default_value;
  std::string_view description;
  option_field<Options> field;
  /// Numbers: the range. Durations: the range in milliseconds. Text: lo 1
  /// means "must not be empty".
  int64_t lo = 0;
  int64_t hi = 0;
  /// Text: the allowed values, separated by '|' ("" = any).
  std::string_view choices = {};
};

template<class Options>
using option_table = std::vector<option_row<Options>>;

// -- reading and writing one value ------------------------------------------

/// Parses "on|off|true|false".
inline bool parse_switch(std::string_view text, bool& out) {
  if (text == "on" || text == "true")
    out = true;
  else if (text == "off" || text == "false")
    out = false;
  else
    return false;
  return true;
}

/// Checks `text` against the row and sets the field. The error names the
/// key ("setting 'x': '7' is not a whole number from 1 to 5").
template<class Options>
caf::error set_option(const option_row<Options>& row, Options& out,
                      std::string_view text, std::string_view prefix);

/// The field's value as canonical text ("2h" for 120 minutes, "on").
template<class Options>
std::string option_text(const option_row<Options>& row, const Options& x);

/// Sets every field to its default.
template<class Options>
void apply_defaults(const option_table<Options>& table, Options& out);

/// The row for `key`, or nullptr.
template<class Options>
const option_row<Options>* find_option(const option_table<Options>& table,
                                       std::string_view key);

/// "--section.key=DEFAULT  sentence" lines for --help.
template<class Options>
std::string option_help(const option_table<Options>& table,
                        std::string_view section);

} // namespace sb
