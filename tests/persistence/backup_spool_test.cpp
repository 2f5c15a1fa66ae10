// The backup spool on real files: a private folder and private copies, read
// chunk by chunk, deleted once read, when left idle (on the `now` the test
// passes), and at the end; a bounded number of copies; clear errors; the
// leftovers of a crash swept; a symlink in place of the folder refused. Then
// the store actor's backup: a real SQLite file copied, read chunk by chunk
// and put together opens with its key; PostgreSQL refuses it.

#include "fixtures/postgres_env.hpp"
#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"
#include "persistence/backup_spool.hpp"
#include "persistence/postgres_store.hpp"
#include "persistence/store_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sb;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr millis t0 = 1'800'000'000'000;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream{path, std::ios::binary} << bytes;
}

/// Bytes no two chunks share, so a chunk read from the wrong offset shows.
std::string pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
  return out;
}

/// A `write` for create(): the copy is these bytes, in a file of `mode`.
auto writes(std::string bytes, mode_t mode = 0600) {
  return [bytes = std::move(bytes), mode](const std::string& path) {
    write_file(path, bytes);
    ::chmod(path.c_str(), mode);
    return caf::error{};
  };
}

class backup_spool_test : public ::testing::Test {
protected:
  /// Every chunk of copy `id`, from offset 0 until `last`.
  std::vector<backup_chunk> read_all(const std::string& id, millis now) {
    std::vector<backup_chunk> chunks;
    uint64_t offset = 0;
    for (bool last = false; !last;) {
      auto chunk = spool.read(id, offset, now);
      EXPECT_TRUE(chunk) << render(chunk.error());
      if (!chunk || chunks.size() > 100)
        break;
      offset += chunk->bytes.size();
      last = chunk->last;
      chunks.push_back(std::move(*chunk));
    }
    return chunks;
  }

  test::temp_dir dir;
  std::string folder = dir.file("state.db.backup");
  backup_spool spool{folder};
};

} // namespace

TEST_F(backup_spool_test, a_private_copy_is_read_chunk_by_chunk_then_deleted) {
  auto bytes = pattern(2 * max_backup_chunk + max_backup_chunk / 2);
  auto info = spool.create(t0, writes(bytes, 0644));
  ASSERT_TRUE(info) << render(info.error());
  EXPECT_EQ(info->size, bytes.size());
  EXPECT_EQ(info->id.size(), 32u);
  EXPECT_EQ(mode_of(folder), 0700u);
  auto file = folder + "/" + info->id;
  EXPECT_EQ(mode_of(file), 0600u); // tightened, whatever `write` left
  auto chunks = read_all(info->id, t0 + 1);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].bytes.size(), max_backup_chunk);
  EXPECT_FALSE(chunks[0].last);
  EXPECT_EQ(chunks[1].bytes.size(), max_backup_chunk);
  EXPECT_FALSE(chunks[1].last);
  EXPECT_EQ(chunks[2].bytes.size(), max_backup_chunk / 2);
  EXPECT_TRUE(chunks[2].last);
  EXPECT_EQ(chunks[0].bytes + chunks[1].bytes + chunks[2].bytes, bytes);
  // Read to its end: gone, from the disk too.
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(spool.size(), 0u);
  auto again = spool.read(info->id, 0, t0 + 2);
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), ec::not_found));
}

TEST_F(backup_spool_test, a_copy_left_unread_for_idle_ms_is_deleted) {
  auto info = spool.create(t0, writes(pattern(3 * max_backup_chunk)));
  ASSERT_TRUE(info);
  auto file = folder + "/" + info->id;
  EXPECT_EQ(spool.next_expiry(), t0 + spool.idle_ms);
  // A read just before the deadline keeps it another idle_ms.
  auto t1 = t0 + spool.idle_ms - 1;
  ASSERT_TRUE(spool.read(info->id, 0, t1));
  EXPECT_EQ(spool.next_expiry(), t1 + spool.idle_ms);
  spool.expire(t1 + spool.idle_ms - 1);
  EXPECT_TRUE(fs::exists(file));
  spool.expire(t1 + spool.idle_ms);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(spool.size(), 0u);
  EXPECT_EQ(spool.next_expiry(), 0);
  auto late = spool.read(info->id, max_backup_chunk, t1 + spool.idle_ms);
  ASSERT_FALSE(late);
  EXPECT_TRUE(is(late.error(), ec::not_found));
  EXPECT_NE(render(late.error()).find("start it again"), std::string::npos);
  // A read or a create finds an idle copy gone as well.
  auto a = spool.create(t0, writes("a"));
  ASSERT_TRUE(a);
  auto b = spool.create(t0 + spool.idle_ms, writes("b"));
  ASSERT_TRUE(b);
  EXPECT_FALSE(fs::exists(folder + "/" + a->id));
  EXPECT_EQ(spool.size(), 1u);
}

TEST_F(backup_spool_test, at_most_max_copies_at_once) {
  std::vector<backup_info> copies;
  for (size_t i = 0; i < spool.max_copies; ++i) {
    auto info = spool.create(t0, writes("copy " + std::to_string(i)));
    ASSERT_TRUE(info) << render(info.error());
    copies.push_back(*info);
  }
  bool wrote = false;
  auto refused = spool.create(t0, [&](const std::string&) {
    wrote = true;
    return caf::error{};
  });
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), ec::unavailable));
  EXPECT_NE(render(refused.error()).find("being read already"),
            std::string::npos)
    << render(refused.error());
  EXPECT_FALSE(wrote);
  // Once one is read to its end, there is room again.
  auto chunk = spool.read(copies[0].id, 0, t0);
  ASSERT_TRUE(chunk && chunk->last);
  EXPECT_TRUE(spool.create(t0, writes("one more")));
}

TEST_F(backup_spool_test, an_unknown_id_or_an_offset_past_the_end_is_clear) {
  auto info = spool.create(t0, writes(pattern(100)));
  ASSERT_TRUE(info);
  for (auto id : {std::string{"nope"}, std::string(32, 'a'), std::string{}}) {
    auto unknown = spool.read(id, 0, t0);
    ASSERT_FALSE(unknown);
    EXPECT_TRUE(is(unknown.error(), ec::not_found)) << render(unknown.error());
    EXPECT_NE(render(unknown.error()).find("no such backup"),
              std::string::npos);
  }
  auto past = spool.read(info->id, 101, t0);
  ASSERT_FALSE(past);
  EXPECT_TRUE(is(past.error(), ec::invalid_argument));
  EXPECT_NE(render(past.error()).find("past the end"), std::string::npos)
    << render(past.error());
  // Neither harmed the copy.
  auto whole = spool.read(info->id, 0, t0);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->bytes, pattern(100));
  EXPECT_TRUE(whole->last);
}

TEST_F(backup_spool_test, leftovers_of_a_previous_run_go_at_first_use) {
  ASSERT_EQ(::mkdir(folder.c_str(), 0755), 0);
  auto crashed = folder + "/" + std::string(32, 'b');
  write_file(crashed, "an old copy");
  write_file(crashed + "-journal", "its journal");
  write_file(folder + "/notes.txt", "not the spool's");
  auto info = spool.create(t0, writes("new"));
  ASSERT_TRUE(info) << render(info.error());
  EXPECT_FALSE(fs::exists(crashed));
  EXPECT_FALSE(fs::exists(crashed + "-journal"));
  EXPECT_TRUE(fs::exists(folder + "/notes.txt"));
  EXPECT_EQ(mode_of(folder), 0700u); // tightened
  EXPECT_EQ(slurp(folder + "/" + info->id), "new");
}

TEST_F(backup_spool_test, a_symlink_in_place_of_the_folder_is_refused) {
  auto elsewhere = dir.file("elsewhere");
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), folder.c_str()), 0);
  bool wrote = false;
  auto refused = spool.create(t0, [&](const std::string&) {
    wrote = true;
    return caf::error{};
  });
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), ec::store_failure));
  EXPECT_NE(render(refused.error()).find("not a folder"), std::string::npos)
    << render(refused.error());
  EXPECT_FALSE(wrote);
  EXPECT_TRUE(fs::is_empty(elsewhere));
  // A file in its place: the same.
  ASSERT_EQ(::unlink(folder.c_str()), 0);
  write_file(folder, "a file");
  EXPECT_FALSE(spool.create(t0, writes("x")));
}

TEST_F(backup_spool_test, a_failed_or_foreign_write_leaves_nothing) {
  auto failed = spool.create(t0, [](const std::string& path) {
    write_file(path, "half");
    write_file(path + "-journal", "half");
    return make_error(ec::store_failure, "disk full");
  });
  ASSERT_FALSE(failed);
  EXPECT_NE(render(failed.error()).find("disk full"), std::string::npos);
  // A symlink is not a copy (it would be read through).
  auto linked = spool.create(t0, [&](const std::string& path) {
    write_file(dir.file("target"), "secret");
    EXPECT_EQ(::symlink(dir.file("target").c_str(), path.c_str()), 0);
    return caf::error{};
  });
  ASSERT_FALSE(linked);
  EXPECT_NE(render(linked.error()).find("private file"), std::string::npos)
    << render(linked.error());
  EXPECT_TRUE(fs::is_empty(folder));
  EXPECT_EQ(spool.size(), 0u);
}

TEST(backup_spool, the_end_deletes_every_copy_and_the_folder) {
  std::string folder;
  {
    backup_spool spool{""}; // an in-memory database's: a temporary folder
    ASSERT_TRUE(spool.create(t0, writes("a")));
    ASSERT_TRUE(spool.create(t0, writes("b")));
    folder = spool.folder();
    EXPECT_EQ(mode_of(folder), 0700u);
    EXPECT_EQ(
      std::distance(fs::directory_iterator{folder}, fs::directory_iterator{}),
      2);
  }
  EXPECT_FALSE(fs::exists(folder));
}

// -- the store actor's backup
// ------------------------------------------------------

namespace {

struct config : caf::actor_system_config {
  config() {
    sb::add_message_types(*this);
    set("scheduler.max-threads", 2);
  }
};

/// Starts a backup through `actor` and reads it to its end, as the CLI does.
caf::expected<std::string> fetch_backup(caf::scoped_actor& self,
                                        const store_actor& actor,
                                        size_t& chunks) {
  caf::expected<std::string> out{std::string{}};
  backup_info info;
  self->request(actor, 10s, backup_atom::value)
    .receive([&](backup_info& x) { info = x; },
             [&](caf::error& err) { out = std::move(err); });
  for (bool last = !out; !last;) {
    self
      ->request(actor, 10s, backup_atom::value, info.id,
                static_cast<uint64_t>(out->size()))
      .receive(
        [&](backup_chunk& c) {
          *out += c.bytes;
          last = c.last;
          ++chunks;
        },
        [&](caf::error& err) {
          out = std::move(err);
          last = true;
        });
  }
  if (out && out->size() != info.size)
    return make_error(ec::store_failure, "the chunks do not add up");
  return out;
}

event_info make_event(int i) {
  event_info ev;
  ev.agent = "a" + std::to_string(i % 10);
  ev.subscription = "sub-a";
  ev.kind = failure_kind::rate_limit;
  ev.status = 429;
  ev.message = std::string(200, 'm');
  ev.at = t0 + i;
  return ev;
}

} // namespace

TEST(store_actor_backup, chunks_of_a_real_file_form_a_sound_database) {
  test::temp_dir dir;
  auto path = dir.file("state.db");
  auto opened = store::open(path);
  ASSERT_TRUE(opened) << render(opened.error());
  std::shared_ptr<store> db{std::move(*opened)};
  ASSERT_TRUE(db->put_subscription("sub-a", "tok-backup-a", t0));
  ASSERT_FALSE(db->begin());
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(db->add_event(make_event(i)));
  ASSERT_FALSE(db->commit());
  auto key = db->key_file();
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto actor = sys.spawn<caf::detached>(store_actor_impl, db, wall_clock_ms,
                                        no_commit_hook);
  size_t chunks = 0;
  auto bytes = fetch_backup(self, actor, chunks);
  // Read to its end, the copy is gone from the spool.
  EXPECT_TRUE(fs::is_empty(path + ".backup"));
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(bytes) << render(bytes.error());
  EXPECT_GE(chunks, 2u); // the database is larger than one chunk
  // What the client wrote is a sound database that opens with the key.
  test::temp_dir elsewhere;
  auto copy = elsewhere.file("copy.db");
  write_file(copy, *bytes);
  {
    SQLite::Database raw(copy, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  EXPECT_EQ(bytes->find("tok-backup-a"), std::string::npos); // sealed
  store_options opts;
  opts.key_file = key;
  auto restored = store::open(copy, opts);
  ASSERT_TRUE(restored) << render(restored.error());
  EXPECT_EQ((*restored)->subscriptions()->at(0).token.value, "tok-backup-a");
  query all;
  all.limit = 10000;
  EXPECT_EQ((*restored)->events(all)->size(), 3000u);
  // Another key opens nothing.
  opts.key_file = elsewhere.file("other.key");
  EXPECT_FALSE(store::open(copy, opts));
}

// Needs the private cluster of ctest's fixture postgres_server.
TEST(store_actor_backup_postgres, the_start_is_refused_with_pg_dumps_name) {
  test::temp_dir dir;
  test::postgres_database pg;
  ASSERT_TRUE(pg.ok());
  auto opened = postgres_store::open(
    {pg.url(), pg.password_file(), dir.file("switchboard.key")});
  ASSERT_TRUE(opened) << render(opened.error());
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto actor = sys.spawn<caf::detached>(
    store_actor_impl, std::shared_ptr<store>{std::move(*opened)}, wall_clock_ms,
    no_commit_hook);
  self->monitor(actor);
  self->request(actor, 10s, backup_atom::value)
    .receive([](backup_info&) { FAIL() << "a PostgreSQL backup started"; },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, ec::invalid_argument)) << render(err);
               EXPECT_NE(render(err).find("pg_dump"), std::string::npos)
                 << render(err);
             });
  // The store is closed before its database is dropped.
  self->send_exit(actor, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(10s) >> [] { ADD_FAILURE() << "not down"; });
}
