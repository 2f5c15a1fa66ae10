// The STORE on every backend (a real SQLite file, SQLite's ":memory:", a
// fresh PostgreSQL database): every operation, the same answers and errors.
// Then SQLite's own: migrations from an empty file, file mode, the one
// timestamp format.

#include "messages/fingerprint.hpp"
#include "persistence/schema.hpp"
#include "store_backend.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <map>

using namespace sb;
using namespace sb::test;

namespace {

class store_test : public store_backend {};

} // namespace

TEST_P(store_test, subscriptions_insert_rotate_list_remove) {
  auto a = add_sub("sub-a", "tok-1");
  EXPECT_GT(a.id, 0);
  auto rot = db->put_subscription("sub-a", "tok-2", t0 + 1000);
  ASSERT_TRUE(rot);
  EXPECT_TRUE(rot->rotated);
  EXPECT_EQ(rot->row.id, a.id);
  add_sub("sub-b");
  auto subs = db->subscriptions();
  ASSERT_TRUE(subs);
  ASSERT_EQ(subs->size(), 2u);
  EXPECT_EQ((*subs)[0].name, "sub-a");
  EXPECT_EQ((*subs)[0].token.value, "tok-2");
  EXPECT_EQ((*subs)[0].created_at, t0);
  EXPECT_EQ((*subs)[0].updated_at, t0 + 1000);
  add_agent("a1", "sub-a");
  add_agent("a2", "sub-b");
  auto removed = db->remove_subscription("sub-a");
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, std::vector<std::string>{"a1"});
  auto a1 = db->agent("a1");
  ASSERT_TRUE(a1);
  EXPECT_EQ(a1->subscription_id, 0);
  EXPECT_EQ(a1->subscription, "");
  auto missing = db->remove_subscription("sub-a");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), ec::unknown_subscription));
}

TEST_P(store_test, every_token_version_keeps_its_fingerprint) {
  auto a = add_sub("sub-a", "tok-1");
  EXPECT_EQ(a.token_sha256, token_fingerprint("tok-1"));
  ASSERT_TRUE(db->put_subscription("sub-a", "tok-2", t0 + 1000));
  add_sub("sub-b", "tok-3");
  auto versions = db->token_versions();
  ASSERT_TRUE(versions);
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& v : *versions)
    got.emplace_back(v.subscription, v.sha256);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                   {"sub-a", token_fingerprint("tok-1")},
                   {"sub-a", token_fingerprint("tok-2")},
                   {"sub-b", token_fingerprint("tok-3")}}));
  EXPECT_EQ(db->subscriptions()->at(0).token_sha256,
            token_fingerprint("tok-2"));
  // One token cannot be two subscriptions; nothing is written.
  auto dup = db->put_subscription("sub-c", "tok-1", t0);
  ASSERT_FALSE(dup);
  EXPECT_NE(render(dup.error()).find("sub-a"), std::string::npos);
  EXPECT_EQ(db->subscriptions()->size(), 2u);
  // Rotating back to an old token of the same subscription is fine.
  EXPECT_TRUE(db->put_subscription("sub-a", "tok-1", t0 + 2000));
  EXPECT_EQ(db->token_versions()->size(), 3u);
  // A removed subscription's tokens are forgotten with it.
  ASSERT_TRUE(db->remove_subscription("sub-a"));
  EXPECT_EQ(db->token_versions()->size(), 1u);
  // The token history is in the boot snapshot.
  EXPECT_EQ(db->load(t0, hour_ms)->token_versions.size(), 1u);
}

TEST_P(store_test, agents_add_get_list_remove) {
  add_sub("sub-a");
  auto a = add_agent("a1", "sub-a", "ctr-1");
  EXPECT_EQ(a.subscription, "sub-a");
  EXPECT_EQ(a.container, "ctr-1");
  EXPECT_EQ(a.generation, 0u);
  EXPECT_EQ(a.applied_generation, 0u);
  EXPECT_EQ(a.auto_switch, auto_switch_mode::on);
  add_agent("a2");
  auto dup = db->add_agent(agent_spec{"a1", "", "", ""}, t0);
  ASSERT_FALSE(dup);
  EXPECT_TRUE(is(dup.error(), ec::duplicate_agent));
  auto bad = db->add_agent(agent_spec{"a3", "nope", "", ""}, t0);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), ec::unknown_subscription));
  EXPECT_FALSE(db->agent("a3"));
  auto all = db->agents();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
  EXPECT_FALSE(db->set_agent_auto_switch("a1", auto_switch_mode::off, t0));
  EXPECT_EQ(db->agent("a1")->auto_switch, auto_switch_mode::off);
  EXPECT_TRUE(db->set_agent_auto_switch("zz", auto_switch_mode::off, t0));
  EXPECT_FALSE(db->remove_agent("a1"));
  EXPECT_TRUE(is(db->remove_agent("a1"), ec::unknown_agent));
  EXPECT_TRUE(is(db->agent("a1").error(), ec::unknown_agent));
}

TEST_P(store_test, agents_behind_and_with_a_container_are_counted) {
  auto none = db->count_agents();
  ASSERT_TRUE(none) << render(none.error());
  EXPECT_EQ(none->behind, 0u);
  EXPECT_EQ(none->containers, 0u);
  auto a = add_sub("sub-a");
  auto b = add_sub("sub-b");
  add_agent("a1", "sub-a", "ctr-1");
  add_agent("a2", "sub-a");
  add_agent("a3", "sub-a", "ctr-3");
  // Every agent switches once (generation 1); a1's token reaches its
  // container, a3's application fails.
  for (auto name : {"a1", "a2", "a3"}) {
    switch_record rec;
    rec.agent = name;
    rec.from_id = a.id;
    rec.from_name = a.name;
    rec.to_id = b.id;
    rec.to_name = b.name;
    rec.at = t0 + 1000;
    ASSERT_TRUE(db->commit_switch(rec)) << name;
  }
  apply_outcome reloaded{apply_result::hot_reloaded, {}};
  ASSERT_FALSE(db->record_apply(apply_record{"a1", 1, reloaded, true, t0}));
  ASSERT_FALSE(db->record_apply(
    apply_record{"a3", 1, apply_failed("engine unreachable"), false, t0}));
  auto counts = db->count_agents();
  ASSERT_TRUE(counts) << render(counts.error());
  EXPECT_EQ(counts->behind, 2u);     // a2 and a3
  EXPECT_EQ(counts->containers, 2u); // a1 and a3
  ASSERT_FALSE(db->remove_agent("a3"));
  counts = db->count_agents();
  EXPECT_EQ(counts->behind, 1u);
  EXPECT_EQ(counts->containers, 1u);
}

TEST_P(store_test, commit_switch_writes_everything_once_and_is_fenced) {
  auto a = add_sub("sub-a");
  auto b = add_sub("sub-b");
  add_agent("a1", "sub-a");
  switch_record rec;
  rec.agent = "a1";
  rec.from_id = a.id;
  rec.from_name = a.name;
  rec.to_id = b.id;
  rec.to_name = b.name;
  rec.kind = failure_kind::rate_limit;
  rec.event_count = 2;
  rec.expected_generation = 0;
  rec.at = t0 + 5000;
  rec.notify = true;
  rec.title = "switched";
  rec.message = "a1 moved from sub-a to sub-b";
  auto res = db->commit_switch(rec);
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->generation, 1u);
  EXPECT_GT(res->notification_id, 0);
  auto agent = db->agent("a1");
  EXPECT_EQ(agent->subscription, "sub-b");
  EXPECT_EQ(agent->generation, 1u);
  EXPECT_EQ(agent->last_switch_at, t0 + 5000);
  // The same generation again is fenced off: no second row anywhere.
  auto again = db->commit_switch(rec);
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), ec::conflict));
  auto hist = db->history(query{});
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ((*hist)[0].from, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ((*hist)[0].to, caf::optional<std::string>{"sub-b"});
  EXPECT_EQ((*hist)[0].apply.result, apply_result::pending);
  EXPECT_EQ((*hist)[0].by, trigger::automatic);
  EXPECT_EQ((*hist)[0].kind, failure_kind::rate_limit);
  EXPECT_EQ((*hist)[0].event_count, 2u);
  auto notes = db->notifications(query{});
  ASSERT_EQ(notes->size(), 1u);
  EXPECT_EQ((*notes)[0].priority, notification_priority::high);
  EXPECT_EQ((*notes)[0].status, notification_status::pending);
  EXPECT_EQ((*notes)[0].kind, notification_kind::switched);
  // Applying records the result on the agent and on the history row.
  apply_outcome reloaded{apply_result::hot_reloaded, {}};
  EXPECT_FALSE(
    db->record_apply(apply_record{"a1", 1, reloaded, true, t0 + 6000}));
  agent = db->agent("a1");
  EXPECT_EQ(agent->applied_generation, 1u);
  EXPECT_EQ(agent->last_apply, reloaded);
  EXPECT_EQ(db->history(query{})->at(0).apply, reloaded);
  // A failed apply does not move applied_generation.
  rec.expected_generation = 1;
  rec.from_id = b.id;
  rec.to_id = a.id;
  rec.notify = false;
  rec.by = trigger::manual;
  ASSERT_TRUE(db->commit_switch(rec));
  EXPECT_FALSE(db->record_apply(apply_record{
    "a1", 2, apply_failed("engine unreachable"), false, t0 + 7000}));
  agent = db->agent("a1");
  EXPECT_EQ(agent->last_apply, apply_failed("engine unreachable"));
  EXPECT_EQ(db->history(query{})->at(0).by, trigger::manual);
  EXPECT_EQ(agent->generation, 2u);
  EXPECT_EQ(agent->applied_generation, 1u);
  EXPECT_EQ(db->notifications(query{})->size(), 1u);
  // A switch to a subscription removed meanwhile: a clear error, nothing
  // written.
  add_sub("sub-c");
  auto c = db->subscriptions()->at(2);
  ASSERT_TRUE(db->remove_subscription("sub-c"));
  rec.expected_generation = 2;
  rec.to_id = c.id;
  rec.to_name = "sub-c";
  auto gone = db->commit_switch(rec);
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), ec::unknown_subscription))
    << render(gone.error());
  EXPECT_NE(render(gone.error()).find("was removed"), std::string::npos);
  EXPECT_EQ(db->agent("a1")->generation, 2u);
}

TEST_P(store_test, events_list_filter_count_and_retention) {
  add_sub("sub-a");
  add_sub("sub-b");
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(db->add_event(make_event("a1", "sub-a", t0 + i * hour_ms)));
  ASSERT_TRUE(db->add_event(make_event("a2", "sub-b", t0, failure_kind::auth)));
  auto all = db->events(query{});
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ(all->front().agent, "a2"); // newest first
  EXPECT_EQ(db->events(query{"a1", "", 50})->size(), 5u);
  EXPECT_EQ(db->events(query{"", "sub-b", 50})->size(), 1u);
  EXPECT_EQ(db->events(query{"", "", 2})->size(), 2u);
  auto counts = db->failure_counts(t0 + 2 * hour_ms);
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ((*counts)[0].count, 2u); // t0+3h and t0+4h
  // Retention deletes old events in bounded batches.
  auto n = db->delete_events_before(t0 + 3 * hour_ms, 2);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  n = db->delete_events_before(t0 + 3 * hour_ms, 2);
  EXPECT_EQ(*n, 2u); // the second t0 event and t0+2h
  n = db->delete_events_before(t0 + 3 * hour_ms, 2);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(db->events(query{})->size(), 2u);
}

TEST_P(store_test, exclusion_seeds_cover_window_and_future_resets) {
  auto old = make_event("a1", "sub-a", t0 - 5 * hour_ms);
  old.reset_at = t0 + 10 * hour_ms; // provider says: back in 10 h
  ASSERT_TRUE(db->add_event(old));
  ASSERT_TRUE(db->add_event(make_event("a1", "sub-b", t0 - 30 * minute_ms)));
  ASSERT_TRUE(db->add_event(make_event("a1", "sub-c", t0 - 3 * hour_ms)));
  auto seeds = db->exclusion_seeds(t0 - 2 * hour_ms, t0);
  ASSERT_TRUE(seeds);
  std::map<std::string, exclusion_seed> by_name;
  for (auto& s : *seeds)
    by_name[s.subscription] = s;
  ASSERT_EQ(by_name.size(), 2u);
  EXPECT_EQ(by_name["sub-a"].last_failure_at, 0);
  EXPECT_EQ(by_name["sub-a"].reset_at, t0 + 10 * hour_ms);
  EXPECT_EQ(by_name["sub-b"].last_failure_at, t0 - 30 * minute_ms);
  EXPECT_EQ(by_name.count("sub-c"), 0u);
}

TEST_P(store_test, notifications_and_settings) {
  notification_info n;
  n.agent = "a1";
  n.kind = notification_kind::held;
  n.title = "held";
  n.message = "switch budget exhausted";
  n.created_at = t0;
  auto id = db->add_notification(n);
  ASSERT_TRUE(id);
  EXPECT_EQ(db->notifications(query{"a1", "", 10})->at(0).priority,
            notification_priority::normal);
  EXPECT_FALSE(db->mark_delivered(*id, t0 + 1));
  EXPECT_EQ(db->notifications(query{})->at(0).status,
            notification_status::delivered);
  EXPECT_TRUE(db->notifications(query{"a2", "", 10})->empty());
  EXPECT_FALSE(db->put_setting("auto-switch", "off", t0));
  EXPECT_FALSE(db->put_setting("auto-switch", "on", t0));
  auto st = db->settings();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->at("auto-switch"), "on");
  EXPECT_EQ(st->size(), 1u);
}

TEST_P(store_test, savepoint_rolls_back_one_write_only) {
  ASSERT_FALSE(db->begin());
  ASSERT_FALSE(db->savepoint());
  add_sub("kept");
  ASSERT_FALSE(db->release());
  ASSERT_FALSE(db->savepoint());
  add_sub("dropped");
  db->rollback_to();
  ASSERT_FALSE(db->commit());
  auto subs = db->subscriptions();
  ASSERT_EQ(subs->size(), 1u);
  EXPECT_EQ(subs->at(0).name, "kept");
}

TEST_P(store_test, vetoed_commit_keeps_nothing) {
  db->set_commit_veto([] { return true; });
  ASSERT_FALSE(db->begin());
  add_sub("ghost");
  EXPECT_TRUE(db->commit());
  db->rollback();
  db->set_commit_veto(nullptr);
  EXPECT_TRUE(db->subscriptions()->empty());
}

TEST_P(store_test, load_returns_everything) {
  add_sub("sub-a");
  add_agent("a1", "sub-a");
  ASSERT_FALSE(db->put_setting("auto-switch", "off", t0));
  ASSERT_TRUE(db->add_event(make_event("a1", "sub-a", t0 - minute_ms)));
  auto snap = db->load(t0, 2 * hour_ms);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->subscriptions.size(), 1u);
  EXPECT_EQ(snap->agents.size(), 1u);
  EXPECT_EQ(snap->settings.size(), 1u);
  EXPECT_EQ(snap->exclusions.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(file_and_memory, store_test,
                         ::testing::Values(backend::memory, backend::file),
                         backend_name);

// Needs the private cluster of ctest's fixture postgres_server.
INSTANTIATE_TEST_SUITE_P(postgres, store_test,
                         ::testing::Values(backend::postgres), backend_name);

// -- file-only properties
// ---------------------------------------------------------

TEST(store_file, created_with_mode_0600_in_wal_mode) {
  test::temp_dir dir;
  auto path = dir.file("fresh.db");
  {
    auto db = store::open(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE((*db)->put_subscription("s", "t", t0));
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
}

TEST(store_file, tightens_an_existing_world_readable_file) {
  test::temp_dir dir;
  auto path = dir.file("loose.db");
  { auto db = store::open(path); }
  ::chmod(path.c_str(), 0644);
  { auto db = store::open(path); }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(store_file, migrates_an_empty_file_and_reopens_without_migrating) {
  test::temp_dir dir;
  auto path = dir.file("empty.db");
  { std::ofstream touch{path}; }
  {
    auto db = store::open(path);
    ASSERT_TRUE(db) << render(db.error());
    ASSERT_TRUE((*db)->put_subscription("s", "t", t0));
  }
  SQLite::Database raw(path, SQLite::OPEN_READWRITE);
  EXPECT_EQ(schema_version(raw), latest_schema_version());
  EXPECT_EQ(raw.execAndGet("SELECT COUNT(*) FROM schema_version").getInt(),
            latest_schema_version());
  // Reopening keeps data and does not re-run migrations.
  auto db = store::open(path);
  ASSERT_TRUE(db);
  EXPECT_EQ((*db)->subscriptions()->size(), 1u);
}

TEST(store_file, a_schema_1_database_gets_the_fingerprints_of_its_tokens) {
  test::temp_dir dir;
  auto path = dir.file("v1.db");
  {
    // A database as schema 1 left it (no fingerprints) with one
    // subscription in it: this binary's first migration only.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    ASSERT_FALSE(migrate(raw, {}, 1));
    ASSERT_EQ(schema_version(raw), 1);
    raw.exec("INSERT INTO subscriptions(name, token, created_at, updated_at) "
             "VALUES ('old', 'tok-old', '2026-01-01T00:00:00.000Z', "
             "'2026-01-02T00:00:00.000Z')");
  }
  auto db = store::open(path);
  ASSERT_TRUE(db) << render(db.error());
  auto versions = (*db)->token_versions();
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ(versions->at(0).subscription, "old");
  EXPECT_EQ(versions->at(0).sha256, token_fingerprint("tok-old"));
}

TEST(store_file, a_schema_1_database_migrates_to_pools_and_providers) {
  test::temp_dir dir;
  auto path = dir.file("v1-pools.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    ASSERT_FALSE(migrate(raw, {}, 1));
    raw.exec("INSERT INTO subscriptions(name, token, created_at, updated_at) "
             "VALUES ('old', 'tok-old', '2026-01-01T00:00:00.000Z', "
             "'2026-01-02T00:00:00.000Z')");
    raw.exec("INSERT INTO agents(name, subscription_id, created_at, "
             "updated_at) VALUES ('a1', 1, '2026-01-01T00:00:00.000Z', "
             "'2026-01-01T00:00:00.000Z')");
    raw.exec("INSERT INTO failure_events(agent, subscription, kind, status, "
             "message, occurred_at) VALUES ('a1', 'old', 'rate_limit', 429, "
             "'limited', '2026-01-03T00:00:00.000Z')");
  }
  auto db = store::open(path);
  ASSERT_TRUE(db) << render(db.error());
  auto subs = (*db)->subscriptions();
  ASSERT_TRUE(subs);
  ASSERT_EQ(subs->size(), 1u);
  EXPECT_EQ(subs->at(0).provider, provider_kind::anthropic);
  EXPECT_EQ(subs->at(0).pool, "default");
  EXPECT_EQ(subs->at(0).retired, retire_reason::none);
  EXPECT_EQ(subs->at(0).max_agents, 0u);
  auto a1 = (*db)->agent("a1");
  ASSERT_TRUE(a1);
  EXPECT_EQ(a1->pool, "default");
  // The rebuilt failure_events kept its rows and takes the new kind.
  auto events = (*db)->events(query{});
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->at(0).message, "limited");
  auto busy = make_event("a1", "old", t0, failure_kind::concurrency);
  ASSERT_TRUE((*db)->add_event(busy));
  // A standing is kept.
  subscription_standing st;
  st.name = "old";
  st.retired = retire_reason::banned;
  st.retired_at = t0;
  st.max_agents = 3;
  ASSERT_FALSE((*db)->save_standing(st));
  subs = (*db)->subscriptions();
  EXPECT_EQ(subs->at(0).retired, retire_reason::banned);
  EXPECT_EQ(subs->at(0).retired_at, t0);
  EXPECT_EQ(subs->at(0).max_agents, 3u);
  st.name = "no-such";
  EXPECT_TRUE((*db)->save_standing(st));
}

TEST(store_file, refuses_a_newer_schema) {
  test::temp_dir dir;
  auto path = dir.file("future.db");
  { auto db = store::open(path); }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("INSERT INTO schema_version VALUES (999, 'x')");
  }
  auto db = store::open(path);
  ASSERT_FALSE(db);
  EXPECT_NE(render(db.error()).find("newer"), std::string::npos);
}

TEST(store_file, unwritable_path_is_a_clear_error) {
  auto db = store::open("/nonexistent-dir/x/state.db");
  ASSERT_FALSE(db);
  EXPECT_NE(render(db.error()).find("/nonexistent-dir/x/state.db"),
            std::string::npos);
}

TEST(store_file, stored_timestamps_use_the_one_iso_format) {
  test::temp_dir dir;
  auto path = dir.file("ts.db");
  {
    auto db = store::open(path);
    ASSERT_TRUE((*db)->add_event(make_event("a", "s", t0 + 7)));
  }
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(
    raw.execAndGet("SELECT occurred_at FROM failure_events").getString(),
    "2027-01-15T08:00:00.007Z");
  // The migration's own timestamp uses the same shape.
  auto applied
    = raw.execAndGet("SELECT applied_at FROM schema_version").getString();
  EXPECT_TRUE(parse_iso(applied).has_value()) << applied;
}
