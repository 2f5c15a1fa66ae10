#pragma once

// The failure classifier (SPEC section 1): a pure function from an HTTP status
// and an error text to rate_limit, auth or ignored (with the reason).
// Never-a-switch markers win over everything, whatever the status.

#include "messages/types.hpp"

#include <string>
#include <string_view>

namespace sb {

struct classification {
  failure_kind kind = failure_kind::ignored;
  /// For ignored: killed, model_rejection, container_fault or
  /// not_a_switch_failure. Empty otherwise.
  std::string reason;
};

/// Classifies a failure. `explicit_kind` (rate_limit or auth) stands in for
/// a status when the caller already knows the kind.
classification classify(int32_t status, std::string_view text,
                        failure_kind explicit_kind = failure_kind::none);

} // namespace sb
