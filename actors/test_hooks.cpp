#include "actors/test_hooks.hpp"

#ifdef SB_TEST_HOOKS

#include "actors/logging.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>

namespace sb {

namespace {

const char* hook_name(test_hook hook) {
  switch (hook) {
  case test_hook::crash_after_commit:
    return "crash-after-commit";
  }
  return "";
}

} // namespace

void fault_point(test_hook hook) {
  auto armed = std::getenv("SWITCHBOARD_TEST_HOOK");
  if (armed == nullptr || std::strcmp(armed, hook_name(hook)) != 0)
    return;
  SB_ERROR("test hook {}: killing the daemon", hook_name(hook));
  spdlog::default_logger()->flush();
  std::raise(SIGKILL);
}

} // namespace sb

#else

namespace sb {

void fault_point(test_hook) {
  // Not a test build: no fault points.
}

} // namespace sb

#endif
