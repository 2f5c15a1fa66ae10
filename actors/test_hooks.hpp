#pragma once

// Named fault points for tests. They are compiled in only when CMake's
// SB_TEST_HOOKS is on (the test build: scripts/build.sh --tests); in any
// other build fault_point() does nothing. A test arms one by starting the
// daemon with SWITCHBOARD_TEST_HOOK=<name> in its environment, or, in
// process, with arm_test_hook().

namespace sb {

enum class test_hook {
  /// Kill the daemon (SIGKILL) right after a switch committed and before its
  /// token is applied: the reconciler must repair it after a restart.
  crash_after_commit,
  /// Block the first docker worker thread that passes it (before its
  /// operation) until release_test_hooks(), or 10 minutes at most: a worker
  /// stuck where no timeout of its own reaches it (a hung file system, say),
  /// which a real worker cannot be made to do on purpose. Once per arming.
  hang_docker_worker,
};

/// Fires `hook` if it is compiled in and armed.
void fault_point(test_hook hook);

/// In-process tests: arms `hook` (as SWITCHBOARD_TEST_HOOK does).
void arm_test_hook(test_hook hook);

/// In-process tests: disarms every hook and lets every thread a hook holds
/// go on.
void release_test_hooks();

/// In-process tests: how many threads a hook holds now.
int held_by_test_hooks();

} // namespace sb
