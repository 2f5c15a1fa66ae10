// The real daemon on the PostgreSQL store (switchboard.store = postgresql),
// against the private cluster of ctest's fixture: a switch survives a
// restart, start-up refuses what it must with a clear line and no password,
// and while the server is unreachable reports are refused, never
// acknowledged without a commit (a real socat proxy in front of the real
// server, killed and restarted by the test).

#include "fixtures/postgres_env.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

using namespace sb::test;
using namespace std::chrono_literals;

namespace {

bool accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok
    = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

/// The port in postgresql://user@host:PORT/db.
uint16_t port_of(const std::string& url) {
  auto colon = url.rfind(':');
  return static_cast<uint16_t>(std::stoi(url.substr(colon + 1)));
}

std::string with_port(const std::string& url, uint16_t port) {
  auto colon = url.rfind(':');
  auto slash = url.find('/', colon);
  return url.substr(0, colon + 1) + std::to_string(port) + url.substr(slash);
}

/// A real TCP proxy (socat) in front of the cluster that the test kills
/// (server unreachable) and starts again on the same port.
class server_proxy {
public:
  explicit server_proxy(uint16_t target) : target_(target) {
    port_ = free_port();
    start();
  }

  ~server_proxy() { stop(); }

  uint16_t port() const { return port_; }

  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      auto listen = "TCP-LISTEN:" + std::to_string(port_)
                    + ",bind=127.0.0.1,fork,reuseaddr";
      auto connect = "TCP:127.0.0.1:" + std::to_string(target_);
      ::execlp("socat", "socat", listen.c_str(), connect.c_str(), nullptr);
      ::_exit(127);
    }
    ASSERT_TRUE(wait_until([&] { return accepts(port_); }, 10s))
      << "socat did not come up";
  }

  /// Kills the proxy and every connection it carries.
  void stop() {
    if (pid_ <= 0)
      return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  uint16_t target_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

class daemon_on_postgres : public ::testing::Test {
protected:
  std::vector<std::string> args(const std::string& url) {
    return {"--switchboard.port=0",
            "--switchboard.http-port=-1",
            "--switchboard.store=postgresql",
            "--switchboard.postgres-url=" + url,
            "--switchboard.postgres-password-file=" + db.password_file(),
            "--switchboard.key-file=" + dir.file("switchboard.key"),
            "--switchboard.db-path=" + dir.file("unused.db")};
  }

  void start(const std::string& url) {
    daemon = std::make_unique<daemon_process>(daemon_binary(), args(url));
    ASSERT_NE(daemon->port(), 0) << daemon->log();
  }

  run_result cli(std::vector<std::string> a, const std::string& input = "") {
    a.insert(a.begin(),
             {cli_binary(), "--port", std::to_string(daemon->port())});
    return run(a, input);
  }

  nlohmann::json json(std::vector<std::string> a) {
    a.push_back("--json");
    auto res = cli(a);
    EXPECT_EQ(res.rc, 0) << res.err << res.out;
    return nlohmann::json::parse(res.out, nullptr, false);
  }

  void add_pool() {
    for (auto name : {"sub-a", "sub-b"}) {
      auto added = cli({"subscription", "add", name, "--token-file", "-"},
                       std::string{"token-of-"} + name);
      ASSERT_EQ(added.rc, 0) << added.err << added.out;
    }
    auto agent = cli({"agent", "add", "a1", "--subscription", "sub-a"});
    ASSERT_EQ(agent.rc, 0) << agent.err;
  }

  std::string password() {
    std::ifstream in{db.password_file()};
    std::string line;
    std::getline(in, line);
    return line;
  }

  postgres_database db;
  temp_dir dir;
  std::unique_ptr<daemon_process> daemon;
};

} // namespace

TEST_F(daemon_on_postgres, a_switch_survives_a_restart) {
  ASSERT_TRUE(db.ok());
  start(db.url());
  add_pool();
  auto r = json({"report", "a1", "--status", "429"});
  EXPECT_EQ(r["outcome"], "switched") << r;
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
  // A second daemon on the same database finds everything.
  start(db.url());
  auto a = json({"agent", "show", "a1"});
  EXPECT_EQ(a["subscription"], "sub-b") << a;
  EXPECT_EQ(a["generation"], 1) << a;
  EXPECT_EQ(json({"events"}).size(), 1u);
  EXPECT_EQ(json({"history"}).size(), 1u);
  auto log = daemon->log();
  EXPECT_NE(log.find("PostgreSQL"), std::string::npos) << log;
  EXPECT_EQ(log.find(password()), std::string::npos);
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
}

TEST_F(daemon_on_postgres, start_up_refuses_clearly_and_names_no_password) {
  ASSERT_TRUE(db.ok());
  // A password in the URL: refused, and not repeated.
  auto secret_url = db.url();
  secret_url.insert(secret_url.find('@'), ":hunter2-secret");
  auto res = run([&] {
    auto a = args(secret_url);
    a.insert(a.begin(), daemon_binary());
    return a;
  }());
  EXPECT_NE(res.rc, 0);
  EXPECT_NE(res.err.find("postgres-password-file"), std::string::npos)
    << res.err;
  EXPECT_EQ(res.err.find("hunter2-secret"), std::string::npos) << res.err;
  // No server there: refused at start-up, with the reason.
  res = run([&] {
    auto a = args(with_port(db.url(), free_port()));
    a.insert(a.begin(), daemon_binary());
    return a;
  }());
  EXPECT_NE(res.rc, 0);
  EXPECT_NE(res.err.find("onnection"), std::string::npos) << res.err;
  EXPECT_EQ(res.err.find(password()), std::string::npos) << res.err;
  // A postgresql store without a URL.
  res = run({daemon_binary(), "--switchboard.port=0",
             "--switchboard.http-port=-1", "--switchboard.store=postgresql",
             "--switchboard.db-path=" + dir.file("unused.db")});
  EXPECT_NE(res.rc, 0);
  EXPECT_NE(res.err.find("postgres-url"), std::string::npos) << res.err;
}

TEST_F(daemon_on_postgres, reports_are_refused_while_the_server_is_away) {
  ASSERT_TRUE(db.ok());
  server_proxy proxy{port_of(db.url())};
  start(with_port(db.url(), proxy.port()));
  add_pool();
  auto first = cli({"report", "a1", "--status", "500", "--json"});
  ASSERT_EQ(first.rc, 0) << first.err << first.out;
  proxy.stop();
  // Not acknowledged: an error, not an outcome.
  auto away = cli({"report", "a1", "--status", "429", "--json"});
  EXPECT_EQ(away.rc, 1) << away.out;
  auto doc = nlohmann::json::parse(away.out, nullptr, false);
  EXPECT_TRUE(doc.contains("error")) << away.out;
  EXPECT_EQ(away.out.find(password()), std::string::npos);
  // The server is back: the daemon reconnects, nothing was half-written.
  proxy.start();
  EXPECT_TRUE(wait_until(
    [&] {
      return cli({"report", "a1", "--status", "429", "--json"}).rc == 0;
    },
    20s))
    << daemon->log();
  auto a = json({"agent", "show", "a1"});
  EXPECT_EQ(a["subscription"], "sub-b") << a;
  EXPECT_EQ(a["generation"], 1) << a;
  EXPECT_EQ(json({"history"}).size(), 1u);
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
}

TEST_F(daemon_on_postgres, a_second_daemon_with_the_same_node_name_is_refused) {
  ASSERT_TRUE(db.ok());
  start(db.url());
  // Both without switchboard.node-name: both the host name.
  auto a = args(db.url());
  a[6] = "--switchboard.db-path=" + dir.file("other.db");
  a.insert(a.begin(), daemon_binary());
  auto second = run(a);
  EXPECT_NE(second.rc, 0);
  EXPECT_NE(second.err.find("is running already"), std::string::npos)
    << second.err;
  EXPECT_NE(second.err.find("node-name"), std::string::npos) << second.err;
  // The first is untouched.
  EXPECT_EQ(cli({"status"}).rc, 0);
  EXPECT_EQ(daemon->terminate(), std::optional<int>{0});
}
