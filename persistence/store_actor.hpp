#pragma once

// The STORE actor: a detached actor that owns the store (one database
// connection). Reads run at once, after committing what is queued. Writes
// are queued and committed together: after queueing a write, the actor
// commits only once its mailbox has drained (or the batch is full), so every
// write already waiting in the mailbox joins the same transaction (group
// commit) and a lone write commits at once. No batch waits longer than
// max_delay after its first write: a later write checks that, and a timer
// commits the batch when no message does (when the messages ahead of it are
// backup chunks, which commit nothing, and then none comes). Each write that
// fails is isolated (the batch reruns with a savepoint per write), so a bad
// write fails alone; no write is acknowledged before its transaction
// committed, and a failed COMMIT fails every write of the batch.
//
// Timers are delayed messages to itself on CAF's clock (real time, whatever
// clock `now` reads), outside the typed interface: the batch deadline, and
// the expiry of backup copies left unread for the spool's idle_ms (one timer
// while the spool holds copies). They cannot hold up a shutdown: on the exit
// message (the ROOT's send_exit) the actor commits the queued writes,
// answers their requesters, deletes the backup copies and quits at once; a
// timer due later is dropped, and CAF's clock lets go of its handle when it
// fires or when the actor system stops (tested: store_actor_shutdown).
//
// When a commit, or a `status` request, leaves the mailbox empty, the store
// is idle: then a WAL past wal_truncate_bytes is checkpointed and truncated,
// so the WAL stays short however long the daemon runs.

#include "messages/actors.hpp"
#include "persistence/backup_spool.hpp"
#include "persistence/store.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace sb {

struct store_state {
  /// One queued write: `run` executes it inside the open transaction and
  /// keeps its value; `finish` delivers the value, or the error, afterwards.
  struct job {
    virtual ~job() = default;
    virtual caf::error run(store& db) = 0;
    virtual void finish(caf::error err) = 0;
    /// A balance-checked switch: its transaction takes the selection lock
    /// first (store::lock_selection).
    bool selects = false;
  };

  std::shared_ptr<store> db;
  /// Milliseconds for the batch deadline (the daemon's clock).
  std::function<millis()> now;
  /// Told the size of every committed batch (the metrics), if set.
  std::function<void(size_t)> on_commit;
  std::vector<std::unique_ptr<job>> pending;
  /// Upper bound of writes per transaction.
  size_t max_batch = 4096;
  /// A batch commits at the latest this long after its first write, even
  /// while more messages keep arriving.
  millis max_delay = 2;
  millis first_pending = 0;
  /// Numbers the batches: a deadline timer names the batch it was set for,
  /// so a late one cannot cut a newer batch short.
  uint64_t batch = 0;
  /// When the store is idle after a commit and the WAL is at least this
  /// large, the WAL is checkpointed and truncated to zero bytes.
  uint64_t wal_truncate_bytes = 1024 * 1024;
  /// Truncating checkpoints done, and those a reader of another process
  /// kept from finishing (tried again after the next idle commit).
  uint64_t checkpoints = 0;
  uint64_t busy_checkpoints = 0;

  /// The counters `status` reports (path and pending filled in on request).
  store_status stats;

  /// Online copies being read by clients (created on the first backup).
  std::unique_ptr<backup_spool> backups;
  /// The spool's expiry timer runs (one at a time).
  bool expiry_armed = false;

  static inline const char* name = "store";
};

/// No on_commit hook (a typed null, since spawn takes no default arguments).
inline const std::function<void(size_t)> no_commit_hook;

/// Spawn with caf::detached: every call blocks on the database. `now` stamps
/// a batch's first write (a later write commits the batch once it is
/// max_delay old) and the backup copies; `on_commit` (optional) hears each
/// batch's size.
store_actor::behavior_type
store_actor_impl(store_actor::stateful_pointer<store_state> self,
                 std::shared_ptr<store> db, std::function<millis()> now,
                 std::function<void(size_t)> on_commit);

} // namespace sb
