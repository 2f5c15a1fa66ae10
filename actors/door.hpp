#pragma once

// A second way into the FRONT DOOR besides CAF's network layer (the HTTP
// front, http/http_front.hpp). The daemon owns its doors and stops them on
// shutdown after the agents drained: meanwhile a door still answers, and
// says the daemon is draining.

namespace sb {

class door {
public:
  virtual ~door() = default;

  /// Stops taking requests and finishes those in progress; idempotent.
  virtual void stop() = 0;
};

} // namespace sb
