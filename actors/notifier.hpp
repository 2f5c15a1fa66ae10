#pragma once

// The NOTIFIER: delivers the notification outbox. Every switch (and every
// held or pool-exhausted alert) is written to the outbox in the same
// transaction as the decision, with status `pending`. With
// switchboard.notify-command set, this detached actor runs that command once
// per pending notification, oldest first, with the notification as one JSON
// object on its standard input; exit status 0 marks it `delivered`, anything
// else (or a timeout) leaves it pending for the next round: delivery is at
// least once, and survives restarts. Without a command, notifications stay
// pending for `switchboard notifications` and other readers of the outbox;
// the command and its timing are read each round (a reload changes them).
//
// Rounds run only while the outbox may hold work, so an idle daemon wakes
// no thread for it. The ROOT sends the first tick at start-up and forwards
// every anonymous tick it gets. When a round finds notifications (or a
// write committed since it started), the NOTIFIER answers the ROOT with a
// tick of its own before it runs the command, and the ROOT ticks it again
// after switchboard.notify-interval; a round that finds nothing rests. A
// resting notifier is woken by the STORE's commit hook
// (outbox_signal::committed, one tick notify-interval after the first commit)
// or by a reload (wake_notifier). So a notification is delivered within
// notify-interval of its commit, as before. With a shared store another node's
// commits are not seen here: then every round asks for the next one (the former
// timer). Without a command the notifier stays parked until a reload.

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace sb {

/// Whether the outbox may hold work the NOTIFIER has not seen: shared by the
/// STORE's commit hook (its thread), the NOTIFIER and the ROOT's address.
class outbox_signal {
public:
  /// A write committed. If the notifier rests, the ROOT gets one tick
  /// notify-interval from now (on `ctx`'s clock); otherwise the running
  /// round sees the flag when it ends. Cheap enough for every commit.
  void committed(const daemon_context& ctx);

  /// A round starts for the ROOT at `root`: writes that commit from now on
  /// count for the next round.
  void round_starts(const caf::actor_addr& root);

  /// A round found nothing left. True if the notifier may rest; false if a
  /// write committed meanwhile (then the caller asks for another round).
  bool rest();

private:
  std::atomic<bool> dirty_{false};
  /// A round runs or is asked for (or the notifier is parked without a
  /// command): a commit then only sets dirty_. True at start-up, where the
  /// ROOT's first tick is on its way.
  std::atomic<bool> active_{true};
  std::mutex mtx_;
  caf::actor_addr root_;
};

using outbox_signal_ptr = std::shared_ptr<outbox_signal>;

/// Wakes `sys`'s NOTIFIER for a round now (after a reload changed its
/// options); nothing if no ROOT with a notifier runs.
void wake_notifier(caf::actor_system& sys);

/// The name the ROOT registers under in `sys`'s registry for wake_notifier.
constexpr caf::atom_value notifier_wake_name = caf::atom("sbnotwake");

struct notifier_state {
  store_actor store;
  context_ptr ctx;
  outbox_signal_ptr signal;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  static inline const char* name = "notifier";
};

/// Spawn with caf::detached: it waits for the command to finish. `signal`
/// is the one the STORE's commit hook is told of every commit.
notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self,
         store_actor store, context_ptr ctx, outbox_signal_ptr signal);

/// Runs `command` with /bin/sh, feeding `input` on its standard input.
/// Returns "" on exit status 0, else what went wrong. Kills it after
/// `timeout`.
std::string run_notify_command(const std::string& command,
                               const std::string& input,
                               std::chrono::milliseconds timeout);

} // namespace sb
