#include "client/tls_relay.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace sb::client {

namespace {

int left(tls_session::clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              deadline - tls_session::clock::now())
              .count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

/// OpenSSL's reason for the last failure, or the certificate check's.
std::string failure(ssl_st* ssl) {
  if (ssl != nullptr) {
    auto v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
      return std::string{"the daemon's certificate: "}
             + X509_verify_cert_error_string(v);
  }
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "the connection closed during the TLS handshake (check the "
           "certificates, or the daemon does not use TLS)";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1
         || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// Below it, one side's bytes are read; above it, that side waits.
constexpr size_t high_water = 1 << 20;

} // namespace

std::unique_ptr<tls_session> tls_session::connect(int fd,
                                                  const channel_options& o,
                                                  clock::time_point deadline,
                                                  std::string& why) {
  std::unique_ptr<tls_session> s{new tls_session};
  s->ctx_ = SSL_CTX_new(TLS_client_method());
  if (s->ctx_ == nullptr) {
    why = "cannot set up TLS";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(s->ctx_, TLS1_2_VERSION);
  if (!o.tls_ca.empty()) {
    if (SSL_CTX_load_verify_locations(s->ctx_, o.tls_ca.c_str(), nullptr)
        != 1) {
      why = "cannot read the CA file '" + o.tls_ca + "'";
      return nullptr;
    }
    SSL_CTX_set_verify(s->ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.tls_certificate.empty()
      && (SSL_CTX_use_certificate_chain_file(s->ctx_, o.tls_certificate.c_str())
            != 1
          || SSL_CTX_use_PrivateKey_file(s->ctx_, o.tls_key.c_str(),
                                         SSL_FILETYPE_PEM)
               != 1
          || SSL_CTX_check_private_key(s->ctx_) != 1)) {
    ERR_clear_error();
    why = "cannot use the client certificate '" + o.tls_certificate
          + "' with its key '" + o.tls_key + "'";
    return nullptr;
  }
  s->ssl_ = SSL_new(s->ctx_);
  if (s->ssl_ == nullptr) {
    why = "cannot set up TLS";
    return nullptr;
  }
  SSL_set_mode(s->ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!is_ip_address(o.host))
    SSL_set_tlsext_host_name(s->ssl_, o.host.c_str());
  SSL_set_fd(s->ssl_, fd);
  s->fd_ = fd;
  for (;;) {
    auto rc = SSL_connect(s->ssl_);
    if (rc == 1)
      return s;
    auto err = SSL_get_error(s->ssl_, rc);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        && s->wait(err, deadline))
      continue;
    why = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE
            ? "no TLS handshake within the connect timeout"
            : "TLS: " + failure(s->ssl_);
    s->fd_ = -1; // the caller closes it
    return nullptr;
  }
}

tls_session::~tls_session() {
  if (ssl_ != nullptr)
    SSL_free(ssl_);
  if (ctx_ != nullptr)
    SSL_CTX_free(ctx_);
  if (fd_ >= 0)
    ::close(fd_);
}

bool tls_session::wait(int want, clock::time_point deadline) {
  pollfd p{
    fd_, static_cast<short>(want == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
  for (;;) {
    auto rc = ::poll(&p, 1, left(deadline));
    if (rc > 0)
      return true;
    if (rc == 0 || errno != EINTR)
      return false;
  }
}

bool tls_session::write_all(const std::string& data,
                            clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = SSL_write(ssl_, data.data() + done,
                       static_cast<int>(data.size() - done));
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    auto err = SSL_get_error(ssl_, n);
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        && wait(err, deadline))
      continue;
    return false;
  }
  return true;
}

line_state tls_session::read_answer(clock::time_point deadline, scope& granted,
                                    std::string& why) {
  auto next = [&](char& c) {
    for (;;) {
      auto n = SSL_read(ssl_, &c, 1);
      if (n == 1)
        return true;
      auto err = SSL_get_error(ssl_, n);
      if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
          && wait(err, deadline))
        continue;
      return false;
    }
  };
  return sb::read_answer(next, granted, why);
}

int tls_session::relay(std::unique_ptr<tls_session> session) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair)
      != 0)
    return -1;
  auto* s = session.release();
  std::thread{[s, local = pair[0]] {
    s->run(local);
    delete s;
  }}.detach();
  return pair[1];
}

void tls_session::run(int local) {
  // OpenSSL writes with write(2): a daemon gone mid-write is an EPIPE for
  // this thread, not a SIGPIPE for the process.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  std::string to_net;   // from CAF, for the daemon
  std::string to_local; // from the daemon, for CAF
  bool open = true;
  bool read_wants_write = false;
  char buf[16384];
  while (open) {
    short net_events = 0;
    short local_events = 0;
    if (to_local.size() < high_water)
      net_events |= POLLIN;
    if (!to_net.empty() || read_wants_write)
      net_events |= POLLOUT;
    if (to_net.size() < high_water)
      local_events |= POLLIN;
    if (!to_local.empty())
      local_events |= POLLOUT;
    pollfd fds[2] = {{fd_, net_events, 0}, {local, local_events, 0}};
    bool pending = SSL_pending(ssl_) > 0 && to_local.size() < high_water;
    if (::poll(fds, 2, pending ? 0 : -1) < 0 && errno != EINTR)
      break;
    // The daemon's bytes for CAF.
    if (to_local.size() < high_water
        && (pending || (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0
            || (read_wants_write && (fds[0].revents & POLLOUT) != 0))) {
      read_wants_write = false;
      while (to_local.size() < high_water) {
        auto n = SSL_read(ssl_, buf, sizeof(buf));
        if (n > 0) {
          to_local.append(buf, static_cast<size_t>(n));
          continue;
        }
        auto err = SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_WANT_WRITE)
          read_wants_write = true;
        else if (err != SSL_ERROR_WANT_READ)
          open = false; // closed by the daemon, or failed
        break;
      }
    }
    // CAF's bytes for the daemon.
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      auto n = ::recv(local, buf, sizeof(buf), 0);
      if (n > 0)
        to_net.append(buf, static_cast<size_t>(n));
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        open = false; // CAF closed the connection
    }
    while (!to_net.empty()) {
      auto n = SSL_write(ssl_, to_net.data(), static_cast<int>(to_net.size()));
      if (n > 0) {
        to_net.erase(0, static_cast<size_t>(n));
        continue;
      }
      auto err = SSL_get_error(ssl_, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        open = false;
      break;
    }
    while (!to_local.empty()) {
      auto n = ::send(local, to_local.data(), to_local.size(), MSG_NOSIGNAL);
      if (n > 0) {
        to_local.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        open = false;
      break;
    }
  }
  // What the daemon said last (an error, a down message) still reaches
  // CAF, for a second at most.
  auto until = clock::now() + std::chrono::seconds(1);
  while (!to_local.empty()) {
    pollfd p{local, POLLOUT, 0};
    if (::poll(&p, 1, left(until)) <= 0)
      break;
    auto n = ::send(local, to_local.data(), to_local.size(), MSG_NOSIGNAL);
    if (n <= 0 && errno != EAGAIN && errno != EINTR)
      break;
    if (n > 0)
      to_local.erase(0, static_cast<size_t>(n));
  }
  SSL_shutdown(ssl_); // best effort: the socket is non-blocking
  ::close(local);
}

} // namespace sb::client
