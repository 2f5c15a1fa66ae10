// The FRONT DOOR over TLS, with the real binaries and certificates made by
// the openssl command at test time. The daemon's guard terminates TLS in
// front of CAF: with switchboard.tls-ca it admits only clients whose
// certificate that CA signed (plain clients and strangers are refused);
// without it, any TLS client; beyond loopback the daemon starts only with
// TLS, whatever name the host has.

#include "fixtures/http_client.hpp"
#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

using namespace sb;
using namespace sb::test;

namespace {

class tls_test : public ::testing::Test {
protected:
  void SetUp() override {
    for (auto ca : {"ca", "other"})
      openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
               file(std::string{ca} + ".key"), "-out",
               file(std::string{ca} + ".pem"), "-days", "2", "-subj",
               std::string{"/CN="} + ca});
    // Server and client signed by "ca", a stranger signed by "other".
    for (auto [who, ca] : {std::pair{"server", "ca"}, std::pair{"client", "ca"},
                           std::pair{"stranger", "other"}}) {
      std::string w = who;
      std::string c = ca;
      openssl({"req", "-newkey", "rsa:2048", "-nodes", "-keyout",
               file(w + ".key"), "-out", file(w + ".csr"), "-subj",
               "/CN=localhost"});
      openssl({"x509", "-req", "-in", file(w + ".csr"), "-CA", file(c + ".pem"),
               "-CAkey", file(c + ".key"), "-CAcreateserial", "-out",
               file(w + ".pem"), "-days", "2"});
    }
  }

  std::string file(const std::string& name) { return dir.file(name); }

  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    auto res = run(args);
    ASSERT_EQ(res.rc, 0) << res.err;
  }

  std::unique_ptr<daemon_process> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
      "--switchboard.port=0", "--switchboard.db-path=" + file("state.db"),
      "--switchboard.tls-certificate=" + file("server.pem"),
      "--switchboard.tls-key=" + file("server.key"),
      "--switchboard.tls-ca=" + file("ca.pem")};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<daemon_process>(daemon_binary(), args);
  }

  run_result ping(const daemon_process& d, std::vector<std::string> tls) {
    std::vector<std::string> args{cli_binary(), "--port",
                                  std::to_string(d.port())};
    args.insert(args.end(), tls.begin(), tls.end());
    args.push_back("ping");
    return run(args, {}, std::chrono::seconds(30));
  }

  std::vector<std::string> as(const std::string& who, const std::string& ca) {
    return {"--tls-ca",         file(ca + ".pem"), "--tls-cert",
            file(who + ".pem"), "--tls-key",       file(who + ".key")};
  }

  temp_dir dir;
};

} // namespace

TEST_F(tls_test, only_clients_the_daemons_ca_signed_get_in) {
  auto d = start();
  ASSERT_NE(d->port(), 0) << d->log();
  auto res = ping(*d, as("client", "ca"));
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_NE(res.out.find("pong"), std::string::npos);
  // A plain client.
  res = ping(*d, {});
  EXPECT_EQ(res.rc, 1);
  EXPECT_NE(res.err.find("not reachable"), std::string::npos) << res.err;
  // A client whose certificate another CA signed.
  res = ping(*d, as("stranger", "ca"));
  EXPECT_EQ(res.rc, 1) << res.out;
  // A client that does not trust the daemon's CA.
  res = ping(*d, as("client", "other"));
  EXPECT_EQ(res.rc, 1) << res.out;
  // Incomplete TLS options: a usage error, nothing sent.
  res
    = ping(*d, {"--tls-ca", file("ca.pem"), "--tls-cert", file("client.pem")});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("--tls-key"), std::string::npos) << res.err;
  // The daemon is still fine.
  EXPECT_EQ(ping(*d, as("client", "ca")).rc, 0);
}

TEST_F(tls_test, beyond_loopback_only_with_tls) {
  auto res
    = run({daemon_binary(), "--switchboard.host=0.0.0.0",
           "--switchboard.port=0", "--switchboard.db-path=" + file("x.db")});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("requires TLS"), std::string::npos) << res.err;
  res = run({daemon_binary(), "--switchboard.port=0",
             "--switchboard.db-path=" + file("x.db"),
             "--switchboard.tls-certificate=" + file("server.pem")});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("go together"), std::string::npos) << res.err;
  auto d = start({"--switchboard.host=0.0.0.0"});
  ASSERT_NE(d->port(), 0) << d->log();
  EXPECT_EQ(ping(*d, as("client", "ca")).rc, 0);
}

TEST_F(tls_test, without_a_ca_any_tls_client_gets_in) {
  auto d = std::make_unique<daemon_process>(
    daemon_binary(),
    std::vector<std::string>{
      "--switchboard.port=0", "--switchboard.db-path=" + file("state.db"),
      "--switchboard.tls-certificate=" + file("server.pem"),
      "--switchboard.tls-key=" + file("server.key")});
  ASSERT_NE(d->port(), 0) << d->log();
  // Encrypted without a certificate of its own.
  auto res = ping(*d, {"--tls"});
  EXPECT_EQ(res.rc, 0) << res.err;
  // A client that verifies the daemon (it presents its certificate too).
  EXPECT_EQ(ping(*d, as("client", "ca")).rc, 0);
  // Plain BASP on a TLS port is refused.
  EXPECT_EQ(ping(*d, {}).rc, 1);
}

TEST_F(tls_test, the_http_front_beyond_loopback_needs_tls_and_a_token) {
  // http-token-file: the former name of admin-token-file.
  std::ofstream{file("http-token")} << "front-door-token\n";
  ::chmod(file("http-token").c_str(), 0640);
  // Without TLS the daemon refuses to start.
  auto res
    = run({daemon_binary(), "--switchboard.port=0", "--switchboard.http-port=0",
           "--switchboard.http-host=0.0.0.0",
           "--switchboard.http-token-file=" + file("http-token"),
           "--switchboard.db-path=" + file("x.db")});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("switchboard.http-host"), std::string::npos)
    << res.err;
  auto d = start({"--switchboard.http-host=0.0.0.0",
                  "--switchboard.http-token-file=" + file("http-token")});
  ASSERT_NE(d->port(), 0) << d->log();
  auto port = d->http_port();
  ASSERT_NE(port, 0) << d->log();
  auto https = "https://127.0.0.1:" + std::to_string(port);
  http_call_options o;
  o.cainfo = file("ca.pem");
  o.bearer = "front-door-token";
  auto status = http_call("GET", https + "/v1/status", {}, o);
  EXPECT_EQ(status.status, 200) << status.body << status.error;
  EXPECT_EQ(status.json()["agents"], 0);
  o.bearer.clear();
  EXPECT_EQ(http_call("GET", https + "/v1/status", {}, o).status, 401);
  EXPECT_EQ(http_call("GET", https + "/healthz", {}, o).status, 200);
  // Plain HTTP on the TLS port gets no answer.
  auto plain
    = http_call("GET", "http://127.0.0.1:" + std::to_string(port) + "/healthz");
  EXPECT_NE(plain.status, 200);
  // A client that does not trust the daemon's CA.
  o.cainfo = file("other.pem");
  EXPECT_EQ(http_call("GET", https + "/healthz", {}, o).status, 0);
}
