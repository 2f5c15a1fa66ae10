// The signals of each provider (actors/provider_signals.hpp and the header
// tables of actors/provider_headers.hpp): Codex, OpenAI API keys and Gemini,
// and the Anthropic verdict texts. The forms come from
// ../shared/notes/credentials-and-providers.md (sources in
// docs/providers.md). Every expected instant is computed from a known date.

#include "actors/evidence.hpp"
#include "actors/provider_headers.hpp"
#include "actors/provider_signals.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace sb;

namespace {

/// Sun, 29 Nov 2026 12:00:00 GMT (PST: 04:00).
constexpr millis t0 = 1795953600 * millis{1000};

/// Fri, 10 Jul 2026 09:00:00 GMT (PDT: 02:00).
constexpr millis july = 1783674000 * millis{1000};

constexpr millis s = 1000;

provider_evidence codex(std::vector<http_header> h, std::string text = {},
                        millis at = t0) {
  return parse_evidence(h, text, at, provider_kind::codex);
}

provider_evidence openai(std::vector<http_header> h, std::string text = {}) {
  return parse_evidence(h, text, t0, provider_kind::openai);
}

provider_evidence gemini(std::string text, millis at = t0) {
  return parse_evidence({}, text, at, provider_kind::gemini);
}

} // namespace

// -- Codex -------------------------------------------------------------------

TEST(codex_signals, windows_are_placed_by_their_length_not_their_name) {
  // A Pro plan reports the weekly window as primary.
  auto ev = codex({{"x-codex-primary-used-percent", "100"},
                   {"x-codex-primary-window-minutes", "10080"},
                   {"x-codex-primary-reset-after-seconds", "13873"},
                   {"x-codex-secondary-used-percent", "42"},
                   {"x-codex-secondary-window-minutes", "300"},
                   {"x-codex-secondary-reset-at", "1795960800"}});
  ASSERT_TRUE(ev.seven_day.utilization);
  EXPECT_DOUBLE_EQ(*ev.seven_day.utilization, 1.0);
  EXPECT_EQ(ev.seven_day.reset_at, t0 + 13873 * s);
  ASSERT_TRUE(ev.five_hour.utilization);
  EXPECT_DOUBLE_EQ(*ev.five_hour.utilization, 0.42);
  EXPECT_EQ(ev.five_hour.reset_at, 1795960800 * s);
  // The full window is what brings the credential back.
  EXPECT_EQ(failure_reset(ev), t0 + 13873 * s);
}

TEST(codex_signals, without_a_length_primary_is_the_short_window) {
  auto ev = codex({{"x-codex-primary-used-percent", "12.5"},
                   {"x-codex-secondary-used-percent", "80"}});
  EXPECT_DOUBLE_EQ(ev.five_hour.utilization.value_or(-1), 0.125);
  EXPECT_DOUBLE_EQ(ev.seven_day.utilization.value_or(-1), 0.8);
}

TEST(codex_signals, a_per_model_family_is_not_the_credentials_window) {
  auto ev = codex({{"x-gpt-5-codex-primary-used-percent", "100"},
                   {"x-gpt-5-codex-limit-name", "GPT-5-Codex"},
                   {"x-gpt-5-codex-primary-reset-after-seconds", "600"}});
  EXPECT_FALSE(ev.five_hour.utilization);
  EXPECT_FALSE(ev.seven_day.utilization);
  EXPECT_EQ(failure_reset(ev), 0);
  ASSERT_EQ(ev.models.size(), 1u); // a model bucket (model_buckets below)
}

TEST(codex_signals, malformed_values_are_ignored) {
  auto ev = codex({{"x-codex-primary-used-percent", "-3"},
                   {"x-codex-primary-window-minutes", "five hours"},
                   {"x-codex-primary-reset-at", "soon"},
                   {"x-codex-secondary-used-percent", "1e3"}});
  EXPECT_TRUE(ev.empty());
}

TEST(codex_signals, usage_limit_reached_bodies_say_when) {
  auto ev = codex({}, R"({"error":{"type":"usage_limit_reached",)"
                      R"("plan_type":"plus","resets_at":1795967472,)"
                      R"("resets_in_seconds":13872}})");
  EXPECT_EQ(ev.text_reset_at, 1795967472 * s);
  EXPECT_EQ(ev.verdict, retire_reason::none);
  // Only the relative form.
  ev = codex({}, R"(API Error: 429 {"error":{"type":"usage_limit_reached",)"
                 R"("resets_in_seconds":600}})");
  EXPECT_EQ(ev.text_reset_at, t0 + 600 * s);
}

TEST(codex_signals, usage_not_included_is_final) {
  auto ev = codex({}, R"({"error":{"type":"usage_not_included"}})");
  EXPECT_EQ(ev.verdict, retire_reason::not_entitled);
  EXPECT_EQ(ev.text_reset_at, 0);
  EXPECT_FALSE(ev.empty());
}

TEST(codex_signals, the_texts_of_the_cli) {
  struct row {
    const char* text;
    millis at;
    millis expected;
  };
  const row rows[] = {
    {"You've hit your usage limit. Upgrade to Pro, or try again at 3:52 PM.",
     t0, t0 + 3 * 3600 * s + 52 * 60 * s},
    {"You've hit your usage limit. Try again at Jul 10th, 2026 11:52 AM.", july,
     1783684320 * s},
    // A model's limit: its instant is the model's (model_buckets below).
    {"You've hit your usage limit for GPT-5-Codex. Switch to another model "
     "now, or try again at Jul 10th, 2026 11:52 AM.",
     july, 0},
    {"You've hit your usage limit. try again in 5 days 22 hours 11 minutes", t0,
     t0 + (5 * 86400 + 22 * 3600 + 11 * 60) * s},
    {"try again in 90 seconds", t0, t0 + 90 * s},
    // Not a time: nothing.
    {"try again at some point", t0, 0},
    {"try again in a while", t0, 0},
    {"Try again at Jux 10th, 2026 11:52 AM.", july, 0},
    {"Try again at Feb 30th, 2026 11:52 AM.", july, 0},
  };
  for (auto& r : rows)
    EXPECT_EQ(codex({}, r.text, r.at).text_reset_at, r.expected) << r.text;
}

// -- OpenAI API keys ---------------------------------------------------------

TEST(openai_signals, go_durations) {
  struct row {
    const char* text;
    std::optional<millis> expected;
  };
  const row rows[] = {
    {"20s", 20 * s},
    {"6m0s", 360 * s},
    {"12ms", 12},
    {"1h2m3.5s", 3723500},
    {"9h54m5.7s", 35645700},
    {"20", 20 * s},
    {"1.5", 1500},
    {"500us", 0},
    {"", std::nullopt},
    {"6x", std::nullopt},
    {"-5s", std::nullopt},
    {"1e3s", std::nullopt},
    {"999h", std::nullopt},
  };
  for (auto& r : rows)
    EXPECT_EQ(parse_go_duration(r.text), r.expected) << r.text;
}

TEST(openai_signals, a_twenty_second_hint_excludes_for_twenty_seconds) {
  // The case of the issue: the hint is the exclusion, not the window.
  auto ev = openai({{"x-ratelimit-reset-requests", "20s"}});
  EXPECT_EQ(ev.retry_at, t0 + 20 * s);
  EXPECT_EQ(failure_reset(ev), t0 + 20 * s);
}

TEST(openai_signals, the_exhausted_quota_decides) {
  auto ev = openai({{"x-ratelimit-limit-requests", "500"},
                    {"x-ratelimit-remaining-requests", "499"},
                    {"x-ratelimit-reset-requests", "120ms"},
                    {"x-ratelimit-limit-tokens", "30000"},
                    {"x-ratelimit-remaining-tokens", "0"},
                    {"x-ratelimit-reset-tokens", "6m0s"}});
  EXPECT_EQ(ev.retry_at, t0 + 360 * s);
  // Quotas with some left say nothing.
  ev = openai({{"x-ratelimit-remaining-requests", "10"},
               {"x-ratelimit-reset-requests", "1s"}});
  EXPECT_EQ(ev.retry_at, 0);
}

TEST(openai_signals, retry_after_counts_too) {
  auto ev = openai({{"retry-after", "7"}});
  EXPECT_EQ(failure_reset(ev), t0 + 7 * s);
}

TEST(openai_signals, insufficient_quota_is_final_until_paid) {
  for (auto code :
       {"insufficient_quota", "credit_balance_exhausted",
        "organization_spend_limit_exceeded", "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded"}) {
    auto body = std::string{R"({"error":{"type":"insufficient_quota",)"}
                + R"("code":")" + code + R"("}})";
    EXPECT_EQ(openai({}, body).verdict, retire_reason::not_entitled) << code;
  }
  for (auto type : {"rate_limit_exceeded", "slow_down", "server_error"}) {
    auto body = std::string{R"({"error":{"type":")"} + type + R"("}})";
    EXPECT_EQ(openai({}, body).verdict, retire_reason::none) << type;
  }
}

// -- Gemini ------------------------------------------------------------------

namespace {

std::string gemini_body(const std::string& quota_id, const std::string& delay,
                        const std::string& reason = {},
                        const std::string& message = "quota exceeded") {
  std::string details = R"([{"@type":"type.googleapis.com/google.rpc.)"
                        R"(QuotaFailure","violations":[{"quotaId":")"
                        + quota_id + R"("}]})";
  if (!delay.empty())
    details += R"(,{"@type":"type.googleapis.com/google.rpc.RetryInfo",)"
               R"("retryDelay":")"
               + delay + R"("})";
  if (!reason.empty())
    details += R"(,{"@type":"type.googleapis.com/google.rpc.ErrorInfo",)"
               R"("reason":")"
               + reason + R"("})";
  return R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":")"
         + message + R"(","details":)" + details + "]}}";
}

} // namespace

TEST(gemini_signals, the_retry_delay_when_given) {
  auto ev = gemini(gemini_body("GenerateRequestsPerMinutePerProject", "38s"));
  EXPECT_EQ(ev.text_reset_at, t0 + 38 * s);
}

TEST(gemini_signals, a_daily_quota_waits_for_the_pacific_midnight) {
  // 04:00 PST: the next midnight is 08:00 UTC on the 30th.
  auto ev = gemini(
    gemini_body("GenerateRequestsPerDayPerProjectPerModel-FreeTier", ""));
  EXPECT_EQ(ev.text_reset_at, 1796025600 * s);
  ev = gemini(gemini_body("SomeQuota", "", "QUOTA_EXHAUSTED"));
  EXPECT_EQ(ev.text_reset_at, 1796025600 * s);
  // In July (PDT) midnight is 07:00 UTC.
  ev = gemini(gemini_body("GenerateRequestsPerDay", ""), july);
  EXPECT_EQ(ev.text_reset_at, 1783753200 * s);
}

TEST(gemini_signals, a_minute_quota_a_minute) {
  auto ev = gemini(gemini_body("GenerateRequestsPerMinutePerProject", "",
                               "RATE_LIMIT_EXCEEDED"));
  EXPECT_EQ(ev.text_reset_at, t0 + 60 * s);
}

TEST(gemini_signals, the_message_says_how_long) {
  auto ev = gemini(gemini_body("GenerateRequestsPerDay", "", "",
                               "Quota exceeded. Please retry in 9h54m5.7s."));
  EXPECT_EQ(ev.text_reset_at, t0 + 35645700);
}

TEST(gemini_signals, pacific_midnight_across_the_clock_changes) {
  // 2026-03-08 01:30 PST, the day DST starts: midnight of the 9th is PDT.
  EXPECT_EQ(next_pacific_midnight(1772962200 * s), 1773039600 * s);
  // 2026-11-01 00:30 PDT, the day DST ends: midnight of the 2nd is PST.
  EXPECT_EQ(next_pacific_midnight(1793518200 * s), 1793606400 * s);
}

// -- Anthropic ---------------------------------------------------------------

TEST(anthropic_signals, verdicts_of_ban_and_disable) {
  EXPECT_EQ(anthropic_verdict(
              R"({"type":"error","error":{"type":"permission_error","message":)"
              R"("OAuth authentication is currently not allowed for this )"
              R"(organization."}})"),
            retire_reason::banned);
  EXPECT_EQ(anthropic_verdict("This organization has been disabled."),
            retire_reason::disabled);
  EXPECT_EQ(anthropic_verdict("Permission denied"), retire_reason::none);
  // A permission_error with x-should-retry: false is a ban too.
  auto no_retry = parse_evidence(
    {{"x-should-retry", "false"}},
    R"({"type":"error","error":{"type":"permission_error","message":"no"}})",
    t0, provider_kind::anthropic);
  EXPECT_EQ(no_retry.verdict, retire_reason::banned);
  auto retry = parse_evidence(
    {{"x-should-retry", "true"}},
    R"({"type":"error","error":{"type":"permission_error","message":"no"}})",
    t0, provider_kind::anthropic);
  EXPECT_EQ(retry.verdict, retire_reason::none);
  // An Anthropic reader is not confused by another provider's body.
  auto ev = parse_evidence({}, R"({"error":{"type":"usage_not_included"}})", t0,
                           provider_kind::anthropic);
  EXPECT_TRUE(ev.empty());
}

// -- model buckets and suspects ---------------------------------------------

TEST(model_buckets, anthropic_7d_oi_alone_is_the_opus_bucket_only) {
  // CLIProxyAPI #5915: the unified status is rejected, but only the Opus
  // weekly bucket is out; its week-long retry-after is the bucket's.
  auto ev
    = parse_evidence({{"anthropic-ratelimit-unified-status", "rejected"},
                      {"anthropic-ratelimit-unified-representative-claim",
                       "seven_day_overage_included"},
                      {"anthropic-ratelimit-unified-7d-utilization", "0.69"},
                      {"anthropic-ratelimit-unified-5h-utilization", "0.00"},
                      {"anthropic-ratelimit-unified-7d_oi-status", "rejected"},
                      {"anthropic-ratelimit-unified-7d_oi-utilization", "1.02"},
                      {"retry-after", "121180"}},
                     "", t0, provider_kind::anthropic);
  ASSERT_EQ(ev.models.size(), 1u);
  EXPECT_EQ(ev.models[0].model, "opus");
  EXPECT_EQ(ev.models[0].reset_at, t0 + 121180 * s);
  EXPECT_EQ(ev.status, provider_status::unknown);
  EXPECT_EQ(ev.retry_at, 0);
  EXPECT_EQ(failure_reset(ev), 0);
  EXPECT_TRUE(is_model_only(ev));
}

TEST(model_buckets, a_full_window_of_the_credential_stays_the_credentials) {
  auto ev = parse_evidence(
    {{"anthropic-ratelimit-unified-status", "rejected"},
     {"anthropic-ratelimit-unified-representative-claim", "five_hour"},
     {"anthropic-ratelimit-unified-reset", "1795960800"},
     {"anthropic-ratelimit-unified-7d_oi-status", "rejected"}},
    "", t0, provider_kind::anthropic);
  ASSERT_EQ(ev.models.size(), 1u);
  EXPECT_EQ(ev.status, provider_status::rejected);
  EXPECT_EQ(failure_reset(ev), 1795960800 * s);
  EXPECT_FALSE(is_model_only(ev));
}

TEST(model_buckets, codex_per_model_families_and_texts) {
  auto ev = codex({{"x-gpt-5-codex-primary-used-percent", "100"},
                   {"x-gpt-5-codex-limit-name", "GPT-5-Codex"},
                   {"x-gpt-5-codex-primary-reset-after-seconds", "600"},
                   {"x-codex-primary-used-percent", "20"}});
  ASSERT_EQ(ev.models.size(), 1u);
  EXPECT_EQ(ev.models[0].model, "gpt-5-codex");
  EXPECT_EQ(ev.models[0].reset_at, t0 + 600 * s);
  EXPECT_TRUE(is_model_only(ev));
  // The CLI's text of a model's limit: its instant is the model's.
  ev = codex({}, "You've hit your usage limit for GPT-5-Codex. Switch to "
                 "another model now, or try again at 3:52 PM.");
  EXPECT_EQ(ev.text_reset_at, 0);
  ASSERT_EQ(ev.models.size(), 1u);
  EXPECT_EQ(ev.models[0].model, "GPT-5-Codex");
  EXPECT_EQ(ev.models[0].reset_at, t0 + 3 * 3600 * s + 52 * 60 * s);
  EXPECT_TRUE(model_in_bucket("gpt-5-codex", ev.models[0].model));
  EXPECT_FALSE(model_in_bucket("gpt-5", ev.models[0].model));
}

TEST(model_buckets, a_gemini_quota_of_one_model) {
  auto body = std::string{
    R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[)"
    R"({"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":)"
    R"([{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel",)"
    R"("quotaDimensions":{"model":"gemini-2.5-pro","location":"global"}}]},)"
    R"({"@type":"type.googleapis.com/google.rpc.RetryInfo",)"
    R"("retryDelay":"38s"}]}})"};
  auto ev = gemini(body);
  EXPECT_EQ(ev.text_reset_at, 0);
  ASSERT_EQ(ev.models.size(), 1u);
  EXPECT_EQ(ev.models[0].model, "gemini-2.5-pro");
  EXPECT_EQ(ev.models[0].reset_at, t0 + 38 * s);
  // A model name of control bytes is not kept.
  auto bad = body;
  bad.replace(bad.find("gemini-2.5-pro"), 14, "gem\u001bini");
  EXPECT_TRUE(gemini(bad).models.empty());
}

TEST(suspects, which_answers_count_towards_ban_after) {
  EXPECT_EQ(suspected(403, "Permission denied"), retire_reason::banned);
  EXPECT_EQ(suspected(401, "Invalid authentication credentials"),
            retire_reason::dead_credential);
  EXPECT_EQ(suspected(401, "OAuth access token is invalid"),
            retire_reason::dead_credential);
  EXPECT_EQ(suspected(401, "OAuth token has expired"), retire_reason::none);
  EXPECT_EQ(suspected(429, "Permission denied"), retire_reason::none);
}

// -- random bytes ------------------------------------------------------------

TEST(provider_signals, random_bytes_never_break_a_reader) {
  std::mt19937_64 rng{20261207};
  const std::vector<std::string> pieces{
    "{",         "}",         "\"error\"",
    ":",         ",",         "\"type\"",
    "[",         "]",         "retry in ",
    "9h",        "5.7s",      "try again",
    " at ",      " in ",      "Jul 10th, 2026",
    "11:52 AM",  "days",      "\"resets_at\"",
    "1e309",     "-1",        "\xff",
    "\"@type\"", "RetryInfo", "QuotaFailure",
    "PerDay"};
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    auto n = rng() % 12;
    for (size_t j = 0; j < n; ++j)
      text += pieces[rng() % pieces.size()];
    std::vector<http_header> headers{
      {"x-codex-primary-used-percent", text},
      {"x-ratelimit-reset-tokens", text},
      {"x-codex-secondary-reset-after-seconds", text}};
    for (auto p : {provider_kind::anthropic, provider_kind::codex,
                   provider_kind::openai, provider_kind::gemini}) {
      auto ev = parse_evidence(headers, text, t0, p);
      ASSERT_FALSE(check_evidence(ev, t0)) << text;
    }
  }
}
