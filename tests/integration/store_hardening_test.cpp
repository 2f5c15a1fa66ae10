// The store against what was thrown at it, with the real binaries: an outside
// writer on the live database (Debian's sqlite3), a second daemon on the same
// database, tokens and the log at rest, and `switchboard backup` while
// reports are being written.

#include "fixtures/wait.hpp"
#include "integration/live_daemon.hpp"
#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "persistence/store.hpp"

#include <SQLiteCpp/Database.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;

namespace {

constexpr const char* sqlite3_binary = "/usr/bin/sqlite3";

class store_hardening : public live_daemon {
protected:
  void SetUp() override { start(); }

  /// Two subscriptions and `n` agents on the first one.
  void populate(int n) {
    ok({"subscription", "add", "sub-a", "--token-file", "-"},
       "tok-at-rest-aaaa-0001");
    ok({"subscription", "add", "sub-b", "--token-file", "-"},
       "tok-at-rest-bbbb-0002");
    for (int i = 0; i < n; ++i)
      ok({"agent", "add", "a" + std::to_string(i), "--subscription", "sub-a"});
  }

  /// A report that must be answered (whatever the outcome).
  void report(const std::string& agent, const std::string& exec) {
    auto res
      = cli({"report", agent, "--status", "429", "--execution-id", exec});
    EXPECT_EQ(res.rc, 0) << res.err;
  }
};

} // namespace

TEST_F(store_hardening, an_outside_writer_does_not_lock_the_daemon_out) {
  ASSERT_TRUE(std::filesystem::exists(sqlite3_binary))
    << "scripts/install-deps.sh --test installs Debian's sqlite3";
  populate(2);
  report("a0", "before");
  // What an operator did: a schema change by another process on the live
  // file. Then a write transaction of its own that holds the lock a while.
  auto outside
    = run({sqlite3_binary, db_path(), "create table zz(x); drop table zz;"});
  ASSERT_EQ(outside.rc, 0) << outside.err;
  outside = run({sqlite3_binary, db_path(),
                 "begin immediate; create table yy(x); insert into yy "
                 "values (1); drop table yy; commit;"});
  ASSERT_EQ(outside.rc, 0) << outside.err;
  // Every later write still commits and every request is answered.
  for (int i = 0; i < 5; ++i)
    report("a1", "after-" + std::to_string(i));
  ok({"agent", "add", "late", "--subscription", "sub-b"});
  ok({"settings", "set", "switch-budget", "9"});
  auto events = ok({"events", "--limit", "100"});
  EXPECT_EQ(events.size(), 6u);
  EXPECT_EQ(ok({"agent", "list"}).size(), 3u);
  EXPECT_EQ(ok({"settings", "get"})["switch-budget"], 9);
  auto st = ok({"status"});
  EXPECT_EQ(st["components"]["store"]["failed_commits"], 0) << st.dump();
  // And the outside reader sees what the daemon wrote.
  auto count
    = run({sqlite3_binary, db_path(), "select count(*) from failure_events;"});
  EXPECT_EQ(count.out, "6\n") << count.err;
}

TEST_F(store_hardening, a_second_daemon_on_the_same_database_refuses) {
  populate(1);
  auto second = run({daemon_binary(), "--switchboard.port=0",
                     "--switchboard.db-path=" + db_path()},
                    {}, std::chrono::seconds(20));
  EXPECT_EQ(second.rc, 1) << second.err;
  auto errors = error_lines(second.err);
  ASSERT_EQ(errors.size(), 1u) << second.err;
  EXPECT_NE(errors[0].find("is in use by another switchboardd (pid "
                           + std::to_string(daemon->pid())),
            std::string::npos)
    << errors[0];
  EXPECT_EQ(second.err.find("listening on"), std::string::npos);
  EXPECT_EQ(file_mode(db_path() + ".lock"), 0600u);
  // The first one is untouched: it still writes.
  report("a0", "still-mine");
  EXPECT_EQ(ok({"events"}).size(), 1u);
  // Its lock ends with it (however it ends): a new daemon starts.
  daemon->kill_hard();
  start();
  EXPECT_EQ(ok({"events"}).size(), 1u);
}

TEST_F(store_hardening, tokens_and_the_log_are_unreadable_at_rest) {
  // A log file left world-readable by an earlier version.
  auto log = dir.file("switchboard.log");
  std::ofstream{log} << "old line\n";
  ::chmod(log.c_str(), 0644);
  daemon->terminate();
  start({"--switchboard.log-file=" + log});
  EXPECT_EQ(file_mode(log), 0600u);
  populate(1);
  // Rotations and a removal: old tokens must not linger either.
  ok({"subscription", "add", "sub-a", "--token-file", "-"},
     "tok-at-rest-aaaa-rotated-3");
  ok({"subscription", "add", "sub-c", "--token-file", "-"},
     "tok-at-rest-cccc-removed-4");
  ok({"subscription", "remove", "sub-c"});
  report("a0", "x");
  std::vector<std::string> tokens
    = {"tok-at-rest-aaaa-0001", "tok-at-rest-bbbb-0002",
       "tok-at-rest-aaaa-rotated-3", "tok-at-rest-cccc-removed-4"};
  auto scan = [&] {
    auto raw = slurp(db_path()) + slurp(db_path() + "-wal") + slurp(log);
    for (auto& t : tokens)
      EXPECT_EQ(raw.find(t), std::string::npos) << t;
  };
  scan(); // while the daemon runs (the WAL holds the recent pages)
  EXPECT_EQ(file_mode(dir.file("switchboard.key")), 0600u);
  // After a restart the tokens are still there, by fingerprint.
  ASSERT_EQ(daemon->terminate().value_or(-1), 0);
  scan();
  start({"--switchboard.log-file=" + log});
  auto subs = ok({"subscription", "list"});
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[0]["fingerprint"],
            token_fingerprint(tokens[2]).substr(0, fingerprint_prefix_digits));
  // A new log file (no file yet) is created 0600 as well.
  auto fresh = dir.file("fresh.log");
  daemon->terminate();
  start({"--switchboard.log-file=" + fresh});
  EXPECT_EQ(file_mode(fresh), 0600u);
}

TEST_F(store_hardening, backup_while_reports_are_written) {
  populate(8);
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::thread writer{[&] {
    for (int i = 0; !stop; ++i) {
      auto res = cli({"report", "a" + std::to_string(i % 8), "--status", "429",
                      "--execution-id", "w-" + std::to_string(i)});
      if (res.rc == 0)
        ++answered;
    }
  }};
  // Some reports are in before the copy is taken.
  ASSERT_TRUE(wait_until([&] { return answered >= 5; }));
  auto before = answered.load();
  // A relative name is resolved by the CLI, in its own folder.
  auto res = run({"/bin/sh", "-c",
                  "cd '" + dir.path().string() + "' && exec '" + cli_binary()
                    + "' --port " + std::to_string(daemon->port())
                    + " backup copy.db"});
  stop = true;
  writer.join();
  ASSERT_EQ(res.rc, 0) << res.err;
  auto copy = dir.file("copy.db");
  EXPECT_NE(res.out.find(copy), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("key file"), std::string::npos) << res.out;
  EXPECT_EQ(file_mode(copy), 0600u);
  // The copy is a consistent database that opens with the key file.
  {
    SQLite::Database raw(copy, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  store_options opts;
  opts.key_file = dir.file("switchboard.key");
  auto restored = store::open(copy, opts);
  ASSERT_TRUE(restored) << render(restored.error());
  auto subs = (*restored)->subscriptions();
  ASSERT_TRUE(subs);
  ASSERT_EQ(subs->size(), 2u);
  EXPECT_EQ(subs->at(0).token.value, "tok-at-rest-aaaa-0001");
  EXPECT_EQ((*restored)->agents()->size(), 8u);
  auto events = (*restored)->events(query{"", "", 10000});
  ASSERT_TRUE(events);
  EXPECT_GE(events->size(), static_cast<size_t>(before));
  EXPECT_LE(events->size(), static_cast<size_t>(answered.load()));
  // Never over an existing file (refused before the daemon is asked);
  // --json says the key is not in it.
  auto again = cli({"backup", copy});
  EXPECT_EQ(again.rc, 2);
  ASSERT_EQ(error_lines(again.err).size(), 1u) << again.err;
  EXPECT_NE(again.err.find("exists already"), std::string::npos) << again.err;
  auto j = ok({"backup", dir.file("second.db")});
  EXPECT_EQ(j["backup"], dir.file("second.db"));
  EXPECT_EQ(j["key_file_included"], false);
}

namespace {

/// No daemon yet: the test writes the database first.
class output_safety : public live_daemon {};

} // namespace

// What reached the database around the checks (an older version, a manual
// edit, a bug): invalid UTF-8 and escape sequences are read back through
// the real daemon by the real CLI. The JSON is valid (U+FFFD for the bad
// bytes; nlohmann's dump() used to throw and abort the CLI with rc 134),
// and the table writes every control character out.
TEST_F(output_safety, stored_bad_bytes_and_escapes_never_break_the_output) {
  {
    auto db = store::open(db_path());
    ASSERT_TRUE(db) << render(db.error());
    event_info ev;
    ev.agent = "a1";
    ev.subscription = "sub-\x1B[7m";
    ev.kind = failure_kind::rate_limit;
    ev.status = 429;
    ev.message = "bad \xFF\xFE bytes \x1B[31mred\x1B[0m\nsecond line";
    ev.at = wall_clock_ms();
    auto id = (*db)->add_event(ev);
    ASSERT_TRUE(id) << render(id.error());
  }
  start();
  auto res = cli({"--json", "events"});
  ASSERT_EQ(res.rc, 0) << res.err;
  json events;
  try {
    events = json::parse(res.out);
  } catch (const std::exception& e) {
    FAIL() << "not JSON: " << res.out << " (" << e.what() << ")";
  }
  ASSERT_EQ(events.size(), 1u) << res.out;
  auto message = events[0]["message"].get<std::string>();
  EXPECT_EQ(message, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes \x1B[31mred\x1B[0m"
                     "\nsecond line");
  EXPECT_EQ(res.out.find('\x1B'), std::string::npos) << "JSON escapes ESC";
  res = cli({"events"});
  ASSERT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.out.find('\x1B'), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("\\x1B[31mred"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("bad \\xFF\\xFE bytes"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("sub-\\x1B[7m"), std::string::npos) << res.out;
  // One header and one row: the line break inside the message is written
  // out, not a second row.
  EXPECT_EQ(std::count(res.out.begin(), res.out.end(), '\n'), 2) << res.out;
}
