// What only the PostgreSQL store has: a password file, several stores (hosts)
// on one database, daemons that migrate at the same time, a connection that
// breaks, no backups of its own, one key file for every host. The operations
// themselves are store_test.cpp's, on every backend.

#include "fixtures/postgres_env.hpp"
#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "persistence/postgres_impl.hpp"
#include "persistence/postgres_store.hpp"
#include "persistence/schema.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <future>
#include <thread>

using namespace sb;

namespace {

constexpr millis t0 = 1'800'000'000'000; // 2027-01-15T08:00:00Z

std::string first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path};
  out << text << '\n';
}

class postgres_store_test : public ::testing::Test {
protected:
  postgres_options options() const {
    return {pg.url(), pg.password_file(), dir.file("switchboard.key")};
  }

  std::unique_ptr<store> open_store() {
    auto res = postgres_store::open(options());
    EXPECT_TRUE(res) << render(res.error());
    return res ? std::move(*res) : nullptr;
  }

  /// A connection of the test's own to the database, for what the store
  /// does not offer.
  pqxx::connection raw() const {
    auto target = resolve_target(options());
    if (!target)
      throw std::runtime_error(render(target.error()));
    return pqxx::connection{target->conninfo};
  }

  /// Ends every other connection to the database, and waits until they are
  /// gone: what a restart of the server does to the store.
  void end_other_connections() {
    auto conn = raw();
    pqxx::nontransaction tx{conn};
    tx.exec("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  }

  test::temp_dir dir;
  test::postgres_database pg;
};

} // namespace

TEST_F(postgres_store_test, password_file_is_honoured_and_never_shown) {
  auto password = first_line(pg.password_file());
  ASSERT_FALSE(password.empty());
  ASSERT_TRUE(open_store());
  // A wrong password: refused, and the error does not carry it.
  auto wrong = options();
  wrong.password_file = dir.file("wrong-password");
  write_file(wrong.password_file, "not-the-password-4f2a9c");
  auto refused = postgres_store::open(wrong);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), ec::store_failure));
  EXPECT_EQ(render(refused.error()).find("not-the-password-4f2a9c"),
            std::string::npos)
    << render(refused.error());
  EXPECT_NE(render(refused.error()).find("password authentication failed"),
            std::string::npos)
    << render(refused.error());
  // A missing password file is named, not guessed around.
  wrong.password_file = dir.file("no-such-file");
  refused = postgres_store::open(wrong);
  ASSERT_FALSE(refused);
  EXPECT_NE(render(refused.error()).find("no-such-file"), std::string::npos);
  // A password in the URL works but never shows in path().
  auto in_url = options();
  in_url.password_file.clear();
  in_url.url.replace(in_url.url.find("switchboard@"), 12,
                     "switchboard:" + password + "@");
  auto db = postgres_store::open(in_url);
  ASSERT_TRUE(db) << render(db.error());
  EXPECT_EQ((*db)->path().find(password), std::string::npos) << (*db)->path();
  EXPECT_NE((*db)->path().find(pg.name()), std::string::npos);
}

TEST_F(postgres_store_test, two_stores_on_one_database_see_each_others_writes) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->put_subscription("sub-a", "tok-a", t0));
  ASSERT_TRUE(b->put_subscription("sub-b", "tok-b", t0));
  auto subs = b->subscriptions();
  ASSERT_TRUE(subs) << render(subs.error());
  ASSERT_EQ(subs->size(), 2u);
  EXPECT_EQ(subs->at(0).token.value, "tok-a");
  ASSERT_TRUE(b->add_agent(agent_spec{"a1", "sub-a", "", ""}, t0));
  EXPECT_EQ(a->agent("a1")->subscription, "sub-a");
  // The generation fences a switch across hosts: one of two wins.
  switch_record rec;
  rec.agent = "a1";
  rec.to_id = subs->at(1).id;
  rec.to_name = "sub-b";
  rec.at = t0 + 1000;
  ASSERT_TRUE(a->commit_switch(rec));
  auto lost = b->commit_switch(rec);
  ASSERT_FALSE(lost);
  EXPECT_TRUE(is(lost.error(), ec::conflict)) << render(lost.error());
  // A transaction is seen by the other store once committed.
  event_info ev;
  ev.agent = "a1";
  ev.subscription = "sub-b";
  ev.kind = failure_kind::rate_limit;
  ev.status = 429;
  ev.at = t0 + 2000;
  ASSERT_FALSE(a->begin());
  ASSERT_TRUE(a->add_event(ev));
  EXPECT_TRUE(b->events(query{})->empty());
  ASSERT_FALSE(a->commit());
  EXPECT_EQ(b->events(query{})->size(), 1u);
}

TEST_F(postgres_store_test, daemons_starting_together_both_migrate) {
  // The key exists already: this is about the schema.
  ASSERT_TRUE(token_cipher::create(options().key_file));
  std::promise<void> go;
  auto start = go.get_future().share();
  auto open_when_told = [&] {
    start.wait();
    return postgres_store::open(options());
  };
  auto first = std::async(std::launch::async, open_when_told);
  auto second = std::async(std::launch::async, open_when_told);
  go.set_value();
  auto a = first.get();
  auto b = second.get();
  ASSERT_TRUE(a) << render(a.error());
  ASSERT_TRUE(b) << render(b.error());
  auto conn = raw();
  pqxx::nontransaction tx{conn};
  auto row = tx.exec("SELECT MAX(version), COUNT(*) FROM schema_version")[0];
  EXPECT_EQ(row[0].as<int64_t>(), latest_schema_version());
  EXPECT_EQ(row[1].as<int64_t>(), latest_schema_version());
  // Version N means the same tables in both backends.
  EXPECT_EQ(postgres_latest_schema_version(), latest_schema_version());
}

TEST_F(postgres_store_test, a_broken_connection_fails_one_call_then_recovers) {
  auto db = open_store();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->put_subscription("kept", "tok-kept", t0));
  end_other_connections();
  auto failed = db->agents();
  ASSERT_FALSE(failed);
  EXPECT_TRUE(is(failed.error(), ec::store_failure));
  auto again = db->subscriptions();
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_EQ(again->size(), 1u);
  EXPECT_FALSE(db->probe_write());
  // Broken inside a transaction: the transaction is gone, and every call
  // says so until rollback(), never writing outside it.
  ASSERT_FALSE(db->begin());
  ASSERT_TRUE(db->put_subscription("lost", "tok-lost", t0));
  end_other_connections();
  EXPECT_FALSE(db->put_subscription("after", "tok-after", t0));
  EXPECT_FALSE(db->put_subscription("after", "tok-after", t0));
  EXPECT_TRUE(db->commit());
  db->rollback();
  auto subs = db->subscriptions();
  ASSERT_TRUE(subs) << render(subs.error());
  ASSERT_EQ(subs->size(), 1u);
  EXPECT_EQ(subs->at(0).name, "kept");
}

TEST_F(postgres_store_test, backup_is_refused_clearly) {
  auto db = open_store();
  ASSERT_TRUE(db);
  auto target = dir.file("copy.db");
  auto err = db->backup(target);
  EXPECT_TRUE(is(err, ec::invalid_argument)) << render(err);
  EXPECT_NE(render(err).find("pg_dump"), std::string::npos) << render(err);
  struct stat st {};
  EXPECT_NE(::stat(target.c_str(), &st), 0);
}

TEST_F(postgres_store_test, a_wrong_or_missing_key_file_is_refused) {
  {
    auto db = open_store();
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->put_subscription("sub-a", "tok-a", t0));
    EXPECT_EQ(db->key_file(), options().key_file);
  }
  struct stat st {};
  ASSERT_EQ(::stat(options().key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Another host's key.
  auto other = options();
  other.key_file = dir.file("other.key");
  ASSERT_TRUE(token_cipher::create(other.key_file));
  auto wrong = postgres_store::open(other);
  ASSERT_FALSE(wrong);
  EXPECT_NE(render(wrong.error()).find("does not open the tokens"),
            std::string::npos)
    << render(wrong.error());
  // No key at all: never a new one, which could not open the tokens.
  other.key_file = dir.file("missing.key");
  auto missing = postgres_store::open(other);
  ASSERT_FALSE(missing);
  EXPECT_NE(render(missing.error()).find("does not exist"), std::string::npos)
    << render(missing.error());
  EXPECT_NE(::stat(other.key_file.c_str(), &st), 0);
  // And a key file must be named.
  other.key_file.clear();
  auto none = postgres_store::open(other);
  ASSERT_FALSE(none);
  EXPECT_TRUE(is(none.error(), ec::invalid_argument));
}
