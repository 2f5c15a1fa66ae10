#include "intake/listen.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sb::intake {

namespace {

struct address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

void set_port(address& a, uint16_t port) {
  if (a.storage.ss_family == AF_INET)
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  else
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
}

/// Every distinct address of `host`, or an error line.
std::vector<address> resolve(const std::string& host, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  auto rc
    = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), "0", &hints, &res);
  std::vector<address> out;
  if (rc != 0) {
    error = "cannot resolve host '" + host + "': " + ::gai_strerror(rc);
    return out;
  }
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    address a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    bool dup = false;
    for (auto& b : out)
      dup = dup
            || (b.len == a.len
                && std::memcmp(&b.storage, &a.storage, a.len) == 0);
    if (!dup)
      out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty())
    error = "host '" + host + "' has no IPv4 or IPv6 address";
  return out;
}

/// A listening socket on `a`, or -1 with `err` set to errno.
int listen_on(address& a, int& err) {
  int fd = ::socket(a.storage.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // "::" must not also take 0.0.0.0: each address family binds on its own.
  if (a.storage.ss_family == AF_INET6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (::bind(fd, a.get(), a.len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    err = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET)
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

void close_all(std::vector<int>& fds) {
  for (auto fd : fds)
    ::close(fd);
  fds.clear();
}

std::string bind_error(address& a, int err) {
  if (err == EADDRINUSE)
    return "address already in use: " + format_address(a.get());
  return "cannot listen on " + format_address(a.get()) + ": "
         + std::strerror(err);
}

/// One attempt to bind every address on one port; `retry` says whether a
/// fresh attempt may succeed (a free port taken meanwhile).
listeners bind_all(std::vector<address>& addrs, uint16_t port, bool& retry) {
  listeners out;
  out.port = port;
  retry = false;
  std::string skipped;
  for (auto& a : addrs) {
    set_port(a, out.port);
    int err = 0;
    int fd = listen_on(a, err);
    if (fd >= 0) {
      out.fds.push_back(fd);
      if (out.port == 0)
        out.port = bound_port(fd);
      continue;
    }
    // "localhost" may name ::1 on a host without IPv6: skip what this host
    // cannot have, as long as another address binds.
    if (err == EADDRNOTAVAIL || err == EAFNOSUPPORT) {
      if (skipped.empty())
        skipped = bind_error(a, err);
      continue;
    }
    retry = port == 0 && err == EADDRINUSE && !out.fds.empty();
    out.error = bind_error(a, err);
    close_all(out.fds);
    return out;
  }
  if (out.fds.empty())
    out.error = skipped;
  return out;
}

} // namespace

bool is_loopback(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    auto ip
      = ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr);
    return (ip >> 24) == 127;
  }
  if (addr->sa_family == AF_INET6) {
    auto& a6 = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a6))
      return true;
    // ::ffff:127.x.y.z is IPv4 loopback too.
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  return false;
}

std::string format_address(const sockaddr* addr, bool with_port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    if (!with_port)
      return text;
    return std::string{text} + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    if (!with_port)
      return text;
    return "[" + std::string{text}
           + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "(unknown address family)";
}

namespace {

/// "" if every address in `addrs` is loopback, else why not.
std::string loopback_problem(const std::string& host,
                             std::vector<address>& addrs) {
  for (auto& a : addrs)
    if (!is_loopback(a.get()))
      return "host '" + host + "' resolves to " + format_address(a.get(), false)
             + ", which is not loopback: beyond loopback the front door "
               "requires TLS (a certificate and key)";
  return {};
}

} // namespace

std::string check_loopback(const std::string& host) {
  std::string error;
  auto addrs = resolve(host, error);
  if (addrs.empty())
    return error;
  return loopback_problem(host, addrs);
}

listeners open_listeners(const std::string& host, uint16_t port,
                         bool loopback_only) {
  listeners out;
  auto addrs = resolve(host, out.error);
  if (addrs.empty())
    return out;
  if (loopback_only) {
    out.error = loopback_problem(host, addrs);
    if (!out.error.empty())
      return out;
  }
  // With port 0 the first address picks the port and the others follow; if
  // one of them has it taken already, start over with another port.
  for (int attempt = 0; attempt < 16; ++attempt) {
    bool retry = false;
    out = bind_all(addrs, port, retry);
    if (!retry)
      break;
  }
  return out;
}

} // namespace sb::intake
