// The guard terminating TLS for CAF 0.17's OpenSSL clients, with
// certificates made at test time (EC P-256, signed by throwaway CAs). CAF
// itself listens in plaintext on loopback behind the guard.

#include "guard_fixture.hpp"

#include <gtest/gtest.h>

#include <filesystem>

using namespace sb::intake;
using namespace sb::test;

namespace {

class tls_guard_test : public ::testing::Test {
protected:
  void SetUp() override {
    std::string tmpl
      = (std::filesystem::temp_directory_path() / "sbguard-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    ca = make_certificate(dir, "ca");
    other_ca = make_certificate(dir, "other-ca");
    server_cert = make_certificate(dir, "server", &ca);
    client_cert = make_certificate(dir, "client", &ca);
    stranger = make_certificate(dir, "stranger", &other_ca);
    server = std::make_unique<echo_server>();
  }

  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::unique_ptr<basp_guard> start_guard(bool require_client_certificates,
                                          const std::string& host
                                          = "127.0.0.1") {
    auto o = server->guard_options();
    o.host = host;
    o.tls_certificate = server_cert.certificate;
    o.tls_key = server_cert.key;
    if (require_client_certificates)
      o.tls_ca = ca.certificate;
    auto started = basp_guard::start(o);
    EXPECT_TRUE(started) << started.error;
    return std::move(started.guard);
  }

  /// A TLS client presenting `who` and trusting `trusted` (CAF's
  /// authenticated mode), or anonymous when `who` is null.
  std::string try_client(uint16_t port, const pem_pair* who,
                         const pem_pair* trusted,
                         const std::string& token = admin_token,
                         uint64_t* reached = nullptr) {
    tls_client_options tls;
    tls.enabled = true;
    if (who != nullptr) {
      tls.certificate = who->certificate;
      tls.key = who->key;
    }
    if (trusted != nullptr)
      tls.cafile = trusted->certificate;
    auto c = echo_client::make(tls);
    if (auto err = c->connect("127.0.0.1", port, 10s, token); !err.empty())
      return err;
    if (reached != nullptr)
      *reached = c->remote_id();
    if (auto err = c->ping(100); !err.empty())
      return err;
    if (c->big(4 << 20) != 4 << 20)
      return "no big answer";
    return {};
  }

  std::string dir;
  pem_pair ca, other_ca, server_cert, client_cert, stranger;
  std::unique_ptr<echo_server> server;
};

} // namespace

TEST_F(tls_guard_test, with_a_ca_only_clients_it_signed_get_in) {
  auto guard = start_guard(true);
  EXPECT_EQ(try_client(guard->port(), &client_cert, &ca), "");
  // No certificate (CAF's anonymous mode).
  EXPECT_NE(try_client(guard->port(), nullptr, nullptr), "");
  // A certificate another CA signed.
  EXPECT_NE(try_client(guard->port(), &stranger, &ca), "");
  // A client that does not trust the guard's certificate refuses it.
  EXPECT_NE(try_client(guard->port(), &client_cert, &other_ca), "");
  // A plaintext CAF client.
  auto plain = echo_client::make();
  EXPECT_NE(plain->connect("127.0.0.1", guard->port(), 10s), "");
  // Four failed handshakes; nothing undecrypted reached the frame parser.
  EXPECT_TRUE(eventually([&] { return guard->stats().tls_failures == 4; }))
    << guard->stats().tls_failures;
  EXPECT_EQ(guard->stats().closed_bad_header, 0u);
  // Still fine afterwards.
  EXPECT_EQ(try_client(guard->port(), &client_cert, &ca), "");
}

TEST_F(tls_guard_test, without_a_ca_clients_need_no_certificate) {
  auto guard = start_guard(false);
  EXPECT_EQ(try_client(guard->port(), nullptr, nullptr), "");
  EXPECT_EQ(try_client(guard->port(), &client_cert, &ca), "");
  // The client still checks the server against its own CA file.
  EXPECT_NE(try_client(guard->port(), &client_cert, &other_ca), "");
}

TEST_F(tls_guard_test, a_certificate_the_ca_signed_is_the_admin_credential) {
  auto guard = start_guard(true);
  uint64_t reached = 0;
  // The certificate alone: the admin scope.
  EXPECT_EQ(try_client(guard->port(), &client_cert, &ca, "", &reached), "");
  EXPECT_EQ(reached, server->actor_id());
  // With a token, the token decides.
  EXPECT_EQ(
    try_client(guard->port(), &client_cert, &ca, report_token, &reached), "");
  EXPECT_EQ(reached, server->report_actor_id());
  EXPECT_NE(try_client(guard->port(), &client_cert, &ca,
                       "a-wrong-token-of-some-length"),
            "");
  EXPECT_TRUE(eventually([&] { return guard->stats().refused_auth == 1; }));
}

TEST_F(tls_guard_test, without_a_ca_a_token_is_needed) {
  auto guard = start_guard(false);
  EXPECT_NE(try_client(guard->port(), nullptr, nullptr, ""), "");
  EXPECT_NE(try_client(guard->port(), &client_cert, &ca, ""), "");
  EXPECT_TRUE(eventually([&] { return guard->stats().refused_auth == 2; }));
  uint64_t reached = 0;
  EXPECT_EQ(try_client(guard->port(), nullptr, &ca, report_token, &reached),
            "");
  EXPECT_EQ(reached, server->report_actor_id());
}

TEST_F(tls_guard_test, with_tls_any_address_may_be_bound) {
  auto guard = start_guard(true, "0.0.0.0");
  ASSERT_NE(guard, nullptr);
  EXPECT_EQ(try_client(guard->port(), &client_cert, &ca), "");
}

TEST_F(tls_guard_test, bad_tls_files_are_one_clear_line) {
  auto o = server->guard_options();
  o.tls_certificate = server_cert.certificate;
  o.tls_key = client_cert.key;
  auto r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("does not match"), std::string::npos) << r.error;
  o.tls_key = server_cert.key;
  o.tls_ca = dir + "/missing.pem";
  r = basp_guard::start(o);
  EXPECT_FALSE(r);
  EXPECT_NE(r.error.find("cannot load TLS CA"), std::string::npos) << r.error;
}
