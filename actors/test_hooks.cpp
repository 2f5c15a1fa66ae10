#include "actors/test_hooks.hpp"

#ifdef SB_TEST_HOOKS

#include "actors/logging.hpp"

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

namespace sb {

namespace {

const char* hook_name(test_hook hook) {
  switch (hook) {
  case test_hook::crash_after_commit:
    return "crash-after-commit";
  case test_hook::hang_docker_worker:
    return "hang-docker-worker";
  }
  return "";
}

struct hooks {
  std::mutex mtx;
  std::condition_variable released;
  /// Armed in process (arm_test_hook), beside the environment.
  std::optional<test_hook> armed;
  /// A hang fired since it was armed (once per arming).
  bool hung = false;
  /// Bumped by release_test_hooks(): what the held threads wait for.
  unsigned generation = 0;
  int held = 0;
};

hooks& state() {
  static hooks instance;
  return instance;
}

bool armed(test_hook hook) {
  {
    std::lock_guard<std::mutex> guard{state().mtx};
    if (state().armed == hook)
      return true;
  }
  auto env = std::getenv("SWITCHBOARD_TEST_HOOK");
  return env != nullptr && std::strcmp(env, hook_name(hook)) == 0;
}

void hang(test_hook hook) {
  auto& st = state();
  std::unique_lock<std::mutex> guard{st.mtx};
  if (st.hung)
    return;
  st.hung = true;
  ++st.held;
  SB_WARN("test hook {}: holding this thread", hook_name(hook));
  auto released_at = st.generation + 1;
  // Bounded: a test that forgets to release still ends.
  st.released.wait_for(guard, std::chrono::minutes(10),
                       [&] { return st.generation >= released_at; });
  --st.held;
}

} // namespace

void fault_point(test_hook hook) {
  if (!armed(hook))
    return;
  switch (hook) {
  case test_hook::crash_after_commit:
    SB_ERROR("test hook {}: killing the daemon", hook_name(hook));
    spdlog::default_logger()->flush();
    std::raise(SIGKILL);
    break;
  case test_hook::hang_docker_worker:
    hang(hook);
    break;
  }
}

void arm_test_hook(test_hook hook) {
  std::lock_guard<std::mutex> guard{state().mtx};
  state().armed = hook;
  state().hung = false;
}

void release_test_hooks() {
  {
    std::lock_guard<std::mutex> guard{state().mtx};
    state().armed.reset();
    ++state().generation;
  }
  state().released.notify_all();
}

int held_by_test_hooks() {
  std::lock_guard<std::mutex> guard{state().mtx};
  return state().held;
}

} // namespace sb

#else

namespace sb {

void fault_point(test_hook) {
  // Not a test build: no fault points.
}

void arm_test_hook(test_hook) {
  // Not a test build: no fault points.
}

void release_test_hooks() {
  // Not a test build: no fault points.
}

int held_by_test_hooks() {
  return 0;
}

} // namespace sb

#endif
