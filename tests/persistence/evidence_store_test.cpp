// Schema 4 on a real SQLite file: the provider evidence of each subscription
// (round trip, upsert, a removed subscription's evidence, a restart), the
// migration of a schema-3 database (switch_history rebuilt for 'headroom'
// with its rows and ids), and the exclusion seeds that tell failures with a
// reset instant from those without.

#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "persistence/schema.hpp"
#include "persistence/store.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

using namespace sb;

namespace {

constexpr millis t0 = 1'800'000'000'000; // 2027-01-15T08:00:00Z

std::unique_ptr<store> open_ok(const std::string& path) {
  auto res = store::open(path);
  EXPECT_TRUE(res) << render(res.error());
  return res ? std::move(*res) : nullptr;
}

/// Every field set, each to a value of its own.
stored_evidence full_evidence(const std::string& sub) {
  stored_evidence ev;
  ev.subscription = sub;
  ev.status = provider_status::allowed_warning;
  ev.status_at = t0 + 1;
  ev.status_reset = t0 + 2 * hour_ms + 2;
  ev.utilization_5h = 0.875;
  ev.utilization_5h_at = t0 + 3;
  ev.reset_5h = t0 + 5 * hour_ms + 4;
  ev.utilization_7d = 0.0625;
  ev.utilization_7d_at = t0 + 5;
  ev.reset_7d = t0 + 7 * day_ms + 6;
  ev.evidence_at = t0 + 7;
  ev.readmitted_at = t0 + 8;
  return ev;
}

/// Only a status: no utilization, every other instant 0.
stored_evidence sparse_evidence(const std::string& sub) {
  stored_evidence ev;
  ev.subscription = sub;
  ev.status = provider_status::rejected;
  return ev;
}

event_info make_event(const std::string& sub, millis at, millis reset_at = 0,
                      failure_kind kind = failure_kind::rate_limit) {
  event_info ev;
  ev.agent = "a1";
  ev.subscription = sub;
  ev.kind = kind;
  ev.status = 429;
  ev.message = "usage limit reached";
  ev.reset_at = reset_at;
  ev.at = at;
  return ev;
}

int64_t count_rows(const std::string& path, const std::string& table) {
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  return raw.execAndGet("SELECT COUNT(*) FROM " + table).getInt64();
}

class evidence_store_test : public ::testing::Test {
protected:
  void SetUp() override {
    path = dir.file("state.db");
    db = open_ok(path);
    ASSERT_TRUE(db);
  }

  void add_sub(const std::string& name) {
    auto res = db->put_subscription(name, "token-of-" + name, t0);
    ASSERT_TRUE(res) << render(res.error());
  }

  std::vector<stored_evidence> all_evidence() {
    auto res = db->evidence();
    EXPECT_TRUE(res) << render(res.error());
    return res ? *res : std::vector<stored_evidence>{};
  }

  test::temp_dir dir;
  std::string path;
  std::unique_ptr<store> db;
};

} // namespace

TEST_F(evidence_store_test, every_field_round_trips) {
  add_sub("sub-b");
  add_sub("sub-a");
  auto full = full_evidence("sub-b");
  auto sparse = sparse_evidence("sub-a");
  EXPECT_FALSE(db->save_evidence(full));
  EXPECT_FALSE(db->save_evidence(sparse));
  auto got = all_evidence();
  ASSERT_EQ(got.size(), 2u);
  // Ordered by subscription name.
  EXPECT_EQ(got[0], sparse);
  EXPECT_EQ(got[1], full);
  EXPECT_FALSE(got[0].utilization_5h);
  EXPECT_FALSE(got[0].utilization_7d);
  EXPECT_EQ(got[0].status_at, 0);
  EXPECT_EQ(got[0].readmitted_at, 0);
  ASSERT_TRUE(got[1].utilization_5h);
  EXPECT_EQ(*got[1].utilization_5h, 0.875);
  // On disk: ISO text, NULL for 0 and for an unknown utilization.
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement st{raw,
                       "SELECT e.status, e.status_at, e.utilization_5h, "
                       "e.reset_7d, e.readmitted_at FROM subscription_evidence "
                       "e JOIN subscriptions s ON s.id = e.subscription_id "
                       "ORDER BY s.name"};
  ASSERT_TRUE(st.executeStep());
  EXPECT_EQ(st.getColumn(0).getString(), "rejected");
  EXPECT_TRUE(st.getColumn(1).isNull());
  EXPECT_TRUE(st.getColumn(2).isNull());
  EXPECT_TRUE(st.getColumn(3).isNull());
  EXPECT_TRUE(st.getColumn(4).isNull());
  ASSERT_TRUE(st.executeStep());
  EXPECT_EQ(st.getColumn(0).getString(), "allowed_warning");
  EXPECT_EQ(st.getColumn(1).getString(), "2027-01-15T08:00:00.001Z");
  EXPECT_EQ(st.getColumn(2).getDouble(), 0.875);
  EXPECT_EQ(st.getColumn(3).getString(), format_iso(t0 + 7 * day_ms + 6));
  EXPECT_EQ(st.getColumn(4).getString(), "2027-01-15T08:00:00.008Z");
}

TEST_F(evidence_store_test, every_status_round_trips) {
  add_sub("sub-a");
  for (auto s : {provider_status::unknown, provider_status::allowed,
                 provider_status::allowed_warning, provider_status::rejected}) {
    auto ev = sparse_evidence("sub-a");
    ev.status = s;
    ASSERT_FALSE(db->save_evidence(ev)) << to_string(s);
    auto got = all_evidence();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].status, s);
  }
}

TEST_F(evidence_store_test, a_save_replaces_the_row_of_its_subscription) {
  add_sub("sub-a");
  ASSERT_FALSE(db->save_evidence(full_evidence("sub-a")));
  // Fewer fields known now: the old values are not kept.
  auto next = sparse_evidence("sub-a");
  next.status = provider_status::allowed;
  next.utilization_7d = 0.5;
  next.evidence_at = t0 + minute_ms;
  ASSERT_FALSE(db->save_evidence(next));
  auto got = all_evidence();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], next);
  EXPECT_EQ(count_rows(path, "subscription_evidence"), 1);
  // A rotated token keeps the subscription's row, and so its evidence.
  ASSERT_TRUE(db->put_subscription("sub-a", "rotated", t0 + hour_ms));
  EXPECT_EQ(all_evidence(), std::vector<stored_evidence>{next});
}

TEST_F(evidence_store_test, an_unknown_subscription_writes_nothing) {
  add_sub("sub-a");
  EXPECT_FALSE(db->save_evidence(full_evidence("no-such-sub")));
  EXPECT_TRUE(all_evidence().empty());
  EXPECT_EQ(count_rows(path, "subscription_evidence"), 0);
  // Inside a batch as the store actor runs it: no error, the rest commits.
  ASSERT_FALSE(db->begin());
  EXPECT_FALSE(db->save_evidence(full_evidence("gone")));
  EXPECT_FALSE(db->save_evidence(full_evidence("sub-a")));
  ASSERT_FALSE(db->commit());
  ASSERT_EQ(all_evidence().size(), 1u);
  EXPECT_EQ(all_evidence()[0].subscription, "sub-a");
}

TEST_F(evidence_store_test, removing_a_subscription_removes_its_evidence) {
  add_sub("sub-a");
  add_sub("sub-b");
  ASSERT_FALSE(db->save_evidence(full_evidence("sub-a")));
  ASSERT_FALSE(db->save_evidence(full_evidence("sub-b")));
  ASSERT_TRUE(db->remove_subscription("sub-a"));
  auto got = all_evidence();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].subscription, "sub-b");
  EXPECT_EQ(count_rows(path, "subscription_evidence"), 1);
  // The name registered again starts without evidence.
  add_sub("sub-a");
  EXPECT_EQ(all_evidence().size(), 1u);
  // A write that was in flight when its subscription went writes nothing.
  ASSERT_TRUE(db->remove_subscription("sub-a"));
  EXPECT_FALSE(db->save_evidence(full_evidence("sub-a")));
  EXPECT_EQ(all_evidence().size(), 1u);
}

TEST_F(evidence_store_test, evidence_survives_a_restart_and_is_in_load) {
  add_sub("sub-a");
  add_sub("sub-b");
  std::vector<stored_evidence> saved{full_evidence("sub-a"),
                                     sparse_evidence("sub-b")};
  for (auto& ev : saved)
    ASSERT_FALSE(db->save_evidence(ev));
  db.reset();
  db = open_ok(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(all_evidence(), saved);
  auto snap = db->load(t0, 2 * hour_ms);
  ASSERT_TRUE(snap) << render(snap.error());
  EXPECT_EQ(snap->evidence, saved);
  EXPECT_EQ(snap->subscriptions.size(), 2u);
}

TEST_F(evidence_store_test, a_headroom_switch_is_history) {
  add_sub("sub-a");
  add_sub("sub-b");
  auto subs = db->subscriptions();
  ASSERT_TRUE(subs);
  ASSERT_TRUE(db->add_agent(agent_spec{"a1", "sub-a", "", ""}, t0));
  switch_record rec;
  rec.agent = "a1";
  rec.from_id = subs->at(0).id;
  rec.from_name = "sub-a";
  rec.to_id = subs->at(1).id;
  rec.to_name = "sub-b";
  rec.by = trigger::headroom;
  rec.at = t0 + 1000;
  auto res = db->commit_switch(rec);
  ASSERT_TRUE(res) << render(res.error());
  auto hist = db->history(query{});
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ(hist->at(0).by, trigger::headroom);
  EXPECT_EQ(hist->at(0).kind, failure_kind::none);
  // The CHECK still refuses what no trigger names.
  SQLite::Database raw(path, SQLite::OPEN_READWRITE);
  EXPECT_THROW(raw.exec("INSERT INTO switch_history(agent, trigger, "
                        "generation, at) VALUES ('a1', 'bogus', 9, 'x')"),
               SQLite::Exception);
}

// -- schema 3 -> 4
// ----------------------------------------------------------------

TEST(evidence_migration, a_schema_3_database_keeps_its_history_and_ids) {
  test::temp_dir dir;
  auto path = dir.file("v3.db");
  {
    // A database as schema 3 left it: this binary's first three migrations,
    // an agent and history rows with gaps in their ids.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA journal_mode=WAL");
    ASSERT_FALSE(migrate(raw, {}, 3));
    ASSERT_EQ(schema_version(raw), 3);
    ASSERT_FALSE(raw.tableExists("subscription_evidence"));
    raw.exec("INSERT INTO agents(name, generation, applied_generation, "
             "created_at, updated_at) VALUES ('a1', 3, 2, "
             "'2027-01-15T07:00:00.000Z', '2027-01-15T07:00:00.000Z')");
    raw.exec(
      "INSERT INTO switch_history(id, agent, from_subscription, "
      "to_subscription, trigger, failure_kind, event_count, generation, "
      "apply_result, applied_at, at) VALUES "
      "(7, 'a1', NULL, 'old-a', 'manual', '', 0, 1, 'hot_reloaded', "
      "'2027-01-15T07:10:00.500Z', '2027-01-15T07:10:00.000Z'), "
      "(9, 'a1', 'old-a', 'old-b', 'auto', 'rate_limit', 3, 2, 'failed: x', "
      "NULL, '2027-01-15T07:20:00.000Z'), "
      "(12, 'a1', 'old-b', NULL, 'rotation', 'auth', 1, 3, 'pending', NULL, "
      "'2027-01-15T07:30:00.000Z')");
    // 'headroom' is not a trigger at schema 3.
    EXPECT_THROW(raw.exec("INSERT INTO switch_history(agent, trigger, "
                          "generation, at) VALUES ('a1', 'headroom', 4, "
                          "'2027-01-15T07:40:00.000Z')"),
                 SQLite::Exception);
  }
  std::vector<std::vector<std::string>> before;
  auto dump = [&] {
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    SQLite::Statement st{raw, "SELECT * FROM switch_history ORDER BY id"};
    std::vector<std::vector<std::string>> rows;
    while (st.executeStep()) {
      std::vector<std::string> row;
      for (int i = 0; i < st.getColumnCount(); ++i)
        row.push_back(st.getColumn(i).isNull() ? "<null>"
                                               : st.getColumn(i).getString());
      rows.push_back(std::move(row));
    }
    return rows;
  };
  before = dump();
  ASSERT_EQ(before.size(), 3u);
  auto db = open_ok(path);
  ASSERT_TRUE(db);
  // Every row and column kept, ids included.
  EXPECT_EQ(dump(), before);
  {
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(schema_version(raw), latest_schema_version());
    EXPECT_TRUE(raw.tableExists("subscription_evidence"));
    EXPECT_FALSE(raw.tableExists("switch_history_v4"));
    EXPECT_EQ(raw
                .execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = "
                            "'index' AND name = 'switch_history_by_agent' "
                            "AND tbl_name = 'switch_history'")
                .getInt(),
              1);
    // The columns in schema 1's order, with their defaults.
    SQLite::Statement cols{raw, "SELECT name, \"notnull\", dflt_value FROM "
                                "pragma_table_info('switch_history') "
                                "ORDER BY cid"};
    std::vector<std::string> names;
    while (cols.executeStep())
      names.push_back(cols.getColumn(0).getString());
    EXPECT_EQ(names, (std::vector<std::string>{
                       "id", "agent", "from_subscription", "to_subscription",
                       "trigger", "failure_kind", "event_count", "generation",
                       "apply_result", "applied_at", "at"}));
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
    SQLite::Statement fk{raw, "PRAGMA foreign_key_check"};
    EXPECT_FALSE(fk.executeStep());
  }
  auto hist = db->history(query{});
  ASSERT_TRUE(hist) << render(hist.error());
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_EQ(hist->at(0).id, 12);
  EXPECT_EQ(hist->at(0).by, trigger::rotation);
  EXPECT_EQ(hist->at(0).kind, failure_kind::auth);
  EXPECT_EQ(hist->at(0).to, caf::optional<std::string>{});
  EXPECT_EQ(hist->at(1).id, 9);
  EXPECT_EQ(hist->at(1).by, trigger::automatic);
  EXPECT_EQ(hist->at(1).event_count, 3u);
  EXPECT_EQ(hist->at(1).apply, apply_failed("x"));
  EXPECT_EQ(hist->at(2).id, 7);
  EXPECT_EQ(hist->at(2).by, trigger::manual);
  EXPECT_EQ(hist->at(2).apply.result, apply_result::hot_reloaded);
  EXPECT_EQ(hist->at(2).at, t0 - 50 * minute_ms); // 07:10:00.000Z
  // Afterwards a headroom switch is written and read back, after the kept
  // ids; applying it updates its row.
  ASSERT_TRUE(db->put_subscription("sub-a", "tok-a", t0));
  auto sub = db->subscriptions()->at(0);
  switch_record rec;
  rec.agent = "a1";
  rec.to_id = sub.id;
  rec.to_name = sub.name;
  rec.by = trigger::headroom;
  rec.expected_generation = 3;
  rec.at = t0;
  auto res = db->commit_switch(rec);
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->history_id, 13);
  EXPECT_EQ(res->generation, 4u);
  ASSERT_FALSE(db->record_apply(
    apply_record{"a1", 4, {apply_result::restarted, {}}, true, t0 + 1}));
  hist = db->history(query{"a1", "", 1});
  ASSERT_TRUE(hist);
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ(hist->at(0).id, 13);
  EXPECT_EQ(hist->at(0).by, trigger::headroom);
  EXPECT_EQ(hist->at(0).to, caf::optional<std::string>{"sub-a"});
  EXPECT_EQ(hist->at(0).apply.result, apply_result::restarted);
  // Evidence works on the migrated database, and reopening migrates nothing.
  auto ev = full_evidence("sub-a");
  ASSERT_FALSE(db->save_evidence(ev));
  db.reset();
  db = open_ok(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(*db->evidence(), std::vector<stored_evidence>{ev});
  EXPECT_EQ(db->history(query{})->size(), 4u);
}

// -- exclusion seeds
// --------------------------------------------------------------

TEST_F(evidence_store_test,
       seeds_tell_failures_with_a_reset_from_those_without) {
  // sub-a: one without a reset, then a newer one with a reset ahead.
  ASSERT_TRUE(db->add_event(make_event("sub-a", t0 - 90 * minute_ms)));
  ASSERT_TRUE(
    db->add_event(make_event("sub-a", t0 - 40 * minute_ms, t0 + 3 * hour_ms)));
  // sub-b: only a failure with a reset instant.
  ASSERT_TRUE(
    db->add_event(make_event("sub-b", t0 - 10 * minute_ms, t0 + hour_ms)));
  // sub-c: only a failure without one.
  ASSERT_TRUE(db->add_event(make_event("sub-c", t0 - 20 * minute_ms)));
  // sub-d: a reset that has passed; sub-e: ignored failures only.
  ASSERT_TRUE(db->add_event(
    make_event("sub-d", t0 - 30 * minute_ms, t0 - 5 * minute_ms)));
  ASSERT_TRUE(db->add_event(
    make_event("sub-e", t0 - 5 * minute_ms, 0, failure_kind::ignored)));
  ASSERT_TRUE(db->add_event(make_event("sub-e", t0 - 6 * minute_ms,
                                       t0 + hour_ms, failure_kind::ignored)));
  // sub-f: one without a reset newer than one with a reset ahead, and an
  // older one without a reset before the window.
  ASSERT_TRUE(db->add_event(make_event("sub-f", t0 - 3 * hour_ms)));
  ASSERT_TRUE(
    db->add_event(make_event("sub-f", t0 - 50 * minute_ms, t0 + 2 * hour_ms)));
  ASSERT_TRUE(db->add_event(make_event("sub-f", t0 - 5 * minute_ms)));
  // sub-g: only old failures: one without a reset, one with a reset ahead.
  ASSERT_TRUE(db->add_event(make_event("sub-g", t0 - 5 * hour_ms)));
  ASSERT_TRUE(
    db->add_event(make_event("sub-g", t0 - 4 * hour_ms, t0 + 30 * minute_ms)));
  auto seeds = db->exclusion_seeds(t0 - 2 * hour_ms, t0);
  ASSERT_TRUE(seeds) << render(seeds.error());
  std::map<std::string, exclusion_seed> by_name;
  for (auto& s : *seeds)
    by_name[s.subscription] = s;
  auto expect
    = [&](const std::string& sub, millis last, millis window, millis reset) {
        SCOPED_TRACE(sub);
        ASSERT_EQ(by_name.count(sub), 1u);
        EXPECT_EQ(by_name[sub].last_failure_at, last);
        EXPECT_EQ(by_name[sub].window_failure_at, window);
        EXPECT_EQ(by_name[sub].reset_at, reset);
      };
  expect("sub-a", t0 - 40 * minute_ms, t0 - 90 * minute_ms, t0 + 3 * hour_ms);
  expect("sub-b", t0 - 10 * minute_ms, 0, t0 + hour_ms);
  expect("sub-c", t0 - 20 * minute_ms, t0 - 20 * minute_ms, 0);
  expect("sub-d", t0 - 30 * minute_ms, 0, 0);
  expect("sub-f", t0 - 5 * minute_ms, t0 - 5 * minute_ms, t0 + 2 * hour_ms);
  expect("sub-g", 0, 0, t0 + 30 * minute_ms);
  EXPECT_EQ(by_name.count("sub-e"), 0u);
  EXPECT_EQ(by_name.size(), 6u);
  // The boot snapshot carries the same seeds.
  auto snap = db->load(t0, 2 * hour_ms);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->exclusions.size(), 6u);
}
