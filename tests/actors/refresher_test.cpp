// The refresher's arithmetic and readers, without a clock: when a refresh is
// due, how a failing one backs off, what a token endpoint's answer means, and
// what a login file holds. The actor itself runs against a real daemon and a
// fake token endpoint in tests/integration/credentials_test.cpp.

#include "actors/refresher.hpp"
#include "docker_client/oauth_client.hpp"
#include "messages/credential_file.hpp"
#include "messages/error.hpp"
#include "messages/validate.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace sb;
using json = nlohmann::json;

namespace {

constexpr millis second = 1000;

/// base64url without padding, for hand-made JWTs.
std::string b64url(const std::string& in) {
  static const char* abc
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += abc[(acc >> bits) & 63];
    }
  }
  if (bits > 0)
    out += abc[(acc << (6 - bits)) & 63];
  return out;
}

std::string jwt(const json& payload) {
  return b64url(R"({"alg":"none"})") + "." + b64url(payload.dump()) + ".sig";
}

} // namespace

// -- when ---------------------------------------------------------------------

TEST(refresh_due, a_share_of_the_lifetime_but_at_least_the_minimum) {
  // Eight hours, 20%: 96 minutes ahead.
  auto issued = millis{1'000'000'000};
  auto expires = issued + 8 * 3600 * second;
  EXPECT_EQ(refresh_due(expires, issued, 20, 60 * second, 0.0),
            expires - 96 * 60 * second);
  // Ten minutes, 20% = 2 min: the minimum of 5 min wins.
  expires = issued + 600 * second;
  EXPECT_EQ(refresh_due(expires, issued, 20, 300 * second, 0.0),
            expires - 300 * second);
}

TEST(refresh_due, never_earlier_than_half_of_a_short_lifetime) {
  // A token of 4 s with a minimum of 60 s would be refreshed at once, again
  // and again: it waits for half its lifetime.
  auto issued = millis{5000};
  EXPECT_EQ(refresh_due(issued + 4 * second, issued, 20, 60 * second, 0.0),
            issued + 2 * second);
  // A token issued after it expired (a clock step) is due now.
  EXPECT_LE(refresh_due(issued, issued + second, 20, 60 * second, 0.0), issued);
}

TEST(refresh_due, jitter_moves_it_at_most_a_tenth_of_the_margin_earlier) {
  auto issued = millis{0};
  auto expires = 10'000 * second;
  auto plain = refresh_due(expires, issued, 20, 0, 0.0);
  auto spread = refresh_due(expires, issued, 20, 0, 0.999);
  EXPECT_LT(spread, plain);
  EXPECT_GE(spread, plain - 200 * second);
  // Out of range jitter is clamped.
  EXPECT_EQ(refresh_due(expires, issued, 20, 0, 7.0),
            refresh_due(expires, issued, 20, 0, 1.0));
}

TEST(refresh_backoff, doubles_up_to_the_cap_with_jitter) {
  auto base = 5 * second;
  auto cap = 300 * second;
  EXPECT_EQ(refresh_backoff(1, base, cap, 0, 0.5), 5 * second);
  EXPECT_EQ(refresh_backoff(2, base, cap, 0, 0.5), 10 * second);
  EXPECT_EQ(refresh_backoff(4, base, cap, 0, 0.5), 40 * second);
  EXPECT_EQ(refresh_backoff(30, base, cap, 0, 0.5), cap);
  EXPECT_EQ(refresh_backoff(1000000, base, cap, 0, 0.5), cap);
  // +-20%.
  EXPECT_EQ(refresh_backoff(1, base, cap, 0, 0.0), 4 * second);
  EXPECT_EQ(refresh_backoff(1, base, cap, 0, 1.0), 6 * second);
  // A longer Retry-After wins; a shorter one does not shorten it.
  EXPECT_EQ(refresh_backoff(1, base, cap, 90 * second, 0.5), 90 * second);
  EXPECT_EQ(refresh_backoff(3, base, cap, second, 0.5), 20 * second);
}

TEST(refresh_backoff, bounds_the_attempts_of_a_storm) {
  // A minute of 429s from the first failure: at most 5 attempts with the
  // defaults (5 s doubling), even at the short end of the jitter.
  millis t = 0;
  int attempts = 1;
  for (uint32_t n = 1; t < 60 * second; ++n) {
    t += refresh_backoff(n, 5 * second, 300 * second, 0, 0.0);
    if (t < 60 * second)
      ++attempts;
  }
  EXPECT_LE(attempts, 5);
}

// -- what the token endpoint said --------------------------------------------

TEST(token_answer, a_grant_with_expires_in) {
  auto now = millis{1'700'000'000'000};
  auto out = docker::read_token_answer(
    200,
    R"({"access_token":"sk-ant-oat01-new","refresh_token":"sk-ant-ort01-new",)"
    R"("expires_in":28800,"scope":"user:inference user:profile"})",
    {}, now);
  ASSERT_EQ(out.result, refresh_outcome::verdict::granted);
  EXPECT_EQ(out.grant.access_token.value, "sk-ant-oat01-new");
  EXPECT_EQ(out.grant.refresh_token.value, "sk-ant-ort01-new");
  EXPECT_EQ(out.grant.expires_at, now + 28800 * second);
  EXPECT_EQ(out.grant.scopes,
            (std::vector<std::string>{"user:inference", "user:profile"}));
}

TEST(token_answer, a_grant_without_refresh_token_keeps_the_stored_one) {
  auto out = docker::read_token_answer(
    200, R"({"access_token":"a-new-one","expires_in":60})", {}, 0);
  ASSERT_EQ(out.result, refresh_outcome::verdict::granted);
  EXPECT_TRUE(out.grant.refresh_token.value.empty());
}

TEST(token_answer, codex_grants_expire_with_their_jwt) {
  auto access = jwt({{"exp", 1'800'000'000}, {"sub", "x"}});
  auto out = docker::read_token_answer(
    200,
    json{{"access_token", access}, {"refresh_token", "r2"}, {"id_token", "i2"}}
      .dump(),
    {}, 1'700'000'000'000);
  ASSERT_EQ(out.result, refresh_outcome::verdict::granted);
  EXPECT_EQ(out.grant.expires_at, millis{1'800'000'000'000});
  EXPECT_EQ(out.grant.id_token.value, "i2");
  // Neither: an hour.
  out = docker::read_token_answer(200, R"({"access_token":"opaque"})", {}, 0);
  EXPECT_EQ(out.grant.expires_at, 3600 * second);
}

TEST(token_answer, rejections_are_told_from_transient_failures) {
  using v = refresh_outcome::verdict;
  auto read = [](long status, const char* body,
                 std::map<std::string, std::string> headers = {}) {
    return docker::read_token_answer(status, body, headers, 1'000'000);
  };
  EXPECT_EQ(read(400, R"({"error":"invalid_grant"})").result, v::rejected);
  EXPECT_EQ(read(400, R"({"error":"invalid_grant"})").detail,
            "HTTP 400 invalid_grant");
  for (auto code : {"refresh_token_reused", "refresh_token_expired",
                    "refresh_token_invalidated"})
    EXPECT_EQ(
      read(401, json{{"error", {{"code", code}}}}.dump().c_str()).result,
      v::rejected)
      << code;
  // 429 and 5xx are transient whatever they say; so is a broken answer.
  EXPECT_EQ(read(429, R"({"error":"invalid_grant"})").result, v::transient);
  EXPECT_EQ(read(503, R"({"error":"invalid_grant"})").result, v::transient);
  EXPECT_EQ(read(500, "<html>").result, v::transient);
  EXPECT_EQ(read(200, "<html>").result, v::transient);
  EXPECT_EQ(read(200, R"({"token_type":"Bearer"})").result, v::transient);
  EXPECT_EQ(read(400, R"({"error":"invalid_client"})").result, v::transient);
  // Retry-After in seconds or as an HTTP date.
  EXPECT_EQ(read(429, "{}", {{"retry-after", "30"}}).retry_after, 30 * second);
  auto at = docker::read_token_answer(
    429, "{}", {{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}},
    784111777000 - 10 * second);
  EXPECT_EQ(at.retry_after, 10 * second);
  EXPECT_EQ(read(429, "{}", {{"retry-after", "soon"}}).retry_after, 0);
}

TEST(token_answer, details_never_quote_the_answer) {
  auto out = docker::read_token_answer(
    400, R"({"error":"sk-ant-ort01-secret value"})", {}, 0);
  EXPECT_EQ(out.detail, "HTTP 400");
  out = docker::read_token_answer(
    200, R"({"access_token":"has a space","refresh_token":"r"})", {}, 0);
  EXPECT_EQ(out.result, refresh_outcome::verdict::transient);
  EXPECT_EQ(out.detail.find("space"), std::string::npos);
}

// -- login files
// ----------------------------------------------------------------

TEST(login_document, claude_code_credentials) {
  subscription_spec spec;
  spec.name = "team";
  auto err = read_login_document(
    R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-a",)"
    R"("refreshToken":"sk-ant-ort01-r","expiresAt":1767225600000,)"
    R"("scopes":["user:inference","user:profile"],"subscriptionType":"max"}})",
    spec);
  ASSERT_FALSE(err) << render(err);
  EXPECT_EQ(spec.terms.kind, credential_kind::oauth);
  EXPECT_EQ(spec.token.value, "sk-ant-oat01-a");
  EXPECT_EQ(spec.refresh_token.value, "sk-ant-ort01-r");
  EXPECT_EQ(spec.terms.expires_at, millis{1767225600000});
  EXPECT_EQ(spec.terms.scopes.size(), 2u);
  EXPECT_EQ(spec.provider, provider_kind::anthropic);
  EXPECT_FALSE(validate(spec));
}

TEST(login_document, codex_auth_json) {
  subscription_spec spec;
  spec.name = "cx";
  auto access = jwt({{"exp", 1'800'000'000}});
  auto err = read_login_document(json{{"OPENAI_API_KEY", nullptr},
                                      {"tokens",
                                       {{"id_token", jwt({{"email", "x"}})},
                                        {"access_token", access},
                                        {"refresh_token", "rt-codex-1"},
                                        {"account_id", "acc-123"}}},
                                      {"last_refresh", "2026-12-01T00:00:00Z"}}
                                   .dump(),
                                 spec);
  ASSERT_FALSE(err) << render(err);
  EXPECT_EQ(spec.provider, provider_kind::codex);
  EXPECT_EQ(spec.terms.expires_at, millis{1'800'000'000'000});
  EXPECT_EQ(spec.account_id, "acc-123");
  EXPECT_FALSE(spec.id_token.value.empty());
  EXPECT_FALSE(validate(spec));
}

TEST(login_document, errors_say_what_is_missing_and_quote_nothing) {
  auto fails = [](const std::string& text,
                  caf::optional<provider_kind> wanted = caf::none) {
    subscription_spec spec;
    spec.provider = wanted;
    auto err = read_login_document(text, spec);
    EXPECT_TRUE(err) << text;
    auto msg = render(err);
    EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
    return msg;
  };
  EXPECT_NE(fails("[]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(fails(R"({"foo":1})").find("neither"), std::string::npos);
  EXPECT_NE(fails(R"({"claudeAiOauth":{"accessToken":"SECRET-a",)"
                  R"("expiresAt":5}})")
              .find("no refreshToken"),
            std::string::npos);
  EXPECT_NE(fails(R"({"claudeAiOauth":{"accessToken":"SECRET-a",)"
                  R"("refreshToken":"SECRET-r"}})")
              .find("no expiresAt"),
            std::string::npos);
  EXPECT_NE(fails(R"({"tokens":{"access_token":"SECRET-opaque",)"
                  R"("refresh_token":"SECRET-r"}})")
              .find("no expiry"),
            std::string::npos);
  EXPECT_NE(fails(R"({"claudeAiOauth":{"accessToken":"SECRET-a",)"
                  R"("refreshToken":"SECRET-r","expiresAt":5}})",
                  provider_kind::codex)
              .find("not codex"),
            std::string::npos);
}

TEST(validate_credential, an_oauth_spec_needs_what_a_refresh_needs) {
  subscription_spec spec;
  spec.name = "s";
  spec.token.value = "access";
  spec.terms.kind = credential_kind::oauth;
  spec.terms.expires_at = 1000;
  EXPECT_TRUE(validate(spec)); // no refresh token
  spec.refresh_token.value = "refresh";
  EXPECT_FALSE(validate(spec));
  spec.token_url = "ftp://x";
  EXPECT_TRUE(validate(spec));
  spec.token_url = "https://auth.example/token";
  EXPECT_FALSE(validate(spec));
  spec.provider = provider_kind::gemini;
  EXPECT_TRUE(validate(spec));
  spec.provider = provider_kind::codex;
  EXPECT_FALSE(validate(spec));
  spec.refresh_token.value = "access";
  EXPECT_TRUE(validate(spec)); // the same token twice
  // A static token carries no refresh token.
  spec = subscription_spec{};
  spec.name = "s";
  spec.token.value = "tok";
  spec.refresh_token.value = "r";
  EXPECT_TRUE(validate(spec));
  spec.refresh_token.value.clear();
  spec.terms.scopes = {"user:inference", "has space"};
  EXPECT_TRUE(validate(spec));
  spec.terms.scopes = {"user:inference"};
  spec.terms.expires_at = -5;
  EXPECT_TRUE(validate(spec));
}
