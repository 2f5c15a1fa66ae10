#include "intake/relay.hpp"
#include "messages/sha256.hpp"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

// The client's side of a connection: TLS, its credential, reading and
// checking its frames, writing the answers, and which readiness each socket
// waits for.

namespace sb::intake {

namespace {

constexpr size_t read_chunk = 64 * 1024;
constexpr int client_reads_per_event = 4;

const char* verdict_text(header_verdict v) {
  return v == header_verdict::oversize ? "oversize frame" : "bad BASP header";
}

} // namespace

void relay_loop::on_client(connection& c, uint32_t events) {
  // A reset during the TLS handshake is a failed handshake: OpenSSL reports
  // it (and counts it) like any other.
  if (c.state == conn_state::tls_handshake) {
    if (handshake(c))
      update_interest(c);
    return;
  }
  if ((events & EPOLLERR) != 0) {
    close(c);
    return;
  }
  bool in = (events & (EPOLLIN | EPOLLHUP)) != 0;
  bool out = (events & EPOLLOUT) != 0;
  if ((out || (in && c.write_wants_read)) && !flush_down(c))
    return;
  if ((in && may_read_client(c)) || (out && c.read_wants_write)) {
    if (!read_client(c))
      return;
  } else if ((events & EPOLLHUP) != 0) {
    // Hung up while we were not reading it (backpressure): nobody is left
    // to take the answers.
    close(c);
    return;
  }
  update_interest(c);
}

bool relay_loop::handshake(connection& c) {
  switch (tls_handshake(c.ssl)) {
  case tls_status::ok:
    c.state = conn_state::auth;
    spdlog::debug("intake: {} with {}", SSL_get_version(c.ssl),
                  describe_peer(c));
    // The client may have sent its first frame with the last handshake
    // message; OpenSSL holds it already.
    return read_client(c);
  case tls_status::want_read:
    c.tls_want_write = false;
    return true;
  case tls_status::want_write:
    c.tls_want_write = true;
    return true;
  default:
    break;
  }
  ++local_.tls_failures;
  dirty_ = true;
  warn(log_kind::tls_failed, "TLS handshake with {} failed: {}",
       describe_peer(c), tls_failure(c.ssl));
  close(c);
  return false;
}

bool relay_loop::may_read_client(const connection& c) const {
  return !c.closed
         && (c.state == conn_state::auth || c.state == conn_state::first_frame
             || c.state == conn_state::relaying)
         && c.up.empty() && c.held.empty()
         && c.down.size() <= opts_.pause_backlog
         && (opts_.max_pending_requests == 0
             || c.pending_requests < opts_.max_pending_requests);
}

relay_loop::io relay_loop::client_recv(connection& c, char* buf, size_t len,
                                       size_t& got, bool& drained) {
  got = 0;
  drained = false;
  if (c.ssl == nullptr) {
    auto n = ::recv(c.client.fd, buf, len, 0);
    if (n > 0) {
      got = static_cast<size_t>(n);
      drained = got < len; // level-triggered epoll reports any rest
      return io::ok;
    }
    if (n == 0)
      return io::closed;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
             ? io::again
             : io::failed;
  }
  // OpenSSL returns one record (at most 16 KiB) per call: fill the chunk.
  c.read_wants_write = false;
  auto st = tls_status::ok;
  while (got < len) {
    size_t n = 0;
    st = tls_read(c.ssl, buf + got, len - got, n);
    if (st != tls_status::ok)
      break;
    got += n;
  }
  if (st == tls_status::want_write)
    c.read_wants_write = true;
  drained = st == tls_status::want_read || st == tls_status::want_write;
  if (got > 0)
    return io::ok; // a close or failure shows again on the next call
  if (drained)
    return io::again;
  return st == tls_status::closed ? io::closed : io::failed;
}

bool relay_loop::read_client(connection& c) {
  // Each chunk is read behind the bytes of an incomplete header carried
  // over from the previous one, so the parser sees contiguous bytes.
  char* chunk = rbuf_.get() + max_carry;
  for (int round = 0; round < client_reads_per_event; ++round) {
    if (!may_read_client(c))
      return true;
    size_t got = 0;
    bool drained = false;
    auto st = client_recv(c, chunk, read_chunk, got, drained);
    if (st == io::again)
      return true;
    if (st != io::ok) {
      close(c, st == io::closed);
      return false;
    }
    local_.bytes_in += got;
    dirty_ = true;
    char* frames = chunk;
    if (c.state == conn_state::auth) {
      auto took = authenticate(c, chunk, got);
      if (took < 0)
        return false;
      frames += took;
      got -= static_cast<size_t>(took);
    }
    char* start = frames - c.carry_len;
    std::memcpy(start, c.carry, c.carry_len);
    if ((got > 0 || c.carry_len > 0)
        && !forward_up(c, start, c.carry_len + got))
      return false;
    if (drained)
      return true;
  }
  return true;
}

bool relay_loop::forward_up(connection& c, char* data, size_t len) {
  size_t pos = 0;
  size_t from = 0; // [from, pos) is checked and not relayed yet
  auto max_payload = static_cast<uint64_t>(opts_.max_message_size);
  while (pos < len) {
    if (c.payload_left > 0) {
      auto take = std::min<uint64_t>(c.payload_left, len - pos);
      pos += take;
      c.payload_left -= take;
      if (c.dropping)
        from = pos;
      if (c.payload_left == 0)
        frame_ended(c);
      continue;
    }
    if (len - pos < basp_header_size)
      break;
    auto* bytes = reinterpret_cast<unsigned char*>(data + pos);
    auto hdr = decode_header(bytes);
    auto verdict = check_header(hdr, !c.seen_header, max_payload);
    if (verdict != header_verdict::ok)
      return reject(c, hdr, verdict);
    if (is_request(hdr) && at_pending_cap(c)) {
      // The caps, frame by frame: this request and what follows wait here
      // until answers come back (and are checked then).
      c.held.append(data + pos, len - pos);
      c.carry_len = 0;
      wait_for_answers(c);
      return relay_parsed(c, data + from, pos - from);
    }
    // What the frame may address, on the first bytes of its payload.
    auto avail
      = std::min<size_t>(len - pos - basp_header_size,
                         std::min<uint64_t>(hdr.payload_len, max_prefix));
    auto policy = c.policy->check(hdr, bytes + basp_header_size, avail);
    if (policy.what == frame_policy::decision::need_more)
      break; // header and prefix wait in `carry`
    if (policy.what == frame_policy::decision::refuse)
      return forbid(c, hdr, policy.why);
    c.seen_header = true;
    c.dropping = policy.what == frame_policy::decision::drop;
    if (c.dropping) {
      // Left out: what came before goes up, this frame does not.
      if (!relay_parsed(c, data + from, pos - from))
        return false;
      from = pos + basp_header_size;
    } else if (is_request(hdr)) {
      ++c.pending_requests;
      ++pending_total_;
    }
    pos += basp_header_size;
    c.payload_left = hdr.payload_len;
    if (c.payload_left == 0)
      frame_ended(c);
  }
  c.carry_len = static_cast<uint16_t>(len - pos);
  std::memcpy(c.carry, data + pos, c.carry_len);
  if ((c.payload_left > 0 || c.carry_len > 0) && !c.in_frame)
    frame_started(c);
  return relay_parsed(c, data + from, pos - from);
}

void relay_loop::frame_started(connection& c) {
  c.in_frame = true;
  ++in_frame_;
  c.frame_deadline = now_ + opts_.message_timeout;
}

void relay_loop::frame_ended(connection& c) {
  if (c.in_frame) {
    c.in_frame = false;
    --in_frame_;
  }
  if (!c.first_done)
    first_frame_done(c);
}

bool relay_loop::relay_parsed(connection& c, const char* data, size_t len) {
  if (len == 0)
    return true;
  // The first header passed: only now is CAF involved.
  if (c.backend.fd < 0 && !connect_backend(c))
    return false;
  return send_up(c, data, len);
}

bool relay_loop::at_pending_cap(const connection& c) const {
  return (opts_.max_pending_requests > 0
          && c.pending_requests >= opts_.max_pending_requests)
         || (opts_.max_pending_total > 0
             && pending_total_ >= opts_.max_pending_total);
}

void relay_loop::wait_for_answers(connection& c) {
  if (c.waiting)
    return;
  c.waiting = true;
  waiters_.push_back(&c);
}

void relay_loop::resume_waiters() {
  // In turn: a connection that is still held goes to the back, so every
  // client gets its share of the requests CAF works on at once.
  for (auto n = waiters_.size(); n > 0 && !waiters_.empty(); --n) {
    if (opts_.max_pending_total > 0
        && pending_total_ >= opts_.max_pending_total)
      return;
    auto* c = waiters_.front();
    waiters_.pop_front();
    c->waiting = false;
    if (!c->closed && resume_held(*c))
      update_interest(*c);
  }
}

bool relay_loop::resume_held(connection& c) {
  if (c.held.empty() || c.closed)
    return true;
  if (at_pending_cap(c)) {
    wait_for_answers(c);
    return true;
  }
  // Rare (only at the cap): a copy, since forward_up may hold part again.
  std::string frames{c.held.data(), c.held.size()};
  c.held.release();
  return forward_up(c, frames.data(), frames.size());
}

bool relay_loop::reject(connection& c, const basp_header& hdr,
                        header_verdict v) {
  bool oversize = v == header_verdict::oversize;
  if (oversize)
    ++local_.closed_oversize;
  else
    ++local_.closed_bad_header;
  dirty_ = true;
  warn(oversize ? log_kind::oversize : log_kind::bad_header,
       "closed {}: {} (operation {:#04x}, payload_len {}, limit {}{})",
       describe_peer(c), verdict_text(v), hdr.operation, hdr.payload_len,
       opts_.max_message_size, c.seen_header ? "" : ", first frame");
  close(c);
  return false;
}

bool relay_loop::forbid(connection& c, const basp_header& hdr,
                        const char* why) {
  ++local_.closed_forbidden;
  dirty_ = true;
  warn(log_kind::forbidden,
       "closed {}: {} (operation {:#04x}, to actor {}, flags {:#04x})",
       describe_peer(c), why, hdr.operation, hdr.dest_actor, hdr.flags);
  close(c);
  return false;
}

void relay_loop::first_frame_done(connection& c) {
  c.first_done = true;
  --pre_handshake_;
}

// -- the credential
// ---------------------------------------------------------------

long relay_loop::authenticate(connection& c, const char* data, size_t len) {
  auto room = max_auth_line - c.auth_line.size();
  auto take = std::min(len, room);
  auto* nl = static_cast<const char*>(std::memchr(data, '\n', take));
  auto part = nl != nullptr ? static_cast<size_t>(nl - data) + 1 : take;
  c.auth_line.append(data, part);
  std::string token;
  size_t used = 0;
  auto st = parse_hello(c.auth_line, token, used);
  if (st == line_state::incomplete)
    return static_cast<long>(part);
  if (st == line_state::malformed)
    return refuse_auth(c,
                       "no credential line (an old client, or not a "
                       "switchboard client)",
                       "the first line must be the credential: "
                       "SWITCHBOARD-AUTH/1 TOKEN");
  std::string{}.swap(c.auth_line);
  auto granted = scope_of(c, token);
  if (granted == scope::none)
    return token.empty()
             ? refuse_auth(c, "no credential", "a credential is required")
             : refuse_auth(c, "a wrong credential",
                           "the credential was refused");
  c.granted = granted;
  c.token = std::move(token);
  c.policy.emplace(opts_.rules, granted == scope::admin ? opts_.admin_door
                                                        : opts_.report_door);
  c.state = conn_state::first_frame;
  auto answer = auth_granted(granted);
  if (!send_down(c, answer.data(), answer.size()))
    return -1;
  spdlog::debug("intake: {} authenticated ({})", describe_peer(c),
                to_string(granted));
  return static_cast<long>(part);
}

long relay_loop::refuse_auth(connection& c, const char* why,
                             const char* answer) {
  ++local_.refused_auth;
  dirty_ = true;
  warn(log_kind::refused_auth, "refused {}: {}", describe_peer(c), why);
  auto line = auth_refused(answer);
  if (send_down(c, line.data(), line.size())) {
    // Closed once the answer went out (at once, or when it can be written).
    if (c.down.empty())
      close(c, true);
    else
      c.state = conn_state::draining;
  }
  return -1;
}

scope relay_loop::scope_of(connection& c, const std::string& token) const {
  if (token.empty())
    // A client certificate that tls-ca signed (the TLS handshake checked
    // it) stands for the admin credential.
    return c.ssl != nullptr && !opts_.tls_ca.empty() && tls_verified(c.ssl)
             ? scope::admin
             : scope::none;
  // Both compared, in constant time: which one matched does not show.
  auto d = sha256(token);
  bool admin = has_admin_
               && CRYPTO_memcmp(d.data(), admin_digest_.data(), d.size()) == 0;
  bool report
    = has_report_
      && CRYPTO_memcmp(d.data(), report_digest_.data(), d.size()) == 0;
  return admin ? scope::admin : report ? scope::report : scope::none;
}

void relay_loop::take_credentials() {
  std::optional<credentials> fresh;
  {
    std::lock_guard<std::mutex> guard{creds_mutex_};
    fresh.swap(creds_pending_);
  }
  if (!fresh)
    return;
  has_admin_ = !fresh->admin_token.empty();
  has_report_ = !fresh->report_token.empty();
  admin_digest_ = sha256(fresh->admin_token);
  report_digest_ = sha256(fresh->report_token);
  // A token that no longer grants what it granted: its connections go.
  for (size_t i = 0; i < conns_.size();) {
    auto& c = *conns_[i];
    if (c.granted == scope::none || c.token.empty()
        || scope_of(c, c.token) == c.granted) {
      ++i;
      continue;
    }
    spdlog::info("intake: closed {}: its credential was revoked",
                 describe_peer(c));
    close(c); // moves the last connection to index i
  }
}

bool relay_loop::flush_down(connection& c) {
  c.write_wants_read = false;
  while (!c.down.empty()) {
    size_t put = 0;
    auto st = client_send(c, c.down.data(), c.down.size(), put);
    c.down.consume(put);
    local_.buffered -= put;
    if (st == io::again)
      break;
    if (st != io::ok) {
      close(c);
      return false;
    }
  }
  if (c.down.empty() && c.state == conn_state::draining) {
    close(c, true);
    return false;
  }
  return true;
}

relay_loop::io relay_loop::client_send(connection& c, const char* data,
                                       size_t len, size_t& put) {
  put = 0;
  if (c.ssl == nullptr) {
    auto n = ::send(c.client.fd, data, len, MSG_NOSIGNAL);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
               ? io::again
               : io::failed;
    put = static_cast<size_t>(n);
  } else {
    // Partial writes: each call writes at least one record, so loop.
    while (put < len) {
      size_t n = 0;
      auto st = tls_write(c.ssl, data + put, len - put, n);
      put += n;
      if (st == tls_status::ok)
        continue;
      if (st == tls_status::want_read)
        c.write_wants_read = true;
      local_.bytes_out += put;
      dirty_ = true;
      if (st == tls_status::want_read || st == tls_status::want_write)
        return io::again;
      return put > 0 ? io::again : io::failed;
    }
  }
  local_.bytes_out += put;
  dirty_ = true;
  return put < len ? io::again : io::ok;
}

void relay_loop::update_interest(connection& c) {
  if (c.closed)
    return;
  uint32_t client = 0;
  bool readable = may_read_client(c);
  if (c.state == conn_state::tls_handshake) {
    client = c.tls_want_write ? EPOLLOUT : EPOLLIN;
  } else {
    if (readable || c.write_wants_read)
      client |= EPOLLIN;
    if (!c.down.empty() || c.read_wants_write)
      client |= EPOLLOUT;
  }
  set_interest(c.client, client);
  if (c.backend.fd >= 0)
    set_interest(c.backend, c.up.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
  if (c.ssl != nullptr && readable && !c.in_ready && tls_has_pending(c.ssl)) {
    c.in_ready = true;
    ready_.push_back(&c);
  }
}

} // namespace sb::intake
