#pragma once

// The fixture of the store's tests that run on every backend: a real SQLite
// file, SQLite's ":memory:" and a fresh PostgreSQL database (the private
// cluster of ctest's fixture postgres_server). A suite instantiated as
// "postgres" waits for that cluster (tests/CMakeLists.txt).

#include "fixtures/postgres_env.hpp"
#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "persistence/postgres_store.hpp"
#include "persistence/store.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>

namespace sb::test {

constexpr millis t0 = 1'800'000'000'000; // 2027-01-15T08:00:00Z

enum class backend { memory, file, postgres };

inline const char* to_string(backend x) {
  switch (x) {
  case backend::memory:
    return "memory";
  case backend::file:
    return "file";
  case backend::postgres:
    return "postgres";
  }
  return "unknown";
}

/// How GoogleTest shows the parameter (and ctest's test names).
inline void PrintTo(backend x, std::ostream* out) {
  *out << to_string(x);
}

inline std::string backend_name(const ::testing::TestParamInfo<backend>& info) {
  return to_string(info.param);
}

class store_backend : public ::testing::TestWithParam<backend> {
protected:
  void SetUp() override {
    auto res = open_store();
    ASSERT_TRUE(res) << render(res.error());
    db = std::move(*res);
  }

  caf::expected<std::unique_ptr<store>> open_store() {
    switch (GetParam()) {
    case backend::memory:
      return store::open(":memory:");
    case backend::file:
      return store::open(dir.file("state.db"));
    case backend::postgres:
      pg.emplace();
      return postgres_store::open(
        {pg->url(), pg->password_file(), dir.file("switchboard.key")});
    }
    return make_error(ec::invalid_argument, "no such backend");
  }

  /// A subscription whose token is "token-of-NAME" unless given.
  stored_subscription add_sub(const std::string& name,
                              const std::string& token = {}) {
    auto res = db->put_subscription(
      name, token.empty() ? "token-of-" + name : token, t0);
    EXPECT_TRUE(res) << render(res.error());
    return res->row;
  }

  stored_agent add_agent(const std::string& name, const std::string& sub = "",
                         const std::string& container = "") {
    auto res = db->add_agent(agent_spec{name, sub, container, ""}, t0);
    EXPECT_TRUE(res) << render(res.error());
    return *res;
  }

  temp_dir dir;
  /// The PostgreSQL backend's database: dropped after the store closed.
  std::optional<postgres_database> pg;
  /// Shared: a test may hand it to a store actor.
  std::shared_ptr<store> db;
};

inline event_info make_event(const std::string& agent, const std::string& sub,
                             millis at,
                             failure_kind kind = failure_kind::rate_limit) {
  event_info ev;
  ev.agent = agent;
  ev.subscription = sub;
  ev.kind = kind;
  ev.status = 429;
  ev.message = "too many requests";
  ev.at = at;
  return ev;
}

} // namespace sb::test
