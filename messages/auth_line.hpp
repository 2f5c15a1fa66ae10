#pragma once

// The first bytes of every connection to the front door: the client's
// credential, before any byte reaches CAF. One line each way, readable with
// a terminal:
//
//   client: SWITCHBOARD-AUTH/1 <token>\n     (token: 0-256 bytes of
//                                             printable ASCII; empty with a
//                                             TLS client certificate)
//   daemon: OK admin\n | OK report\n         then CAF's BASP, both ways
//           NO <why>\n                        then the daemon closes
//
// The token is the content of the daemon's admin-token-file or
// report-token-file; which one it matches decides the scope. Nothing here
// knows sockets (intake/ and client/ move the bytes).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb {

/// What a credential allows.
enum class scope : uint8_t {
  none,
  /// Everything: add, remove, rotate, assign, settings, backups.
  admin,
  /// Report, observe and read.
  report,
};

const char* to_string(scope s);

constexpr std::string_view auth_magic = "SWITCHBOARD-AUTH/1 ";
constexpr size_t max_auth_token = 256;
/// The longest line either side sends.
constexpr size_t max_auth_line = auth_magic.size() + max_auth_token + 1;

/// The client's line for `token` (checked with valid_auth_token first).
std::string auth_hello(std::string_view token);

/// True if `token` may travel in the line: printable ASCII, no spaces, at
/// most max_auth_token bytes.
bool valid_auth_token(std::string_view token);

enum class line_state : uint8_t { incomplete, complete, malformed };

/// Reads the client's line from the bytes received so far: `used` is its
/// length with the newline, `token` what it carries.
line_state parse_hello(std::string_view received, std::string& token,
                       size_t& used);

std::string auth_granted(scope s);
std::string auth_refused(std::string_view why);

/// Reads the daemon's answer line: `granted` (none if refused) and, if
/// refused, `why`.
line_state parse_answer(std::string_view received, scope& granted,
                        std::string& why, size_t& used);

/// Reads the answer byte by byte with `next(char&)` (true: a byte came; the
/// bytes after the line belong to CAF), until it is complete or `next`
/// fails (incomplete then).
template<class Next>
line_state read_answer(Next next, scope& granted, std::string& why) {
  std::string received;
  char c = 0;
  while (received.size() < max_auth_line && next(c)) {
    received += c;
    size_t used = 0;
    auto st = parse_answer(received, granted, why, used);
    if (st != line_state::incomplete)
      return st;
  }
  return received.size() >= max_auth_line ? line_state::malformed
                                          : line_state::incomplete;
}

/// A credential as a file holds it: without surrounding whitespace.
std::string_view trim_credential(std::string_view text);

} // namespace sb
