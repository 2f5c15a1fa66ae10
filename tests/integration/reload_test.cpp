// SIGHUP reloads the configuration of the real daemon: what can change at
// run time takes effect and is logged by name, the rest is logged as
// needing a restart, a bad file is refused and the daemon stays up.

#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

class reload_test : public ::testing::Test {
protected:
  void write_config(const std::string& log_level, int budget,
                    const std::string& docker_timeout,
                    const std::string& extra = "") {
    std::ofstream out{dir.file("switchboard.ini")};
    out << "[switchboard]\nlog-level=\"" << log_level << "\"\ndocker-timeout=\""
        << docker_timeout << "\"\n"
        << extra << "[settings]\nswitch-budget=" << budget << "\n";
  }

  /// The real daemon on the test's config file (and `env`); check port().
  void start(std::vector<std::string> env = {}) {
    daemon = std::make_unique<daemon_process>(
      daemon_binary(),
      std::vector<std::string>{"--config-file=" + dir.file("switchboard.ini"),
                               "--switchboard.port=0",
                               "--switchboard.db-path=" + dir.file("state.db")},
      20s, std::move(env));
  }

  run_result cli(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(),
                {cli_binary(), "--port", std::to_string(daemon->port())});
    return run(args, input);
  }

  nlohmann::json settings() {
    auto res = run({cli_binary(), "--port", std::to_string(daemon->port()),
                    "--json", "settings", "get"});
    EXPECT_EQ(res.rc, 0) << res.err;
    return nlohmann::json::parse(res.out, nullptr, false);
  }

  bool logged(const std::string& text) {
    return wait_until(
      [&] { return daemon->log().find(text) != std::string::npos; }, 10s);
  }

  temp_dir dir;
  std::unique_ptr<daemon_process> daemon;
};

/// What systemd would listen on for sd_notify: a unix datagram socket.
class notify_socket {
public:
  explicit notify_socket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{0, 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  ~notify_socket() { ::close(fd_); }

  bool bound() const { return bound_; }

  /// Waits (bounded) for a message containing `text`; everything received
  /// on the way is kept in `seen`.
  bool wait_for(const std::string& text) {
    return wait_until(
      [&] {
        char buf[512];
        auto n = ::recv(fd_, buf, sizeof(buf), 0);
        if (n > 0)
          seen.append(buf, static_cast<size_t>(n)).append("|");
        return seen.find(text) != std::string::npos;
      },
      10s);
  }

  std::string seen;

private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

} // namespace

TEST_F(reload_test, systemd_hears_ready_reloading_and_stopping) {
  notify_socket sd{dir.file("notify.sock")};
  ASSERT_TRUE(sd.bound());
  write_config("info", 4, "30s");
  start({"NOTIFY_SOCKET=" + dir.file("notify.sock")});
  ASSERT_NE(daemon->port(), 0) << daemon->log();
  EXPECT_TRUE(sd.wait_for("READY=1")) << sd.seen;
  EXPECT_NE(sd.seen.find("STATUS=listening on"), std::string::npos) << sd.seen;
  sd.seen.clear();
  ASSERT_EQ(::kill(daemon->pid(), SIGHUP), 0);
  EXPECT_TRUE(sd.wait_for("RELOADING=1")) << sd.seen;
  EXPECT_TRUE(sd.wait_for("READY=1")) << sd.seen;
  sd.seen.clear();
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
  EXPECT_TRUE(sd.wait_for("STOPPING=1")) << sd.seen;
}

TEST_F(reload_test, sighup_applies_what_it_can_and_names_the_rest) {
  write_config("info", 4, "30s");
  start();
  ASSERT_NE(daemon->port(), 0) << daemon->log();
  EXPECT_EQ(settings()["switch-budget"], 4);
  write_config("debug", 7, "45s");
  ASSERT_EQ(::kill(daemon->pid(), SIGHUP), 0);
  EXPECT_TRUE(logged("configuration reload: switchboard.log-level applied"))
    << daemon->log();
  EXPECT_TRUE(logged("configuration reload: settings.switch-budget applied"));
  EXPECT_TRUE(logged("configuration reload: switchboard.docker-timeout "
                     "applied"));
  EXPECT_EQ(settings()["switch-budget"], 7);
  // The new log level is in force: debug lines appear.
  EXPECT_TRUE(logged(" debug "));
  // A bad file is refused; the running configuration stays.
  write_config("loud", 9, "45s");
  ASSERT_EQ(::kill(daemon->pid(), SIGHUP), 0);
  EXPECT_TRUE(logged("configuration reload refused"));
  EXPECT_NE(daemon->log().find("loud"), std::string::npos);
  EXPECT_EQ(settings()["switch-budget"], 7);
  // Still the same process, and it stops cleanly.
  EXPECT_FALSE(daemon->wait_exit(100ms).has_value());
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
}

TEST_F(reload_test, a_notify_command_set_by_reload_delivers_the_outbox) {
  write_config("info", 4, "30s");
  start();
  ASSERT_NE(daemon->port(), 0) << daemon->log();
  for (auto name : {"sub-a", "sub-b"}) {
    auto added = cli({"subscription", "add", name, "--token-file", "-"},
                     std::string{"token-of-"} + name);
    ASSERT_EQ(added.rc, 0) << added.err << added.out;
  }
  auto agent = cli({"agent", "add", "a1", "--subscription", "sub-a"});
  ASSERT_EQ(agent.rc, 0) << agent.err;
  auto switched = cli({"report", "a1", "--status", "429", "--json"});
  ASSERT_EQ(switched.rc, 0) << switched.err;
  ASSERT_NE(switched.out.find("switched"), std::string::npos) << switched.out;
  // No command yet: the switch waits in the outbox.
  auto pending = cli({"notifications", "--json"});
  ASSERT_NE(pending.out.find("pending"), std::string::npos) << pending.out;
  // A reload sets one (and changes a key that needs a restart).
  auto out = dir.file("delivered.json");
  write_config("info", 4, "30s",
               "notify-command=\"cat >> " + out
                 + "\"\nnotify-interval=\"50ms\"\nhttp-workers=2\n");
  ASSERT_EQ(::kill(daemon->pid(), SIGHUP), 0);
  EXPECT_TRUE(logged("configuration reload: switchboard.notify-command "
                     "applied"))
    << daemon->log();
  EXPECT_TRUE(logged("configuration reload: switchboard.notify-interval "
                     "applied"));
  EXPECT_TRUE(logged("configuration reload: switchboard.http-workers changed; "
                     "it takes effect at the next restart"));
  // The pending notification is delivered through the new command.
  EXPECT_TRUE(wait_until(
    [&] {
      std::ifstream in{out};
      std::string text{std::istreambuf_iterator<char>{in}, {}};
      return text.find("\"a1\"") != std::string::npos;
    },
    10s));
  EXPECT_TRUE(wait_until(
    [&] {
      return cli({"notifications", "--json"}).out.find("\"pending\"")
             == std::string::npos;
    },
    10s));
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
}
