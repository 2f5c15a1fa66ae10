#pragma once

// How the CLI prints what the daemon answers: the JSON shapes of
// messages/json.hpp (for --json) and aligned text tables (for people).
// Tokens are never part of any of these types.

#include "messages/json.hpp"

#include <string>
#include <vector>

namespace sb::client {

/// Aligns rows into columns; the first row is the header. Each cell is
/// escaped for a terminal (escape_for_terminal()).
std::string table(const std::vector<std::vector<std::string>>& rows);

/// One line for a report or reassignment result.
std::string describe(const report_result& x);

} // namespace sb::client
