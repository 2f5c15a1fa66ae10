// The locked door, tried on the real switchboardd as an attacker on the same
// host would: only the FRONT DOOR answers and only it can be addressed, no
// socket of the daemon speaks BASP to a process without a credential, a
// second Unix user gets exactly what the file permissions give it, the CLI
// does not follow a config planted in the current folder, and backups are
// written by the client without following symlinks.

#include "fixtures/http_client.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"
#include "hostile/hostile_fixture.hpp"
#include "messages/auth_line.hpp"

#include <caf/actor_cast.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Who answered a request: the id of the actor CAF names as the sender of
/// the response (the FRONT DOOR's, unless the daemon let another actor
/// answer and so put that actor's handle on the wire).
template<class T, class... Ts>
uint64_t responder(caf::actor_system& sys, const front_door_actor& door,
                   Ts... xs) {
  std::promise<uint64_t> who;
  auto result = who.get_future();
  sys.spawn([&who, door, xs...](caf::event_based_actor* self) {
    self->request(door, std::chrono::seconds(10), xs...)
      .then(
        [&who, self](T&) {
          auto sender = self->current_sender();
          who.set_value(sender ? sender->id() : 0);
        },
        [&who](caf::error&) { who.set_value(0); });
  });
  return result.get();
}

/// A raw, authenticated connection past CAF's handshake of a made-up node.
int handshaken(caf::actor_system& sys, uint16_t port,
               const std::string& token) {
  int fd = connect_raw(port);
  if (fd < 0 || !authenticate(fd, token))
    return -1;
  caf::node_id::default_data::host_id_type host{};
  host[0] = 0xCD;
  host[1] = static_cast<uint8_t>(port);
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  auto nid = caf::make_node_id(31337, host);
  if (sink(nid))
    return -1;
  std::string hs(32, '\0');
  hs[0] = 0x01; // client_handshake
  auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i)
    hs[4 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  hs.append(payload.begin(), payload.end());
  send_all(fd, hs);
  return fd;
}

/// A direct message frame with a request to `dest` (flags: 1 = named).
std::string request_frame(caf::actor_system& sys, uint64_t dest,
                          const caf::message& msg, uint8_t flags = 0) {
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  std::vector<caf::strong_actor_ptr> stages;
  auto copy = msg;
  if (sink(stages, copy))
    return {};
  std::string f(32, '\0');
  f[0] = 0x02;
  f[3] = static_cast<char>(flags);
  auto put64 = [&](size_t at, uint64_t x) {
    for (int i = 0; i < 8; ++i)
      f[at + i] = static_cast<char>((x >> (56 - 8 * i)) & 0xff);
  };
  auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i)
    f[4 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  put64(8, caf::make_message_id(7).integer_value());
  put64(16, 99);
  put64(24, dest);
  f.append(payload.begin(), payload.end());
  return f;
}

/// The inodes of the sockets `pid` holds.
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  auto dir = "/proc/" + std::to_string(pid) + "/fd";
  for (auto& entry : std::filesystem::directory_iterator(dir)) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0)
      inodes.insert(target.substr(8, target.size() - 9));
  }
  return inodes;
}

/// TCP ports `pid` listens on, from /proc/net/tcp and tcp6.
std::set<uint16_t> listening_tcp_ports(pid_t pid) {
  auto mine = socket_inodes(pid);
  std::set<uint16_t> ports;
  for (auto table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in{table};
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
      std::istringstream row{line};
      std::string sl, local, remote, state, queues, timer, retr, uid, tmo,
        inode;
      row >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid
        >> tmo >> inode;
      if (state == "0A" && mine.count(inode) > 0)
        ports.insert(static_cast<uint16_t>(
          std::stoul(local.substr(local.find(':') + 1), nullptr, 16)));
    }
  }
  return ports;
}

/// Unix sockets `pid` listens on (paths; "@..." for abstract ones).
std::vector<std::string> listening_unix_sockets(pid_t pid) {
  auto mine = socket_inodes(pid);
  std::vector<std::string> paths;
  std::ifstream in{"/proc/net/unix"};
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream row{line};
    std::string num, refs, proto, flags, type, state, inode, path;
    row >> num >> refs >> proto >> flags >> type >> state >> inode >> path;
    // flags 00010000: __SO_ACCEPTCON, a listening socket.
    if (flags == "00010000" && mine.count(inode) > 0)
      paths.push_back(path.empty() ? "(unnamed)" : path);
  }
  return paths;
}

/// From another process: connects to `port`, sends what a CAF client sends
/// first (its handshake, no credential), and reports whether a BASP server
/// handshake (operation 0x00 with a payload) came back.
bool speaks_basp_without_credential(const std::string& handshake,
                                    uint16_t port) {
  auto pid = ::fork();
  if (pid == 0) {
    int fd = connect_raw(port);
    if (fd < 0)
      ::_exit(0);
    send_all(fd, handshake);
    unsigned char head[32];
    size_t got = 0;
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (got < sizeof(head)) {
      auto n = ::recv(fd, head + got, sizeof(head) - got, 0);
      if (n <= 0)
        break;
      got += static_cast<size_t>(n);
    }
    bool basp = got == sizeof(head) && head[0] == 0x00 && head[1] == 0
                && head[2] == 0 && (head[4] | head[5] | head[6] | head[7]) != 0;
    ::_exit(basp ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 1;
}

class locked_door : public hostile_test {
protected:
  /// A CAF node of the test's own with the admin credential.
  std::unique_ptr<node> admin_node() {
    return std::make_unique<node>(daemon->port(), admin_token());
  }

  std::string report_token() const {
    std::ifstream in{daemon->report_token_file()};
    std::string token;
    in >> token;
    return token;
  }
};

} // namespace

TEST_F(locked_door, every_answer_comes_from_the_front_door) {
  start();
  setup_agent();
  auto n = admin_node();
  ASSERT_TRUE(n->fd);
  auto& sys = n->system();
  auto door = n->fd.id();
  EXPECT_EQ(responder<std::string>(sys, n->fd, ping_atom::value), door);
  EXPECT_EQ(responder<status_info>(sys, n->fd, status_atom::value), door);
  EXPECT_EQ(
    responder<std::vector<subscription_info>>(sys, n->fd, sub_list_atom::value),
    door);
  EXPECT_EQ(
    responder<std::vector<agent_info>>(sys, n->fd, agent_ls_atom::value), door);
  EXPECT_EQ(
    responder<agent_info>(sys, n->fd, agent_get_atom::value, std::string{"a1"}),
    door);
  EXPECT_EQ(responder<settings_map>(sys, n->fd, settings_atom::value), door);
  failure_report r;
  r.agent = "a1";
  r.status = 429;
  EXPECT_EQ(responder<report_result>(sys, n->fd, report_atom::value, r), door);
  EXPECT_EQ(
    responder<event_page>(sys, n->fd, events_atom::value, query{"", "", 10}),
    door);
  EXPECT_EQ(
    responder<history_page>(sys, n->fd, history_atom::value, query{"", "", 10}),
    door);
  EXPECT_EQ(responder<subscription_change>(
              sys, n->fd, sub_add_atom::value,
              subscription_spec{
                std::string{"sub-c"}, secret{"token-of-sub-c"}, {}, {}, {}}),
            door);
  EXPECT_EQ(responder<report_result>(sys, n->fd, assign_atom::value,
                                     std::string{"a1"}, std::string{"sub-c"}),
            door);
}

TEST_F(locked_door, no_other_actor_can_be_addressed) {
  start();
  setup_agent();
  auto n = admin_node();
  ASSERT_TRUE(n->fd);
  auto door = n->fd.id();
  auto rss_before = rss_mb(daemon->pid());
  auto& sys = n->system();
  // Every actor id from 1 to 200 but the FRONT DOOR's, with a message that
  // would stop an actor: each connection is closed at that frame.
  auto stop = caf::make_message(shutdown_atom::value);
  int closed = 0;
  for (uint64_t id = 1; id <= 200; ++id) {
    if (id == door)
      continue;
    int fd = handshaken(sys, daemon->port(), admin_token());
    ASSERT_GE(fd, 0);
    send_all(fd, request_frame(sys, id, stop));
    closed += closed_by_peer(fd) ? 1 : 0;
    ::close(fd);
  }
  EXPECT_EQ(closed, 199);
  // ConfigServ stores whatever it is given: 200 puts of 1 MB (within
  // max-message-size).
  auto put = caf::make_message(caf::put_atom::value, caf::atom("junk"),
                               caf::make_message(std::string(1000000, 'x')));
  for (int i = 0; i < 200; ++i) {
    int fd = handshaken(sys, daemon->port(), admin_token());
    ASSERT_GE(fd, 0);
    send_all(fd,
             request_frame(sys, static_cast<uint64_t>(caf::atom("ConfigServ")),
                           put, 0x01));
    EXPECT_TRUE(closed_by_peer(fd));
    ::close(fd);
  }
  // A handle of the daemon's own as a watcher: refused.
  auto self_watch = n->call<ok_atom>(watch_atom::value,
                                     caf::actor_cast<watcher_actor>(n->fd));
  ASSERT_FALSE(self_watch);
  EXPECT_NE(render(self_watch.error()).find("watcher"), std::string::npos);
  // The daemon is unchanged, small, and answers.
  EXPECT_TRUE(ping(5s)) << daemon->log();
  EXPECT_GE(intake()["closed_forbidden"].get<int>(), 399);
  // Counted where monitoring looks too.
  auto metrics
    = http_call("GET", "http://127.0.0.1:" + std::to_string(daemon->http_port())
                         + "/metrics");
  EXPECT_NE(metrics.body.find(
              "switchboard_intake_closed_total{reason=\"forbidden\"} 399"),
            std::string::npos)
    << metrics.body;
  auto agents = ok({"agent", "list"});
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0]["name"], "a1");
  EXPECT_LT(rss_mb(daemon->pid()) - rss_before, 40.0);
  EXPECT_EQ(ok({"status"})["components"]["admin"]["watchers"], 0);
}

TEST_F(locked_door, no_socket_of_the_daemon_speaks_basp_without_a_credential) {
  start();
  auto n = admin_node();
  ASSERT_TRUE(n->fd);
  // What a CAF client sends first: its handshake.
  caf::node_id::default_data::host_id_type host{};
  host[0] = 0xEE;
  std::vector<char> payload;
  caf::binary_serializer sink{n->system(), payload};
  auto nid = caf::make_node_id(4711, host);
  ASSERT_FALSE(sink(nid));
  std::string hs(32, '\0');
  hs[0] = 0x01;
  hs[7] = static_cast<char>(payload.size());
  hs.append(payload.begin(), payload.end());
  auto ports = listening_tcp_ports(daemon->pid());
  // The front door and the HTTP front, nothing else.
  EXPECT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports.count(daemon->port()), 1u);
  EXPECT_EQ(ports.count(daemon->http_port()), 1u);
  for (auto port : ports)
    EXPECT_FALSE(speaks_basp_without_credential(hs, port)) << "port " << port;
  // CAF listens on no unix socket either.
  EXPECT_TRUE(listening_unix_sockets(daemon->pid()).empty());
  // With the credential the same bytes are answered: the check can fail.
  int fd = connect_raw(daemon->port());
  ASSERT_TRUE(authenticate(fd, admin_token()));
  send_all(fd, hs);
  char first = 1;
  EXPECT_EQ(::recv(fd, &first, 1, 0), 1);
  EXPECT_EQ(first, 0x00); // the server handshake
  ::close(fd);
}

TEST_F(locked_door, replayed_and_idle_connections_do_not_lock_clients_out) {
  start();
  auto n = admin_node();
  ASSERT_TRUE(n->fd);
  // 300 connections replaying a CAF client's first bytes (no credential),
  // and 300 that say nothing: the CLI still gets in at once.
  caf::node_id::default_data::host_id_type host{};
  std::vector<char> payload;
  caf::binary_serializer sink{n->system(), payload};
  auto nid = caf::make_node_id(4712, host);
  ASSERT_FALSE(sink(nid));
  std::string hs(32, '\0');
  hs[0] = 0x01;
  hs[7] = static_cast<char>(payload.size());
  hs.append(payload.begin(), payload.end());
  std::vector<int> fds;
  for (int i = 0; i < 300; ++i) {
    int fd = connect_raw(daemon->port());
    ASSERT_GE(fd, 0);
    send_all(fd, hs);
    fds.push_back(fd);
  }
  for (int i = 0; i < 300; ++i) {
    int fd = connect_raw(daemon->port());
    if (fd >= 0)
      fds.push_back(fd);
  }
  EXPECT_TRUE(ping(2s));
  auto in = intake();
  EXPECT_GE(in["refused_auth"].get<int>(), 300);
  EXPECT_GE(in["evicted"].get<int>(), 1);
  for (int fd : fds)
    ::close(fd);
}

namespace {

/// Files a second Unix user (nobody) may reach: a folder 0755 of its own.
class nobody_dir {
public:
  nobody_dir() {
    std::string tmpl
      = (std::filesystem::temp_directory_path() / "sbnobody-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp");
    path_ = tmpl;
    ::chmod(path_.c_str(), 0755);
    cli_ = path_ + "/switchboard";
    std::filesystem::copy_file(cli_binary(), cli_);
    ::chmod(cli_.c_str(), 0755);
  }

  ~nobody_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  /// A folder owned by nobody, mode 0700.
  std::string own_dir(const std::string& name) {
    auto folder = path_ + "/" + name;
    std::filesystem::create_directory(folder);
    ::chown(folder.c_str(), 65534, 65534);
    ::chmod(folder.c_str(), 0700);
    return folder;
  }

  /// A file owned by nobody, mode 0600.
  std::string own_file(const std::string& name, const std::string& content) {
    auto file = path_ + "/" + name;
    std::ofstream{file} << content << "\n";
    ::chown(file.c_str(), 65534, 65534);
    ::chmod(file.c_str(), 0600);
    return file;
  }

  /// The CLI as nobody (setpriv drops root's uid, gid and groups).
  run_result cli(uint16_t port, std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/setpriv",
                                  "--reuid=65534",
                                  "--regid=65534",
                                  "--clear-groups",
                                  "--",
                                  cli_,
                                  "--port",
                                  std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  const std::string& path() const { return path_; }

private:
  std::string path_;
  std::string cli_;
};

} // namespace

TEST_F(locked_door, a_second_unix_user_gets_what_the_file_permissions_give) {
  start();
  setup_agent();
  nobody_dir other;
  auto port = daemon->port();
  // The daemon's credentials are not readable by another user: neither the
  // one the environment names nor any by path.
  auto denied
    = other.cli(port, {"--auth-file", daemon->admin_token_file(), "status"});
  EXPECT_EQ(denied.rc, 2) << denied.err;
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos)
    << denied.err;
  // A wrong token: refused by the daemon, nothing else said.
  auto wrong = other.own_file("wrong", "not-the-daemons-token-at-all");
  auto refused = other.cli(port, {"--auth-file", wrong, "status"});
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.err.find("refused the credential"), std::string::npos)
    << refused.err;
  // With the report credential handed to it: it reports and reads, and
  // every command that changes something is refused.
  auto reporter = other.own_file("report", report_token());
  auto as_reporter = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--auth-file", reporter});
    return other.cli(port, args);
  };
  EXPECT_EQ(as_reporter({"status"}).rc, 0);
  EXPECT_EQ(as_reporter({"agent", "list"}).rc, 0);
  EXPECT_EQ(as_reporter({"report", "a1", "--status", "500"}).rc, 0);
  auto token = other.own_file("sub-token", "token-of-an-attacker");
  auto a1_before = ok({"agent", "show", "a1"});
  std::vector<std::vector<std::string>> admin_commands{
    {"subscription", "add", "sub-a", "--token-file", token},
    {"subscription", "add", "sub-x", "--token-file", token},
    {"subscription", "remove", "sub-b"},
    {"agent", "add", "planted", "--subscription", "sub-a"},
    {"agent", "remove", "a1"},
    {"agent", "set", "a1", "auto-switch", "off"},
    {"agent", "stop", "a1"},
    {"agent", "start", "a1"},
    {"agent", "restart", "a1"},
    {"assign", "a1", "sub-b"},
    {"settings", "set", "auto-switch", "off"},
    {"backup", other.own_dir("out") + "/copy.db"},
  };
  for (auto& command : admin_commands) {
    auto res = as_reporter(command);
    EXPECT_EQ(res.rc, 1) << command[0] << " " << command[1] << ": " << res.err;
    EXPECT_NE(res.err.find("needs the admin credential"), std::string::npos)
      << command[0] << " " << command[1] << ": " << res.err;
  }
  // Nothing changed.
  auto subs = ok({"subscription", "list"});
  ASSERT_EQ(subs.size(), 2u);
  auto agents = ok({"agent", "list"});
  ASSERT_EQ(agents.size(), 1u);
  for (auto key : {"subscription", "generation", "auto_switch", "container"})
    EXPECT_EQ(agents[0][key], a1_before[key]) << key;
  EXPECT_EQ(ok({"settings", "get"})["auto-switch"].get<std::string>(), "on");
  EXPECT_FALSE(std::filesystem::exists(other.path() + "/out/copy.db"));
  // The HTTP front: the same credentials as bearer tokens.
  auto http = daemon->http_port();
  http_call_options as;
  as.bearer = report_token();
  auto url = "http://127.0.0.1:" + std::to_string(http);
  EXPECT_EQ(http_call("GET", url + "/v1/status", {}, as).status, 200);
  EXPECT_EQ(http_call("GET", url + "/v1/backup", {}, as).status, 403);
  as.bearer = "not-the-daemons-token-at-all";
  EXPECT_EQ(http_call("GET", url + "/v1/status", {}, as).status, 401);
  EXPECT_EQ(http_call("GET", url + "/v1/backup", {}, as).status, 401);
}

TEST_F(locked_door, a_config_planted_in_the_current_folder_is_ignored) {
  start();
  setup_agent();
  // Somebody else's listener, and a conf/switchboard.ini that points to it
  // in the folder the operator happens to be in.
  int catcher = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(catcher, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(::listen(catcher, 8), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(catcher, reinterpret_cast<sockaddr*>(&addr), &len);
  auto trap = ntohs(addr.sin_port);
  temp_dir cwd;
  std::filesystem::create_directories(cwd.file("conf"));
  std::ofstream{cwd.file("conf/switchboard.ini")}
    << "[switchboard]\nhost=\"127.0.0.1\"\nport=" << trap << "\n";
  std::ofstream{cwd.file("real.token")} << "sk-a-real-token-of-the-fleet\n";
  // The operator adds a subscription without naming the daemon: the CLI
  // uses SWITCHBOARD_ADDR (here: the test's daemon), never the planted file.
  auto res
    = run({"/bin/sh", "-c",
           "cd '" + cwd.path().string() + "' && SWITCHBOARD_ADDR=127.0.0.1:"
             + std::to_string(daemon->port()) + " exec '" + cli_binary()
             + "' subscription add sub-r --token-file real.token"});
  EXPECT_EQ(res.rc, 0) << res.err;
  ::fcntl(catcher, F_SETFL, O_NONBLOCK);
  EXPECT_LT(::accept(catcher, nullptr, nullptr), 0) << "the trap was called";
  // Without any address it tries the default one, still not the trap.
  res = run({"/bin/sh", "-c",
             "cd '" + cwd.path().string() + "' && exec '" + cli_binary()
               + "' --timeout 2 ping"});
  EXPECT_LT(::accept(catcher, nullptr, nullptr), 0) << "the trap was called";
  // Named, a config another user may write is refused.
  ::chmod(cwd.file("conf/switchboard.ini").c_str(), 0666);
  res
    = run({cli_binary(), "--config", cwd.file("conf/switchboard.ini"), "ping"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("refusing the config file"), std::string::npos)
    << res.err;
  ::close(catcher);
}

TEST_F(locked_door, a_backup_never_follows_a_symlink) {
  start();
  setup_agent();
  auto victim = dir.file("victim");
  std::ofstream{victim} << "precious\n";
  auto link = dir.file("backup.db");
  ASSERT_EQ(::symlink(victim.c_str(), link.c_str()), 0);
  auto res = run(
    {cli_binary(), "--port", std::to_string(daemon->port()), "backup", link});
  EXPECT_EQ(res.rc, 2) << res.err;
  EXPECT_NE(res.err.find("exists already"), std::string::npos) << res.err;
  EXPECT_EQ(slurp(victim), "precious\n");
  // --force replaces the symlink with the copy; the file it pointed to
  // stays as it was.
  res = run({cli_binary(), "--port", std::to_string(daemon->port()), "backup",
             link, "--force"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(slurp(victim), "precious\n");
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(slurp(link).rfind("SQLite format 3", 0), 0u);
  // No temporary file is left beside it.
  size_t files = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator(dir.path()))
    ++files;
  auto again = run({cli_binary(), "--port", std::to_string(daemon->port()),
                    "backup", dir.file("none/such/folder.db")});
  EXPECT_EQ(again.rc, 2);
  size_t after = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator(dir.path()))
    ++after;
  EXPECT_EQ(after, files);
}
