#pragma once

// CAF's side of the guard (intake/basp_guard.hpp): CAF listens nowhere. Each
// connection the guard authenticated reaches CAF as one end of a socketpair,
// handed to the BASP broker as a new connection to the FRONT DOOR of its
// scope (CAF 0.17's broker takes a connection this way: `publish_atom` with
// a scribe, see libcaf_io's basp_broker.cpp). With no listening socket, no
// other process on the host can speak BASP to the daemon.
//
// It also tells the guard what a client's frames may address
// (frame_rules): the FRONT DOORs' message types as CAF names them on the
// wire, and the daemon's node id as CAF serializes it.

#include "intake/frame_policy.hpp"
#include "messages/auth_line.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/make_message.hpp>
#include <caf/replies_to.hpp>

#include <set>
#include <string>

namespace sb::intake {

class caf_door {
public:
  /// `admin` and `report` are the FRONT DOORs of the two scopes, of one
  /// interface whose signatures are `sigs` and message types `types`.
  caf_door(caf::actor_system& sys, caf::strong_actor_ptr admin,
           caf::strong_actor_ptr report, std::set<std::string> sigs,
           std::set<std::string> types);

  /// Hands `fd` to CAF as a connection to the FRONT DOOR of `s`; takes the
  /// descriptor. Thread-safe (the guard calls it from its own thread).
  bool hand_over(int fd, scope s);

  /// What the guard checks frames against.
  frame_rules rules() const;

  /// Forgets the FRONT DOORs (CAF registered them by id to deliver frames
  /// to them); before the actor system goes.
  void close();

private:
  caf::actor_system& sys_;
  caf::actor basp_;
  caf::strong_actor_ptr admin_;
  caf::strong_actor_ptr report_;
  std::set<std::string> sigs_;
  std::set<std::string> types_;
};

// -- the message types of an interface, as CAF names them on the wire ---------

namespace detail {

template<class... Is>
std::string wire_names(caf::actor_system& sys, caf::detail::type_list<Is...>) {
  auto msg = caf::make_message(Is{}...);
  std::string names = "@<>";
  for (size_t i = 0; i < msg.size(); ++i) {
    names += '+';
    names += sys.types().portable_name(msg.type(i));
  }
  return names;
}

template<class Mpi>
struct mpi_inputs;

template<class... Is, class Out>
struct mpi_inputs<caf::typed_mpi<caf::detail::type_list<Is...>, Out>> {
  using type = caf::detail::type_list<Is...>;
};

template<class... Sigs>
std::set<std::string> input_names(caf::actor_system& sys,
                                  caf::detail::type_list<Sigs...>) {
  return {wire_names(sys, typename mpi_inputs<Sigs>::type{})...};
}

} // namespace detail

/// The type names of every message a typed actor `Handle` takes, as the
/// binary serializer writes them at the start of a message.
template<class Handle>
std::set<std::string> input_type_names(caf::actor_system& sys) {
  return detail::input_names(sys, typename Handle::signatures{});
}

} // namespace sb::intake
