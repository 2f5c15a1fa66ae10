// The Docker Engine API double of the storm benchmark (bench/fake_docker.hpp).

#include "bench/fake_docker.hpp"

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

namespace sb::bench {

namespace {

using clock_type = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

/// How long one connection may take to send its request.
constexpr int request_timeout_ms = 2000;

/// Largest request read; the daemon's inspect is a few hundred bytes.
constexpr size_t max_request = 1 << 20;

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    done += static_cast<size_t>(n);
  }
}

std::string response(int status, const std::string& body) {
  const char* reason = status == 200 ? "OK" : "Not Found";
  return "HTTP/1.1 " + std::to_string(status) + " " + reason
         + "\r\nContent-Type: application/json\r\nContent-Length: "
         + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

} // namespace

void fake_docker::add_container(const std::string& name, uint16_t agent_port,
                                const std::string& token_env,
                                const std::string& token) {
  containers_[name] = container{agent_port, token_env + "=" + token};
}

bool fake_docker::start(const std::string& socket_path) {
  path_ = socket_path;
  sockaddr_un addr{};
  if (path_.size() >= sizeof(addr.sun_path))
    return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  ::unlink(path_.c_str());
  listener_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (listener_ < 0
      || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
           != 0
      || ::listen(listener_, 256) != 0) {
    if (listener_ >= 0)
      ::close(listener_);
    listener_ = -1;
    return false;
  }
  last_request_ns_ = now_ns();
  thread_ = std::thread{[this] { serve(); }};
  return true;
}

void fake_docker::stop() {
  if (!thread_.joinable())
    return;
  stopping_ = true;
  thread_.join();
  ::close(listener_);
  listener_ = -1;
  ::unlink(path_.c_str());
}

std::chrono::milliseconds fake_docker::quiet_for() const {
  return std::chrono::milliseconds{(now_ns() - last_request_ns_.load())
                                   / 1000000};
}

void fake_docker::serve() {
  while (!stopping_) {
    // A bounded wait, so that stop() is seen within 100 ms.
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    int conn = ::accept(listener_, nullptr, nullptr);
    if (conn < 0)
      continue;
    answer(conn);
    ::close(conn);
  }
}

void fake_docker::answer(int conn) {
  // The request line and headers, then a body of Content-Length bytes
  // (read and ignored: only inspect, which has none, is answered).
  std::string req;
  size_t header_end = std::string::npos;
  size_t body_length = 0;
  auto deadline
    = clock_type::now() + std::chrono::milliseconds{request_timeout_ms};
  char buf[4096];
  while (req.size() < max_request) {
    if (header_end != std::string::npos
        && req.size() >= header_end + 4 + body_length)
      break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock_type::now())
                  .count();
    pollfd p{conn, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
      return;
    auto n = ::recv(conn, buf, sizeof(buf), 0);
    if (n <= 0)
      return;
    req.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = req.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string head = req.substr(0, header_end);
        for (auto& ch : head)
          ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto cl = head.find("\r\ncontent-length:");
        if (cl != std::string::npos)
          body_length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
      }
    }
  }
  ++requests_;
  last_request_ns_ = now_ns();
  // "GET /v1.41/containers/NAME/json HTTP/1.1"
  auto line = req.substr(0, req.find("\r\n"));
  const std::string prefix = "GET /v1.41/containers/";
  const std::string suffix = "/json HTTP/1.1";
  if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() + suffix.size()
      && line.compare(line.size() - suffix.size(), suffix.size(), suffix)
           == 0) {
    auto name
      = line.substr(prefix.size(), line.size() - prefix.size() - suffix.size());
    auto body = inspect_json(name);
    if (!body.empty()) {
      write_all(conn, response(200, body));
      return;
    }
  }
  write_all(conn, response(404, R"({"message":"not in the benchmark's )"
                                R"(Docker Engine double"})"));
}

std::string fake_docker::inspect_json(const std::string& name) const {
  // By name, or by the id an earlier inspect gave ("bench-NAME").
  auto i = containers_.find(name);
  if (i == containers_.end() && name.rfind("bench-", 0) == 0)
    i = containers_.find(name.substr(6));
  if (i == containers_.end())
    return {};
  nlohmann::json doc = {
    {"Id", "bench-" + name},
    {"Name", "/" + name},
    {"Config",
     {{"Image", "switchboard-bench/agent-server"},
      {"Env", {i->second.env}},
      {"Labels",
       {{"switchboard.agent-port", std::to_string(i->second.port)}}}}},
    {"State", {{"Status", "running"}, {"Running", true}, {"Pid", 1}}},
    {"HostConfig", {{"NetworkMode", "host"}}},
  };
  return doc.dump();
}

} // namespace sb::bench
