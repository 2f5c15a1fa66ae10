#pragma once

// The fixture of the guard's tests: echo actors that CAF reaches only
// through the guard (as the daemon's FRONT DOORs), a guard in front of them,
// CAF clients through the guard.

#include "guard_fixture.hpp"
#include "intake/basp_frame.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace sb::test {

class basp_guard_test : public ::testing::Test {
protected:
  void SetUp() override { server = std::make_unique<echo_server>(); }

  /// A guard in front of the echo actors (options from
  /// server->guard_options()).
  std::unique_ptr<intake::basp_guard> start_guard(intake::guard_options o) {
    auto started = intake::basp_guard::start(o);
    EXPECT_TRUE(started) << started.error;
    return std::move(started.guard);
  }

  std::unique_ptr<intake::basp_guard> start_guard() {
    return start_guard(server->guard_options());
  }

  static std::shared_ptr<echo_client>
  client(uint16_t port, const std::string& host = "127.0.0.1") {
    auto c = echo_client::make();
    auto err = c->connect(host, port);
    EXPECT_EQ(err, "");
    return c;
  }

  /// A raw header claiming `payload_len` bytes.
  static std::vector<char> header(intake::basp_op op, uint32_t payload_len) {
    intake::basp_header h;
    h.operation = static_cast<uint8_t>(op);
    h.payload_len = payload_len;
    h.dest_actor = op == intake::basp_op::direct_message ? 1 : 0;
    std::vector<char> out(intake::basp_header_size);
    intake::encode_header(h, reinterpret_cast<unsigned char*>(out.data()));
    return out;
  }

  std::unique_ptr<echo_server> server;
};

inline int64_t ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now() - t0)
    .count();
}

} // namespace sb::test
