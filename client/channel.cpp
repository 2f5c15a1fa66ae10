#include "client/channel.hpp"

#include "client/tls_relay.hpp"
#include "messages/error.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace sb::client {

namespace {

using clock = std::chrono::steady_clock;

/// Milliseconds left until `deadline` (0 when it passed).
int left(clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              deadline - clock::now())
              .count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

/// Waits for `events` on `fd`; false at the deadline.
bool wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    auto rc = ::poll(&p, 1, left(deadline));
    if (rc > 0)
      return true;
    if (rc == 0 || errno != EINTR)
      return false;
  }
}

void set_blocking(int fd, bool blocking) {
  auto flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

/// A non-blocking TCP connection to one of the addresses `host` resolves
/// to; -1 with `why` set.
int connect_tcp(const channel_options& o, clock::time_point deadline,
                std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(o.port);
  if (auto rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    why = std::string{"cannot resolve the host: "} + ::gai_strerror(rc);
    return -1;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list{found,
                                                            ::freeaddrinfo};
  why = "nothing accepts connections there";
  for (auto* a = found; a != nullptr; a = a->ai_next) {
    int fd
      = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 a->ai_protocol);
    if (fd < 0)
      continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        ::close(fd);
        why = "no answer within the connect timeout";
        return -1;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    if (errno != ECONNREFUSED)
      why = std::strerror(errno);
    ::close(fd);
  }
  return -1;
}

/// Writes all of `data` on a plain socket before the deadline.
bool send_all(int fd, const std::string& data, clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)
        && wait_for(fd, POLLOUT, deadline))
      continue;
    return false;
  }
  return true;
}

/// Reads the daemon's answer line byte by byte (what follows it is CAF's).
line_state read_answer(int fd, clock::time_point deadline, scope& granted,
                       std::string& why) {
  auto next = [&](char& c) {
    for (;;) {
      auto n = ::recv(fd, &c, 1, 0);
      if (n == 1)
        return true;
      if (n < 0 && (errno == EAGAIN || errno == EINTR)
          && wait_for(fd, POLLIN, deadline))
        continue;
      return false; // closed or timed out
    }
  };
  return sb::read_answer(next, granted, why);
}

std::string where(const channel_options& o) {
  return o.host + ":" + std::to_string(o.port);
}

} // namespace

caf::expected<channel> open_channel(const channel_options& o,
                                    std::chrono::milliseconds timeout) {
  if (!valid_auth_token(o.token))
    return make_error(ec::invalid_argument,
                      "the credential must be one line of printable "
                      "characters without spaces (at most "
                        + std::to_string(max_auth_token) + ")");
  auto deadline = clock::now() + timeout;
  std::string why;
  int fd = connect_tcp(o, deadline, why);
  if (fd < 0)
    return make_error(ec::unavailable,
                      "daemon not reachable at " + where(o) + " (" + why + ")");
  std::unique_ptr<tls_session> tls;
  if (o.tls) {
    tls = tls_session::connect(fd, o, deadline, why);
    if (!tls) {
      ::close(fd);
      return make_error(ec::unavailable, "daemon not reachable at " + where(o)
                                           + " (" + why + ")");
    }
  }
  auto hello = auth_hello(o.token);
  scope granted = scope::none;
  std::string refused;
  auto st = line_state::incomplete;
  if (tls) {
    if (tls->write_all(hello, deadline))
      st = tls->read_answer(deadline, granted, refused);
  } else if (send_all(fd, hello, deadline)) {
    st = read_answer(fd, deadline, granted, refused);
  }
  if (st != line_state::complete || granted == scope::none) {
    if (!tls)
      ::close(fd);
    if (st == line_state::complete)
      return make_error(ec::unauthenticated,
                        "the daemon at " + where(o)
                          + " refused the credential: " + refused);
    return make_error(ec::unavailable,
                      "daemon not reachable at " + where(o)
                        + (st == line_state::malformed
                             ? " (it does not speak Switchboard's protocol: "
                               "an older switchboardd, or another service)"
                             : " (the connection closed before the daemon "
                               "answered the credential: not a switchboardd, "
                               "or one that needs TLS)"));
  }
  if (tls) {
    auto local = tls_session::relay(std::move(tls));
    if (local < 0)
      return make_error(ec::unavailable, "cannot relay the TLS connection");
    return channel{local, granted};
  }
  set_blocking(fd, false);
  return channel{fd, granted};
}

} // namespace sb::client
