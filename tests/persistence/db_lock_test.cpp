// One daemon per database: the lock file, its mode, the pid in it, and the
// message a second taker gets. flock(2) locks belong to an open file, so a
// second acquire in the same process conflicts just as a second daemon does.

#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "persistence/db_lock.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

using namespace sb;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST(db_lock, one_holder_at_a_time_named_by_its_pid) {
  test::temp_dir dir;
  auto db = dir.file("state.db");
  {
    auto first = db_lock::acquire(db);
    ASSERT_TRUE(first) << render(first.error());
    EXPECT_EQ(first->path(), db + ".lock");
    EXPECT_EQ(slurp(db + ".lock"), std::to_string(::getpid()) + "\n");
    struct stat st {};
    ASSERT_EQ(::stat((db + ".lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto second = db_lock::acquire(db);
    ASSERT_FALSE(second);
    EXPECT_EQ(render(second.error()), "the database '" + db
                                        + "' is in use by another switchboardd "
                                        + "(pid " + std::to_string(::getpid())
                                        + ", lock file '" + db + ".lock')");
    // Moving the lock keeps it held.
    auto moved = std::move(*first);
    EXPECT_FALSE(db_lock::acquire(db));
  }
  // Released with its holder; the file stays and does not block.
  EXPECT_TRUE(db_lock::acquire(db));
}

TEST(db_lock, a_lock_file_that_cannot_be_made_is_a_clear_error) {
  test::temp_dir dir;
  auto res = db_lock::acquire(dir.file("missing/state.db"));
  ASSERT_FALSE(res);
  EXPECT_NE(render(res.error()).find("cannot open lock file"),
            std::string::npos);
}
