#include "guard_fixture.hpp"

#include "client/connect.hpp"
#include "intake/basp_frame.hpp"
#include "messages/auth_line.hpp"

#include <caf/actor_cast.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <stdexcept>

namespace sb::test {

namespace {

echo_actor::behavior_type echo_impl() {
  return {
    [](ping_atom, int32_t x) { return x; },
    [](big_atom, uint32_t n) { return std::string(n, 'x'); },
  };
}

void base_config(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  // As the daemon runs it (see actors/config.cpp).
  cfg.set("middleman.workers", 0);
}

} // namespace

echo_server::echo_server() {
  base_config(cfg_);
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  echo_ = sys_->spawn(echo_impl);
  report_echo_ = sys_->spawn(echo_impl);
  door_ = std::make_unique<intake::caf_door>(
    *sys_, caf::actor_cast<caf::strong_actor_ptr>(echo_),
    caf::actor_cast<caf::strong_actor_ptr>(report_echo_),
    sys_->message_types<echo_actor>(),
    intake::input_type_names<echo_actor>(*sys_));
}

echo_server::~echo_server() {
  door_->close();
  caf::anon_send_exit(echo_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(report_echo_, caf::exit_reason::user_shutdown);
  echo_ = nullptr;
  report_echo_ = nullptr;
}

uint64_t echo_server::actor_id() const {
  return echo_.id();
}

uint64_t echo_server::report_actor_id() const {
  return report_echo_.id();
}

intake::guard_options echo_server::guard_options() const {
  intake::guard_options o;
  o.hand_over
    = [door = door_.get()](int fd, scope s) { return door->hand_over(fd, s); };
  o.rules = door_->rules();
  o.admin_door = echo_.id();
  o.report_door = report_echo_.id();
  o.tokens = {admin_token, report_token};
  return o;
}

std::shared_ptr<echo_client> echo_client::make(tls_client_options tls) {
  std::shared_ptr<echo_client> c{new echo_client};
  base_config(c->cfg_);
  c->tls_ = std::move(tls);
  c->sys_ = std::make_unique<caf::actor_system>(c->cfg_);
  return c;
}

echo_client::~echo_client() {
  remote_ = nullptr;
}

std::string echo_client::connect(const std::string& host, uint16_t port,
                                 std::chrono::milliseconds timeout,
                                 const std::string& token) {
  client::endpoint ep;
  ep.host = host;
  ep.port = port;
  ep.token = token;
  if (tls_.enabled) {
    ep.tls_ca = tls_.cafile;
    ep.tls_certificate = tls_.certificate;
    ep.tls_key = tls_.key;
    ep.tls_unverified = tls_.cafile.empty();
  }
  auto h = client::connect_any(*sys_, ep, timeout);
  if (!h)
    return "connect failed: " + render(h.error());
  remote_ = caf::actor_cast<echo_actor>(std::move(h->actor));
  return {};
}

uint64_t echo_client::remote_id() const {
  return remote_ ? remote_.id() : 0;
}

std::string echo_client::ping(int n, std::chrono::milliseconds timeout) {
  if (!remote_)
    return "not connected";
  caf::scoped_actor self{*sys_};
  std::vector<decltype(self->request(remote_, caf::infinite, ping_atom::value,
                                     int32_t{0}))>
    pending;
  pending.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i)
    pending.push_back(self->request(remote_, timeout, ping_atom::value, i));
  std::string problem;
  for (int32_t i = 0; i < n; ++i)
    pending[static_cast<size_t>(i)].receive(
      [&](int32_t x) {
        if (x != i && problem.empty())
          problem = "wrong answer";
      },
      [&](caf::error& err) {
        if (problem.empty())
          problem = sys_->render(err);
      });
  return problem;
}

int64_t echo_client::big(uint32_t size, std::chrono::milliseconds timeout) {
  if (!remote_)
    return -1;
  caf::scoped_actor self{*sys_};
  int64_t got = -1;
  self->request(remote_, timeout, big_atom::value, size)
    .receive(
      [&](const std::string& s) { got = static_cast<int64_t>(s.size()); },
      [&](caf::error&) {});
  return got;
}

// -- raw sockets
// ----------------------------------------------------------------

int raw_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int raw_authenticated(uint16_t port, const std::string& token) {
  int fd = raw_connect(port);
  if (fd < 0)
    return -1;
  auto hello = auth_hello(token);
  std::string answer;
  char c = 0;
  if (send_all(fd, hello.data(), hello.size()))
    while (answer.size() < max_auth_line && ::recv(fd, &c, 1, 0) == 1) {
      answer += c;
      if (c == '\n')
        break;
    }
  if (answer.rfind("OK ", 0) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const void* data, size_t len) {
  auto p = static_cast<const char*>(data);
  while (len > 0) {
    auto n = ::send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool wait_closed(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    auto n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      return true;
  }
}

std::vector<char> frame(const intake::basp_header& hdr,
                        const std::vector<char>& payload) {
  std::vector<char> out(intake::basp_header_size);
  auto h = hdr;
  h.payload_len = static_cast<uint32_t>(payload.size());
  intake::encode_header(h, reinterpret_cast<unsigned char*>(out.data()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<char> handshake_frame(caf::actor_system& sys) {
  static std::atomic<uint32_t> next{1};
  caf::node_id::default_data::host_id_type host{};
  auto n = next++;
  host[0] = 0xAB;
  host[1] = static_cast<uint8_t>(n >> 8);
  host[2] = static_cast<uint8_t>(n);
  auto nid = caf::make_node_id(4242 + n, host);
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  if (auto err = sink(nid))
    throw std::runtime_error("cannot serialize a node id");
  intake::basp_header hdr;
  hdr.operation = static_cast<uint8_t>(intake::basp_op::client_handshake);
  return frame(hdr, payload);
}

std::vector<char> request_frame(caf::actor_system& sys, uint64_t dest_actor,
                                uint64_t request_id, const caf::message& msg) {
  std::vector<char> payload;
  caf::binary_serializer sink{sys, payload};
  std::vector<caf::strong_actor_ptr> stages;
  auto copy = msg;
  if (auto err = sink(stages, copy))
    throw std::runtime_error("cannot serialize a message");
  intake::basp_header hdr;
  hdr.operation = static_cast<uint8_t>(intake::basp_op::direct_message);
  hdr.operation_data = caf::make_message_id(request_id).integer_value();
  hdr.source_actor = 77;
  hdr.dest_actor = dest_actor;
  return frame(hdr, payload);
}

// -- process
// --------------------------------------------------------------------

namespace {

// One malloc arena for every thread, so that malloc_trim can hand back what
// CAF's threads freed: glibc never trims the top of a thread's own arena, and
// RSS would show the allocator's high-water mark instead of what is in use.
const bool one_arena = ::mallopt(M_ARENA_MAX, 1) == 1;

} // namespace

size_t rss_kib() {
  static_cast<void>(one_arena);
  ::malloc_trim(0);
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6));
  return 0;
}

size_t heap_kib() {
  auto info = ::mallinfo2();
  return (info.uordblks + info.hblkhd) / 1024;
}

namespace {

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  auto* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    throw std::runtime_error("cannot make a certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

template<class F>
void write_pem(const std::string& path, F write) {
  auto* f = std::fopen(path.c_str(), "w");
  if (f == nullptr || write(f) != 1)
    throw std::runtime_error("cannot write " + path);
  std::fclose(f);
}

} // namespace

pem_pair make_certificate(const std::string& dir, const std::string& name,
                          const pem_pair* ca) {
  static std::atomic<long> serial{1};
  auto* key = EVP_EC_gen("P-256");
  auto* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 2 * 86400);
  X509_set_pubkey(cert, key);
  auto* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(
    subject, "CN", MBSTRING_ASC,
    reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509* issuer = cert;
  EVP_PKEY* issuer_key = key;
  if (ca != nullptr) {
    auto* f = std::fopen(ca->certificate.c_str(), "r");
    issuer = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    f = std::fopen(ca->key.c_str(), "r");
    issuer_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
  }
  X509_set_issuer_name(cert, X509_get_subject_name(issuer));
  add_extension(cert, issuer, NID_basic_constraints,
                ca == nullptr ? "critical,CA:TRUE" : "CA:FALSE");
  X509_sign(cert, issuer_key, EVP_sha256());
  pem_pair out{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  write_pem(out.certificate, [&](FILE* f) { return PEM_write_X509(f, cert); });
  write_pem(out.key, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (ca != nullptr) {
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

} // namespace sb::test
