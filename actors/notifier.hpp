#pragma once

// The NOTIFIER: delivers the notification outbox. Every switch (and every
// held or pool-exhausted alert) is written to the outbox in the same
// transaction as the decision, with status `pending`. With
// switchboard.notify-command set, this detached actor runs that command once
// per pending notification, oldest first, with the notification as one JSON
// object on its standard input; exit status 0 marks it `delivered`, anything
// else (or a timeout) leaves it pending for the next round: delivery is at
// least once, and survives restarts. The ROOT sends a tick every
// switchboard.notify-interval. Without a command, notifications stay
// pending for `switchboard notifications` and other readers of the outbox;
// the command and its timing are read each round (a reload changes them).

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <string>

namespace sb {

struct notifier_state {
  store_actor store;
  context_ptr ctx;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  static inline const char* name = "notifier";
};

/// Spawn with caf::detached: it waits for the command to finish.
notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self,
         store_actor store, context_ptr ctx);

/// Runs `command` with /bin/sh, feeding `input` on its standard input.
/// Returns "" on exit status 0, else what went wrong. Kills it after
/// `timeout`.
std::string run_notify_command(const std::string& command,
                               const std::string& input,
                               std::chrono::milliseconds timeout);

} // namespace sb
