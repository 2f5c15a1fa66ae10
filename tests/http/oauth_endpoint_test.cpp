// The fake OAuth token endpoint (tests/fixtures/oauth_endpoint.hpp) checked
// on its own, with a real HTTP client: single-use refresh tokens, a reuse
// revoking its family, answers without a new refresh token, injected 429s,
// and a stalled server that never holds up its destructor.

#include "fixtures/http_client.hpp"
#include "fixtures/oauth_endpoint.hpp"

#include <gtest/gtest.h>

#include <future>
#include <memory>

using namespace sb::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* client_id = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

std::string refresh_body(const std::string& refresh_token) {
  return json{{"grant_type", "refresh_token"},
              {"refresh_token", refresh_token},
              {"client_id", client_id}}
    .dump();
}

http_reply refresh(const oauth_endpoint& ep, const std::string& token,
                   long timeout_s = 10) {
  http_call_options opts;
  opts.timeout_s = timeout_s;
  return http_call("POST", ep.url(), refresh_body(token), opts);
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void expect_invalid_grant(const http_reply& r) {
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json().value("error", ""), "invalid_grant") << r.body;
}

} // namespace

TEST(oauth_endpoint, refresh_token_is_single_use_and_reuse_revokes_family) {
  oauth_endpoint ep;
  EXPECT_EQ(ep.url(), "http://127.0.0.1:" + std::to_string(ep.port())
                        + "/v1/oauth/token");
  auto login = ep.issue_family();
  EXPECT_TRUE(starts_with(login.access_token, "sk-ant-oat01-fake-"));
  EXPECT_TRUE(starts_with(login.refresh_token, "sk-ant-ort01-fake-"));
  EXPECT_TRUE(ep.is_valid_access(login.access_token, now_ms()));
  auto other = ep.issue_family();

  auto first = refresh(ep, login.refresh_token);
  ASSERT_EQ(first.status, 200) << first.body << first.error;
  EXPECT_EQ(first.headers["content-type"], "application/json");
  auto doc = first.json();
  EXPECT_EQ(doc["token_type"], "Bearer");
  EXPECT_EQ(doc["scope"], "user:inference user:profile");
  EXPECT_EQ(doc["expires_in"], 3);
  auto access = doc.value("access_token", "");
  auto next = doc.value("refresh_token", "");
  EXPECT_TRUE(starts_with(access, "sk-ant-oat01-fake-"));
  EXPECT_TRUE(starts_with(next, "sk-ant-ort01-fake-"));
  EXPECT_NE(access, login.access_token);
  EXPECT_NE(next, login.refresh_token);
  EXPECT_TRUE(ep.is_valid_access(access, now_ms()));
  EXPECT_EQ(ep.refreshes_ok(), 1);

  // The spent token again: refused, counted, and its family is gone.
  auto reuse = refresh(ep, login.refresh_token);
  expect_invalid_grant(reuse);
  EXPECT_EQ(reuse.json().value("error_description", ""),
            "Refresh token has been used");
  EXPECT_EQ(ep.reused(), 1);
  expect_invalid_grant(refresh(ep, next));
  EXPECT_EQ(ep.reused(), 1); // revoked, not reused
  expect_invalid_grant(refresh(ep, "sk-ant-ort01-fake-unknown"));
  EXPECT_EQ(ep.refreshes_ok(), 1);

  // Another login is untouched.
  EXPECT_EQ(refresh(ep, other.refresh_token).status, 200);

  auto seen = ep.requests();
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1/oauth/token");
  EXPECT_EQ(seen[0].grant_type, "refresh_token");
  EXPECT_EQ(seen[0].refresh_token, login.refresh_token);
  EXPECT_EQ(seen[0].client_id, client_id);
  EXPECT_EQ(seen[0].headers["content-type"], "application/json");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(seen[1].status, 400);
  EXPECT_LE(seen[0].at_ms, seen[4].at_ms);
  EXPECT_EQ(ep.refresh_tokens_seen(),
            (std::vector<std::string>{login.refresh_token, login.refresh_token,
                                      next, "sk-ant-ort01-fake-unknown",
                                      other.refresh_token}));
  EXPECT_EQ(ep.issued_access_tokens().size(), 4u);
}

TEST(oauth_endpoint, codex_errors_answer_401_with_a_code) {
  oauth_endpoint ep;
  ep.set_codex_errors(true);
  auto login = ep.issue_family();
  ASSERT_EQ(refresh(ep, login.refresh_token).status, 200);
  auto reuse = refresh(ep, login.refresh_token);
  EXPECT_EQ(reuse.status, 401) << reuse.body;
  EXPECT_EQ(reuse.json()["error"]["code"], "refresh_token_reused");
  EXPECT_EQ(ep.reused(), 1);
}

TEST(oauth_endpoint, omitted_refresh_token_leaves_the_old_one_valid) {
  oauth_endpoint ep;
  auto login = ep.issue_family();
  ep.omit_refresh_token(true);
  for (int i = 0; i < 2; ++i) {
    auto r = refresh(ep, login.refresh_token);
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    EXPECT_FALSE(r.json().contains("refresh_token")) << r.body;
    EXPECT_TRUE(
      ep.is_valid_access(r.json().value("access_token", ""), now_ms()));
  }
  EXPECT_EQ(ep.reused(), 0);
  ep.omit_refresh_token(false);
  auto r = refresh(ep, login.refresh_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json().contains("refresh_token"));
  expect_invalid_grant(refresh(ep, login.refresh_token));
  EXPECT_EQ(ep.refreshes_ok(), 3);
  EXPECT_EQ(ep.reused(), 1);
}

TEST(oauth_endpoint, fail_next_answers_429_with_retry_after_then_recovers) {
  oauth_endpoint ep;
  auto login = ep.issue_family();
  ep.fail_next(2, 429, 7);
  for (int i = 0; i < 2; ++i) {
    auto r = refresh(ep, login.refresh_token);
    EXPECT_EQ(r.status, 429) << r.body << r.error;
    EXPECT_EQ(r.headers["retry-after"], "7");
    EXPECT_EQ(r.json().value("error", ""), "rate_limited");
  }
  // The refused attempts spent nothing.
  auto r = refresh(ep, login.refresh_token);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.count("retry-after"), 0u);
  EXPECT_EQ(ep.refreshes_ok(), 1);
  EXPECT_EQ(ep.reused(), 0);

  ep.fail_always(500, std::nullopt);
  EXPECT_EQ(refresh(ep, "anything").status, 500);
  EXPECT_EQ(refresh(ep, "anything").status, 500);
  ep.heal();
  expect_invalid_grant(refresh(ep, "anything"));
}

TEST(oauth_endpoint, lifetime_rounds_expires_in_up_and_keeps_exact_expiry) {
  oauth_endpoint ep;
  auto seeded = ep.seed(250ms);
  auto expiry = ep.expires_at_of(seeded.access_token);
  ASSERT_TRUE(expiry);
  EXPECT_EQ(*expiry, seeded.expires_at_ms);
  EXPECT_TRUE(ep.is_valid_access(seeded.access_token, *expiry - 1));
  EXPECT_FALSE(ep.is_valid_access(seeded.access_token, *expiry));
  EXPECT_FALSE(ep.is_valid_access("sk-ant-oat01-fake-never", 0));

  ep.set_lifetime(1500ms);
  auto before = now_ms();
  auto r = refresh(ep, seeded.refresh_token);
  auto after = now_ms();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["expires_in"], 2);
  auto exact = ep.expires_at_of(r.json().value("access_token", ""));
  ASSERT_TRUE(exact);
  EXPECT_GE(*exact, before + 1500);
  EXPECT_LE(*exact, after + 1500);

  ep.set_lifetime(100ms);
  r = refresh(ep, r.json().value("refresh_token", ""));
  EXPECT_EQ(r.json()["expires_in"], 1);
}

TEST(oauth_endpoint,
     a_stalled_request_times_out_and_never_holds_the_destructor) {
  auto ep = std::make_unique<oauth_endpoint>();
  auto login = ep->issue_family();
  ep->stall(true);
  auto r = refresh(*ep, login.refresh_token, 1);
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
  ASSERT_TRUE(ep->wait_for_requests(1));
  EXPECT_EQ(ep->requests()[0].status, 0);
  EXPECT_EQ(ep->refreshes_ok(), 0);

  // A client still waiting when the endpoint goes: cut off, not hung.
  auto waiting = std::async(std::launch::async,
                            [&] { return refresh(*ep, "sk-ant-ort01-x", 60); });
  ASSERT_TRUE(ep->wait_for_requests(2));
  auto start = std::chrono::steady_clock::now();
  ep.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(waiting.get().status, 0);
}

TEST(oauth_endpoint, lifting_a_stall_answers_the_waiting_request) {
  oauth_endpoint ep;
  auto login = ep.issue_family();
  ep.stall(true);
  auto waiting = std::async(std::launch::async,
                            [&] { return refresh(ep, login.refresh_token); });
  ASSERT_TRUE(ep.wait_for_requests(1));
  EXPECT_EQ(ep.refreshes_ok(), 0);
  ep.stall(false);
  auto r = waiting.get();
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(ep.refreshes_ok(), 1);
}

TEST(oauth_endpoint, a_request_abandoned_during_a_stall_spends_nothing) {
  oauth_endpoint ep;
  auto login = ep.issue_family();
  ep.stall(true);
  EXPECT_EQ(refresh(ep, login.refresh_token, 1).status, 0);
  ep.stall(false);
  auto r = refresh(ep, login.refresh_token);
  EXPECT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(ep.reused(), 0);
  EXPECT_EQ(ep.refreshes_ok(), 1);
}
