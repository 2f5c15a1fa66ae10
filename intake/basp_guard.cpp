#include "intake/basp_guard.hpp"

#include "intake/listen.hpp"
#include "intake/relay.hpp"
#include "intake/tls_session.hpp"

#include <spdlog/spdlog.h>

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace sb::intake {

struct basp_guard::impl {
  std::unique_ptr<relay_loop> loop;
  std::thread thread;
  uint16_t port = 0;
  std::string host;
  bool stopped = false;
};

namespace {

/// The options' own consistency; "" if fine.
std::string check_options(const guard_options& o) {
  if (!o.hand_over)
    return "the guard needs the daemon's side of a connection (hand_over)";
  if (o.admin_door == 0 || o.report_door == 0)
    return "the guard needs the FRONT DOORs' actor ids";
  if (o.tokens.admin_token.empty() && o.tokens.report_token.empty()
      && o.tls_ca.empty())
    return "the guard needs a token or a TLS CA: nobody could get in";
  if (o.max_connections == 0)
    return "max_connections must be at least 1";
  if (o.max_message_size == 0 || o.max_message_size > UINT32_MAX)
    return "max_message_size must be between 1 and 4294967295";
  if (o.max_buffered == 0 || o.pause_backlog > o.max_buffered)
    return "max_buffered must be at least 1 and at least pause_backlog";
  if (o.handshake_timeout.count() <= 0 || o.message_timeout.count() <= 0)
    return "handshake_timeout and message_timeout must be positive";
  if (o.max_buffered_total < o.max_buffered)
    return "max_buffered_total must be at least max_buffered";
  if (o.tls_certificate.empty() != o.tls_key.empty())
    return "TLS needs a certificate and a key together";
  if (!o.tls_ca.empty() && o.tls_certificate.empty())
    return "a TLS CA needs a certificate and a key too";
  return {};
}

} // namespace

basp_guard::start_result basp_guard::start(const guard_options& opts) {
  start_result result;
  result.error = check_options(opts);
  if (!result.error.empty())
    return result;
  std::unique_ptr<tls_server> tls;
  if (!opts.tls_certificate.empty()) {
    tls = tls_server::make(opts.tls_certificate, opts.tls_key, opts.tls_ca,
                           result.error);
    if (!tls)
      return result;
  }
  auto bound = open_listeners(opts.host, opts.port, tls == nullptr);
  if (bound.fds.empty()) {
    result.error = bound.error;
    return result;
  }
  auto p = std::make_unique<impl>();
  p->port = bound.port;
  p->host = opts.host;
  p->loop
    = std::make_unique<relay_loop>(opts, std::move(bound.fds), std::move(tls));
  if (!p->loop->init(result.error))
    return result;
  p->thread = std::thread{[loop = p->loop.get()] { loop->run(); }};
  spdlog::info("intake: guarding {}:{} ({}; a credential on every "
               "connection; max {} connections, frames up to {} bytes)",
               opts.host, p->port,
               opts.tls_certificate.empty() ? "plain, loopback only"
               : opts.tls_ca.empty()        ? "TLS"
                                            : "TLS, client certificates",
               opts.max_connections, opts.max_message_size);
  result.guard.reset(new basp_guard(std::move(p)));
  return result;
}

basp_guard::basp_guard(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

basp_guard::~basp_guard() {
  stop();
}

uint16_t basp_guard::port() const noexcept {
  return impl_->port;
}

guard_stats basp_guard::stats() const noexcept {
  return impl_->loop->snapshot();
}

void basp_guard::set_credentials(const credentials& tokens) {
  impl_->loop->set_credentials(tokens);
}

void basp_guard::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  impl_->loop->wake();
  if (impl_->thread.joinable())
    impl_->thread.join();
  // The loop closed every connection and the listeners; it stays for stats().
  spdlog::info("intake: stopped guarding {}:{}", impl_->host, impl_->port);
}

} // namespace sb::intake

// gperftools' C API: present when the daemon is linked with tcmalloc (weak:
// a null address otherwise).
extern "C" void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));

namespace sb::intake {

void release_free_memory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr)
    MallocExtension_ReleaseFreeMemory();
  else
    ::malloc_trim(0);
}

size_t raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  auto target = lim.rlim_max;
  if (target == RLIM_INFINITY) {
    // The kernel refuses more than fs.nr_open even with an infinite hard
    // limit.
    std::ifstream nr_open{"/proc/sys/fs/nr_open"};
    unsigned long long n = 0;
    target = (nr_open >> n) ? static_cast<rlim_t>(n) : lim.rlim_cur;
  }
  if (lim.rlim_cur < target) {
    rlimit raised = lim;
    raised.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim.rlim_cur = target;
  }
  return static_cast<size_t>(lim.rlim_cur);
}

size_t connection_capacity(size_t max_connections, size_t reserved) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  auto soft = lim.rlim_cur == RLIM_INFINITY ? size_t{1} << 20
                                            : static_cast<size_t>(lim.rlim_cur);
  auto usable = soft > reserved ? soft - reserved : 0;
  return std::min(max_connections, usable / 3);
}

} // namespace sb::intake
