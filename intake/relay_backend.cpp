#include "intake/relay.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

// CAF's side of a connection: handing it to CAF as one end of a socketpair
// (CAF listens nowhere), giving it the checked frames, draining its answers.

namespace sb::intake {

namespace {

constexpr size_t read_chunk = 64 * 1024;
constexpr int backend_reads_per_event = 16;
/// Freed backlog that makes the guard give memory back to the system.
constexpr size_t release_threshold = 8 << 20;

} // namespace

bool relay_loop::connect_backend(connection& c) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair)
      != 0) {
    ++local_.backend_failures;
    dirty_ = true;
    warn(log_kind::backend_unreachable,
         "closed {}: no socketpair for the daemon: {}", describe_peer(c),
         std::strerror(errno));
    close(c);
    return false;
  }
  // CAF takes its end whatever happens.
  if (!opts_.hand_over || !opts_.hand_over(pair[1], c.granted)) {
    ::close(pair[0]);
    ++local_.backend_failures;
    dirty_ = true;
    warn(log_kind::backend_unreachable,
         "closed {}: the daemon did not take the connection", describe_peer(c));
    close(c);
    return false;
  }
  c.backend.fd = pair[0];
  c.state = conn_state::relaying;
  return true;
}

void relay_loop::on_backend(connection& c, uint32_t events) {
  if ((events & EPOLLOUT) != 0 && !flush_up(c))
    return;
  // Always drained, whatever the client does: bytes CAF cannot write stay in
  // CAF's buffers, which have no limit.
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 && !read_backend(c))
    return;
  update_interest(c);
}

bool relay_loop::send_up(connection& c, const char* data, size_t len) {
  if (!c.up.empty()) {
    c.up.append(data, len);
    return true;
  }
  auto n = ::send(c.backend.fd, data, len, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      close(c);
      return false;
    }
    n = 0;
  }
  // The rest waits here; the client is not read until it is gone.
  c.up.append(data + n, len - static_cast<size_t>(n));
  return true;
}

bool relay_loop::flush_up(connection& c) {
  if (c.up.empty())
    return true;
  auto n = ::send(c.backend.fd, c.up.data(), c.up.size(), MSG_NOSIGNAL);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return true;
    close(c);
    return false;
  }
  c.up.consume(static_cast<size_t>(n));
  if (c.up.empty())
    c.up.release(); // at most one chunk; idle connections hold nothing
  return true;
}

bool relay_loop::read_backend(connection& c) {
  char* chunk = rbuf_.get();
  for (int round = 0; round < backend_reads_per_event; ++round) {
    auto n = ::recv(c.backend.fd, chunk, read_chunk, 0);
    if (n > 0) {
      observe_answers(c, chunk, static_cast<size_t>(n));
      if (!send_down(c, chunk, static_cast<size_t>(n)) || !resume_held(c))
        return false;
      if (static_cast<size_t>(n) < read_chunk)
        return true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return true;
    // CAF closed the connection (or it failed): hand the client what CAF
    // sent before, then close.
    ::close(c.backend.fd);
    c.backend.fd = -1;
    c.backend.added = false;
    c.state = conn_state::draining;
    return flush_down(c);
  }
  return true;
}

void relay_loop::observe_answers(connection& c, const char* data, size_t len) {
  // Only headers are looked at (the bytes go out unchanged); one split
  // across two reads is put together in down_carry.
  size_t pos = 0;
  while (pos < len) {
    if (c.down_payload_left > 0) {
      auto take = std::min<uint64_t>(c.down_payload_left, len - pos);
      pos += take;
      c.down_payload_left -= take;
      continue;
    }
    const unsigned char* bytes = nullptr;
    if (c.down_carry_len == 0 && len - pos >= basp_header_size) {
      bytes = reinterpret_cast<const unsigned char*>(data + pos);
      pos += basp_header_size;
    } else {
      auto take = std::min(basp_header_size - c.down_carry_len, len - pos);
      std::memcpy(c.down_carry + c.down_carry_len, data + pos, take);
      c.down_carry_len = static_cast<uint8_t>(c.down_carry_len + take);
      pos += take;
      if (c.down_carry_len < basp_header_size)
        break;
      c.down_carry_len = 0;
      bytes = c.down_carry;
    }
    auto hdr = decode_header(bytes);
    c.down_payload_left = hdr.payload_len;
    if (is_response(hdr) && c.pending_requests > 0) {
      --c.pending_requests;
      --pending_total_;
    }
    if (c.policy)
      c.policy->sent_down(hdr);
  }
}

bool relay_loop::send_down(connection& c, const char* data, size_t len) {
  size_t put = 0;
  if (c.down.empty()) {
    auto st = client_send(c, data, len, put);
    if (st == io::failed || st == io::closed) {
      close(c);
      return false;
    }
  }
  if (put == len)
    return true;
  c.down.append(data + put, len - put);
  local_.buffered += len - put;
  if (c.down.size() > opts_.max_buffered) {
    ++local_.closed_slow_reader;
    dirty_ = true;
    warn(log_kind::slow_reader,
         "dropped {}: {} bytes of answers not read (max-buffered {})",
         describe_peer(c), c.down.size(), opts_.max_buffered);
    close(c);
    return false;
  }
  if (local_.buffered > opts_.max_buffered_total) {
    enforce_total_backlog();
    return !c.closed;
  }
  return true;
}

void relay_loop::enforce_total_backlog() {
  // The clients that read slowest pay, not the others: drop the largest
  // backlog until the total fits again.
  while (local_.buffered > opts_.max_buffered_total) {
    connection* worst = nullptr;
    for (auto& x : conns_)
      if (worst == nullptr || x->down.size() > worst->down.size())
        worst = x.get();
    if (worst == nullptr || worst->down.empty())
      return;
    ++local_.closed_slow_reader;
    dirty_ = true;
    warn(log_kind::slow_reader,
         "dropped {}: {} bytes of answers not read while every client "
         "together had {} (max-buffered-total {})",
         describe_peer(*worst), worst->down.size(), local_.buffered,
         opts_.max_buffered_total);
    close(*worst);
  }
}

void relay_loop::released(size_t bytes) {
  unreleased_ += bytes;
}

bool relay_loop::release_due() const {
  return unreleased_ >= release_threshold;
}

void relay_loop::release_memory() {
  // A dropped backlog is freed, but the allocator keeps the pages unless
  // told: a reader that never read would leave the daemon that much larger.
  // At the end of a round (the buffers are gone by then), at most once a
  // second, and once more two seconds later: CAF's threads free their
  // copies of the same answers after the guard did.
  bool again = release_again_ && now_ >= last_release_ + release_later;
  if (!again
      && (!release_due() || now_ - last_release_ < std::chrono::seconds(1)))
    return;
  release_again_ = !again;
  unreleased_ = 0;
  last_release_ = now_;
  release_free_memory();
}

} // namespace sb::intake
