#include "intake/caf_door.hpp"

#include <caf/binary_serializer.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/io/scribe.hpp>
#include <caf/send.hpp>

#include <unistd.h>

namespace sb::intake {

namespace {

/// The keys CAF's broker files the two FRONT DOORs under (its table of
/// published actors is keyed by port; nothing listens on these).
constexpr uint16_t admin_key = 1;
constexpr uint16_t report_key = 2;

} // namespace

caf_door::caf_door(caf::actor_system& sys, caf::strong_actor_ptr admin,
                   caf::strong_actor_ptr report, std::set<std::string> sigs,
                   std::set<std::string> types)
    : sys_(sys), admin_(std::move(admin)), report_(std::move(report)),
      sigs_(std::move(sigs)), types_(std::move(types)) {
  // The middleman made its BASP broker when it started; this only reads
  // its table of brokers.
  basp_ = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
}

bool caf_door::hand_over(int fd, scope s) {
  if (s == scope::none || !basp_) {
    ::close(fd);
    return false;
  }
  // A scribe owns the descriptor from here on. Creating one off the
  // multiplexer's thread is what CAF's own middleman actor does.
  auto scribe = sys_.middleman().backend().new_scribe(fd);
  if (!scribe) {
    ::close(fd);
    return false;
  }
  auto& door = s == scope::admin ? admin_ : report_;
  caf::anon_send(basp_, caf::publish_atom::value, std::move(scribe),
                 s == scope::admin ? admin_key : report_key, door, sigs_);
  return true;
}

frame_rules caf_door::rules() const {
  frame_rules r;
  r.message_types.insert(types_.begin(), types_.end());
  std::vector<char> buf;
  caf::binary_serializer sink{sys_, buf};
  auto node = sys_.node();
  if (auto err = sink(node))
    buf.clear(); // never: a node id always serializes
  r.daemon_node.assign(buf.begin(), buf.end());
  for (auto* door : {&admin_, &report_})
    if (*door)
      r.doors.insert((*door)->id());
  // CAF's spawn-server exchange between two nodes that just met
  // (basp_broker::learned_new_node in libcaf_io).
  r.probe_receiver = static_cast<uint64_t>(caf::atom("SpawnServ"));
  r.probe_types = detail::wire_names(
    sys_, caf::detail::type_list<caf::sys_atom, caf::get_atom, std::string>{});
  r.probe_answer_types = detail::wire_names(
    sys_, caf::detail::type_list<caf::ok_atom, std::string,
                                 caf::strong_actor_ptr, std::string>{});
  return r;
}

void caf_door::close() {
  for (auto* door : {&admin_, &report_})
    if (*door)
      sys_.registry().erase((*door)->id());
}

} // namespace sb::intake
