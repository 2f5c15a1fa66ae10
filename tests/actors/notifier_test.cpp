// The NOTIFIER's command runner (actors/notifier.hpp): the notification on
// the command's standard input, its exit status, and a timeout that kills
// the command's whole process group.

#include "actors/notifier.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <string>

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
