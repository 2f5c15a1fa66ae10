#include "bench/daemon_child.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace sb::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t)
    .count();
}

} // namespace

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_open(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok
    = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

/// CPU time (user + system) a process has used, in seconds.
double cpu_s(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat;
  std::getline(in, stat);
  // Fields after the command name (which is in parentheses).
  std::istringstream rest{stat.substr(stat.rfind(')') + 2)};
  std::vector<std::string> fields{std::istream_iterator<std::string>{rest},
                                  std::istream_iterator<std::string>{}};
  if (fields.size() < 13)
    return 0;
  auto ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double rss_mb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

bool daemon_child::listening() const {
  return port_open(port) && (!http || port_open(http_port));
}

bool daemon_child::start(const std::string& binary, const std::string& dir,
                         const std::string& log_level,
                         const std::vector<std::string>& extra) {
  port = free_port();
  http_port = 0;
  while (http && (http_port == 0 || http_port == port))
    http_port = free_port();
  auto started = clock_type::now();
  pid = ::fork();
  if (pid == 0) {
    // In its own folder, so no conf/switchboard.ini is picked up.
    if (::chdir(dir.c_str()) != 0)
      ::_exit(127);
    int log = ::open("daemon.log", O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ::dup2(log, 2);
    auto port_arg = "--switchboard.port=" + std::to_string(port);
    auto db_arg = "--switchboard.db-path=" + dir + "/bench.db";
    auto level_arg = "--switchboard.log-level=" + log_level;
    auto sock_arg
      = "--switchboard.docker-socket="
        + (docker_socket.empty() ? dir + "/no-docker.sock" : docker_socket);
    auto http_arg
      = "--switchboard.http-port=" + (http ? std::to_string(http_port) : "-1");
    std::vector<std::string> args;
    if (auto wrapper = std::getenv("SB_BENCH_DAEMON_WRAPPER")) {
      // For profiling, e.g. "valgrind --tool=callgrind" (split at spaces).
      std::istringstream words{wrapper};
      for (std::string w; words >> w;)
        args.push_back(w);
    }
    args.insert(args.end(),
                {binary, port_arg, db_arg, level_arg, sock_arg, http_arg});
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  // Bounded wait until the front door (and the HTTP front) accept
  // connections.
  auto deadline = started + std::chrono::seconds(120);
  while (clock_type::now() < deadline) {
    if (listening()) {
      boot_s = ms_since(started) / 1000.0;
      // The daemon made its credentials in its folder at the first start.
      std::ifstream credential{dir + "/auth/admin.token"};
      credential >> token;
      return true;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2)); // poll pace
  }
  return false;
}

void daemon_child::stop() {
  if (pid <= 0)
    return;
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

} // namespace sb::bench
