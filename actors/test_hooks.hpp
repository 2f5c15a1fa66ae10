#pragma once

// Named fault points for tests. They are compiled in only when CMake's
// SB_TEST_HOOKS is on (the test build: scripts/build.sh --tests); in any
// other build fault_point() does nothing. A test arms one by starting the
// daemon with SWITCHBOARD_TEST_HOOK=<name> in its environment.

namespace sb {

enum class test_hook {
  /// Kill the daemon (SIGKILL) right after a switch committed and before its
  /// token is applied: the reconciler must repair it after a restart.
  crash_after_commit,
};

/// Fires `hook` if it is compiled in and armed.
void fault_point(test_hook hook);

} // namespace sb
