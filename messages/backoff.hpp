#pragma once

// Exponential backoff with jitter, shared by every retry loop that waits on
// another party (a token endpoint, a notification receiver, notify-command).

#include "messages/time.hpp"

#include <cstdint>

namespace sb {

/// The wait after `attempt` failures in a row (1 = the first): `base`
/// doubling up to `cap`, then spread by +-`spread` (0.25 = +-25 %) with
/// `jitter` in [0, 1); a longer `retry_after` (what the other party asked
/// for) wins.
millis backoff_wait(uint32_t attempt, millis base, millis cap, double spread,
                    double jitter, millis retry_after);

} // namespace sb
