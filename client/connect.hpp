#pragma once

// The client library: how a program (the CLI, the benchmark, the tests, or
// the agent platform's backend) reaches the daemon's FRONT DOOR over CAF's
// network layer.

#include "messages/actors.hpp"
#include "messages/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/system_messages.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <tuple>

namespace sb::client {

struct endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 7411;
  /// The credential: the content of the daemon's admin-token-file or
  /// report-token-file (which one decides what the client may do); may be
  /// empty with a client certificate the daemon's tls-ca signed.
  std::string token;
  /// TLS: the CA that signed the daemon's certificate (verifies it), and
  /// this client's certificate and key (both or neither).
  std::string tls_ca;
  std::string tls_certificate;
  std::string tls_key;
  /// TLS without a CA: encrypted, but the daemon is not verified.
  bool tls_unverified = false;

  bool tls() const {
    return tls_unverified || !tls_ca.empty() || !tls_certificate.empty()
           || !tls_key.empty();
  }

  /// "" if the TLS settings are complete (or absent), else what is missing.
  std::string tls_problem() const;
};

/// Prepares a client config: message types and the middleman.
void configure(caf::actor_system_config& cfg);

/// Connects to the FRONT DOOR: TCP (and TLS), the credential, then CAF's
/// handshake over that connection. Gives up after `timeout` with a clear
/// error (ec::unavailable; ec::unauthenticated if the daemon refused the
/// credential).
caf::expected<front_door_actor>
connect(caf::actor_system& sys, const endpoint& ep,
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The actor a guarded endpoint publishes, with its interface (`connect`
/// checks it is the FRONT DOOR's).
struct remote_handle {
  caf::strong_actor_ptr actor;
  std::set<std::string> interface;
};

/// connect() for any published actor (the guard's tests publish another).
caf::expected<remote_handle>
connect_any(caf::actor_system& sys, const endpoint& ep,
            std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// Sends one request to the FRONT DOOR and waits for the answer. Unlike a
/// plain blocking request, it also notices a daemon that goes away while the
/// request is pending (CAF 0.17 leaves such a request waiting for its full
/// timeout): the result is then an error saying so.
template<class T, class... Ts>
caf::expected<T> call(caf::actor_system& sys, const front_door_actor& fd,
                      std::chrono::milliseconds timeout, Ts... xs) {
  auto result = std::make_shared<std::promise<caf::expected<T>>>();
  auto answered = std::make_shared<bool>(false);
  auto args = std::make_tuple(std::move(xs)...);
  sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    auto answer = [=](caf::expected<T> x) {
      if (*answered)
        return;
      *answered = true;
      result->set_value(std::move(x));
      self->quit();
    };
    self->monitor(fd);
    self->set_down_handler([=](caf::down_msg&) {
      answer(
        make_error(ec::unavailable, "the daemon went away before answering"));
    });
    std::apply(
      [&](auto&... ys) {
        self->request(fd, timeout, ys...)
          .then([=](T& x) { answer(std::move(x)); },
                [=](caf::error& err) { answer(std::move(err)); });
      },
      args);
    return {[](ok_atom) {}};
  });
  return result->get_future().get();
}

} // namespace sb::client
