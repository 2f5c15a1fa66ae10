#include "docker_client/container_ops.hpp"

#include "messages/error.hpp"

#include <thread>

namespace sb::docker {

namespace {

op_outcome failed(const std::string& why, lifecycle state,
                  const std::string& id = {}) {
  return {apply_failed(why), state, id};
}

op_outcome done(apply_result result, lifecycle state, const std::string& id) {
  return {apply_outcome{result, {}}, state, id};
}

/// The state Docker reports, in the supervisor's words.
lifecycle state_of(const container_info& info) {
  return info.running ? lifecycle::running : lifecycle::stopped;
}

/// Reads the truth after an operation.
op_outcome settle(docker_api& engine, const std::string& container,
                  apply_result result) {
  auto info = engine.inspect(container);
  if (!info) {
    if (is(info.error(), ec::not_found))
      return done(result, lifecycle::absent, {});
    return failed(std::string{to_string(result)} + ", then "
                    + render(info.error()),
                  lifecycle::failed);
  }
  return done(result, state_of(*info), info->id);
}

/// A recreated or started container that did not become healthy in time.
op_outcome unhealthy(op_outcome out, const std::string& what,
                     const op_settings& cfg) {
  out.result = apply_failed(
    "the agent server of " + what + " did not become healthy within "
    + std::to_string(cfg.health_timeout.count() / 1000) + " s");
  return out;
}

bool has_token(const container_info& info, const std::string& token_env,
               const std::string& token) {
  auto entry = token_env + "=" + token;
  for (auto& e : info.env)
    if (e == entry)
      return true;
  return false;
}

/// Polls /health until it answers or `timeout` passes.
bool wait_healthy(docker_api& engine, agent_server_client& agents,
                  const std::string& container, const op_settings& cfg) {
  auto deadline = std::chrono::steady_clock::now() + cfg.health_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto info = engine.inspect(container);
    if (info) {
      if (!info->running)
        return false; // it exited: no point in waiting
      auto [host, port] = agent_endpoint(*info, cfg.default_agent_port);
      if (agents.healthy(host, port, std::chrono::seconds(1)))
        return true;
    }
    // A bounded poll of a real endpoint: a short pause between attempts.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

op_outcome recreate(docker_api& engine, agent_server_client& agents,
                    const container_info& old, const op_request& req,
                    const op_settings& cfg, const progress_fn& progress,
                    apply_result success) {
  progress(lifecycle::recreating);
  auto name = old.name;
  auto temp = name + "-sb-next";
  // A leftover from an interrupted recreate is in the way.
  if (auto err = engine.remove(temp, true); err && !is(err, ec::not_found))
    return failed("cannot clear " + temp + ": " + render(err), state_of(old),
                  old.id);
  auto id = engine.create(temp, recreate_config(old, req.token, cfg.token_env,
                                                req.generation, req.terms));
  if (!id)
    return failed("cannot create the new container: " + render(id.error()),
                  state_of(old), old.id);
  if (old.running)
    if (auto err = engine.stop(old.id, cfg.stop_timeout)) {
      engine.remove(*id, true);
      return failed("cannot stop " + name + ": " + render(err),
                    lifecycle::failed, old.id);
    }
  if (auto err = engine.remove(old.id, true); err && !is(err, ec::not_found)) {
    engine.remove(*id, true);
    return failed("cannot remove the old " + name + ": " + render(err),
                  lifecycle::failed, old.id);
  }
  if (auto err = engine.rename(*id, name))
    return failed("cannot rename the new container to " + name + ": "
                    + render(err),
                  lifecycle::failed, *id);
  if (auto err = engine.start(*id))
    return failed("cannot start the new " + name + ": " + render(err),
                  lifecycle::failed, *id);
  if (!wait_healthy(engine, agents, *id, cfg))
    return unhealthy(settle(engine, *id, success), "the new " + name, cfg);
  return settle(engine, *id, success);
}

op_outcome do_apply(docker_api& engine, agent_server_client& agents,
                    const container_info& info, const op_request& req,
                    const op_settings& cfg, const progress_fn& progress) {
  progress(lifecycle::reloading);
  auto [host, port] = agent_endpoint(info, cfg.default_agent_port);
  auto label = info.labels.find(secret_file_label);
  auto secret = read_secret(label != info.labels.end() ? label->second
                                                       : cfg.agent_secret_file);
  if (!secret)
    return failed(render(secret.error()), lifecycle::running, info.id);
  auto rr = agents.reload_token(host, port, req.token, true, cfg.reload_timeout,
                                req.generation, *secret, req.terms);
  switch (rr.outcome) {
  case reload_result::reloaded: {
    auto out = settle(engine, info.id, apply_result::hot_reloaded);
    if (out.state != lifecycle::running)
      out.result
        = apply_failed(info.name + " stopped while its token was reloaded");
    return out;
  }
  case reload_result::rejected:
    return failed(rr.detail, lifecycle::running, info.id);
  default:
    // 404, transport error or timeout: recreate with the new token.
    return recreate(engine, agents, info, req, cfg, progress,
                    apply_result::restarted);
  }
}

op_outcome do_start(docker_api& engine, agent_server_client& agents,
                    const container_info& info, const op_request& req,
                    const op_settings& cfg, const progress_fn& progress) {
  bool stale = !req.token.empty() && !has_token(info, cfg.token_env, req.token);
  if (info.running) {
    if (stale)
      return do_apply(engine, agents, info, req, cfg, progress);
    return done(apply_result::running, lifecycle::running, info.id);
  }
  if (stale)
    return recreate(engine, agents, info, req, cfg, progress,
                    apply_result::started);
  progress(lifecycle::starting);
  if (auto err = engine.start(info.id))
    return failed("cannot start " + info.name + ": " + render(err),
                  lifecycle::failed, info.id);
  if (!wait_healthy(engine, agents, info.id, cfg))
    return unhealthy(settle(engine, info.id, apply_result::started), info.name,
                     cfg);
  return settle(engine, info.id, apply_result::started);
}

} // namespace

std::pair<std::string, uint16_t> agent_endpoint(const container_info& info,
                                                uint16_t default_port) {
  uint16_t port = default_port;
  if (auto i = info.labels.find("switchboard.agent-port");
      i != info.labels.end()) {
    try {
      auto p = std::stoul(i->second);
      if (p > 0 && p < 65536)
        port = static_cast<uint16_t>(p);
    } catch (...) {
      // keep the default
    }
  }
  if (info.network_mode == "host" || info.ip_address.empty())
    return {"127.0.0.1", port};
  return {info.ip_address, port};
}

nlohmann::json recreate_config(const container_info& info,
                               const std::string& token,
                               const std::string& token_env,
                               uint64_t generation, const token_terms& terms) {
  nlohmann::json cfg = nlohmann::json::object();
  if (auto c = info.raw.find("Config"); c != info.raw.end() && c->is_object())
    for (auto key : {"User", "Tty", "OpenStdin", "StdinOnce", "AttachStdin",
                     "AttachStdout", "AttachStderr", "Cmd", "Entrypoint",
                     "Image", "Labels", "WorkingDir", "ExposedPorts", "Volumes",
                     "StopSignal", "StopTimeout", "Healthcheck", "Domainname"})
      if (auto v = c->find(key); v != c->end() && !v->is_null())
        cfg[key] = *v;
  auto env = nlohmann::json::array();
  auto drop = [&](const std::string& e) {
    for (auto& name :
         {token_env, std::string{"ANTHROPIC_API_KEY"},
          std::string{"ANTHROPIC_AUTH_TOKEN"}, std::string{generation_env},
          std::string{expires_env}, std::string{scopes_env}})
      if (e.rfind(name + "=", 0) == 0 || e == name)
        return true;
    return false;
  };
  for (auto& e : info.env)
    if (!drop(e))
      env.push_back(e);
  if (!token.empty())
    env.push_back(token_env + "=" + token);
  if (generation > 0)
    env.push_back(std::string{generation_env} + "="
                  + std::to_string(generation));
  if (!token.empty() && terms.expires_at > 0)
    env.push_back(std::string{expires_env} + "="
                  + std::to_string(terms.expires_at));
  if (!token.empty() && !terms.scopes.empty()) {
    std::string scopes;
    for (auto& x : terms.scopes)
      scopes += (scopes.empty() ? "" : " ") + x;
    env.push_back(std::string{scopes_env} + "=" + scopes);
  }
  cfg["Env"] = env;
  if (auto hc = info.raw.find("HostConfig"); hc != info.raw.end())
    cfg["HostConfig"] = *hc;
  return cfg;
}

namespace {

op_outcome stop(docker_api& engine, const container_info& info,
                const op_settings& cfg, const progress_fn& progress) {
  if (!info.running)
    return done(apply_result::stopped, lifecycle::stopped, info.id);
  progress(lifecycle::stopping);
  if (auto err = engine.stop(info.id, cfg.stop_timeout))
    return failed("cannot stop " + info.name + ": " + render(err),
                  lifecycle::failed, info.id);
  return settle(engine, info.id, apply_result::stopped);
}

op_outcome restart(docker_api& engine, agent_server_client& agents,
                   container_info info, const op_request& req,
                   const op_settings& cfg, const progress_fn& progress) {
  if (info.running) {
    auto stopped = stop(engine, info, cfg, progress);
    if (stopped.result.result == apply_result::failed)
      return stopped;
    auto again = engine.inspect(info.id);
    if (!again)
      return failed(render(again.error()), lifecycle::failed, info.id);
    info = std::move(*again);
  }
  auto out = do_start(engine, agents, info, req, cfg, progress);
  if (out.result.result == apply_result::started)
    out.result.result = apply_result::restarted;
  return out;
}

} // namespace

op_outcome run_container_op(docker_api& engine, agent_server_client& agents,
                            const op_request& req, const op_settings& cfg,
                            const progress_fn& progress) {
  auto info = engine.inspect(req.container);
  if (!info) {
    if (is(info.error(), ec::not_found))
      return done(apply_result::no_container, lifecycle::absent, {});
    auto out = failed(render(info.error()), lifecycle::failed);
    out.engine_answered = !is(info.error(), ec::docker_unreachable)
                          && !is(info.error(), ec::timeout);
    return out;
  }
  switch (req.op) {
  case container_op::inspect:
    return done(apply_result::none, state_of(*info), info->id);
  case container_op::apply:
    if (req.token.empty())
      return failed("no token to apply", state_of(*info), info->id);
    if (!info->running)
      return done(apply_result::not_running, lifecycle::stopped, info->id);
    return do_apply(engine, agents, *info, req, cfg, progress);
  case container_op::stop:
    return stop(engine, *info, cfg, progress);
  case container_op::start:
    return do_start(engine, agents, *info, req, cfg, progress);
  case container_op::restart:
    return restart(engine, agents, std::move(*info), req, cfg, progress);
  }
  return failed("unknown operation", lifecycle::failed, info->id);
}

} // namespace sb::docker
