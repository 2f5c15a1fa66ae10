// The failure classifier: a pure function (SPEC section 1).

#include "actors/classifier.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(classifier, rate_limit_and_auth_by_status) {
  EXPECT_EQ(classify(429, "").kind, failure_kind::rate_limit);
  for (int status : {401, 402, 403, 503})
    EXPECT_EQ(classify(status, "").kind, failure_kind::auth) << status;
  EXPECT_EQ(classify(0, "", failure_kind::rate_limit).kind,
            failure_kind::rate_limit);
  EXPECT_EQ(classify(0, "", failure_kind::auth).kind, failure_kind::auth);
}

TEST(classifier, other_statuses_are_auth_only_with_an_auth_indicator) {
  for (auto text :
       {"Your credit balance is too low", "401 Unauthorized",
        "HTTP 403 Forbidden", "OAuth token expired", "Authentication required",
        "Not authenticated", "Invalid credentials", "UNAUTHORIZED"})
    EXPECT_EQ(classify(500, text).kind, failure_kind::auth) << text;
  for (auto text : {"connection reset", "internal server error", "timeout",
                    "Rate limit reached", ""}) {
    auto c = classify(500, text);
    EXPECT_EQ(c.kind, failure_kind::ignored) << text;
    EXPECT_EQ(c.reason, "not_a_switch_failure") << text;
  }
  // Below 400 nothing is a failure, whatever the text.
  EXPECT_EQ(classify(200, "unauthorized").kind, failure_kind::ignored);
}

TEST(classifier, killed_processes_never_switch_whatever_the_status) {
  for (auto text :
       {"process received SIGKILL", "sigterm", "SIGINT caught",
        "exited with exit code 137", "exit code 143", "exit code 130",
        "exit code -9", "exit code -15", "exit code -2", "Terminated by signal",
        "killed by OOM", "out of memory", "OOM", "memory cgroup limit hit"})
    for (int status : {429, 401, 503, 500}) {
      auto c = classify(status, text);
      EXPECT_EQ(c.kind, failure_kind::ignored) << status << " " << text;
      EXPECT_EQ(c.reason, "killed") << text;
    }
  // "oom" must be a word: "room" is not an OOM kill.
  EXPECT_EQ(classify(401, "no room left for the token").kind,
            failure_kind::auth);
}

TEST(classifier, model_rejections_and_container_faults_never_switch) {
  for (auto text : {"[claude-code:unrecognized_model] foo",
                    "This account does not support this model",
                    "model unsupported: claude-x"}) {
    auto c = classify(429, text);
    EXPECT_EQ(c.kind, failure_kind::ignored) << text;
    EXPECT_EQ(c.reason, "model_rejection") << text;
  }
  for (auto text : {"Claude Code is not available in this container",
                    "Permission bypass failed"}) {
    auto c = classify(503, text);
    EXPECT_EQ(c.kind, failure_kind::ignored) << text;
    EXPECT_EQ(c.reason, "container_fault") << text;
  }
  // Even an explicit kind does not override a never-switch marker.
  EXPECT_EQ(classify(0, "SIGKILL", failure_kind::rate_limit).kind,
            failure_kind::ignored);
}
