#include "hostile/hostile_fixture.hpp"

#include "fixtures/wait.hpp"
#include "intake/basp_guard.hpp"
#include "messages/auth_line.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace sb::test {

using json = nlohmann::json;

double rss_mb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

rss_peak::rss_peak(pid_t pid) {
  peak_ = rss_mb(pid);
  thread_ = std::thread{[this, pid] {
    while (!done_) {
      auto now = rss_mb(pid);
      if (now > peak_)
        peak_ = now;
      std::this_thread::sleep_for(std::chrono::milliseconds(5)); // sampling
    }
  }};
}

rss_peak::~rss_peak() {
  done_ = true;
  thread_.join();
}

double cpu_seconds(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat{std::istreambuf_iterator<char>{in},
                   std::istreambuf_iterator<char>{}};
  // Fields after the command name in parentheses: utime is the 14th field
  // overall, stime the 15th.
  std::istringstream rest{stat.substr(stat.rfind(')') + 2)};
  std::vector<std::string> fields;
  for (std::string f; rest >> f;)
    fields.push_back(f);
  auto ticks = std::stod(fields.at(11)) + std::stod(fields.at(12));
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int connect_raw(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<size_t>(n);
  }
}

bool closed_by_peer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0)
    return false;
  char buf[256];
  // Data the daemon sent before closing (none expected) is read past.
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      return true;
  }
}

bool authenticate(int fd, const std::string& token) {
  send_all(fd, auth_hello(token));
  std::string answer;
  char c = 0;
  while (answer.size() < max_auth_line && ::recv(fd, &c, 1, 0) == 1) {
    answer += c;
    if (c == '\n')
      break;
  }
  return answer.rfind("OK ", 0) == 0;
}

std::string hostile_test::admin_token() const {
  std::ifstream in{daemon->admin_token_file()};
  std::string token;
  in >> token;
  return token;
}

std::string basp_header(uint8_t operation, uint32_t payload_len) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(operation);
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<char>((payload_len >> (24 - 8 * i)) & 0xff);
  return h;
}

// -- node -------------------------------------------------------------------

node::node(uint16_t port, const std::string& token) {
  client::endpoint ep;
  ep.port = port;
  ep.token = token;
  client::configure(cfg_);
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  self_ = std::make_unique<caf::scoped_actor>(*sys_);
  auto h = client::connect(*sys_, ep);
  if (h)
    fd = std::move(*h);
  else
    ADD_FAILURE() << render(h.error());
}

node::~node() {
  self_.reset();
  fd = nullptr;
}

// -- stalling_proxy ---------------------------------------------------------

stalling_proxy::stalling_proxy(uint16_t target) : target_(target) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::listen(listen_fd_, 4);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread{[this] { run(); }};
}

stalling_proxy::~stalling_proxy() {
  done_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

void stalling_proxy::run() {
  pollfd lp{listen_fd_, POLLIN, 0};
  while (!done_ && ::poll(&lp, 1, 100) == 0)
    ; // waiting for the one client, bounded by done_
  if (done_)
    return;
  int client = ::accept(listen_fd_, nullptr, nullptr);
  int daemon = connect_raw(target_);
  char buf[65536];
  while (!done_) {
    // Once stalled, the daemon's side is no longer read: its answers back up
    // in the daemon, as with a client that never reads.
    short daemon_events = stalled_ ? 0 : POLLIN;
    pollfd p[2] = {{client, POLLIN, 0}, {daemon, daemon_events, 0}};
    if (::poll(p, 2, 100) <= 0)
      continue;
    for (int i = 0; i < 2; ++i) {
      if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      auto n = ::recv(p[i].fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        done_ = true;
        break;
      }
      send_all(i == 0 ? daemon : client, std::string{buf, size_t(n)});
    }
  }
  ::close(client);
  ::close(daemon);
}

// -- hostile_test -----------------------------------------------------------

void hostile_test::start(std::vector<std::string> extra, int nofile) {
  // The test itself holds many sockets in the descriptor tests.
  intake::raise_descriptor_limit();
  std::vector<std::string> args{"--switchboard.port=0",
                                "--switchboard.db-path=" + dir.file("sb.db"),
                                "--switchboard.log-level=info"};
  args.insert(args.end(), extra.begin(), extra.end());
  if (nofile == 0) {
    daemon = std::make_unique<daemon_process>(daemon_binary(), args);
  } else {
    // sh sets the limit and execs the daemon in its place (same pid).
    args.insert(args.begin(), daemon_binary());
    args.insert(args.begin(),
                "ulimit -n " + std::to_string(nofile) + " && exec \"$@\"");
    args.insert(args.begin() + 1, "sh");
    args.insert(args.begin(), "-c");
    daemon = std::make_unique<daemon_process>("/bin/sh", args);
  }
  ASSERT_NE(daemon->port(), 0) << daemon->log();
}

json hostile_test::ok(std::vector<std::string> args) {
  args.insert(args.begin(), {cli_binary(), "--port",
                             std::to_string(daemon->port()), "--json"});
  auto res = run(args);
  EXPECT_EQ(res.rc, 0) << res.err;
  try {
    return json::parse(res.out);
  } catch (...) {
    ADD_FAILURE() << "not JSON: " << res.out;
    return {};
  }
}

bool hostile_test::ping(std::chrono::milliseconds timeout) {
  auto seconds = std::to_string(static_cast<double>(timeout.count()) / 1000);
  auto res = run({cli_binary(), "--port", std::to_string(daemon->port()),
                  "--timeout", seconds, "ping"},
                 {}, timeout + std::chrono::seconds(5));
  return res.rc == 0;
}

json hostile_test::intake() {
  return ok({"status"})["components"]["intake"];
}

void hostile_test::setup_agent(const std::string& container) {
  for (auto sub : {"sub-a", "sub-b"}) {
    std::ofstream{dir.file(sub)} << "token-of-" << sub << "\n";
    ok({"subscription", "add", sub, "--token-file", dir.file(sub)});
  }
  std::vector<std::string> add{"agent", "add", "a1", "--subscription", "sub-a"};
  if (!container.empty()) {
    add.push_back("--container");
    add.push_back(container);
  }
  ok(add);
}

void hostile_test::seed_events(int n, size_t text_bytes) {
  ok({"agent", "set", "a1", "auto-switch", "off"});
  node client{daemon->port(), admin_token()};
  std::vector<caf::expected<report_result>> results;
  failure_report r;
  r.agent = "a1";
  r.status = 429;
  r.error = std::string(text_bytes, 'e');
  std::vector<std::thread> senders;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t)
    senders.emplace_back([&] {
      for (int i = 0; i < n / 8; ++i)
        if (!client.call<report_result>(report_atom::value, r))
          ++failed;
    });
  for (auto& t : senders)
    t.join();
  ASSERT_EQ(failed.load(), 0);
}

} // namespace sb::test
