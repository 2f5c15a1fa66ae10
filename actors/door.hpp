#pragma once

// A second way into the FRONT DOOR besides CAF's network layer (the HTTP
// front, http/http_front.hpp). The daemon owns its doors and stops them on
// shutdown after the agents drained: meanwhile a door still answers, and
// says the daemon is draining.

namespace sb {

namespace intake {
struct credentials;
} // namespace intake

class door {
public:
  virtual ~door() = default;

  /// Stops taking requests and finishes those in progress; idempotent.
  virtual void stop() = 0;

  /// The credential files were read again (a reload).
  virtual void set_credentials(const intake::credentials&) {
    // a door without credentials of its own
  }
};

} // namespace sb
