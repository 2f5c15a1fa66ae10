#include "intake/relay.hpp"

#include "intake/listen.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sb::intake {

namespace {

constexpr size_t read_chunk = 64 * 1024;
constexpr int max_events = 256;
constexpr int accepts_per_wakeup = 64;
constexpr auto accept_backoff = std::chrono::milliseconds(100);
constexpr auto sweep_interval = std::chrono::milliseconds(100);

int open_reserve() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

} // namespace

relay_loop::relay_loop(const guard_options& opts, std::vector<int> listeners,
                       std::unique_ptr<tls_server> tls)
    : opts_(opts), tls_(std::move(tls)) {
  for (auto fd : listeners) {
    auto h = std::make_unique<io_handle>(io_handle::kind::listener);
    h->fd = fd;
    listeners_.push_back(std::move(h));
  }
  // Room for a partial header and prefix in front of each chunk (see
  // read_client).
  rbuf_.reset(new char[max_carry + read_chunk]);
  set_credentials(opts.tokens);
  take_credentials();
}

relay_loop::~relay_loop() {
  close_all();
  for (int fd : {wakeup_.fd, epoll_fd_})
    if (fd >= 0)
      ::close(fd);
}

void relay_loop::close_all() {
  while (!conns_.empty())
    close(*conns_.back());
  graveyard_.clear();
  ready_.clear();
  for (auto& h : listeners_)
    ::close(h->fd);
  listeners_.clear();
  if (reserve_fd_ >= 0)
    ::close(reserve_fd_);
  reserve_fd_ = -1;
  log_.flush(clock::time_point::max());
  publish();
}

bool relay_loop::init(std::string& error) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakeup_.fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  reserve_fd_ = open_reserve();
  if (epoll_fd_ < 0 || wakeup_.fd < 0 || reserve_fd_ < 0) {
    error = std::string{"cannot set up the guard's event loop: "}
            + std::strerror(errno);
    return false;
  }
  set_interest(wakeup_, EPOLLIN);
  for (auto& h : listeners_)
    set_interest(*h, EPOLLIN);
  return true;
}

void relay_loop::wake() {
  stop_ = true;
  uint64_t one = 1;
  auto rc = ::write(wakeup_.fd, &one, sizeof(one));
  static_cast<void>(rc); // the counter cannot overflow from a few stops
}

void relay_loop::set_credentials(const credentials& tokens) {
  {
    std::lock_guard<std::mutex> guard{creds_mutex_};
    creds_pending_ = tokens;
  }
  if (wakeup_.fd >= 0) {
    uint64_t one = 1;
    auto rc = ::write(wakeup_.fd, &one, sizeof(one));
    static_cast<void>(rc);
  }
}

void relay_loop::run() {
  // OpenSSL writes with write(2): a client gone mid-write must be an EPIPE
  // for this thread, not a SIGPIPE for the daemon. Blocked, it stays pending
  // on this thread and dies with it.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  epoll_event events[max_events];
  while (running_) {
    int n = ::epoll_wait(epoll_fd_, events, max_events, next_timeout());
    now_ = clock::now();
    for (int i = 0; i < n; ++i)
      dispatch(*static_cast<io_handle*>(events[i].data.ptr), events[i].events);
    // Connections whose plaintext OpenSSL already holds: no readiness event
    // would come for it.
    ready_now_.swap(ready_);
    for (auto* c : ready_now_) {
      c->in_ready = false;
      if (!c->closed && may_read_client(*c) && read_client(*c))
        update_interest(*c);
    }
    ready_now_.clear();
    resume_waiters();
    housekeeping();
    graveyard_.clear();
    release_memory();
    publish();
  }
  close_all();
}

void relay_loop::dispatch(io_handle& h, uint32_t events) {
  switch (h.k) {
  case io_handle::kind::listener:
    on_accept(h);
    break;
  case io_handle::kind::wakeup: {
    uint64_t count = 0;
    auto rc = ::read(wakeup_.fd, &count, sizeof(count));
    static_cast<void>(rc);
    take_credentials();
    if (stop_)
      running_ = false;
    break;
  }
  case io_handle::kind::client:
    if (!h.conn->closed)
      on_client(*h.conn, events);
    break;
  case io_handle::kind::backend:
    if (!h.conn->closed)
      on_backend(*h.conn, events);
    break;
  }
}

void relay_loop::on_accept(io_handle& h) {
  for (int i = 0; i < accepts_per_wakeup; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(h.fd, reinterpret_cast<sockaddr*>(&peer), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (errno == EMFILE || errno == ENFILE) {
        auto outcome = accept_in_spite_of_emfile(h);
        if (outcome == emfile_outcome::refused)
          continue;
        if (outcome == emfile_outcome::stuck)
          pause_accepting();
        return;
      }
      // Errors of the connection itself (ECONNABORTED, EPROTO, network
      // errors): the next one may be fine.
      if (errno != ENOBUFS && errno != ENOMEM && errno != EPERM)
        continue;
      warn(log_kind::no_descriptors, "accept failed: {}; pausing for {} ms",
           std::strerror(errno), accept_backoff.count());
      pause_accepting();
      return;
    }
    if (conns_.size() >= opts_.max_connections && !evict_unauthenticated()) {
      // Refuse at once: leaving it in the backlog would wake us forever.
      ::close(fd);
      ++local_.refused_over_capacity;
      dirty_ = true;
      warn(log_kind::over_capacity,
           "refused {}: {} connections open (max-connections)",
           format_address(reinterpret_cast<sockaddr*>(&peer)), conns_.size());
      continue;
    }
    admit(fd, peer);
  }
}

relay_loop::emfile_outcome relay_loop::accept_in_spite_of_emfile(io_handle& h) {
  // Out of descriptors, the pending connection stays in the backlog and
  // epoll reports it again and again: a busy loop. Give up the spare
  // descriptor, take the connection off the backlog, close it, take the
  // spare again.
  if (reserve_fd_ < 0)
    return emfile_outcome::stuck;
  ::close(reserve_fd_);
  int fd = ::accept4(h.fd, nullptr, nullptr, SOCK_CLOEXEC);
  auto err = errno;
  if (fd >= 0)
    ::close(fd);
  reserve_fd_ = open_reserve();
  if (fd < 0)
    return err == EAGAIN || err == EWOULDBLOCK ? emfile_outcome::drained
                                               : emfile_outcome::stuck;
  ++local_.refused_no_descriptors;
  dirty_ = true;
  warn(log_kind::no_descriptors,
       "refused a connection: out of file descriptors ({} connections "
       "open; raise RLIMIT_NOFILE or lower max-connections)",
       conns_.size());
  return emfile_outcome::refused;
}

void relay_loop::admit(int fd, const sockaddr_storage& peer) {
  auto c = std::make_unique<connection>();
  c->client.fd = fd;
  c->client.conn = c.get();
  c->backend.conn = c.get();
  c->peer = peer;
  c->deadline = now_ + opts_.handshake_timeout;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (tls_) {
    c->ssl = tls_->new_session(fd);
    if (c->ssl == nullptr) {
      ::close(fd);
      return;
    }
    c->state = conn_state::tls_handshake;
  } else {
    c->state = conn_state::auth;
  }
  c->index = conns_.size();
  conns_.push_back(std::move(c));
  ++pre_handshake_;
  ++local_.accepted;
  dirty_ = true;
  auto& conn = *conns_.back();
  set_interest(conn.client, EPOLLIN);
  spdlog::debug("intake: accepted {}", describe_peer(conn));
}

bool relay_loop::evict_unauthenticated() {
  // Every slot taken: a connection that has not authenticated (or sent its
  // first frame) yet makes room, the oldest first. A flood of sockets that
  // never authenticate then cannot keep a client with a credential out: it
  // authenticates within a round trip, before it is the oldest.
  connection* oldest = nullptr;
  for (auto& x : conns_)
    if (!x->first_done && (oldest == nullptr || x->deadline < oldest->deadline))
      oldest = x.get();
  if (oldest == nullptr)
    return false;
  ++local_.evicted;
  dirty_ = true;
  warn(log_kind::evicted,
       "closed {}: not authenticated yet, and every slot was taken "
       "(max-connections {})",
       describe_peer(*oldest), opts_.max_connections);
  close(*oldest);
  return true;
}

void relay_loop::pause_accepting() {
  // The backlog keeps the listener readable; stop watching it for a moment
  // instead of spinning on an error that will not go away at once.
  accept_paused_ = true;
  accept_paused_until_ = now_ + accept_backoff;
  for (auto& h : listeners_)
    set_interest(*h, 0);
}

void relay_loop::housekeeping() {
  if (accept_paused_ && now_ >= accept_paused_until_) {
    accept_paused_ = false;
    if (reserve_fd_ < 0)
      reserve_fd_ = open_reserve();
    for (auto& h : listeners_)
      set_interest(*h, EPOLLIN);
  }
  log_.flush(now_);
  if ((pre_handshake_ == 0 && in_frame_ == 0) || now_ < next_sweep_)
    return;
  next_sweep_ = now_ + sweep_interval;
  sweep_deadlines();
}

void relay_loop::sweep_deadlines() {
  // Few connections are ever in these states for long; a scan is cheaper
  // than keeping a timer per connection.
  for (size_t i = 0; i < conns_.size();) {
    auto& c = *conns_[i];
    if (!c.first_done && c.deadline <= now_) {
      ++local_.closed_handshake_timeout;
      warn(log_kind::handshake_timeout,
           "closed {}: no credential and complete first frame within {} ms",
           describe_peer(c), opts_.handshake_timeout.count());
      close(c); // moves the last connection to index i
      continue;
    }
    if (c.in_frame && !may_read_client(c)) {
      // The guard is not reading this client (backpressure): its time
      // starts again when the guard reads again.
      c.frame_deadline = now_ + opts_.message_timeout;
    } else if (c.in_frame && c.frame_deadline <= now_) {
      ++local_.closed_message_timeout;
      warn(log_kind::message_timeout,
           "closed {}: a message started and did not end within {} ms",
           describe_peer(c), opts_.message_timeout.count());
      close(c);
      continue;
    }
    ++i;
  }
}

int relay_loop::next_timeout() const {
  if (!ready_.empty())
    return 0;
  auto next = clock::time_point::max();
  if (accept_paused_)
    next = std::min(next, accept_paused_until_);
  if (pre_handshake_ > 0 || in_frame_ > 0)
    next = std::min(next, next_sweep_);
  if (log_.pending())
    next = std::min(next, now_ + std::chrono::seconds(1));
  if (release_due())
    next = std::min(next, last_release_ + std::chrono::seconds(1));
  if (release_again_)
    next = std::min(next, last_release_ + release_later);
  if (next == clock::time_point::max())
    return -1;
  auto ms
    = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock::now())
        .count();
  return ms <= 0 ? 0 : static_cast<int>(ms + 1);
}

void relay_loop::publish() {
  if (!dirty_)
    return;
  dirty_ = false;
  local_.open_connections = conns_.size();
  std::lock_guard<std::mutex> guard{stats_mutex_};
  published_ = local_;
}

guard_stats relay_loop::snapshot() const {
  std::lock_guard<std::mutex> guard{stats_mutex_};
  return published_;
}

void relay_loop::set_interest(io_handle& h, uint32_t events) {
  if (h.fd < 0 || (h.added && h.events == events))
    return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &h;
  ::epoll_ctl(epoll_fd_, h.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, h.fd, &ev);
  h.added = true;
  h.events = events;
}

void relay_loop::close(connection& c, bool graceful) {
  if (c.closed)
    return;
  c.closed = true;
  tls_close(c.ssl, graceful);
  c.ssl = nullptr;
  // Closing a descriptor also takes it out of the epoll set.
  ::close(c.client.fd);
  if (c.backend.fd >= 0)
    ::close(c.backend.fd);
  local_.buffered -= c.down.size();
  released(c.down.size() + c.held.size());
  c.down.release();
  c.up.release();
  c.held.release();
  if (!c.first_done)
    --pre_handshake_;
  if (c.in_frame)
    --in_frame_;
  pending_total_ -= c.pending_requests;
  if (c.waiting)
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &c));
  if (c.in_ready) {
    auto i = std::find(ready_.begin(), ready_.end(), &c);
    if (i != ready_.end())
      ready_.erase(i);
  }
  dirty_ = true;
  spdlog::debug("intake: closed {}", describe_peer(c));
  // The object lives until the end of this round: later events of the same
  // epoll_wait may still point at it.
  auto i = c.index;
  graveyard_.push_back(std::move(conns_[i]));
  if (i + 1 != conns_.size()) {
    conns_[i] = std::move(conns_.back());
    conns_[i]->index = i;
  }
  conns_.pop_back();
}

std::string relay_loop::describe_peer(const connection& c) const {
  return format_address(reinterpret_cast<const sockaddr*>(&c.peer));
}

} // namespace sb::intake
