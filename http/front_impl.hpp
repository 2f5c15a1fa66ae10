#pragma once

// The HTTP front's insides, shared by its files: http_front.cpp (the routes
// table, reads, reports, probes, the live stream) and admin_routes.cpp (the
// admin writes). Not for other code: http/http_front.hpp is the interface.

#include "http/http_front.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "messages/auth_line.hpp"
#include "messages/json.hpp"
#include "messages/sha256.hpp"

#include <caf/event_based_actor.hpp>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace sb::http {

/// The path's `*` segments of a route, in order.
using route_args = std::vector<std::string>;

struct front_impl;

/// One route: a method, a path pattern ("/v1/agents/*/assign": `*` is one
/// segment), whether it needs a credential, and what answers it.
struct route {
  std::string method;
  std::string pattern;
  std::function<void(front_impl&, const exchange_ptr&, const route_args&)> run;
  /// The pattern's segments, split once when the routes are built.
  std::vector<std::string> parts = {};
};

/// The bearer tokens' digests; replaced whole on a reload.
struct bearer_tokens {
  sha256_digest admin{};
  sha256_digest report{};
};

/// A JSON answer.
response json_response(int status, const nlohmann::json& doc);
response error_response(const caf::error& err);
response error_response(int status, std::string_view code,
                        std::string_view message);

/// Asks a FRONT DOOR and calls `done` with its answer, on a CAF worker;
/// no thread waits meanwhile (a short-lived actor holds the request).
template<class T, class... Ts>
void ask(caf::actor_system& sys, const front_door_actor& door,
         caf::duration timeout, std::function<void(caf::expected<T>)> done,
         Ts... xs) {
  sys.spawn([door, timeout, done = std::move(done),
             xs...](caf::event_based_actor* self) mutable {
    self->request(door, timeout, std::move(xs)...)
      .then(
        [done, self](T& x) {
          done(std::move(x));
          self->quit();
        },
        [done, self](caf::error& err) {
          done(std::move(err));
          self->quit();
        });
  });
}

struct front_impl {
  front_impl(caf::actor_system& system, front_door_actor admin_door,
             front_door_actor report_door, context_ptr c, http_settings s);

  caf::actor_system& sys;
  front_door_actor admin;
  front_door_actor report;
  context_ptr ctx;
  http_settings settings;
  std::vector<route> routes;
  std::unique_ptr<server> srv;
  mutable std::mutex tokens_mutex;
  std::shared_ptr<const bearer_tokens> tokens;
  bool stopped = false;

  void set_tokens(const intake::credentials& creds);

  /// The credential a request carries (none: no Authorization header, or
  /// a token that is neither).
  scope scope_of(const request& req) const;

  /// The FRONT DOOR of the request's credential (checked before).
  const front_door_actor& door_of(const request& req) const {
    return scope_of(req) == scope::admin ? admin : report;
  }

  /// Asks a FRONT DOOR and calls `done` with its answer (http::ask).
  template<class T, class... Ts>
  void ask(const front_door_actor& door, caf::duration timeout,
           std::function<void(caf::expected<T>)> done, Ts... xs) {
    http::ask<T>(sys, door, timeout, std::move(done), std::move(xs)...);
  }

  /// Asks the request's FRONT DOOR and answers 200 with `to_json` of the
  /// answer, or the error.
  template<class T, class... Ts>
  void answer(const exchange_ptr& ex, caf::duration timeout, Ts... xs) {
    ask<T>(
      door_of(ex->req()), timeout,
      [ex](caf::expected<T> x) {
        if (!x)
          return ex->reply(error_response(x.error()));
        ex->reply(json_response(200, to_json(*x)));
      },
      std::move(xs)...);
  }

  /// The same with the answer shaped by `shape`.
  template<class T, class... Ts>
  void answer_with(const exchange_ptr& ex, caf::duration timeout,
                   std::function<nlohmann::json(T&)> shape, Ts... xs) {
    ask<T>(
      door_of(ex->req()), timeout,
      [ex, shape](caf::expected<T> x) {
        if (!x)
          return ex->reply(error_response(x.error()));
        ex->reply(json_response(200, shape(*x)));
      },
      std::move(xs)...);
  }

  caf::duration report_timeout() const {
    return caf::duration{settings.report_timeout};
  }

  /// What happens before a body is read: 404, 405, 401, 503 (draining).
  std::optional<response> precheck(const request& req) const;
  void dispatch(const exchange_ptr& ex);
};

/// How long a read or an admin request may take.
constexpr auto read_wait = std::chrono::seconds(30);

/// The admin writes (admin_routes.cpp).
void add_admin_routes(std::vector<route>& routes);

} // namespace sb::http
