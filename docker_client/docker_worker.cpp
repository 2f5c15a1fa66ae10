#include "docker_client/docker_worker.hpp"

namespace sb {

docker_worker_actor::behavior_type
docker_worker(docker_worker_actor::stateful_pointer<docker_worker_state> self,
              std::string socket_path, worker_settings_source settings,
              supervisor_actor supervisor) {
  auto& st = self->state;
  st.engine = std::make_unique<docker::docker_api>(std::move(socket_path),
                                                   settings().engine_timeout);
  st.agents = std::make_unique<docker::agent_server_client>();
  st.settings = std::move(settings);
  st.supervisor = std::move(supervisor);
  return {
    [=](apply_atom, const docker_job& job) {
      auto& st = self->state;
      docker::op_request req{job.container, job.op, job.token.value,
                             job.generation, job.terms};
      auto progress = [&](lifecycle state) {
        self->send(st.supervisor, progress_atom::value, job.container, state);
      };
      auto now = st.settings();
      st.engine->set_timeout(now.engine_timeout);
      auto out = docker::run_container_op(*st.engine, *st.agents, req, now.ops,
                                          progress);
      return docker_job_result{out.result, out.state, out.container_id,
                               out.engine_answered};
    },
  };
}

} // namespace sb
