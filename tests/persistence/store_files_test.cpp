// The store's files on a real SQLite file: no token bytes in the database or
// its WAL, a schema-2 database with plain tokens sealed in place (and the
// old text wiped), a missing or wrong key refused, online backups, and a
// checkpoint that neither waits for nor is fooled by a reader of another
// connection.

#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "persistence/schema.hpp"
#include "persistence/store.hpp"
#include "persistence/token_cipher.hpp"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sb;

namespace {

constexpr millis t0 = 1'800'000'000'000;

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The raw bytes of the database and its WAL, as an attacker with a copy of
/// the folder would read them.
std::string raw_files(const std::string& db) {
  return slurp(db) + slurp(db + "-wal");
}

std::unique_ptr<store> open_ok(const std::string& path,
                               const store_options& opts = {}) {
  auto res = store::open(path, opts);
  EXPECT_TRUE(res) << render(res.error());
  return res ? std::move(*res) : nullptr;
}

event_info make_event(int i) {
  event_info ev;
  ev.agent = "a" + std::to_string(i % 10);
  ev.subscription = "sub-a";
  ev.kind = failure_kind::rate_limit;
  ev.status = 429;
  ev.message = "usage limit reached";
  ev.at = t0 + i;
  return ev;
}

} // namespace

TEST(store_at_rest, no_token_bytes_in_the_database_or_its_wal) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  std::vector<std::string> tokens
    = {"tok-alpha-0123456789", "tok-bravo-ABCDEF", "tok-alpha-rotated-777",
       "tok-charlie-removed-42"};
  {
    auto db = open_ok(path);
    ASSERT_TRUE(db->put_subscription("alpha", tokens[0], t0));
    ASSERT_TRUE(db->put_subscription("bravo", tokens[1], t0));
    ASSERT_TRUE(db->put_subscription("alpha", tokens[2], t0 + 1)); // rotation
    ASSERT_TRUE(db->put_subscription("charlie", tokens[3], t0));
    ASSERT_TRUE(db->remove_subscription("charlie"));
    // While the store is open, the WAL holds every page written so far.
    ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
    auto raw = raw_files(path);
    for (auto& t : tokens)
      EXPECT_EQ(raw.find(t), std::string::npos) << t;
    // The store itself still reads them, and their fingerprints are kept.
    auto subs = db->subscriptions();
    ASSERT_TRUE(subs);
    ASSERT_EQ(subs->size(), 2u);
    EXPECT_EQ(subs->at(0).token.value, tokens[2]);
    EXPECT_EQ(subs->at(0).token_sha256, token_fingerprint(tokens[2]));
    EXPECT_EQ(subs->at(1).token.value, tokens[1]);
    EXPECT_EQ(db->token_versions()->size(), 3u);
  }
  auto raw = raw_files(path);
  for (auto& t : tokens)
    EXPECT_EQ(raw.find(t), std::string::npos) << t;
  // Reopened with the key file next to it: the same tokens.
  auto db = open_ok(path);
  EXPECT_EQ(db->subscriptions()->at(0).token.value, tokens[2]);
  EXPECT_EQ(db->key_file(), dir.file("switchboard.key"));
}

TEST(store_at_rest, a_schema_2_database_is_sealed_in_place_and_wiped) {
  test::temp_dir dir;
  auto path = dir.file("v2.db");
  {
    // A database as schema 2 left it (this binary's first two migrations):
    // plain tokens (one rotated, one of a removed subscription lingering in
    // free space) and no key file.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA journal_mode=WAL");
    raw.exec("PRAGMA secure_delete=OFF");
    ASSERT_FALSE(migrate(raw, {}, 2));
    ASSERT_EQ(schema_version(raw), 2);
    ASSERT_FALSE(std::filesystem::exists(dir.file("switchboard.key")));
    for (auto [name, token] : {std::pair{"old", "plain-token-old-1111"},
                               std::pair{"rot", "plain-token-rot-AAAA"},
                               std::pair{"gone", "plain-token-gone-9999"}})
      raw.exec(std::string{"INSERT INTO subscriptions(name, token, "
                           "created_at, updated_at) VALUES ('"}
               + name + "', '" + token
               + "', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')");
    raw.exec("UPDATE subscriptions SET token = 'plain-token-rot-BBBB' "
             "WHERE name = 'rot'");
    raw.exec("DELETE FROM subscriptions WHERE name = 'gone'");
  }
  // Sanity: the plain text is really in the file before the conversion.
  ASSERT_NE(raw_files(path).find("plain-token-gone-9999"), std::string::npos);
  ASSERT_NE(raw_files(path).find("plain-token-rot-BBBB"), std::string::npos);
  auto db = open_ok(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(db->sealed_at_open(), 2u);
  {
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(schema_version(raw), latest_schema_version());
  }
  auto raw = raw_files(path);
  for (auto t : {"plain-token-old-1111", "plain-token-rot-AAAA",
                 "plain-token-rot-BBBB", "plain-token-gone-9999"})
    EXPECT_EQ(raw.find(t), std::string::npos) << t;
  auto subs = db->subscriptions();
  ASSERT_TRUE(subs) << render(subs.error());
  ASSERT_EQ(subs->size(), 2u);
  EXPECT_EQ(subs->at(0).token.value, "plain-token-old-1111");
  EXPECT_EQ(subs->at(1).token.value, "plain-token-rot-BBBB");
  // Reopening seals nothing more.
  db.reset();
  EXPECT_EQ(open_ok(path)->sealed_at_open(), 0u);
}

TEST(store_at_rest, a_missing_key_with_sealed_tokens_is_refused) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  ASSERT_TRUE(open_ok(path)->put_subscription("s", "tok-never-printed", t0));
  std::filesystem::remove(dir.file("switchboard.key"));
  auto res = store::open(path);
  ASSERT_FALSE(res);
  auto msg = render(res.error());
  EXPECT_NE(msg.find("holds encrypted tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.file("switchboard.key")), std::string::npos) << msg;
  EXPECT_EQ(msg.find("tok-never-printed"), std::string::npos);
  // No new key was made up: it could never open the stored tokens.
  EXPECT_FALSE(std::filesystem::exists(dir.file("switchboard.key")));
}

TEST(store_at_rest, a_wrong_key_is_refused_without_printing_it) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  ASSERT_TRUE(open_ok(path)->put_subscription("s", "tok-never-printed", t0));
  ASSERT_TRUE(token_cipher::create(dir.file("other.key")));
  store_options opts;
  opts.key_file = dir.file("other.key");
  auto res = store::open(path, opts);
  ASSERT_FALSE(res);
  auto msg = render(res.error());
  EXPECT_NE(msg.find("does not open the tokens"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(slurp(dir.file("other.key")).substr(0, 64)),
            std::string::npos);
  EXPECT_EQ(msg.find("tok-never-printed"), std::string::npos);
}

TEST(store_backup, a_consistent_0600_copy_that_opens_with_the_key) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  auto db = open_ok(path);
  ASSERT_TRUE(db->put_subscription("sub-a", "tok-backup-a", t0));
  ASSERT_FALSE(db->begin());
  for (int i = 0; i < 500; ++i)
    ASSERT_TRUE(db->add_event(make_event(i)));
  ASSERT_FALSE(db->commit());
  auto copy = dir.file("copy.db");
  ASSERT_FALSE(db->backup(copy)) << "backup failed";
  struct stat st {};
  ASSERT_EQ(::stat(copy.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(slurp(copy).find("tok-backup-a"), std::string::npos);
  // The copy opens with the database's key file, and holds everything.
  store_options opts;
  opts.key_file = db->key_file();
  auto restored = open_ok(copy, opts);
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->subscriptions()->at(0).token.value, "tok-backup-a");
  query q;
  q.limit = 10000;
  EXPECT_EQ(restored->events(q)->size(), 500u);
  // Without the key, the copy is refused rather than misread.
  auto keyless = store::open(
    copy, store_options{"FULL", 5000, dir.file("nope/other.key")});
  EXPECT_FALSE(keyless);
}

TEST(store_backup, never_overwrites_and_reports_a_bad_target) {
  test::temp_dir dir;
  auto db = open_ok(dir.file("state.db"));
  auto existing = dir.file("existing.db");
  std::ofstream{existing} << "keep me";
  auto err = db->backup(existing);
  ASSERT_TRUE(err);
  EXPECT_NE(render(err).find("exists already"), std::string::npos);
  EXPECT_EQ(slurp(existing), "keep me");
  err = db->backup(dir.file("no/such/folder/x.db"));
  ASSERT_TRUE(err);
  EXPECT_NE(render(err).find("cannot create"), std::string::npos);
}

TEST(store_wal, a_reader_elsewhere_delays_the_truncation_without_blocking) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  auto db = open_ok(path);
  auto write_events = [&](int from) {
    ASSERT_FALSE(db->begin());
    for (int i = from; i < from + 200; ++i)
      ASSERT_TRUE(db->add_event(make_event(i)));
    ASSERT_FALSE(db->commit());
  };
  write_events(0);
  // Another process's reader holds a snapshot that needs the WAL.
  SQLite::Database reader(path, SQLite::OPEN_READONLY);
  reader.exec("BEGIN");
  EXPECT_EQ(reader.execAndGet("SELECT COUNT(*) FROM failure_events").getInt(),
            200);
  write_events(200);
  auto started = std::chrono::steady_clock::now();
  auto done = db->checkpoint();
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
  // It gave up at once instead of waiting out the 5 s busy timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds(2));
  EXPECT_GT(db->wal_bytes(), 0u);
  reader.exec("COMMIT");
  done = db->checkpoint();
  ASSERT_TRUE(done);
  EXPECT_TRUE(*done);
  EXPECT_EQ(db->wal_bytes(), 0u);
  // Writes go on normally after a truncation.
  write_events(400);
  query q;
  q.limit = 10000;
  EXPECT_EQ(db->events(q)->size(), 600u);
}
