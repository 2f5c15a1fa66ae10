// The NOTIFIER's command runner (actors/notifier.hpp): the notification on
// the command's standard input, its exit status, and a timeout that kills
// the command's whole process group.

#include "actors/notifier.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace sb;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// Whether `pid` runs: exists and is no zombie.
bool running(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size()
         && stat[close + 2] != 'Z';
}

} // namespace

TEST(notifier, feeds_the_input_and_reads_the_exit_status) {
  test::temp_dir dir;
  auto out = dir.file("out");
  EXPECT_EQ(run_notify_command("cat > " + out, "{\"id\":1}\n", 10s), "");
  EXPECT_EQ(read_file(out), "{\"id\":1}\n");
  EXPECT_EQ(run_notify_command("exit 3", "x\n", 10s), "exit status 3");
  EXPECT_EQ(run_notify_command("kill -KILL $$", "x\n", 10s),
            "killed by signal 9");
}

TEST(notifier, the_command_gets_no_descriptor_and_no_signal_mask) {
  int fd = ::open("/dev/null", O_RDONLY); // inheritable, as a leak would be
  ASSERT_GE(fd, 3);
  auto fd_text = std::to_string(fd);
  EXPECT_EQ(run_notify_command("test ! -e /dev/fd/" + fd_text, "", 10s), "");
  ::close(fd);
  // The daemon blocks SIGTERM in its threads; the command must not.
  sigset_t term, saved;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &term, &saved);
  auto why = run_notify_command("kill -TERM $$; exit 0", "", 10s);
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  EXPECT_EQ(why, "killed by signal 15");
}

TEST(notifier, a_timeout_kills_the_whole_process_group) {
  test::temp_dir dir;
  auto pids = dir.file("pids");
  auto start = std::chrono::steady_clock::now();
  auto why
    = run_notify_command("sleep 60 & echo $! > " + pids + "; wait", "", 2s);
  EXPECT_EQ(why, "no exit within 2000 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  auto text = read_file(pids);
  ASSERT_FALSE(text.empty());
  auto child = static_cast<pid_t>(std::stol(text));
  // The shell's background child was in the group: killed too (its reaping
  // by init may lag).
  EXPECT_TRUE(test::wait_until([&] { return !running(child); }, 10s));
}

namespace {

/// Whether a process `pid` exists at all (a zombie too).
bool exists(pid_t pid) {
  return ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0;
}

std::vector<pid_t> read_pids(const std::string& path) {
  std::vector<pid_t> out;
  std::ifstream in{path};
  for (long pid = 0; in >> pid;)
    out.push_back(static_cast<pid_t>(pid));
  return out;
}

bool all_gone(const std::vector<pid_t>& pids) {
  for (auto pid : pids)
    if (exists(pid))
      return false;
  return true;
}

/// `text` with every "P" replaced by `path`.
std::string with_path(std::string text, const std::string& path) {
  for (auto i = text.find('P'); i != std::string::npos;
       i = text.find('P', i + path.size()))
    text.replace(i, 1, path);
  return text;
}

} // namespace

TEST(notifier, a_timeout_leaves_nothing_behind_even_after_setsid) {
  test::temp_dir dir;
  auto pids = dir.file("pids");
  // Two children leave the command's session and process group; one of
  // them starts a child of its own; the shell waits for all.
  auto command
    = with_path("setsid sleep 300 & echo $! >> P; "
                "setsid sh -c 'sleep 300 & echo $! >> P; wait' & echo $! >> P; "
                "sleep 300 & echo $! >> P; wait",
                pids);
  auto x = run_command(command, "", 500ms);
  EXPECT_EQ(x.failure, "no exit within 500 ms");
  auto listed = read_pids(pids);
  ASSERT_GE(listed.size(), 3u); // the shell's own three
  EXPECT_TRUE(test::wait_until([&] { return all_gone(listed); }, 10s));
  // At least the two that left the group (sh -c's sleep may not have
  // started): killed by the sweep, not by the group's SIGKILL.
  EXPECT_GE(x.left_behind, 2u);
}

TEST(notifier, a_command_that_exits_at_once_leaves_no_detached_child) {
  test::temp_dir dir;
  auto pids = dir.file("pids");
  auto x = run_command(
    with_path("setsid sleep 300 >/dev/null 2>&1 & echo $! > P; exit 0", pids),
    "", 10s);
  EXPECT_EQ(x.failure, "");
  auto listed = read_pids(pids);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(test::wait_until([&] { return all_gone(listed); }, 10s));
  EXPECT_EQ(x.left_behind, 1u);
}

TEST(notifier, the_sweep_spares_other_commands_and_other_children) {
  test::temp_dir dir;
  auto pa = dir.file("a"), pb = dir.file("b");
  // A child of this process that no command started.
  pid_t own = 0;
  std::string sh = "sleep", arg = "300";
  char* argv[] = {sh.data(), arg.data(), nullptr};
  ASSERT_EQ(::posix_spawnp(&own, "sleep", nullptr, nullptr, argv, environ), 0);
  // Command A runs (with a detached child) while B runs and ends.
  command_outcome xa;
  std::thread a{[&] {
    xa = run_command(with_path("setsid sleep 300 & echo $! > P; sleep 300", pa),
                     "", 5s);
  }};
  ASSERT_TRUE(test::wait_until([&] { return read_pids(pa).size() == 1; }, 5s));
  // B ends only once its detached child runs `sleep` (its exec done): a
  // process caught inside execve has no readable environment, so no
  // marker, and is left alone while A runs (then swept when A ends).
  auto xb = run_command(
    with_path("setsid sleep 300 >/dev/null 2>&1 & p=$!; "
              "until [ \"$(cat /proc/$p/comm 2>/dev/null)\" = sleep ]; do :; "
              "done; echo $p > P; exit 0",
              pb),
    "", 10s);
  EXPECT_EQ(xb.failure, "");
  EXPECT_EQ(xb.left_behind, 1u);
  EXPECT_TRUE(test::wait_until([&] { return all_gone(read_pids(pb)); }, 10s));
  EXPECT_TRUE(running(read_pids(pa).at(0))); // A's: A still runs
  a.join();
  EXPECT_EQ(xa.failure, "no exit within 5000 ms");
  EXPECT_TRUE(test::wait_until([&] { return all_gone(read_pids(pa)); }, 10s));
  EXPECT_TRUE(running(own)); // started before any command: never swept
  ::kill(own, SIGKILL);
  ::waitpid(own, nullptr, 0);
}

TEST(notifier, the_commands_stderr_is_captured_bounded_and_escaped) {
  auto x = run_command("printf 'bad \\033[31mred\\nsecond line\\n' >&2; exit 2",
                       "", 10s);
  EXPECT_EQ(x.failure, "exit status 2");
  EXPECT_EQ(x.stderr_head, "bad \033[31mred\nsecond line\n");
  EXPECT_FALSE(x.stderr_cut);
  EXPECT_EQ(stderr_for_log(x), "bad \\x1B[31mred\\x0Asecond line");
  // A lot of it: the first 2 KiB are kept, and the command is not blocked
  // on a full pipe.
  auto big = run_command("head -c 1000000 /dev/zero | tr '\\0' x >&2", "", 10s);
  EXPECT_EQ(big.failure, "");
  EXPECT_EQ(big.stderr_head, std::string(command_outcome::stderr_limit, 'x'));
  EXPECT_TRUE(big.stderr_cut);
  EXPECT_EQ(stderr_for_log(big).substr(command_outcome::stderr_limit), "...");
  // What a hanging command wrote before its timeout is kept too.
  auto hung = run_command("echo hanging >&2; sleep 300", "", 300ms);
  EXPECT_EQ(hung.failure, "no exit within 300 ms");
  EXPECT_EQ(stderr_for_log(hung), "hanging");
}

TEST(notifier, the_commands_stderr_does_not_reach_the_daemons) {
  test::temp_dir dir;
  auto file = dir.file("stderr");
  int saved = ::dup(2);
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::dup2(fd, 2);
  auto x = run_command("echo to-stderr >&2; exit 1", "", 10s);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  EXPECT_EQ(x.stderr_head, "to-stderr\n");
  EXPECT_EQ(read_file(file), "");
}

TEST(notifier, the_backoff_doubles_from_a_second_to_five_minutes) {
  notify_backoff b;
  EXPECT_TRUE(b.due(0));
  // jitter 0.5 is the middle: exactly 1 s, 2 s, 4 s ...
  EXPECT_EQ(b.failed(10000, 0.5), 1000);
  EXPECT_FALSE(b.due(10999));
  EXPECT_TRUE(b.due(11000));
  EXPECT_EQ(b.failed(11000, 0.5), 2000);
  EXPECT_EQ(b.failed(13000, 0.5), 4000);
  EXPECT_EQ(b.failures(), 3u);
  for (int i = 0; i < 20; ++i)
    b.failed(0, 0.5);
  EXPECT_EQ(b.failed(0, 0.5), 5 * 60 * 1000);
  // +-25 %.
  EXPECT_EQ(b.failed(0, 0.0), 225 * 1000);
  EXPECT_EQ(b.failed(0, 1.0), 375 * 1000);
  b.succeeded();
  EXPECT_TRUE(b.due(0));
  EXPECT_EQ(b.failures(), 0u);
  EXPECT_EQ(b.failed(0, 0.0), 750);
}
