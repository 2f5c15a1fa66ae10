#pragma once

// One place that makes an actor system speak the switchboard protocol: message
// types, the error category and the application identifier. The daemon, the
// CLI, the benchmark and every test fixture call add_message_types().

namespace caf {
class actor_system_config;
} // namespace caf

namespace sb {

/// The daemon's version (from CMake).
const char* version();

/// The wire protocol version. Peers with another one are refused at connect
/// time (CAF's `middleman.app-identifiers`).
const char* protocol_version();

/// Registers every wire type, the "sb" error renderer, and sets the
/// application identifier.
void add_message_types(caf::actor_system_config& cfg);

} // namespace sb
