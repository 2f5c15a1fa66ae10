// Bad start-up input ends with one error line and a non-zero exit, never an
// abort or a signal: database paths that cannot be examined (as root too), a
// scheduler without threads, a missing or wrong key; an empty database file
// is named in a warning. The CLI reads token and error files with a bound
// and says clearly why one cannot be read.

#include "fixtures/wait.hpp"
#include "integration/live_daemon.hpp"
#include "persistence/token_cipher.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>

using namespace sb;
using namespace sb::test;

namespace {

/// Starts the daemon with `args` (a free port added) and expects it to stop
/// at once with status `rc` and exactly one error line containing `what`.
void refuses(const std::vector<std::string>& args, const std::string& what,
             int rc = 1) {
  std::vector<std::string> argv{daemon_binary(), "--switchboard.port=0"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto res = run(argv, {}, std::chrono::seconds(20));
  EXPECT_EQ(res.rc, rc) << what << ": " << res.err;
  auto errors = error_lines(res.err);
  ASSERT_EQ(errors.size(), 1u) << what << ": " << res.err;
  EXPECT_NE(errors[0].find(what), std::string::npos)
    << "expected '" << what << "' in: " << errors[0];
  EXPECT_EQ(res.err.find("terminate called"), std::string::npos) << res.err;
  EXPECT_EQ(res.err.find("listening on"), std::string::npos) << res.err;
}

} // namespace

TEST(startup_errors, database_paths_that_cannot_be_examined) {
  temp_dir dir;
  // Each of these made std::filesystem throw (an abort) or failed late.
  auto loop = dir.file("loop");
  ASSERT_EQ(::symlink("loop", loop.c_str()), 0);
  refuses({"--switchboard.db-path=" + loop + "/state.db"},
          "Too many levels of symbolic links");
  refuses(
    {"--switchboard.db-path=" + dir.file(std::string(300, 'n')) + "/state.db"},
    "File name too long");
  auto file = dir.file("file.txt");
  std::ofstream{file} << "not a folder";
  refuses({"--switchboard.db-path=" + file + "/state.db"},
          "is not a directory");
  refuses({"--switchboard.db-path=" + file + "/deeper/state.db"},
          "Not a directory");
}

TEST(startup_errors, a_scheduler_without_threads) {
  temp_dir dir;
  auto db = "--switchboard.db-path=" + dir.file("state.db");
  // CAF divided by zero with it (SIGFPE).
  refuses({db, "--scheduler.max-threads=0"},
          "scheduler.max-threads must be at least 1", 2);
  auto ini = dir.file("threads.ini");
  std::ofstream{ini} << "[scheduler]\nmax-threads=0\n";
  refuses({db, "--config-file=" + ini},
          "scheduler.max-threads must be at least 1", 2);
}

TEST(startup_errors, a_missing_or_wrong_key_is_refused_without_secrets) {
  temp_dir dir;
  auto db = dir.file("state.db");
  {
    daemon_process d{daemon_binary(),
                     {"--switchboard.port=0", "--switchboard.db-path=" + db}};
    ASSERT_NE(d.port(), 0) << d.log();
    auto res = run({cli_binary(), "--port", std::to_string(d.port()),
                    "subscription", "add", "s", "--token-file", "-"},
                   "tok-must-never-show-0042");
    ASSERT_EQ(res.rc, 0) << res.err;
  }
  auto key = dir.file("switchboard.key");
  auto key_text = slurp(key).substr(0, 64);
  ASSERT_EQ(key_text.size(), 64u);
  // Wrong key: another valid key file.
  ASSERT_TRUE(token_cipher::create(dir.file("other.key")));
  refuses({"--switchboard.db-path=" + db,
           "--switchboard.key-file=" + dir.file("other.key")},
          "does not open the tokens");
  // Not a key at all.
  std::ofstream{dir.file("junk.key")} << "tok-must-never-show-0042\n";
  refuses({"--switchboard.db-path=" + db,
           "--switchboard.key-file=" + dir.file("junk.key")},
          "is not a Switchboard key");
  // Missing: no new key is made up.
  std::filesystem::rename(key, dir.file("kept-elsewhere.key"));
  std::vector<std::string> argv{daemon_binary(), "--switchboard.port=0",
                                "--switchboard.db-path=" + db};
  auto res = run(argv, {}, std::chrono::seconds(20));
  EXPECT_EQ(res.rc, 1);
  EXPECT_NE(res.err.find("holds encrypted tokens but its key file '" + key
                         + "' does not exist"),
            std::string::npos)
    << res.err;
  EXPECT_FALSE(std::filesystem::exists(key));
  EXPECT_EQ(res.err.find("tok-must-never-show-0042"), std::string::npos);
  EXPECT_EQ(res.err.find(key_text), std::string::npos);
  // With the key back, it starts.
  std::filesystem::rename(dir.file("kept-elsewhere.key"), key);
  daemon_process d{daemon_binary(),
                   {"--switchboard.port=0", "--switchboard.db-path=" + db}};
  EXPECT_NE(d.port(), 0) << d.log();
}

TEST(startup_errors, an_empty_database_file_is_named_in_a_warning) {
  temp_dir dir;
  auto db = dir.file("state.db");
  std::ofstream{db}; // zero bytes, e.g. a failed copy
  daemon_process d{daemon_binary(),
                   {"--switchboard.port=0", "--switchboard.db-path=" + db}};
  ASSERT_NE(d.port(), 0) << d.log();
  auto log = d.log();
  EXPECT_NE(log.find("Z warning the database file " + db
                     + " is empty (0 bytes): starting with a new, empty "
                       "database"),
            std::string::npos)
    << log;
  // A database that is not empty is not warned about.
  ASSERT_TRUE(d.terminate().has_value());
  daemon_process again{daemon_binary(),
                       {"--switchboard.port=0", "--switchboard.db-path=" + db}};
  ASSERT_NE(again.port(), 0) << again.log();
  EXPECT_EQ(again.log().find("is empty"), std::string::npos);
}

TEST(startup_errors, the_cli_reads_token_and_error_files_with_a_bound) {
  temp_dir dir;
  auto started = std::chrono::steady_clock::now();
  // A folder aborted the CLI (std::ios_base::failure); /dev/zero never ended.
  auto folder = run({cli_binary(), "--port", "1", "subscription", "add", "s",
                     "--token-file", dir.path().string()},
                    {}, std::chrono::seconds(10));
  EXPECT_EQ(folder.rc, 2) << folder.err;
  EXPECT_EQ(folder.err, "switchboard: cannot read token file '"
                          + dir.path().string() + "': Is a directory\n");
  auto zero = run({cli_binary(), "--port", "1", "subscription", "add", "s",
                   "--token-file", "/dev/zero"},
                  {}, std::chrono::seconds(10));
  EXPECT_EQ(zero.rc, 2) << zero.err;
  EXPECT_EQ(zero.err, "switchboard: the token is longer than 16384 bytes\n");
  // Standard input is bounded the same way.
  auto long_stdin = run({cli_binary(), "--port", "1", "subscription", "add",
                         "s", "--token-file", "-"},
                        std::string(20000, 'x'), std::chrono::seconds(10));
  EXPECT_EQ(long_stdin.rc, 2) << long_stdin.err;
  EXPECT_NE(long_stdin.err.find("longer than"), std::string::npos);
  auto missing = run({cli_binary(), "--port", "1", "subscription", "add", "s",
                      "--token-file", dir.file("missing")},
                     {}, std::chrono::seconds(10));
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos);
  // An error text from /dev/zero is cut, not read forever: the report then
  // goes out (and finds no daemon on port 1).
  auto credential = dir.file("credential");
  std::ofstream{credential} << "a-credential-for-nobody\n";
  auto report
    = run({cli_binary(), "--port", "1", "--auth-file", credential, "--timeout",
           "5", "report", "a1", "--status", "429", "--error-file", "/dev/zero"},
          {}, std::chrono::seconds(20));
  EXPECT_EQ(report.rc, 1) << report.err;
  EXPECT_EQ(error_lines(report.err).size(), 1u) << report.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started,
            std::chrono::seconds(30));
}
