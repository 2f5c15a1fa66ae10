// The HTTP/1.1 engine (http/server.hpp) on Boost.Beast and asio, as Debian
// ships them (libboost1.81-dev, header-only).

#include "http/server.hpp"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace sb::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

/// Bytes read at once while a connection waits for its next request.
constexpr size_t first_read = 2048;

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

std::string lowercase(std::string_view x) {
  std::string out{x};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string chunk_of(const std::string& bytes) {
  char size[32];
  auto n = std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
  std::string out;
  out.reserve(static_cast<size_t>(n) + bytes.size() + 2);
  out.append(size, static_cast<size_t>(n));
  out += bytes;
  out += "\r\n";
  return out;
}

} // namespace

bool split_target(const std::string& target, std::string& path,
                  std::multimap<std::string, std::string>& params) {
  if (target.empty() || target[0] != '/')
    return false;
  auto q = target.find('?');
  auto raw_path = std::string_view{target}.substr(0, q);
  if (!decode(raw_path, false, path))
    return false;
  params.clear();
  if (q == std::string::npos)
    return true;
  auto rest = std::string_view{target}.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{}
                                         : rest.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    std::string key;
    std::string value;
    if (!decode(pair.substr(0, eq), true, key))
      return false;
    if (eq != std::string_view::npos
        && !decode(pair.substr(eq + 1), true, value))
      return false;
    params.emplace(std::move(key), std::move(value));
  }
  return true;
}

const std::string& request::header(const std::string& lowercase_name) const {
  static const std::string none;
  auto i = headers.find(lowercase_name);
  return i == headers.end() ? none : i->second;
}

/// Whether the event loop still takes work. An answer may come from an
/// actor after the server stopped: its post is then dropped, never queued
/// on an event loop that is gone.
struct post_gate {
  std::mutex mutex;
  bool open = true;
};

/// A connection, whatever its stream; every member function runs on its
/// strand unless it says otherwise.
class session_base : public std::enable_shared_from_this<session_base> {
public:
  virtual ~session_base() = default;

  /// Runs fn on the connection's strand (any thread).
  virtual void post(std::function<void()> fn) = 0;

  virtual void reply(uint64_t id, response r) = 0;
  virtual void open_stream(uint64_t id, response head, std::string heartbeat)
    = 0;
  virtual void flush() = 0;
  virtual void when_written(std::function<void(bool)> fn) = 0;
  virtual void end_stream() = 0;
  virtual void on_close(std::function<void()> fn) = 0;
  /// Closes once the answer in progress is written; streams end.
  virtual void drain() = 0;
  virtual void close() = 0;

  /// Unsent stream bytes (any thread).
  std::atomic<size_t> queued{0};
  std::atomic<bool> gone{false};
  /// Pushed chunks waiting for the strand (guarded by push_mutex).
  std::mutex push_mutex;
  std::deque<std::string> pushed;
};

namespace {

/// One request's answer, handed to the front.
class exchange_impl : public exchange {
public:
  exchange_impl(std::shared_ptr<session_base> s, uint64_t id, request r,
                size_t stream_limit)
      : session_(std::move(s)), id_(id), req_(std::move(r)),
        stream_limit_(stream_limit) {
    // nop
  }

  const request& req() const override { return req_; }

  void reply(response r) override {
    auto s = session_;
    auto id = id_;
    s->post(
      [s, id, r = std::move(r)]() mutable { s->reply(id, std::move(r)); });
  }

  void open_stream(response head, std::string heartbeat) override {
    auto s = session_;
    auto id = id_;
    s->post([s, id, head = std::move(head),
             heartbeat = std::move(heartbeat)]() mutable {
      s->open_stream(id, std::move(head), std::move(heartbeat));
    });
  }

  bool push(std::string bytes) override {
    auto& s = *session_;
    if (s.gone)
      return false;
    auto chunk = chunk_of(bytes);
    // One chunk always goes (a backup's chunk may be the limit's size);
    // beyond that, the unsent bytes stay under the limit.
    auto before = s.queued.fetch_add(chunk.size());
    if (before > 0 && before + chunk.size() > stream_limit_) {
      auto sp = session_;
      sp->post([sp] { sp->close(); });
      s.gone = true;
      return false;
    }
    bool first;
    {
      std::lock_guard<std::mutex> guard{s.push_mutex};
      first = s.pushed.empty();
      s.pushed.push_back(std::move(chunk));
    }
    if (first) {
      auto sp = session_;
      sp->post([sp] { sp->flush(); });
    }
    return true;
  }

  void when_written(std::function<void(bool)> fn) override {
    auto s = session_;
    s->post(
      [s, fn = std::move(fn)]() mutable { s->when_written(std::move(fn)); });
  }

  void end_stream() override {
    auto s = session_;
    s->post([s] { s->end_stream(); });
  }

  void on_close(std::function<void()> fn) override {
    auto s = session_;
    s->post([s, fn = std::move(fn)]() mutable { s->on_close(std::move(fn)); });
  }

  void abort() override {
    auto s = session_;
    s->post([s] { s->close(); });
  }

  bool closed() const override { return session_->gone; }

private:
  std::shared_ptr<session_base> session_;
  uint64_t id_;
  request req_;
  size_t stream_limit_;
};

} // namespace

struct server::impl {
  impl(server_limits l, precheck_fn p, handler_fn h)
      : limits(l), pre(std::move(p)), handler(std::move(h)),
        ioc(static_cast<int>(l.threads)), acceptor(net::make_strand(ioc)),
        retry(acceptor.get_executor()) {
    // nop
  }

  server_limits limits;
  precheck_fn pre;
  handler_fn handler;
  net::io_context ioc;
  std::unique_ptr<ssl::context> tls;
  tcp::acceptor acceptor;
  net::steady_timer retry;
  std::vector<std::thread> threads;
  tcp::endpoint local;
  std::shared_ptr<post_gate> gate = std::make_shared<post_gate>();

  std::mutex live_mutex;
  std::condition_variable live_changed;
  std::unordered_map<session_base*, std::weak_ptr<session_base>> live;
  bool stopping = false;
  bool stopped = false;

  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void refuse(tcp::socket& socket);

  /// False if the daemon stops (the session is closed at once).
  bool enlist(const std::shared_ptr<session_base>& s) {
    std::lock_guard<std::mutex> guard{live_mutex};
    if (stopping)
      return false;
    live.emplace(s.get(), s);
    return true;
  }

  void forget(session_base* s) {
    std::lock_guard<std::mutex> guard{live_mutex};
    live.erase(s);
    live_changed.notify_all();
  }

  size_t open() {
    std::lock_guard<std::mutex> guard{live_mutex};
    return live.size();
  }
};

namespace {

enum class phase {
  handshake,
  idle,
  reading,
  waiting,
  writing,
  streaming,
  done
};

/// A connection on a plain TCP stream or on TLS over one.
template<class Stream>
class session final : public session_base {
public:
  session(server::impl& srv, Stream&& stream)
      : srv_(srv), gate_(srv.gate), stream_(std::move(stream)),
        heartbeat_(executor()), buffer_(srv.limits.header_limit + 4096) {
    // nop
  }

  void start() {
    auto self = shared();
    net::dispatch(executor(), [self] { self->begin(); });
  }

  void post(std::function<void()> fn) override {
    std::lock_guard<std::mutex> guard{gate_->mutex};
    if (gate_->open)
      net::post(executor(), std::move(fn));
  }

  void reply(uint64_t id, response r) override {
    if (id != request_id_ || phase_ != phase::waiting)
      return;
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(r.status));
    res->set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers)
      res->set(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !draining_);
    res->prepare_payload();
    if (head_) {
      // HEAD: the length of the body a GET would get, and no body.
      auto n = res->body().size();
      res->body().clear();
      res->content_length(n);
    }
    write_response(std::move(res));
  }

  void open_stream(uint64_t id, response head, std::string heartbeat) override {
    if (id != request_id_ || phase_ != phase::waiting)
      return;
    phase_ = phase::streaming;
    heartbeat_text_ = std::move(heartbeat);
    // A stream needs no large kernel buffer: a client that stops reading
    // fills this one soon, and then the stream's own bounded queue.
    beast::error_code ignored;
    lowest().socket().set_option(net::socket_base::send_buffer_size(64 * 1024),
                                 ignored);
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(head.status));
    res->set(bhttp::field::content_type, head.content_type);
    for (auto& [name, value] : head.headers)
      res->set(name, value);
    for (auto& [name, value] : srv_.limits.headers)
      res->set(name, value);
    res->chunked(true);
    res->keep_alive(false);
    auto sr
      = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    writing_ = true;
    lowest().expires_after(srv_.limits.write_timeout);
    auto self = shared();
    bhttp::async_write_header(stream_, *sr,
                              [self, res, sr](beast::error_code ec, size_t) {
                                self->writing_ = false;
                                if (ec)
                                  return self->close();
                                self->flush();
                                self->arm_heartbeat();
                              });
  }

  void flush() override {
    if (phase_ != phase::streaming || writing_ || gone)
      return;
    {
      std::lock_guard<std::mutex> guard{push_mutex};
      while (!pushed.empty()) {
        out_.push_back(std::move(pushed.front()));
        pushed.pop_front();
      }
    }
    if (out_.empty()) {
      if (ending_)
        return close();
      notify_written(true);
      return;
    }
    writing_ = true;
    last_write_ = clock_type::now();
    lowest().expires_after(srv_.limits.write_timeout);
    auto self = shared();
    net::async_write(stream_, net::buffer(out_.front()),
                     [self](beast::error_code ec, size_t n) {
                       self->writing_ = false;
                       if (ec)
                         return self->close();
                       self->queued -= n;
                       self->out_.pop_front();
                       self->flush();
                     });
  }

  void when_written(std::function<void(bool)> fn) override {
    if (gone)
      return fn(false);
    written_ = std::move(fn);
    flush();
  }

  void end_stream() override {
    if (phase_ != phase::streaming || gone)
      return;
    ending_ = true;
    {
      std::lock_guard<std::mutex> guard{push_mutex};
      pushed.push_back("0\r\n\r\n");
    }
    flush();
  }

  void on_close(std::function<void()> fn) override {
    if (gone)
      return fn();
    closers_.push_back(std::move(fn));
  }

  void drain() override {
    draining_ = true;
    switch (phase_) {
    case phase::handshake:
    case phase::idle:
    case phase::reading:
      return close();
    case phase::streaming:
      return end_stream();
    default:
      return; // the answer in progress closes the connection
    }
  }

  void close() override {
    if (phase_ == phase::done)
      return;
    phase_ = phase::done;
    gone = true;
    heartbeat_.cancel();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
    notify_written(false);
    auto closers = std::move(closers_);
    for (auto& fn : closers)
      fn();
    srv_.forget(this);
  }

private:
  using executor_type = net::any_io_executor;

  std::shared_ptr<session> shared() {
    return std::static_pointer_cast<session>(shared_from_this());
  }

  executor_type executor() { return lowest().get_executor(); }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void begin();

  void notify_written(bool ok) {
    if (!written_)
      return;
    auto fn = std::move(written_);
    written_ = nullptr;
    fn(ok);
  }

  /// Waits for the first byte of the next request (idle_timeout).
  void wait_for_request() {
    if (draining_)
      return close();
    phase_ = phase::idle;
    if (buffer_.size() > 0)
      return read_header();
    // An idle connection keeps no large buffer.
    if (buffer_.capacity() > 4 * first_read)
      buffer_.shrink_to_fit();
    lowest().expires_after(srv_.limits.idle_timeout);
    auto self = shared();
    stream_.async_read_some(buffer_.prepare(first_read),
                            [self](beast::error_code ec, size_t n) {
                              if (ec)
                                return self->fail(ec);
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    phase_ = phase::reading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_.limits.header_limit));
    parser_->body_limit(srv_.limits.body_limit);
    lowest().expires_after(srv_.limits.request_timeout);
    auto self = shared();
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self](beast::error_code ec, size_t) {
                               if (ec)
                                 return self->fail(ec);
                               self->on_header();
                             });
  }

  void on_header();
  void read_body();
  void dispatch_request();
  void fail(beast::error_code ec);
  void answer_now(int status, const std::string& code,
                  const std::string& message, bool keep);

  template<class Body>
  void write_response(std::shared_ptr<bhttp::response<Body>> res) {
    for (auto& [name, value] : srv_.limits.headers)
      res->set(name, value);
    phase_ = phase::writing;
    lowest().expires_after(srv_.limits.write_timeout);
    auto self = shared();
    bhttp::async_write(stream_, *res,
                       [self, res](beast::error_code ec, size_t) {
                         if (ec)
                           return self->fail(ec);
                         if (!res->keep_alive())
                           return self->close();
                         self->wait_for_request();
                       });
  }

  void arm_heartbeat() {
    if (heartbeat_text_.empty() || gone)
      return;
    heartbeat_.expires_after(srv_.limits.heartbeat_interval);
    auto self = shared();
    heartbeat_.async_wait([self](beast::error_code ec) {
      if (ec || self->gone || self->ending_)
        return;
      auto idle_for = clock_type::now() - self->last_write_;
      if (!self->writing_ && idle_for >= self->srv_.limits.heartbeat_interval
          && self->queued.load() == 0) {
        std::lock_guard<std::mutex> guard{self->push_mutex};
        auto chunk = chunk_of(self->heartbeat_text_);
        self->queued += chunk.size();
        self->pushed.push_back(std::move(chunk));
      }
      self->flush();
      self->arm_heartbeat();
    });
  }

  server::impl& srv_;
  std::shared_ptr<post_gate> gate_;
  Stream stream_;
  net::steady_timer heartbeat_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  phase phase_ = phase::handshake;
  uint64_t request_id_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool draining_ = false;
  bool writing_ = false;
  bool ending_ = false;
  request req_;
  std::deque<std::string> out_;
  std::string heartbeat_text_;
  clock_type::time_point last_write_ = clock_type::now();
  std::function<void(bool)> written_;
  std::vector<std::function<void()>> closers_;
};

template<>
void session<beast::tcp_stream>::begin() {
  wait_for_request();
}

template<>
void session<beast::ssl_stream<beast::tcp_stream>>::begin() {
  lowest().expires_after(srv_.limits.request_timeout);
  auto self = shared();
  stream_.async_handshake(ssl::stream_base::server,
                          [self](beast::error_code ec) {
                            if (ec)
                              return self->fail(ec);
                            self->wait_for_request();
                          });
}

template<class Stream>
void session<Stream>::fail(beast::error_code ec) {
  if (phase_ == phase::done)
    return;
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    return answer_now(431, "header_too_large",
                      "the request's header is larger than "
                        + std::to_string(srv_.limits.header_limit) + " bytes",
                      false);
  }
  if (ec == bhttp::error::body_limit) {
    return answer_now(413, "payload_too_large",
                      "the body is larger than "
                        + std::to_string(srv_.limits.body_limit) + " bytes",
                      false);
  }
  if (ec.category()
        == bhttp::make_error_code(bhttp::error::bad_target).category()
      && ec != bhttp::error::end_of_stream
      && ec != bhttp::error::partial_message && phase_ == phase::reading) {
    return answer_now(400, "bad_request",
                      "the request is not valid HTTP/1.1: " + ec.message(),
                      false);
  }
  close();
}

template<class Stream>
void session<Stream>::answer_now(int status, const std::string& code,
                                 const std::string& message, bool keep) {
  phase_ = phase::waiting;
  response r;
  r.status = status;
  r.body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + message
           + "\"}}\n";
  keep_alive_ = keep;
  reply(request_id_, std::move(r));
}

template<class Stream>
void session<Stream>::on_header() {
  ++request_id_;
  auto& h = parser_->get();
  version_ = h.version();
  keep_alive_ = h.keep_alive();
  head_ = h.method() == bhttp::verb::head;
  req_ = request{};
  req_.method = std::string{h.method_string()};
  std::string target{h.target()};
  if (!split_target(target, req_.path, req_.params)) {
    return answer_now(400, "bad_request",
                      "the request target is not a valid path", false);
  }
  for (auto& field : h) {
    auto name = lowercase(field.name_string());
    req_.headers.emplace(std::move(name), std::string{field.value()});
  }
  auto& encoding = req_.header("content-encoding");
  if (!encoding.empty() && lowercase(encoding) != "identity") {
    return answer_now(415, "unsupported_media_type",
                      "a compressed body (Content-Encoding) is not accepted",
                      false);
  }
  if (auto early = srv_.pre(req_)) {
    phase_ = phase::waiting;
    // The body is not read: the connection cannot be reused.
    keep_alive_ = keep_alive_ && parser_->is_done();
    return reply(request_id_, std::move(*early));
  }
  read_body();
}

template<class Stream>
void session<Stream>::read_body() {
  auto self = shared();
  auto read = [self] {
    bhttp::async_read(self->stream_, self->buffer_, *self->parser_,
                      [self](beast::error_code ec, size_t) {
                        if (ec)
                          return self->fail(ec);
                        self->dispatch_request();
                      });
  };
  if (parser_->is_done())
    return dispatch_request();
  if (lowercase(req_.header("expect")) == "100-continue") {
    auto cont = std::make_shared<std::string>(
      version_ == 10 ? "HTTP/1.0 100 Continue\r\n\r\n"
                     : "HTTP/1.1 100 Continue\r\n\r\n");
    net::async_write(stream_, net::buffer(*cont),
                     [self, cont, read](beast::error_code ec, size_t) {
                       if (ec)
                         return self->fail(ec);
                       read();
                     });
    return;
  }
  read();
}

template<class Stream>
void session<Stream>::dispatch_request() {
  phase_ = phase::waiting;
  lowest().expires_never();
  req_.body = std::move(parser_->get().body());
  parser_.reset();
  auto ex = std::make_shared<exchange_impl>(
    shared_from_this(), request_id_, std::move(req_), srv_.limits.stream_limit);
  srv_.handler(std::move(ex));
}

} // namespace

void server::impl::accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [this](beast::error_code ec, tcp::socket socket) {
                          on_accept(ec, std::move(socket));
                        });
}

void server::impl::refuse(tcp::socket& socket) {
  static const std::string busy = [] {
    std::string body = "{\"error\":{\"code\":\"unavailable\",\"message\":"
                       "\"too many open connections; try again later\"}}\n";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
           "application/json\r\nConnection: close\r\nContent-Length: "
           + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  // Best effort, never blocking: the socket is closed either way.
  [[maybe_unused]] auto n = ::send(socket.native_handle(), busy.data(),
                                   busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  beast::error_code ignored;
  socket.close(ignored);
}

void server::impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open())
    return;
  if (ec) {
    // Out of descriptors (or another transient error): try again shortly
    // instead of spinning.
    retry.expires_after(std::chrono::milliseconds(100));
    retry.async_wait([this](beast::error_code e) {
      if (!e)
        accept();
    });
    return;
  }
  if (open() >= limits.max_connections) {
    refuse(socket);
    return accept();
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::shared_ptr<session_base> s;
  if (tls) {
    auto x = std::make_shared<session<beast::ssl_stream<beast::tcp_stream>>>(
      *this, beast::ssl_stream<beast::tcp_stream>{
               beast::tcp_stream{std::move(socket)}, *tls});
    s = x;
    if (enlist(s))
      x->start();
  } else {
    auto x = std::make_shared<session<beast::tcp_stream>>(
      *this, beast::tcp_stream{std::move(socket)});
    s = x;
    if (enlist(s))
      x->start();
  }
  accept();
}

server::server(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

server::~server() {
  stop(std::chrono::milliseconds{0});
}

std::unique_ptr<server> server::start(const std::string& host, uint16_t port,
                                      const std::string& tls_cert,
                                      const std::string& tls_key,
                                      server_limits limits, precheck_fn pre,
                                      handler_fn handler, std::string* error) {
  auto x = std::make_unique<impl>(limits, std::move(pre), std::move(handler));
  beast::error_code ec;
  if (!tls_cert.empty()) {
    x->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    x->tls->set_options(ssl::context::default_workarounds
                        | ssl::context::no_sslv2 | ssl::context::no_sslv3
                        | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    x->tls->use_certificate_chain_file(tls_cert, ec);
    if (!ec)
      x->tls->use_private_key_file(tls_key, ssl::context::pem, ec);
    if (ec) {
      *error = "the HTTP front cannot use switchboard.tls-certificate and "
               "switchboard.tls-key";
      return nullptr;
    }
  }
  auto address
    = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) {
    *error = "switchboard.http-host: '" + host + "' is not an IP address";
    return nullptr;
  }
  tcp::endpoint ep{address, port};
  auto& a = x->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec)
    a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(ep, ec);
  if (!ec)
    a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "the HTTP front cannot listen on " + host + ":"
             + std::to_string(port) + ": " + ec.message();
    return nullptr;
  }
  x->local = a.local_endpoint(ec);
  x->accept();
  auto threads = std::max<size_t>(1, limits.threads);
  for (size_t i = 0; i < threads; ++i)
    x->threads.emplace_back([io = &x->ioc] { io->run(); });
  return std::unique_ptr<server>{new server(std::move(x))};
}

uint16_t server::port() const {
  return impl_->local.port();
}

bool server::loopback() const {
  return impl_->local.address().is_loopback();
}

std::string server::bound() const {
  auto a = impl_->local.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":"
         + std::to_string(impl_->local.port());
}

void server::stop(std::chrono::milliseconds grace) {
  auto& x = *impl_;
  std::vector<std::shared_ptr<session_base>> sessions;
  {
    std::lock_guard<std::mutex> guard{x.live_mutex};
    if (x.stopped)
      return;
    x.stopping = true;
    for (auto& [ptr, weak] : x.live)
      if (auto s = weak.lock())
        sessions.push_back(std::move(s));
  }
  net::post(x.acceptor.get_executor(), [&x] {
    beast::error_code ignored;
    x.acceptor.close(ignored);
    x.retry.cancel();
  });
  for (auto& s : sessions)
    s->post([s] { s->drain(); });
  sessions.clear();
  {
    std::unique_lock<std::mutex> lock{x.live_mutex};
    x.live_changed.wait_for(lock, grace, [&x] { return x.live.empty(); });
    for (auto& [ptr, weak] : x.live)
      if (auto s = weak.lock())
        sessions.push_back(std::move(s));
  }
  for (auto& s : sessions)
    s->post([s] { s->close(); });
  sessions.clear();
  {
    std::unique_lock<std::mutex> lock{x.live_mutex};
    x.live_changed.wait_for(lock, std::chrono::seconds(2),
                            [&x] { return x.live.empty(); });
    x.stopped = true;
  }
  x.ioc.stop();
  for (auto& t : x.threads)
    if (t.joinable())
      t.join();
  std::lock_guard<std::mutex> guard{x.gate->mutex};
  x.gate->open = false;
}

} // namespace sb::http
