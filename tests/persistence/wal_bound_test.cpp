// LOAD TEST (its own executable, persistence_load_tests; runs in CI in about
// 20 s on 2 cores): 200,000 failure events through the STORE actor the way
// AGENTs send them (batches of 1 to 8 events from 16 requesters at once, so
// group commit batches them), with the reads the daemon makes in between
// (reads that stop after one row or a few, which would pin a read snapshot
// if a statement were not reset), on a real file with synchronous=FULL.
//
// The reported fault: after 200k reports the database was 77 KB and its WAL
// 701 MB, growing for as long as the daemon ran. Here the WAL must stay
// under 64 MiB at every reply, and once the store is idle it must be
// truncated (below the store's idle threshold).

#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"
#include "persistence/store_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace sb;
using namespace std::chrono_literals;

namespace {

constexpr millis t0 = 1'800'000'000'000;
constexpr uint64_t wal_bound = 64 * 1024 * 1024;
constexpr int total_events = 200'000;
constexpr int requesters = 16;

struct config : caf::actor_system_config {
  config() {
    sb::add_message_types(*this);
    set("scheduler.max-threads", 2);
  }
};

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::vector<event_info> make_batch(int first, int n) {
  std::vector<event_info> evs;
  for (int i = first; i < first + n; ++i) {
    event_info ev;
    ev.agent = "agent-" + std::to_string(i % 1000);
    ev.subscription = "sub-" + std::to_string(i % 50);
    ev.kind = failure_kind::rate_limit;
    ev.status = 429;
    ev.message = "rate limit reached for requests; please retry later";
    ev.source = "task";
    ev.execution_id = "exec-" + std::to_string(i);
    ev.at = t0 + i;
    evs.push_back(std::move(ev));
  }
  return evs;
}

/// A subscription, an agent and one switch: generation 1 exists, so the
/// generation read below finds its one row and stops there.
void seed(store& db) {
  auto sub = db.put_subscription("sub-0", "tok-seed", t0);
  ASSERT_TRUE(sub) << render(sub.error());
  ASSERT_TRUE(db.add_agent(agent_spec{"agent-0", "sub-0", "", ""}, t0));
  switch_record rec;
  rec.agent = "agent-0";
  rec.from_id = sub->row.id;
  rec.from_name = "sub-0";
  rec.by = trigger::manual;
  rec.at = t0;
  ASSERT_TRUE(db.commit_switch(rec));
}

/// One requester: its share of the events, in batches of 1 to 8, and every
/// 25th batch the reads of a report's path.
void drive(caf::actor_system& sys, store_actor actor, int id,
           std::atomic<uint64_t>& max_wal, std::atomic<int>& failures,
           const std::string& wal) {
  caf::scoped_actor self{sys};
  int per_requester = total_events / requesters;
  int first = id * per_requester;
  int end = first + per_requester;
  auto fail = [&](caf::error&) { ++failures; };
  for (int i = first, round = 0; i < end; ++round) {
    int n = std::min(1 + (round + id) % 8, end - i);
    self->request(actor, 30s, event_atom::value, make_batch(i, n))
      .receive([](std::vector<int64_t>&) {}, fail);
    i += n;
    auto size = file_size(wal);
    auto seen = max_wal.load();
    while (size > seen && !max_wal.compare_exchange_weak(seen, size)) {
      // retry with the value another requester stored
    }
    if (round % 25 != 0)
      continue;
    self->request(actor, 30s, events_atom::value, query{"", "", 5})
      .receive([](event_page&) {}, fail);
    self->request(actor, 30s, generation_atom::value, "agent-0", uint64_t{1})
      .receive([](std::string&) {}, fail);
    self->request(actor, 30s, events_atom::value, query{"agent-7", "", 5})
      .receive([](event_page&) {}, fail);
    self->request(actor, 30s, pending_atom::value, uint32_t{5})
      .receive([](std::vector<notification_info>&) {}, fail);
  }
}

} // namespace

TEST(wal_bound, two_hundred_thousand_events_keep_the_wal_short) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  auto wal = path + "-wal";
  auto opened = store::open(path); // synchronous=FULL, as the daemon
  ASSERT_TRUE(opened) << render(opened.error());
  std::shared_ptr<store> db{std::move(*opened)};
  seed(*db);
  config cfg;
  caf::actor_system sys{cfg};
  auto actor = sys.spawn<caf::detached>(store_actor_impl, db, wall_clock_ms,
                                        no_commit_hook);
  std::atomic<uint64_t> max_wal{0};
  std::atomic<int> failures{0};
  auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int id = 0; id < requesters; ++id)
    threads.emplace_back(drive, std::ref(sys), actor, id, std::ref(max_wal),
                         std::ref(failures), std::cref(wal));
  for (auto& t : threads)
    t.join();
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(failures.load(), 0);
  // The store answers in order: this status comes after the idle checkpoint
  // that followed the last commit.
  caf::scoped_actor self{sys};
  store_status st;
  self->request(actor, 30s, status_atom::value)
    .receive([&](store_status& x) { st = x; },
             [&](caf::error& err) { FAIL() << render(err); });
  auto after = file_size(wal);
  auto& state
    = caf::actor_cast<store_actor::stateful_pointer<store_state>>(actor)->state;
  std::printf(
    "[wal_bound] %d events in %lld ms, %llu commits, largest batch "
    "%llu; WAL at most %.1f MiB during, %llu bytes after; %llu "
    "truncating checkpoints (%llu busy); database %.1f MiB\n",
    total_events,
    static_cast<long long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()),
    static_cast<unsigned long long>(st.commits),
    static_cast<unsigned long long>(st.largest_batch),
    static_cast<double>(max_wal.load()) / (1024 * 1024),
    static_cast<unsigned long long>(after),
    static_cast<unsigned long long>(state.checkpoints),
    static_cast<unsigned long long>(state.busy_checkpoints),
    static_cast<double>(file_size(path)) / (1024 * 1024));
  EXPECT_LT(max_wal.load(), wal_bound);
  EXPECT_LT(after, state.wal_truncate_bytes);
  EXPECT_GT(state.checkpoints, 0u);
  // Every event is in the database.
  uint64_t total = 0;
  self->request(actor, 30s, counts_atom::value, t0 - 1)
    .receive(
      [&](std::vector<failure_count>& xs) {
        for (auto& c : xs)
          total += c.count;
      },
      [&](caf::error& err) { FAIL() << render(err); });
  EXPECT_EQ(total, static_cast<uint64_t>(total_events));
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}
