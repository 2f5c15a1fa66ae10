// Reads page by page on every backend: the store honours the cursor
// (query::before) for events, history and notifications, and the store
// actor cuts its answers at max_page_items items or about max_page_bytes,
// naming the cursor of the next page, 0 exactly at the end.

#include "messages/register.hpp"
#include "persistence/store_actor.hpp"
#include "store_backend.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

struct config : caf::actor_system_config {
  config() {
    sb::add_message_types(*this);
    set("scheduler.max-threads", 2);
  }
};

class store_paging_test : public store_backend {
protected:
  /// Every id `fetch` hands out, page after page of `q.limit` with the
  /// cursor, until a page comes back short.
  template<class T>
  std::vector<int64_t>
  read_all(std::function<caf::expected<std::vector<T>>(const query&)> fetch,
           query q) {
    std::vector<int64_t> ids;
    // More pages than the items could fill: the cursor does not advance.
    for (int pages = 0; pages < 100; ++pages) {
      auto rows = fetch(q);
      EXPECT_TRUE(rows) << render(rows.error());
      if (!rows)
        return ids;
      for (auto& row : *rows)
        ids.push_back(row.id);
      if (rows->size() < q.limit)
        return ids;
      q.before = rows->back().id;
    }
    ADD_FAILURE() << "paging did not end";
    return ids;
  }

  std::vector<int64_t> event_ids(query q) {
    return read_all<event_info>([&](const query& x) { return db->events(x); },
                                q);
  }

  std::vector<int64_t> history_ids(query q) {
    return read_all<history_info>(
      [&](const query& x) { return db->history(x); }, q);
  }

  std::vector<int64_t> notification_ids(query q) {
    return read_all<notification_info>(
      [&](const query& x) { return db->notifications(x); }, q);
  }

  /// `n` switches of `agent`, back and forth between sub-a and sub-b.
  void switch_back_and_forth(const std::string& agent, int n) {
    auto subs = db->subscriptions();
    ASSERT_TRUE(subs && subs->size() == 2u);
    for (int i = 0; i < n; ++i) {
      auto& from = subs->at(i % 2);
      auto& to = subs->at(1 - i % 2);
      switch_record rec;
      rec.agent = agent;
      rec.from_id = from.id;
      rec.from_name = from.name;
      rec.to_id = to.id;
      rec.to_name = to.name;
      rec.expected_generation = static_cast<uint64_t>(i);
      rec.at = t0 + i;
      ASSERT_TRUE(db->commit_switch(rec)) << agent << " " << i;
    }
  }

  caf::expected<int64_t> notify(const std::string& agent, int i) {
    notification_info n;
    n.agent = agent;
    n.kind = notification_kind::held;
    n.title = "held " + std::to_string(i);
    n.created_at = t0 + i;
    return db->add_notification(n);
  }
};

std::vector<int64_t> newest_first(std::vector<int64_t> ids) {
  std::sort(ids.rbegin(), ids.rend());
  return ids;
}

query page_of(uint32_t limit, const std::string& agent = "") {
  query q;
  q.agent = agent;
  q.limit = limit;
  return q;
}

} // namespace

TEST_P(store_paging_test, the_cursor_yields_every_item_once_in_order) {
  std::vector<int64_t> all_events, a1_events, all_notes, a2_notes;
  for (int i = 0; i < 23; ++i) {
    auto agent = i % 3 == 0 ? "a1" : "a2";
    auto id = db->add_event(make_event(agent, "sub-a", t0 + i));
    ASSERT_TRUE(id) << render(id.error());
    all_events.push_back(*id);
    if (i % 3 == 0)
      a1_events.push_back(*id);
    auto note = notify(agent, i);
    ASSERT_TRUE(note) << render(note.error());
    all_notes.push_back(*note);
    if (i % 3 != 0)
      a2_notes.push_back(*note);
  }
  EXPECT_EQ(event_ids(page_of(5)), newest_first(all_events));
  EXPECT_EQ(event_ids(page_of(4, "a1")), newest_first(a1_events));
  EXPECT_EQ(event_ids(page_of(23)), newest_first(all_events));
  EXPECT_EQ(notification_ids(page_of(6)), newest_first(all_notes));
  EXPECT_EQ(notification_ids(page_of(1, "a2")), newest_first(a2_notes));
  // History: every row of a1 and a2 once, newest first, whatever the page.
  add_sub("sub-a");
  add_sub("sub-b");
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-a");
  switch_back_and_forth("a1", 11);
  switch_back_and_forth("a2", 4);
  auto all = history_ids(page_of(10000));
  ASSERT_EQ(all.size(), 15u);
  EXPECT_EQ(all, newest_first(all));
  EXPECT_EQ(history_ids(page_of(4)), all);
  EXPECT_EQ(history_ids(page_of(3, "a2")).size(), 4u);
}

TEST_P(store_paging_test, a_cursor_past_the_newest_or_at_the_oldest) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 10; ++i) {
    auto id = db->add_event(make_event("a1", "sub-a", t0 + i));
    ASSERT_TRUE(id) << render(id.error());
    ids.push_back(*id);
  }
  auto events_before = [&](int64_t before) {
    auto q = page_of(50);
    q.before = before;
    auto rows = db->events(q);
    std::vector<int64_t> out;
    for (auto& ev : *rows)
      out.push_back(ev.id);
    return out;
  };
  // Past the newest: everything, as from the newest (0).
  EXPECT_EQ(events_before(ids.back() + 1000), newest_first(ids));
  EXPECT_EQ(events_before(0), newest_first(ids));
  // At the oldest: nothing older; just above it: the oldest alone.
  EXPECT_TRUE(events_before(ids.front()).empty());
  EXPECT_EQ(events_before(ids.front() + 1), std::vector<int64_t>{ids.front()});
  EXPECT_EQ(events_before(ids[5]),
            (std::vector<int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]}));
  // The same rule for notifications and history.
  auto note = notify("a1", 0);
  ASSERT_TRUE(note);
  auto q = page_of(50);
  q.before = *note;
  EXPECT_TRUE(db->notifications(q)->empty());
  q.before = *note + 1000;
  EXPECT_EQ(db->notifications(q)->size(), 1u);
  add_sub("sub-a");
  add_sub("sub-b");
  add_agent("a1", "sub-a");
  switch_back_and_forth("a1", 2);
  auto hist = db->history(page_of(50));
  ASSERT_EQ(hist->size(), 2u);
  q.before = hist->back().id; // the oldest row
  EXPECT_TRUE(db->history(q)->empty());
  q.before = hist->front().id + 1000;
  EXPECT_EQ(db->history(q)->size(), 2u);
}

// -- the store actor's pages
// ------------------------------------------------------

class store_actor_pages : public store_paging_test {
protected:
  void SetUp() override {
    store_paging_test::SetUp();
    if (db && !HasFatalFailure())
      events_in_one_transaction();
  }

  void TearDown() override {
    if (!actor)
      return;
    // Down before the fixture closes the store (and drops its database).
    self->monitor(actor);
    self->send_exit(actor, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {},
                  caf::after(10s) >> [] { ADD_FAILURE() << "no down"; });
  }

  /// Filled by each test before spawn(): the events the store holds.
  virtual void events_in_one_transaction() {}

  void add_events(int n, size_t message_bytes) {
    ASSERT_FALSE(db->begin());
    for (int i = 0; i < n; ++i) {
      auto ev = make_event("a" + std::to_string(i % 7), "sub-a", t0 + i);
      ev.message = std::string(message_bytes, 'm');
      auto id = db->add_event(ev);
      ASSERT_TRUE(id) << render(id.error());
      ids.push_back(*id);
    }
    ASSERT_FALSE(db->commit());
  }

  void spawn() {
    // From here on the actor is the only user of the connection.
    actor = sys.spawn<caf::detached>(store_actor_impl, db, wall_clock_ms,
                                     no_commit_hook);
  }

  event_page read(query q) {
    event_page result;
    self->request(actor, 10s, events_atom::value, q)
      .receive([&](event_page& p) { result = std::move(p); },
               [&](caf::error& err) { ADD_FAILURE() << render(err); });
    return result;
  }

  std::vector<int64_t> ids;
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  store_actor actor;
};

class store_actor_item_pages : public store_actor_pages {
  void events_in_one_transaction() override { add_events(2000, 16); }
};

TEST_P(store_actor_item_pages, at_most_1000_items_and_next_0_at_the_end) {
  spawn();
  auto first = read(page_of(5000));
  ASSERT_EQ(first.items.size(), max_page_items);
  EXPECT_EQ(first.items.front().id, ids.back());
  EXPECT_EQ(first.next, first.items.back().id);
  // Exactly the rest: the last page, and it says so.
  auto second = read(query{"", "", 1000, first.next});
  ASSERT_EQ(second.items.size(), max_page_items);
  EXPECT_EQ(second.items.back().id, ids.front());
  EXPECT_EQ(second.next, 0);
  // One write more through the actor (a read commits it first): now the
  // second page has a next, the third holds the oldest alone.
  self
    ->request(actor, 10s, event_atom::value,
              std::vector<event_info>{make_event("a0", "sub-a", t0 + 9999)})
    .receive([](std::vector<int64_t>&) {},
             [&](caf::error& err) { FAIL() << render(err); });
  first = read(page_of(1000));
  second = read(query{"", "", 1000, first.next});
  EXPECT_EQ(second.next, second.items.back().id);
  auto third = read(query{"", "", 1000, second.next});
  ASSERT_EQ(third.items.size(), 1u);
  EXPECT_EQ(third.items[0].id, ids.front());
  EXPECT_EQ(third.next, 0);
  // A small limit is honoured with a cursor too.
  auto small = read(page_of(7));
  EXPECT_EQ(small.items.size(), 7u);
  EXPECT_EQ(small.next, small.items.back().id);
}

class store_actor_byte_pages : public store_actor_pages {
  void events_in_one_transaction() override { add_events(200, 4096); }
};

TEST_P(store_actor_byte_pages, large_events_stop_a_page_near_256_kib) {
  spawn();
  auto first = read(page_of(1000));
  // About max_page_bytes of text: never more than one event over it, and
  // not cut short (each event weighs its 4 KiB message and < 512 bytes).
  auto k = first.items.size();
  EXPECT_LE(k * 4096, max_page_bytes + 4096) << k;
  EXPECT_GE(k * (4096 + 512), max_page_bytes) << k;
  EXPECT_EQ(first.next, first.items.back().id);
  // Page after page: every event once, newest first, next 0 on the last.
  std::vector<int64_t> seen;
  auto page = first;
  for (int pages = 1;; ++pages) {
    ASSERT_LE(pages, 10);
    for (auto& ev : page.items) {
      EXPECT_EQ(ev.message.size(), 4096u);
      seen.push_back(ev.id);
    }
    if (page.next == 0)
      break;
    EXPECT_EQ(page.next, page.items.back().id);
    page = read(query{"", "", 1000, page.next});
  }
  EXPECT_EQ(seen, newest_first(ids));
}

INSTANTIATE_TEST_SUITE_P(file_and_memory, store_paging_test,
                         ::testing::Values(backend::memory, backend::file),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(file_and_memory, store_actor_item_pages,
                         ::testing::Values(backend::memory, backend::file),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(file_and_memory, store_actor_byte_pages,
                         ::testing::Values(backend::memory, backend::file),
                         backend_name);

// Need the private cluster of ctest's fixture postgres_server.
INSTANTIATE_TEST_SUITE_P(postgres, store_paging_test,
                         ::testing::Values(backend::postgres), backend_name);
INSTANTIATE_TEST_SUITE_P(postgres, store_actor_item_pages,
                         ::testing::Values(backend::postgres), backend_name);
INSTANTIATE_TEST_SUITE_P(postgres, store_actor_byte_pages,
                         ::testing::Values(backend::postgres), backend_name);
