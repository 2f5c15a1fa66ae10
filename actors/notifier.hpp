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
//
// A failing command backs off like every sink (notify::delivery_backoff):
// after a failure the next attempt waits about 1 s, doubling up to 5 min,
// +-25 % jitter; rounds in between deliver nothing; a success resets it.
// A failure is one warning line with the command's standard error (its
// first 2 KiB, control characters escaped).
//
// Nothing a command starts outlives it: the daemon is a child subreaper
// (PR_SET_CHILD_SUBREAPER), so whatever the command leaves behind, even
// after setsid, becomes the daemon's child when its parent ends; after each
// command (exit or timeout) those are killed and reaped, layer by layer
// (see command_runs in notifier.cpp for which processes count as the
// command's).

#include "actors/context.hpp"
#include "messages/actors.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
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

/// When the NOTIFIER tries a failing command again: about 1 s after the
/// first failure, doubling up to 5 min, +-25 % jitter (jitter in [0, 1));
/// a success resets it.
class notify_backoff {
public:
  static constexpr millis base = 1000;
  static constexpr millis cap = 5 * 60 * 1000;

  /// Whether an attempt may run at `now`.
  bool due(millis now) const { return now >= next_at_; }

  /// An attempt failed at `now`: returns the wait until the next one.
  millis failed(millis now, double jitter);

  /// An attempt succeeded: the next one may run at once.
  void succeeded();

  uint32_t failures() const { return failures_; }

  millis next_at() const { return next_at_; }

private:
  uint32_t failures_ = 0;
  millis next_at_ = 0;
};

struct notifier_state {
  store_actor store;
  context_ptr ctx;
  outbox_signal_ptr signal;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  notify_backoff backoff;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "notifier";
};

/// Spawn with caf::detached: it waits for the command to finish. `signal`
/// is the one the STORE's commit hook is told of every commit.
notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self,
         store_actor store, context_ptr ctx, outbox_signal_ptr signal);

/// What one run of a command came to.
struct command_outcome {
  /// "" on exit status 0, else what went wrong.
  std::string failure;
  /// The first stderr_limit bytes of its standard error, raw.
  std::string stderr_head;
  /// It wrote more than that.
  bool stderr_cut = false;
  /// Processes it left behind (killed and reaped).
  size_t left_behind = 0;
  static constexpr size_t stderr_limit = 2048;
};

/// Runs `command` with /bin/sh, feeding `input` on its standard input and
/// capturing its standard error. Kills it after `timeout`; kills and reaps
/// whatever it left running either way.
command_outcome run_command(const std::string& command,
                            const std::string& input,
                            std::chrono::milliseconds timeout);

/// run_command's failure: "" on exit status 0, else what went wrong.
std::string run_notify_command(const std::string& command,
                               const std::string& input,
                               std::chrono::milliseconds timeout);

/// A command's standard error for one log line: trailing white space cut,
/// control characters escaped, "..." when cut.
std::string stderr_for_log(const command_outcome& x);

} // namespace sb
