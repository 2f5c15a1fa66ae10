#include "messages/auth_line.hpp"

#include <algorithm>

namespace sb {

const char* to_string(scope s) {
  switch (s) {
  case scope::admin:
    return "admin";
  case scope::report:
    return "report";
  default:
    return "none";
  }
}

bool valid_auth_token(std::string_view token) {
  return token.size() <= max_auth_token
         && std::all_of(token.begin(), token.end(),
                        [](char c) { return c > 0x20 && c < 0x7F; });
}

std::string auth_hello(std::string_view token) {
  std::string line{auth_magic};
  line += token;
  line += '\n';
  return line;
}

namespace {

/// The first line of `received`, without its newline; nullopt-like: false
/// while it is incomplete.
bool first_line(std::string_view received, std::string_view& line,
                size_t& used) {
  auto end = received.find('\n');
  if (end == std::string_view::npos)
    return false;
  line = received.substr(0, end);
  used = end + 1;
  return true;
}

} // namespace

line_state parse_hello(std::string_view received, std::string& token,
                       size_t& used) {
  // Refuse as early as the bytes allow: a client speaking something else
  // (BASP, HTTP, garbage) is told at once, not after a timeout.
  auto n = std::min(received.size(), auth_magic.size());
  if (received.substr(0, n) != auth_magic.substr(0, n))
    return line_state::malformed;
  std::string_view line;
  if (!first_line(received, line, used))
    return received.size() >= max_auth_line ? line_state::malformed
                                            : line_state::incomplete;
  if (line.size() < auth_magic.size())
    return line_state::malformed;
  auto value = line.substr(auth_magic.size());
  if (!valid_auth_token(value))
    return line_state::malformed;
  token.assign(value);
  return line_state::complete;
}

std::string_view trim_credential(std::string_view text) {
  constexpr std::string_view space = " \t\r\n";
  auto first = text.find_first_not_of(space);
  if (first == std::string_view::npos)
    return {};
  auto last = text.find_last_not_of(space);
  return text.substr(first, last - first + 1);
}

std::string auth_granted(scope s) {
  return std::string{"OK "} + to_string(s) + "\n";
}

std::string auth_refused(std::string_view why) {
  return "NO " + std::string{why} + "\n";
}

line_state parse_answer(std::string_view received, scope& granted,
                        std::string& why, size_t& used) {
  std::string_view line;
  if (!first_line(received, line, used))
    return received.size() >= max_auth_line ? line_state::malformed
                                            : line_state::incomplete;
  granted = scope::none;
  if (line == "OK admin")
    granted = scope::admin;
  else if (line == "OK report")
    granted = scope::report;
  else if (line.substr(0, 3) == "NO ")
    why.assign(line.substr(3));
  else
    return line_state::malformed;
  return line_state::complete;
}

} // namespace sb
