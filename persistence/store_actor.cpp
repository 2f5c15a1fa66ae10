#include "persistence/store_actor.hpp"

#include "messages/error.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>

namespace sb {

namespace {

using self_ptr = store_actor::stateful_pointer<store_state>;

// The store's timers: anonymous messages to itself through CAF's clock, so
// they run on real time whatever clock `now` reads (a test's manual clock
// must not hold a write back). They are not part of store_actor's typed
// interface, which every holder of the handle may send; the default handler
// takes them (store_actor_impl).

/// The batch `batch` has waited max_delay: commit it if it still waits.
using deadline_atom = caf::atom_constant<caf::atom("sbdeadline")>;
/// A copy of the spool may have been left unread for idle_ms.
using expiry_atom = caf::atom_constant<caf::atom("sbexpiry")>;

template<class... Ts>
void send_later(self_ptr self, millis delay, Ts... xs) {
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self),
                         std::chrono::milliseconds{std::max<millis>(delay, 1)},
                         xs...);
}

void flush(self_ptr self);

/// Opens a batch with its first write: its deadline timer starts once the
/// write did not commit at once.
void open_batch(self_ptr self) {
  auto& st = self->state;
  st.first_pending = st.now();
  ++st.batch;
}

/// A write with its operation, its value and the requester's promise, in
/// one allocation.
template<class T, class Op>
struct write_job final : store_state::job {
  write_job(Op f, caf::typed_response_promise<T> p)
      : op(std::move(f)), rp(std::move(p)) {
    // nop
  }

  caf::error run(store& db) override {
    value = op(db);
    return value ? caf::error{} : value.error();
  }

  void finish(caf::error err) override {
    if (err)
      rp.deliver(std::move(err));
    else if (value)
      rp.deliver(std::move(*value));
    else
      rp.deliver(value.error());
  }

  Op op;
  caf::typed_response_promise<T> rp;
  caf::expected<T> value{caf::error{}};
};

/// Queues a write whose value is produced by `op(store&)` (returning
/// caf::expected<T>) and answers the requester after the batch commits.
template<class T, class Op>
caf::typed_response_promise<T> defer(self_ptr self, Op op,
                                     bool selects = false) {
  auto rp = self->template make_response_promise<T>();
  auto& st = self->state;
  if (st.pending.empty())
    open_batch(self);
  auto job = std::make_unique<write_job<T, Op>>(std::move(op), rp);
  job->selects = selects;
  st.pending.emplace_back(std::move(job));
  // Group commit: wait while more messages are queued (they may be writes
  // that join this transaction); commit once the mailbox has drained, the
  // batch is full, or its first write has waited max_delay. The messages
  // ahead need not be writes or reads that commit: the deadline timer
  // commits the batch if nothing else did.
  if (self->mailbox().empty() || st.pending.size() >= st.max_batch
      || st.now() - st.first_pending >= st.max_delay)
    flush(self);
  else if (st.pending.size() == 1)
    send_later(self, st.max_delay, deadline_atom::value, st.batch);
  return rp;
}

/// Adapts a caf::error-returning write to caf::expected<ok_atom>.
template<class Op>
auto as_ok(Op op) {
  return [op = std::move(op)](store& db) mutable -> caf::expected<ok_atom> {
    if (auto err = op(db))
      return err;
    return ok_atom::value;
  };
}

/// Idle (nothing waiting in the mailbox) with a WAL past the threshold:
/// copy it into the database and truncate it, without waiting for readers.
void maybe_checkpoint(self_ptr self) {
  auto& st = self->state;
  if (!self->mailbox().empty() || st.db->wal_bytes() < st.wal_truncate_bytes)
    return;
  auto done = st.db->checkpoint();
  if (done && *done)
    ++st.checkpoints;
  else
    ++st.busy_checkpoints;
}

/// BEGIN, and the selection lock first thing if a write of `batch` needs
/// it: every transaction takes that lock before any row lock, so two
/// nodes' batches cannot deadlock on it.
caf::error begin(store& db,
                 const std::vector<std::unique_ptr<store_state::job>>& batch) {
  if (auto err = db.begin())
    return err;
  for (auto& job : batch)
    if (job->selects)
      return db.lock_selection();
  return caf::none;
}

/// Commits the first max_batch queued writes in one transaction and answers
/// their requesters.
void commit_batch(self_ptr self) {
  auto& st = self->state;
  auto n = std::min(st.pending.size(), st.max_batch);
  std::vector<std::unique_ptr<store_state::job>> batch;
  batch.reserve(n);
  std::move(st.pending.begin(), st.pending.begin() + n,
            std::back_inserter(batch));
  st.pending.erase(st.pending.begin(), st.pending.begin() + n);
  st.stats.largest_batch = std::max<uint64_t>(st.stats.largest_batch, n);
  std::vector<caf::error> results(n);
  // Fast path: the whole batch in one transaction. Almost every batch is
  // clean; if a write fails, the transaction is rolled back and the batch
  // runs again with a savepoint around each write, so the bad one fails
  // alone and the others still commit.
  bool isolate = false;
  auto err = begin(*st.db, batch);
  if (!err) {
    for (size_t i = 0; i < n && !isolate; ++i) {
      results[i] = batch[i]->run(*st.db);
      isolate = static_cast<bool>(results[i]);
    }
    if (isolate)
      st.db->rollback();
    else
      err = st.db->commit();
  }
  if (!err && isolate) {
    ++st.stats.isolated_batches;
    err = begin(*st.db, batch);
    if (!err) {
      for (size_t i = 0; i < n; ++i) {
        if (auto sp = st.db->savepoint()) {
          results[i] = std::move(sp);
          continue;
        }
        results[i] = batch[i]->run(*st.db);
        if (results[i])
          st.db->rollback_to();
        else if (auto rel = st.db->release())
          results[i] = std::move(rel);
      }
      err = st.db->commit();
    }
  }
  if (err) {
    // Nothing of this batch is durable: fail every write in it.
    st.db->rollback();
    ++st.stats.failed_commits;
    st.stats.failed_writes += n;
    for (auto& job : batch)
      job->finish(err);
    return;
  }
  ++st.stats.commits;
  st.stats.writes += n;
  if (st.on_commit)
    st.on_commit(n);
  for (size_t i = 0; i < n; ++i) {
    if (results[i])
      ++st.stats.failed_writes;
    batch[i]->finish(std::move(results[i]));
  }
  maybe_checkpoint(self);
}

/// Commits every queued write, max_batch per transaction.
void flush(self_ptr self) {
  while (!self->state.pending.empty())
    commit_batch(self);
}

/// One page of a read: `fetch(q)` returns up to q.limit items newest
/// first (ids below q.before); the page holds at most max_page_items and
/// about max_page_bytes, and names the cursor of the next one.
template<class T, class Fetch>
caf::result<page<T>> read_page(self_ptr self, query q, Fetch fetch,
                               size_t (*weight)(const T&)) {
  flush(self);
  // At least one item: a page that must name its next needs a last item.
  auto want = std::clamp<uint32_t>(q.limit, 1, max_page_items);
  q.limit = want + 1; // one more: is there a next page?
  auto rows = fetch(*self->state.db, q);
  if (!rows)
    return std::move(rows.error());
  page<T> result;
  size_t bytes = 0;
  for (auto& row : *rows) {
    if (result.items.size() == want || bytes >= max_page_bytes) {
      result.next = result.items.back().id;
      break;
    }
    bytes += weight(row);
    result.items.push_back(std::move(row));
  }
  return result;
}

size_t weight_of(const event_info& x) {
  return 64 + x.agent.size() + x.subscription.size() + x.reason.size()
         + x.message.size() + x.source.size() + x.execution_id.size();
}

size_t weight_of(const history_info& x) {
  return 96 + x.agent.size() + (x.from ? x.from->size() : 0)
         + (x.to ? x.to->size() : 0) + x.apply.detail.size();
}

size_t weight_of(const notification_info& x) {
  return 64 + x.agent.size() + x.title.size() + x.message.size();
}

backup_spool& spool(self_ptr self) {
  auto& st = self->state;
  if (!st.backups) {
    auto path = st.db->path();
    bool file = !path.empty() && path != ":memory:" && !st.db->shared();
    st.backups = std::make_unique<backup_spool>(file ? path + ".backup" : "");
  }
  return *st.backups;
}

/// Keeps one expiry timer running while the spool holds copies, due when
/// the first of them falls idle (a read or a new copy only moves that later).
void arm_expiry(self_ptr self) {
  auto& st = self->state;
  if (st.expiry_armed || !st.backups || st.backups->size() == 0)
    return;
  st.expiry_armed = true;
  send_later(self, st.backups->next_expiry() - st.now(), expiry_atom::value);
}

/// The default handler: the store's own timers (see deadline_atom).
caf::result<caf::message> on_timer(self_ptr self, caf::scheduled_actor* ptr,
                                   caf::message_view& x) {
  auto& st = self->state;
  auto& xs = x.content();
  if (xs.match_elements<deadline_atom, uint64_t>()) {
    // A later batch has a deadline of its own.
    if (xs.get_as<uint64_t>(1) == st.batch && !st.pending.empty())
      flush(self);
    return caf::message{};
  }
  if (xs.match_elements<expiry_atom>()) {
    st.expiry_armed = false;
    if (st.backups)
      st.backups->expire(st.now());
    arm_expiry(self);
    return caf::message{};
  }
  return caf::print_and_drop(ptr, x);
}

caf::result<backup_info> start_backup(self_ptr self) {
  flush(self);
  auto& db = *self->state.db;
  if (db.shared()) // PostgreSQL: the store says how instead
    if (auto err = db.backup({}))
      return err;
  auto made
    = spool(self).create(self->state.now(), [&](const std::string& path) {
        return db.backup(path);
      });
  if (!made)
    return std::move(made.error());
  arm_expiry(self);
  return std::move(*made);
}

} // namespace

store_actor::behavior_type
store_actor_impl(store_actor::stateful_pointer<store_state> self,
                 std::shared_ptr<store> db_ptr, std::function<millis()> now,
                 std::function<void(size_t)> on_commit) {
  // The actor is the only user of the connection from here on.
  self->state.db = std::move(db_ptr);
  self->state.now = std::move(now);
  self->state.on_commit = std::move(on_commit);
  // Stopped (the ROOT's ordered shutdown): what the batch holds still
  // commits and every writer gets its answer; copies being read go.
  // A timer still due then is dropped with the mailbox; CAF's clock lets go
  // of its handle at the latest when the actor system stops.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    flush(self);
    self->state.backups.reset();
    self->quit(msg.reason);
  });
  self->set_default_handler(
    [=](caf::scheduled_actor* ptr, caf::message_view& x) {
      return on_timer(self, ptr, x);
    });
  return {
    [=](status_atom) {
      flush(self);
      // An idle moment too: a reply of the last commit can bring a request
      // into the mailbox before that commit's idle check ran.
      maybe_checkpoint(self);
      auto& st = self->state;
      auto result = st.stats;
      result.path = st.db->path();
      result.pending = st.pending.size();
      if (auto err = st.db->probe_write()) {
        result.writable = false;
        result.write_error = render(err);
      }
      if (auto n = st.db->count_pending_notifications())
        result.notifications_pending = *n;
      if (auto n = st.db->count_agents()) {
        result.agents_behind = n->behind;
        result.containers = n->containers;
      }
      return result;
    },
    // -- writes -------------------------------------------------------------
    [=](sub_add_atom, const subscription_spec& spec, millis now) {
      return defer<subscription_upsert>(
        self, [=](store& db) { return db.upsert_subscription(spec, now); });
    },
    [=](sub_rm_atom, const std::string& name) {
      return defer<std::vector<std::string>>(
        self, [=](store& db) { return db.remove_subscription(name); });
    },
    [=](agent_add_atom, const agent_spec& spec, millis now) {
      return defer<stored_agent>(
        self, [=](store& db) { return db.add_agent(spec, now); });
    },
    [=](agent_rm_atom, const std::string& name) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.remove_agent(name); }));
    },
    [=](sub_state_atom, const subscription_standing& s) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.save_standing(s); }));
    },
    [=](agent_set_atom, const std::string& name, auto_switch_mode value,
        millis now) {
      return defer<ok_atom>(self, as_ok([=](store& db) {
                              return db.set_agent_auto_switch(name, value, now);
                            }));
    },
    [=](commit_atom, const switch_record& rec) {
      return defer<switch_commit>(
        self, [=](store& db) { return db.commit_switch(rec); },
        !rec.balance.empty());
    },
    [=](applied_atom, const apply_record& rec) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.record_apply(rec); }));
    },
    [=](evidence_atom, const stored_evidence& ev) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.save_evidence(ev); }));
    },
    [=](event_atom, const std::vector<event_info>& evs) {
      return defer<std::vector<int64_t>>(
        self, [=](store& db) -> caf::expected<std::vector<int64_t>> {
          std::vector<int64_t> ids;
          ids.reserve(evs.size());
          for (auto& ev : evs) {
            auto id = db.add_event(ev);
            if (!id)
              return id.error();
            ids.push_back(*id);
          }
          return ids;
        });
    },
    [=](notify_atom, const notification_info& n) {
      return defer<int64_t>(self,
                            [=](store& db) { return db.add_notification(n); });
    },
    [=](delivered_atom, int64_t id, millis at) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.mark_delivered(id, at); }));
    },
    [=](setting_atom, const std::string& key, const std::string& value,
        millis now) {
      return defer<ok_atom>(self, as_ok([=](store& db) {
                              return db.put_setting(key, value, now);
                            }));
    },
    [=](retention_atom, millis cutoff, uint32_t batch) {
      return defer<uint64_t>(self, [=](store& db) {
        return db.delete_events_before(cutoff, batch);
      });
    },
    // -- the refresher's claims and grants (committed before the answer)
    [=](refresh_atom, const std::string& name, millis now, millis lease) {
      return defer<refresh_claim>(
        self, [=](store& db) { return db.claim_refresh(name, now, lease); });
    },
    [=](refresh_atom, const refresh_grant& grant, millis now) {
      return defer<subscription_upsert>(
        self, [=](store& db) { return db.complete_refresh(grant, now); });
    },
    [=](sink_add_atom, const sink_spec& spec, millis now) {
      return defer<sink_info>(
        self, [=](store& db) { return db.put_sink(spec, now); });
    },
    [=](sink_rm_atom, const std::string& name) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.remove_sink(name); }));
    },
    [=](delivery_atom, const stored_sink& sink, millis now, uint32_t limit,
        millis lease) {
      return defer<std::vector<delivery_due>>(self, [=](store& db) {
        return db.take_deliveries(sink, now, limit, lease);
      });
    },
    [=](delivery_atom, const delivery_record& rec, millis now) {
      return defer<ok_atom>(
        self, as_ok([=](store& db) { return db.record_delivery(rec, now); }));
    },
    [=](release_atom, const std::string& name, const std::string& rejected) {
      return defer<ok_atom>(self, as_ok([=](store& db) {
                              return db.release_refresh(name, rejected);
                            }));
    },
    // -- reads: first commit what is queued, so a read sees every write that
    // was sent before it (and no write is left waiting for a drain) --------
    [=](events_atom, const query& q) {
      return read_page<event_info>(
        self, q, [](store& db, const query& x) { return db.events(x); },
        weight_of);
    },
    [=](history_atom, const query& q) {
      return read_page<history_info>(
        self, q, [](store& db, const query& x) { return db.history(x); },
        weight_of);
    },
    [=](notes_atom, const query& q) {
      return read_page<notification_info>(
        self, q, [](store& db, const query& x) { return db.notifications(x); },
        weight_of);
    },
    [=](pending_atom,
        uint32_t limit) -> caf::result<std::vector<notification_info>> {
      flush(self);
      return self->state.db->pending_notifications(limit);
    },
    [=](counts_atom, millis since) -> caf::result<std::vector<failure_count>> {
      flush(self);
      return self->state.db->failure_counts(since);
    },
    [=](failure_atom, millis since,
        millis now) -> caf::result<std::vector<exclusion_seed>> {
      flush(self);
      return self->state.db->exclusion_seeds(since, now);
    },
    [=](sink_list_atom) -> caf::result<std::vector<stored_sink>> {
      flush(self);
      return self->state.db->sinks();
    },
    [=](sink_show_atom) -> caf::result<std::vector<sink_status>> {
      flush(self);
      return self->state.db->sink_statuses();
    },
    [=](delivery_atom,
        uint32_t limit) -> caf::result<std::vector<delivery_failure>> {
      flush(self);
      return self->state.db->failed_deliveries(limit);
    },
    [=](refresh_atom) -> caf::result<std::vector<stored_credential>> {
      flush(self);
      return self->state.db->credentials();
    },
    [=](backup_atom) { return start_backup(self); },
    [=](backup_atom, const std::string& id,
        uint64_t offset) -> caf::result<backup_chunk> {
      auto chunk = spool(self).read(id, offset, self->state.now());
      arm_expiry(self);
      if (!chunk)
        return std::move(chunk.error());
      return std::move(*chunk);
    },
    [=](generation_atom, const std::string& agent,
        uint64_t generation) -> caf::result<std::string> {
      flush(self);
      return self->state.db->subscription_of_generation(agent, generation);
    },
  };
}

} // namespace sb
