#pragma once

// No request waits forever: every request an actor sends to the STORE, the
// POOL, an AGENT, the SUPERVISOR or a docker worker has a finite deadline
// and an error arm. The deadline runs on the daemon's clock
// (actors/clock.hpp), so a test's manual clock decides when it passes, as it
// does for every other timer; on the wall clock it is CAF's own request
// timeout. The bounds shared by several actors are named here with the
// reason for their value.

#include "actors/clock.hpp"

#include <caf/actor_cast.hpp>
#include <caf/duration.hpp>
#include <caf/timestamp.hpp>

#include <chrono>
#include <utility>

namespace sb {

/// A request to the STORE (a write waits for its group commit). The STORE
/// may be slow: a backlog of full batches (4096 writes each) ahead in its
/// mailbox, a batch waiting up to SQLite's busy timeout (5 s) for another
/// process's lock, a PostgreSQL call riding out a lost connection (TCP user
/// timeout 10 s, reconnect 5 s). Twice the 60 s the readers of the STORE
/// wait, and many times what the database takes to give up: unless the
/// STORE is stuck, it has answered by then, with the write or with the
/// database's error, so a switch commit does not give up before the
/// database does.
constexpr auto store_request_timeout = std::chrono::minutes(2);

/// A request to the POOL. It answers a selection at once, but an
/// observation's evidence only once the STORE has it (at most
/// store_request_timeout, then it answers anyway): that plus a margin.
constexpr auto pool_request_timeout
  = store_request_timeout + std::chrono::seconds(30);

/// self->request(dest, timeout, xs...) with the timeout on the daemon's
/// clock: the same reply or error arm, sec::request_timeout when `timeout`
/// passed first (a later reply is dropped).
template<class Self, class Handle, class... Ts>
auto request_within(Self* self, daemon_clock& clock, const Handle& dest,
                    caf::timespan timeout, Ts&&... xs) {
  auto handle = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  clock.request_timeout(caf::actor_cast<caf::strong_actor_ptr>(self),
                        handle.id(), ms.count());
  return handle;
}

} // namespace sb
