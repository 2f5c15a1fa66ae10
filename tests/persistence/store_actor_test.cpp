// The STORE actor on a real file database with the real scheduler: group
// commit batches concurrent writes, acknowledges only committed writes, and a
// killed transaction acknowledges nothing.

#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"
#include "persistence/store_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

using namespace sb;
using namespace std::chrono_literals;

namespace {

constexpr millis t0 = 1'800'000'000'000;

event_info make_event(int i) {
  event_info ev;
  ev.agent = "a" + std::to_string(i);
  ev.subscription = "sub-a";
  ev.kind = failure_kind::rate_limit;
  ev.status = 429;
  ev.message = "429";
  ev.at = t0 + i;
  return ev;
}

struct config : caf::actor_system_config {
  config() {
    sb::add_message_types(*this);
    set("scheduler.max-threads", 2);
  }
};

/// CAF's deterministic scheduler: messages run when the test says, and
/// CAF's clock moves only with advance_time.
struct testing_config : caf::actor_system_config {
  testing_config() {
    sb::add_message_types(*this);
    set("scheduler.policy", caf::atom("testing"));
  }
};

/// A gate the commit hook can wait on, to hold the store inside a COMMIT.
struct gate {
  std::mutex mtx;
  std::condition_variable cv;
  bool open = false;
  std::atomic<bool> entered{false};

  void wait() {
    entered = true;
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return open; });
  }

  void release() {
    std::lock_guard<std::mutex> guard{mtx};
    open = true;
    cv.notify_all();
  }
};

class store_actor_test : public ::testing::Test {
protected:
  void SetUp() override {
    auto res = store::open(dir.file("state.db"));
    ASSERT_TRUE(res) << render(res.error());
    db = std::shared_ptr<store>{std::move(*res)};
  }

  store_actor spawn() {
    return sys.spawn<caf::detached>(store_actor_impl, db, wall_clock_ms,
                                    no_commit_hook);
  }

  void TearDown() override {
    self->send_exit(actor, caf::exit_reason::user_shutdown);
  }

  /// Spawns the STORE and holds it inside its first COMMIT (of a warm-up
  /// write, whose answer is returned) until `g` is released: whatever is
  /// sent meanwhile waits in its mailbox.
  auto hold_first_commit(gate& g) {
    db->set_commit_veto([this, &g] {
      if (held_commits_++ == 0)
        g.wait();
      return false;
    });
    actor = spawn();
    auto warmup = self->request(actor, 10s, setting_atom::value,
                                std::string{"k"}, std::string{"v"}, t0);
    while (!g.entered)
      std::this_thread::yield();
    return warmup;
  }

  std::atomic<int> held_commits_{0};

  store_status status() {
    store_status result;
    self->request(actor, 5s, status_atom::value)
      .receive([&](store_status& x) { result = std::move(x); },
               [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return result;
  }

  /// One event write, as an AGENT sends it.
  auto write(int i) {
    return self->request(actor, 10s, event_atom::value,
                         std::vector<event_info>{make_event(i)});
  }

  size_t count_events() {
    size_t n = 0;
    query q{"", "", max_page_items};
    for (bool more = true; more;) {
      more = false;
      self->request(actor, 5s, events_atom::value, q)
        .receive(
          [&](event_page& p) {
            n += p.items.size();
            q.before = p.next;
            more = p.next != 0;
          },
          [&](caf::error& err) { ADD_FAILURE() << render(err); });
    }
    return n;
  }

  test::temp_dir dir;
  std::shared_ptr<store> db;
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  store_actor actor;
};

} // namespace

TEST_F(store_actor_test, concurrent_writes_share_one_transaction) {
  gate g;
  std::atomic<int> hook_calls{0};
  db->set_commit_veto([&] {
    if (hook_calls++ == 0)
      g.wait(); // hold the first COMMIT until the others are queued
    return false;
  });
  actor = spawn();
  constexpr int n = 100;
  auto first = write(0);
  while (!g.entered)
    std::this_thread::yield();
  std::vector<decltype(first)> rest;
  for (int i = 1; i < n; ++i)
    rest.emplace_back(write(i));
  g.release();
  int acked = 0;
  first.receive([&](std::vector<int64_t>&) { ++acked; },
                [&](caf::error& err) { FAIL() << render(err); });
  for (auto& h : rest)
    h.receive([&](std::vector<int64_t>&) { ++acked; },
              [&](caf::error& err) { FAIL() << render(err); });
  EXPECT_EQ(acked, n);
  auto st = status();
  // One transaction for the first write, one for the 99 queued behind it.
  EXPECT_EQ(st.commits, 2u);
  EXPECT_EQ(st.writes, static_cast<uint64_t>(n));
  EXPECT_EQ(st.largest_batch, static_cast<uint64_t>(n - 1));
  EXPECT_EQ(count_events(), static_cast<size_t>(n));
}

TEST_F(store_actor_test, status_counts_agents_behind_and_with_a_container) {
  actor = spawn();
  auto add = [&](const std::string& name, const std::string& container) {
    self
      ->request(actor, 10s, agent_add_atom::value,
                agent_spec{name, "", container, ""}, t0)
      .receive([](stored_agent&) {},
               [&](caf::error& err) { FAIL() << render(err); });
  };
  add("a1", "ctr-1");
  add("a2", "ctr-2");
  add("a3", "");
  switch_record rec;
  rec.agent = "a2";
  rec.at = t0;
  self->request(actor, 10s, commit_atom::value, rec)
    .receive([](switch_commit&) {},
             [&](caf::error& err) { FAIL() << render(err); });
  // From the database, not from any AGENT: a2 switched, its container has
  // not applied it.
  auto st = status();
  EXPECT_EQ(st.agents_behind, 1u);
  EXPECT_EQ(st.containers, 2u);
}

TEST_F(store_actor_test, killed_transaction_acknowledges_nothing) {
  std::atomic<bool> kill{true};
  db->set_commit_veto([&] { return kill.load(); });
  actor = spawn();
  constexpr int n = 20;
  std::vector<decltype(write(0))> handles;
  for (int i = 0; i < n; ++i)
    handles.emplace_back(write(i));
  int acked = 0;
  int failed = 0;
  for (auto& h : handles)
    h.receive([&](std::vector<int64_t>&) { ++acked; },
              [&](caf::error& err) {
                EXPECT_TRUE(is(err, ec::store_failure)) << render(err);
                ++failed;
              });
  EXPECT_EQ(acked, 0);
  EXPECT_EQ(failed, n);
  EXPECT_EQ(count_events(), 0u);
  // Once commits go through again, writes are acknowledged and visible.
  kill = false;
  write(99).receive([&](std::vector<int64_t>& ids) { EXPECT_GT(ids.at(0), 0); },
                    [&](caf::error& err) { FAIL() << render(err); });
  EXPECT_EQ(count_events(), 1u);
  // However the writes were batched, every one of them failed.
  EXPECT_EQ(status().failed_writes, static_cast<uint64_t>(n));
}

TEST_F(store_actor_test, a_bad_write_fails_alone_inside_a_batch) {
  gate g;
  auto warmup = hold_first_commit(g);
  // Three writes queue up behind the held commit; the middle one is invalid.
  auto good1 = self->request(actor, 10s, agent_add_atom::value,
                             agent_spec{"a1", "", "", ""}, t0);
  auto bad = self->request(actor, 10s, agent_add_atom::value,
                           agent_spec{"a2", "no-such-sub", "", ""}, t0);
  auto good2 = self->request(actor, 10s, agent_add_atom::value,
                             agent_spec{"a3", "", "", ""}, t0);
  g.release();
  warmup.receive([](ok_atom) {},
                 [&](caf::error& err) { FAIL() << render(err); });
  good1.receive([](stored_agent& a) { EXPECT_EQ(a.name, "a1"); },
                [&](caf::error& err) { FAIL() << render(err); });
  bad.receive(
    [](stored_agent&) { FAIL() << "bad write acknowledged"; },
    [](caf::error& err) { EXPECT_TRUE(is(err, ec::unknown_subscription)); });
  good2.receive([](stored_agent& a) { EXPECT_EQ(a.name, "a3"); },
                [&](caf::error& err) { FAIL() << render(err); });
  EXPECT_EQ(status().commits, 2u);
}

TEST_F(store_actor_test,
       evidence_is_a_batched_write_acknowledged_after_commit) {
  std::atomic<bool> kill{true};
  gate g;
  std::atomic<int> hook_calls{0};
  db->set_commit_veto([&] {
    if (hook_calls++ == 0)
      g.wait();
    return kill.load();
  });
  actor = spawn();
  stored_evidence ev;
  ev.subscription = "sub-a";
  ev.status = provider_status::allowed_warning;
  ev.utilization_5h = 0.9;
  ev.evidence_at = t0;
  auto evidence = [&](const std::string& sub) {
    auto x = ev;
    x.subscription = sub;
    return self->request(actor, 10s, evidence_atom::value, x);
  };
  // A killed transaction acknowledges no evidence.
  auto lost = self->request(
    actor, 10s, sub_add_atom::value,
    subscription_spec{"sub-a", secret{"tok-a"}, {}, {}, {}}, t0);
  while (!g.entered)
    std::this_thread::yield();
  auto lost_ev = evidence("sub-a");
  g.release();
  lost.receive(
    [](subscription_upsert&) { FAIL() << "acknowledged"; },
    [](caf::error& err) { EXPECT_TRUE(is(err, ec::store_failure)); });
  lost_ev.receive([](ok_atom) { FAIL() << "acknowledged"; },
                  [](caf::error& err) {
                    EXPECT_TRUE(is(err, ec::store_failure)) << render(err);
                  });
  // One batch: the subscription, its evidence, and evidence of a
  // subscription that does not exist (no error, nothing written).
  kill = false;
  auto before = status().commits;
  auto added = self->request(
    actor, 10s, sub_add_atom::value,
    subscription_spec{"sub-a", secret{"tok-a"}, {}, {}, {}}, t0);
  auto saved = evidence("sub-a");
  auto orphan = evidence("no-such-sub");
  added.receive([](subscription_upsert&) {},
                [&](caf::error& err) { FAIL() << render(err); });
  saved.receive([](ok_atom) {},
                [&](caf::error& err) { FAIL() << render(err); });
  orphan.receive([](ok_atom) {},
                 [&](caf::error& err) { FAIL() << render(err); });
  auto st = status();
  EXPECT_GE(st.commits - before, 1u);
  EXPECT_LE(st.commits - before, 3u);
  EXPECT_EQ(st.failed_writes, 2u); // the two killed ones
  // Acknowledged means committed: another connection sees it.
  SQLite::Database raw(dir.file("state.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(
    raw.execAndGet("SELECT COUNT(*) FROM subscription_evidence").getInt(), 1);
  EXPECT_EQ(raw
              .execAndGet("SELECT e.status FROM subscription_evidence e JOIN "
                          "subscriptions s ON s.id = e.subscription_id "
                          "WHERE s.name = 'sub-a'")
              .getString(),
            "allowed_warning");
}

TEST_F(store_actor_test,
       a_write_behind_a_message_that_commits_nothing_commits) {
  gate g;
  auto warmup = hold_first_commit(g);
  // Behind the held commit: a write, then the read of a backup chunk (which
  // commits nothing), then no message at all. Only the batch's deadline
  // timer can commit the write.
  auto written = self->request(actor, 5s, event_atom::value,
                               std::vector<event_info>{make_event(1)});
  auto chunk = self->request(actor, 5s, backup_atom::value,
                             std::string(32, '0'), uint64_t{0});
  g.release();
  warmup.receive([](ok_atom) {},
                 [&](caf::error& err) { FAIL() << render(err); });
  chunk.receive([](backup_chunk&) { FAIL() << "no such backup"; },
                [](caf::error& err) { EXPECT_TRUE(is(err, ec::not_found)); });
  written.receive(
    [](std::vector<int64_t>& ids) { EXPECT_GT(ids.at(0), 0); },
    [&](caf::error& err) { FAIL() << "stranded: " << render(err); });
  // Acknowledged means committed: another connection sees it.
  SQLite::Database raw(dir.file("state.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT COUNT(*) FROM failure_events").getInt(), 1);
}

TEST_F(store_actor_test,
       a_write_queued_before_the_exit_is_committed_and_answered) {
  gate g;
  auto warmup = hold_first_commit(g);
  self->monitor(actor);
  // The write waits in the mailbox with the exit right behind it, as when
  // the ROOT stops the store while an AGENT's write is on its way.
  auto written = self->request(actor, 5s, event_atom::value,
                               std::vector<event_info>{make_event(7)});
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  g.release();
  warmup.receive([](ok_atom) {},
                 [&](caf::error& err) { FAIL() << render(err); });
  written.receive(
    [](std::vector<int64_t>& ids) { EXPECT_GT(ids.at(0), 0); },
    [&](caf::error& err) { FAIL() << "not answered: " << render(err); });
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(10s) >> [] { ADD_FAILURE() << "still running"; });
  EXPECT_TRUE(down);
  SQLite::Database raw(dir.file("state.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("SELECT COUNT(*) FROM failure_events").getInt(), 1);
  EXPECT_EQ(raw.execAndGet("SELECT agent FROM failure_events").getString(),
            "a7");
}

// The ROOT stops the store with an exit message and waits for it to go down;
// then the actor system ends, waiting for the store's thread. Timers still
// due then (the batch deadline, the spool's minute-long expiry) must hold
// up neither.
namespace {

void stop_with_timers_due(const std::string& path) {
  auto opened = store::open(path);
  ASSERT_TRUE(opened) << render(opened.error());
  std::shared_ptr<store> db{std::move(*opened)};
  gate g;
  std::atomic<int> hook_calls{0};
  db->set_commit_veto([&] {
    if (hook_calls++ == 1) // the second write's commit, after the backup
      g.wait();
    return false;
  });
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto actor = sys.spawn<caf::detached>(store_actor_impl, db, wall_clock_ms,
                                        no_commit_hook);
  self->monitor(actor);
  auto setting = [&](const char* value) {
    return self->request(actor, 10s, setting_atom::value, std::string{"k"},
                         std::string{value}, t0);
  };
  setting("v").receive([](ok_atom) {},
                       [&](caf::error& err) { FAIL() << render(err); });
  backup_info copy;
  self->request(actor, 10s, backup_atom::value)
    .receive([&](backup_info& x) { copy = x; },
             [&](caf::error& err) { FAIL() << render(err); });
  auto held = setting("w");
  while (!g.entered)
    std::this_thread::yield();
  // A write whose deadline timer starts, a chunk that commits nothing, the
  // exit.
  auto written = self->request(actor, 10s, event_atom::value,
                               std::vector<event_info>{make_event(1)});
  auto chunk
    = self->request(actor, 10s, backup_atom::value, copy.id, uint64_t{0});
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  g.release();
  held.receive([](ok_atom) {}, [&](caf::error& err) { FAIL() << render(err); });
  written.receive([](std::vector<int64_t>&) {},
                  [&](caf::error& err) { FAIL() << render(err); });
  chunk.receive([](backup_chunk&) {},
                [&](caf::error& err) { FAIL() << render(err); });
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(10s) >> [] { ADD_FAILURE() << "not down"; });
  EXPECT_TRUE(down);
  // The copies went with the store.
  EXPECT_FALSE(std::filesystem::exists(path + ".backup"));
} // the actor system ends here

} // namespace

TEST(store_actor_shutdown, timers_still_due_hold_up_no_shutdown) {
  test::temp_dir dir;
  auto finished = std::make_shared<std::promise<void>>();
  auto result = finished->get_future();
  std::thread run{[path = dir.file("state.db"), finished] {
    stop_with_timers_due(path);
    finished->set_value();
  }};
  if (result.wait_for(30s) == std::future_status::ready) {
    run.join();
  } else {
    ADD_FAILURE() << "the actor system did not end within 30 s";
    run.detach();
  }
}

// The batch deadline on CAF's deterministic scheduler and a clock the test
// moves: messages are processed one at a time, so the mailbox never drains
// and only the deadline can end the batch.
TEST(store_actor_deadline, a_batch_commits_at_its_deadline_under_load) {
  testing_config cfg;
  caf::actor_system sys{cfg};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto db = store::open(":memory:");
  ASSERT_TRUE(db) << render(db.error());
  auto now = std::make_shared<millis>(t0);
  auto aut = sys.spawn(
    store_actor_impl, std::shared_ptr<store>{std::move(*db)},
    [now] { return *now; }, no_commit_hook);
  sched.run();
  auto& st
    = caf::actor_cast<store_actor::stateful_pointer<store_state>>(aut)->state;
  for (int i = 0; i < 4; ++i)
    caf::anon_send(aut, event_atom::value,
                   std::vector<event_info>{make_event(i)});
  // The first write waits for the ones behind it.
  sched.run_once();
  EXPECT_EQ(st.stats.commits, 0u);
  EXPECT_EQ(st.pending.size(), 1u);
  *now += st.max_delay - 1;
  sched.run_once();
  EXPECT_EQ(st.stats.commits, 0u);
  EXPECT_EQ(st.pending.size(), 2u);
  // Its deadline passed: the batch commits although a write still waits.
  *now += 1;
  sched.run_once();
  EXPECT_EQ(st.stats.commits, 1u);
  EXPECT_EQ(st.stats.largest_batch, 3u);
  // The last write finds an empty mailbox and commits at once.
  sched.run_once();
  EXPECT_EQ(st.stats.commits, 2u);
  EXPECT_EQ(st.stats.writes, 4u);
  caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
  sched.run();
}

// Behind the write, only a message that commits nothing: nothing commits
// until CAF's clock fires the batch's deadline timer, max_delay after the
// write. The store's clock (`now`) stands still here: the timer runs on
// CAF's clock, real time in the daemon, whatever clock `now` reads.
TEST(store_actor_deadline, a_timer_commits_a_batch_no_message_commits) {
  testing_config cfg;
  caf::actor_system sys{cfg};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  auto db = store::open(":memory:");
  ASSERT_TRUE(db) << render(db.error());
  auto aut = sys.spawn(
    store_actor_impl, std::shared_ptr<store>{std::move(*db)}, [] { return t0; },
    no_commit_hook);
  sched.run();
  auto& st
    = caf::actor_cast<store_actor::stateful_pointer<store_state>>(aut)->state;
  using namespace std::chrono;
  auto deferred_write = [&](int i) {
    caf::anon_send(aut, event_atom::value,
                   std::vector<event_info>{make_event(i)});
    caf::anon_send(aut, backup_atom::value, std::string(32, '0'), uint64_t{0});
    sched.run();
  };
  deferred_write(1);
  EXPECT_EQ(st.stats.commits, 0u);
  EXPECT_EQ(st.pending.size(), 1u);
  EXPECT_EQ(sched.advance_time(milliseconds{st.max_delay - 1}), 0u);
  EXPECT_EQ(sched.advance_time(milliseconds{1}), 1u);
  sched.run();
  EXPECT_EQ(st.stats.commits, 1u);
  EXPECT_TRUE(st.pending.empty());
  // A batch a read committed before its timer: that late timer cuts the
  // next batch no shorter than its own deadline.
  deferred_write(2);
  caf::anon_send(aut, events_atom::value, query{});
  sched.run();
  EXPECT_EQ(st.stats.commits, 2u);
  EXPECT_EQ(sched.advance_time(milliseconds{1}), 0u);
  deferred_write(3);
  EXPECT_EQ(sched.advance_time(milliseconds{st.max_delay - 1}), 1u); // 2's
  sched.run();
  EXPECT_EQ(st.stats.commits, 2u);
  EXPECT_EQ(st.pending.size(), 1u);
  EXPECT_EQ(sched.advance_time(milliseconds{1}), 1u); // 3's
  sched.run();
  EXPECT_EQ(st.stats.commits, 3u);
  EXPECT_EQ(st.stats.writes, 3u);
  caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
  sched.run();
}

// A copy nobody reads goes after idle_ms although no request arrives: the
// spool's expiry timer (CAF's clock moved by hand here, and `now` with it).
TEST(store_actor_deadline, an_unread_backup_copy_expires_on_its_timer) {
  testing_config cfg;
  caf::actor_system sys{cfg};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  test::temp_dir dir;
  auto db = store::open(dir.file("state.db"));
  ASSERT_TRUE(db) << render(db.error());
  auto now = std::make_shared<millis>(t0);
  auto aut = sys.spawn(
    store_actor_impl, std::shared_ptr<store>{std::move(*db)},
    [now] { return *now; }, no_commit_hook);
  sched.run();
  auto& st
    = caf::actor_cast<store_actor::stateful_pointer<store_state>>(aut)->state;
  caf::anon_send(aut, backup_atom::value);
  sched.run();
  ASSERT_TRUE(st.backups);
  ASSERT_EQ(st.backups->size(), 1u);
  auto folder = dir.file("state.db.backup");
  EXPECT_FALSE(std::filesystem::is_empty(folder));
  using std::chrono::milliseconds;
  auto idle = st.backups->idle_ms;
  *now += idle - 1;
  EXPECT_EQ(sched.advance_time(milliseconds{idle - 1}), 0u);
  *now += 1;
  EXPECT_EQ(sched.advance_time(milliseconds{1}), 1u);
  sched.run();
  EXPECT_EQ(st.backups->size(), 0u);
  EXPECT_TRUE(std::filesystem::is_empty(folder));
  // No copy, no timer.
  EXPECT_FALSE(sched.has_pending_timeout());
  caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
  sched.run();
}
