#pragma once

// The files that hold the clients' credentials (switchboard.admin-token-file
// and switchboard.report-token-file). Whoever can read a file may use its
// scope: the daemon creates each at its first start (32 random bytes as 64
// hex digits, mode 0640, in a folder made 0750), so the daemon's user and
// group may read it and nobody else; under systemd that group is
// `switchboard`, and membership of it is the right to administer, as with
// Docker's socket. A file that others can read or write is refused: the
// daemon does not start on a credential anybody on the host has.

#include <string>

namespace sb::intake {

struct token_file {
  std::string token; ///< empty on failure
  std::string error; ///< one line (never holds the token)
  bool created = false;
};

/// The least a token must have: a short one can be guessed.
constexpr size_t min_token_length = 16;

/// Reads the token in `path` (surrounding whitespace trimmed), or creates
/// the file with a new one if it does not exist. `what` names the key in
/// errors (e.g. "switchboard.admin-token-file").
token_file load_or_create_token(const std::string& path, const char* what);

/// Reads the token in `path` without creating anything (a reload).
token_file load_token(const std::string& path, const char* what);

} // namespace sb::intake
