#pragma once

// A real switchboardd on a free port with its database (and key) in a
// temporary folder, and the real switchboard CLI against it: shared by the
// store-hardening tests.

#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace sb::test {

class live_daemon : public ::testing::Test {
protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--switchboard.port=0",
                                  "--switchboard.db-path=" + db_path(),
                                  "--switchboard.log-level=debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon = std::make_unique<daemon_process>(daemon_binary(), args);
    ASSERT_NE(daemon->port(), 0) << daemon->log();
  }

  std::string db_path() const { return dir.file("state.db"); }

  run_result cli(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(),
                {cli_binary(), "--port", std::to_string(daemon->port())});
    return run(args, input);
  }

  /// Runs a command that must succeed with --json and parses its output.
  nlohmann::json ok(std::vector<std::string> args,
                    const std::string& input = {}) {
    args.insert(args.begin(), "--json");
    auto res = cli(args, input);
    EXPECT_EQ(res.rc, 0) << res.err;
    try {
      return nlohmann::json::parse(res.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << res.out << " (" << e.what() << ")";
      return nlohmann::json{};
    }
  }

  temp_dir dir;
  std::unique_ptr<daemon_process> daemon;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline unsigned file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return 07777; // no such file: never a mode a test expects
  return st.st_mode & 0777;
}

/// The lines of `text` that report an error: the daemon's log lines at
/// level error, and the "switchboardd: ..." / "switchboard: ..." lines.
inline std::vector<std::string> error_lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (line.find("Z error ") != std::string::npos
        || line.rfind("switchboardd: ", 0) == 0
        || line.rfind("switchboard: ", 0) == 0)
      result.push_back(line);
  return result;
}

} // namespace sb::test
