#include "messages/backoff.hpp"

#include <algorithm>

namespace sb {

millis backoff_wait(uint32_t attempt, millis base, millis cap, double spread,
                    double jitter, millis retry_after) {
  auto wait = static_cast<double>(std::max<millis>(base, 1));
  for (uint32_t i = 1; i < attempt && wait < static_cast<double>(cap); ++i)
    wait *= 2;
  wait = std::min(wait, static_cast<double>(cap));
  wait *= 1.0 - spread + 2.0 * spread * std::clamp(jitter, 0.0, 1.0);
  return std::max(static_cast<millis>(wait), retry_after);
}

} // namespace sb
