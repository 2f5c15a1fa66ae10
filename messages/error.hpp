#pragma once

// The daemon's error codes. Every error that crosses an actor boundary is a
// caf::error of category "sb" whose context is one human-readable line; the CLI
// prints that line as it is.

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace sb {

/// Error codes of category "sb".
enum class ec : uint8_t {
  none = 0,
  /// No agent of that name.
  unknown_agent,
  /// No subscription of that name.
  unknown_subscription,
  /// An agent of that name exists already.
  duplicate_agent,
  /// A name is empty, too long or contains control characters.
  invalid_name,
  /// Any other argument out of range or malformed.
  invalid_argument,
  /// SQLite failed; nothing was acknowledged.
  store_failure,
  /// A write lost a race it was fenced against (generation check).
  conflict,
  /// A component did not answer in time.
  unavailable,
  /// The daemon is shutting down and takes no new work.
  shutting_down,
  /// The Docker engine refused or failed an operation.
  docker_failure,
  /// The Docker engine cannot be reached (socket missing, refused).
  docker_unreachable,
  /// A call to the Docker engine or an agent server took too long.
  timeout,
  /// No such container (HTTP 404 from the engine).
  not_found,
  /// The client's credential does not allow this request (a `report`
  /// credential asking to change something).
  forbidden,
  /// The daemon refused the client's credential (missing or wrong).
  unauthenticated,
};

/// Returns the enumerator's name, e.g. "unknown_agent".
const char* to_string(ec code);

/// The atom naming our error category.
constexpr caf::atom_value error_category = caf::atom("sb");

/// Makes an error of category "sb" with one line of context.
inline caf::error make_error(ec code, std::string what) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(what))};
}

/// Renders any error as one line: our own errors as their context line,
/// CAF's errors through CAF's names.
std::string render(const caf::error& err);

/// True if `err` is ours and has code `code`.
inline bool is(const caf::error& err, ec code) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(code);
}

} // namespace sb
