#pragma once

// "Did you mean": the nearest known command to a mistyped one, as git and
// kubectl suggest. Pure functions over words, so the CLI's tests can check
// them without a daemon.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
} // namespace CLI

namespace sb::client {

/// Edits between `a` and `b` (insertions, deletions, substitutions and swaps
/// of two neighbouring letters each count 1): "agnet" is 1 from "agent".
size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate nearest to `word`: a unique one that `word` starts, else
/// the one fewest edits away if that is at most 2 and less than the word's
/// length (so "x" suggests nothing). Ties go to the first in `candidates`.
std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates);

/// A mistyped command and what it probably meant.
struct command_guess {
  /// As typed: "agnet".
  std::string unknown;
  /// The whole command meant: "agent list"; "" when nothing is near.
  std::string meant;
};

/// For a command line CLI11 refused: the command it probably meant, e.g.
/// {"agnet", "agent list"} for `switchboard agnet list`, {"frobnicate", ""}
/// when nothing is near, or nothing when the subcommands given are all known
/// (the mistake is elsewhere).
std::optional<command_guess> suggest_command(const CLI::App& app, int argc,
                                             const char* const* argv);

} // namespace sb::client
