#include "actors/container_supervisor.hpp"

#include "messages/error.hpp"

namespace sb {

supervisor_actor::behavior_type
container_supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
                     context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  return {
    [=](status_atom) {
      component_status cs;
      cs.name = "container-supervisor";
      cs.state = "running";
      cs.details["operations"] = std::to_string(self->state.operations);
      return cs;
    },
    [=](apply_atom, const container_request& req) -> caf::result<std::string> {
      ++self->state.operations;
      if (req.container.empty())
        return std::string{"no_container"};
      return make_error(ec::docker_failure,
                        "container operations are not available yet");
    },
    [=](get_atom, const std::string&) { return std::string{"unknown"}; },
  };
}

} // namespace sb
