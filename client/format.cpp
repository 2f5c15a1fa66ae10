#include "client/format.hpp"

#include "messages/time.hpp"
#include "messages/validate.hpp"

#include <algorithm>

namespace sb::client {

namespace {

std::string text_or(const caf::optional<std::string>& x, const char* none) {
  return x ? *x : std::string{none};
}

std::string iso_or(millis t, const char* none) {
  return t == 0 ? std::string{none} : format_iso(t);
}

} // namespace

std::string table(const std::vector<std::vector<std::string>>& raw) {
  // Every cell as a terminal shows it safely: names and texts come from
  // callers and providers (control characters, escape sequences, bidi
  // overrides and bad bytes written out; a line break cannot split a row).
  auto rows = raw;
  for (auto& row : rows)
    for (auto& cell : row)
      cell = escape_for_terminal(cell);
  std::vector<size_t> widths;
  for (auto& row : rows) {
    if (widths.size() < row.size())
      widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string describe(const report_result& x) {
  std::string out = to_string(x.result);
  out += ": agent " + x.agent;
  switch (x.result) {
  case outcome::switched:
  case outcome::assigned:
  case outcome::coalesced:
    out += " moved from " + text_or(x.from, "(none)") + " to "
           + text_or(x.to, "(none)");
    break;
  case outcome::rotated:
    out += " got the new token of " + text_or(x.to, "(none)");
    break;
  case outcome::stale:
    out += ": the failure on " + text_or(x.from, "(none)")
           + " is stale, the agent is on " + text_or(x.to, "(none)");
    break;
  case outcome::no_alternative:
    out += " stays on " + text_or(x.from, "(none)")
           + ": no alternative (earliest reset " + iso_or(x.reset_at, "unknown")
           + ")";
    break;
  default:
    if (x.from)
      out += " on " + *x.from;
    break;
  }
  out += " (generation " + std::to_string(x.generation);
  if (x.kind != failure_kind::none)
    out += std::string{", "} + to_string(x.kind);
  if (x.event_count > 0)
    out += ", " + std::to_string(x.event_count) + " event(s)";
  if (x.apply.result != apply_result::none)
    out += ", apply: " + to_string(x.apply);
  out += ")";
  if (!x.reason.empty() && x.result != outcome::switched)
    out += ": " + x.reason;
  return out;
}

} // namespace sb::client
