#include "messages/types.hpp"

namespace sb {

const char* to_string(failure_kind x) {
  switch (x) {
  case failure_kind::none:
    return "";
  case failure_kind::rate_limit:
    return "rate_limit";
  case failure_kind::auth:
    return "auth";
  case failure_kind::ignored:
    return "ignored";
  }
  return "";
}

const char* to_string(outcome x) {
  switch (x) {
  case outcome::switched:
    return "switched";
  case outcome::coalesced:
    return "coalesced";
  case outcome::stale:
    return "stale";
  case outcome::disabled:
    return "disabled";
  case outcome::ignored:
    return "ignored";
  case outcome::no_subscription:
    return "no_subscription";
  case outcome::no_alternative:
    return "no_alternative";
  case outcome::held:
    return "held";
  case outcome::below_threshold:
    return "below_threshold";
  case outcome::assigned:
    return "assigned";
  case outcome::rotated:
    return "rotated";
  case outcome::unchanged:
    return "unchanged";
  }
  return "unknown";
}

} // namespace sb
