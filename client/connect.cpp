#include "client/connect.hpp"

#include "client/channel.hpp"
#include "messages/error.hpp"
#include "messages/register.hpp"

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/io/scribe.hpp>
#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <memory>

namespace sb::client {

std::string endpoint::tls_problem() const {
  if (tls_certificate.empty() != tls_key.empty())
    return "TLS: --tls-cert and --tls-key go together";
  return {};
}

void configure(caf::actor_system_config& cfg) {
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", 2);
  // See actors/config.cpp: BASP workers can drop replies in CAF 0.17.
  cfg.set("middleman.workers", 0);
}

namespace {

/// CAF's handshake over a connection that is already authenticated: the
/// BASP broker takes the socket as if it had connected it itself.
caf::expected<remote_handle> attach(caf::actor_system& sys, int fd,
                                    const std::string& where, uint16_t port,
                                    std::chrono::milliseconds timeout) {
  auto& mm = sys.middleman();
  auto basp = mm.named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto scribe = mm.backend().new_scribe(fd);
  caf::expected<remote_handle> result{caf::error{}};
  caf::scoped_actor self{sys};
  self
    ->request(basp, caf::duration{timeout}, caf::connect_atom::value,
              std::move(scribe), port)
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& ifs) {
        if (!ptr)
          result = make_error(ec::unavailable, "the daemon at " + where
                                                 + " offers no front door");
        else
          result = remote_handle{std::move(ptr), std::move(ifs)};
      },
      [&](caf::error& err) {
        if (err == caf::sec::incompatible_application_ids)
          result = make_error(ec::unavailable,
                              "the daemon at " + where
                                + " speaks another protocol version (this "
                                  "client: "
                                + protocol_version() + ")");
        else if (err == caf::sec::request_timeout)
          result
            = make_error(ec::unavailable, "daemon not reachable at " + where
                                            + " (no answer to the handshake)");
        else
          result
            = make_error(ec::unavailable,
                         "daemon not reachable at " + where
                           + " (the handshake failed: " + render(err) + ")");
      });
  return result;
}

} // namespace

caf::expected<remote_handle> connect_any(caf::actor_system& sys,
                                         const endpoint& ep,
                                         std::chrono::milliseconds timeout) {
  if (auto problem = ep.tls_problem(); !problem.empty())
    return make_error(ec::invalid_argument, problem);
  channel_options o;
  o.host = ep.host;
  o.port = ep.port;
  o.token = ep.token;
  o.tls = ep.tls();
  o.tls_ca = ep.tls_ca;
  o.tls_certificate = ep.tls_certificate;
  o.tls_key = ep.tls_key;
  auto started = std::chrono::steady_clock::now();
  auto ch = open_channel(o, timeout);
  if (!ch)
    return std::move(ch.error());
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  auto rest = std::max(timeout - spent, std::chrono::milliseconds{500});
  return attach(sys, ch->fd, ep.host + ":" + std::to_string(ep.port), ep.port,
                rest);
}

caf::expected<front_door_actor> connect(caf::actor_system& sys,
                                        const endpoint& ep,
                                        std::chrono::milliseconds timeout) {
  auto remote = connect_any(sys, ep, timeout);
  if (!remote)
    return std::move(remote.error());
  if (!sys.assignable<front_door_actor>(remote->interface))
    return make_error(ec::unavailable,
                      "the daemon at " + ep.host + ":" + std::to_string(ep.port)
                        + " has another interface than this client expects "
                          "(version mismatch)");
  return caf::actor_cast<front_door_actor>(std::move(remote->actor));
}

} // namespace sb::client
