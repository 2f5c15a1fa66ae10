#include "client/connect.hpp"

#include "messages/error.hpp"
#include "messages/register.hpp"

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>

#include <future>
#include <memory>

namespace sb::client {

std::string endpoint::tls_problem() const {
  bool any = !tls_ca.empty() || !tls_certificate.empty() || !tls_key.empty();
  if (!any)
    return {};
  if (tls_ca.empty() || tls_certificate.empty() || tls_key.empty())
    return "TLS needs --tls-ca, --tls-cert and --tls-key together (CAF 0.17's "
           "client verifies the daemon only when it presents a certificate "
           "too), or --tls alone (encrypted, the daemon not verified)";
  return {};
}

void configure(caf::actor_system_config& cfg, const endpoint& ep) {
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  // See actors/config.cpp: BASP workers can drop replies in CAF 0.17.
  cfg.set("middleman.workers", 0);
  if (ep.tls()) {
    cfg.load<caf::openssl::manager>();
    if (!ep.tls_ca.empty())
      cfg.set("openssl.cafile", ep.tls_ca);
    if (!ep.tls_certificate.empty()) {
      cfg.set("openssl.certificate", ep.tls_certificate);
      cfg.set("openssl.key", ep.tls_key);
    }
  }
}

namespace {

/// Why a connection failed, in the operator's words (not CAF's error names).
std::string connect_failure(const caf::error& err, bool tls) {
  if (err == caf::sec::cannot_connect_to_node)
    return "nothing accepts connections there";
  if (err == caf::sec::malformed_basp_message
      || err == caf::sec::connection_timeout)
    return tls ? "the connection closed during the TLS handshake: check the "
                 "certificates"
               : "the connection closed before the handshake: not a "
                 "switchboardd, or one that needs TLS (--tls or --tls-ca)";
  if (err == caf::sec::request_timeout)
    return "no answer";
  return "connection failed";
}

} // namespace

caf::expected<front_door_actor> connect(caf::actor_system& sys,
                                        const endpoint& ep,
                                        std::chrono::milliseconds timeout) {
  auto where = ep.host + ":" + std::to_string(ep.port);
  if (auto problem = ep.tls_problem(); !problem.empty())
    return make_error(ec::invalid_argument, problem);
  // remote_actor blocks; run it aside so we can bound the wait.
  auto task
    = std::make_shared<std::packaged_task<caf::expected<front_door_actor>()>>(
      [&sys, ep] {
        if (ep.tls())
          return caf::openssl::remote_actor<front_door_actor>(sys, ep.host,
                                                              ep.port);
        return sys.middleman().remote_actor<front_door_actor>(ep.host, ep.port);
      });
  auto result = task->get_future();
  std::thread{[task] { (*task)(); }}.detach();
  if (result.wait_for(timeout) != std::future_status::ready)
    return make_error(ec::unavailable,
                      "daemon not reachable at " + where + ": no answer within "
                        + std::to_string(timeout.count() / 1000) + " s");
  auto handle = result.get();
  if (!handle) {
    auto& err = handle.error();
    if (err.category() == caf::atom("system")) {
      auto code = static_cast<caf::sec>(err.code());
      if (code == caf::sec::incompatible_application_ids)
        return make_error(ec::unavailable,
                          "the daemon at " + where
                            + " speaks another protocol version (this client: "
                            + protocol_version() + ")");
      if (code == caf::sec::unexpected_actor_messaging_interface)
        return make_error(ec::unavailable,
                          "the daemon at " + where
                            + " has another interface than this client "
                              "expects (version mismatch)");
    }
    return make_error(ec::unavailable, "daemon not reachable at " + where + " ("
                                         + connect_failure(err, ep.tls())
                                         + ")");
  }
  return std::move(*handle);
}

} // namespace sb::client
