// What each kind of sink receives, the webhook's signature (checked against
// a value computed independently with Python's hmac module), digests and
// what a receiver's answer means.

#include "notify/sink_format.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace sb;
using namespace sb::notify;
using json = nlohmann::json;

namespace {

event switched() {
  event e;
  e.id = 42;
  e.type = "switched";
  e.level = severity::info;
  e.at = 1'800'000'000'000;
  e.agent = "builder-1";
  e.subscription = "team-a";
  e.pool = "default";
  e.from = "team-a";
  e.to = "team-b";
  e.reason = "rate_limit";
  e.reset_at = 1'800'000'600'000;
  e.title = "Subscription auto-switched to 'team-b'";
  e.text = "Agent 'builder-1' was switched from 'team-a' to 'team-b'.";
  return e;
}

} // namespace

TEST(sink_format, the_webhook_document_has_every_field) {
  auto doc = json::parse(webhook_body(switched()));
  EXPECT_EQ(doc["id"], 42);
  EXPECT_EQ(doc["type"], "switched");
  EXPECT_EQ(doc["severity"], "info");
  EXPECT_EQ(doc["at"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(doc["agent"], "builder-1");
  EXPECT_EQ(doc["from"], "team-a");
  EXPECT_EQ(doc["to"], "team-b");
  EXPECT_EQ(doc["reset_at"], "2027-01-15T08:10:00.000Z");
  EXPECT_EQ(doc["reason"], "rate_limit");
  // Unset fields are null, not absent.
  event bare;
  bare.id = 1;
  bare.type = "test";
  doc = json::parse(webhook_body(bare));
  EXPECT_TRUE(doc["agent"].is_null());
  EXPECT_TRUE(doc["reset_at"].is_null());
  EXPECT_TRUE(doc.contains("pool"));
}

TEST(sink_format, the_signature_is_hmac_sha256_of_time_dot_body) {
  EXPECT_EQ(signature_header("whsec_test", 1700000000, R"({"id":1})"),
            "t=1700000000,v1=2f441ba4b3b2d50d28a9ab9d9fd8880376ecd1eb5d0435401"
            "553f5d8d0a5dcf8");
  auto body = webhook_body(switched());
  auto h = signature_header("s3cret", 1700000000, body);
  EXPECT_TRUE(signature_valid(h, "s3cret", body, 1700000010));
  EXPECT_FALSE(signature_valid(h, "other", body, 1700000010));
  EXPECT_FALSE(signature_valid(h, "s3cret", body + " ", 1700000010));
  // Replayed much later.
  EXPECT_FALSE(signature_valid(h, "s3cret", body, 1700000000 + 3600));
  for (auto bad : {"", "t=,v1=00", "v1=00,t=1", "t=17x0,v1=00",
                   "t=1700000000,v1=zz", "t=1700000000"})
    EXPECT_FALSE(signature_valid(bad, "s3cret", body, 1700000000)) << bad;
}

TEST(sink_format, slack_gets_text_and_blocks) {
  auto doc = json::parse(slack_body(switched()));
  EXPECT_NE(doc["text"].get<std::string>().find("auto-switched"),
            std::string::npos);
  ASSERT_TRUE(doc["blocks"].is_array());
  EXPECT_EQ(doc["blocks"][0]["type"], "header");
  EXPECT_EQ(doc["blocks"][0]["text"]["type"], "plain_text");
  EXPECT_EQ(doc["blocks"][1]["text"]["type"], "mrkdwn");
  auto& fields = doc["blocks"][2]["fields"];
  ASSERT_TRUE(fields.is_array());
  EXPECT_LE(fields.size(), 10u);
  EXPECT_EQ(fields[0]["text"], "*Agent*\nbuilder-1");
}

TEST(sink_format, discord_gets_content_and_an_embed) {
  auto e = switched();
  e.level = severity::critical;
  auto doc = json::parse(discord_body(e));
  EXPECT_FALSE(doc["content"].get<std::string>().empty());
  auto& embed = doc["embeds"][0];
  EXPECT_EQ(embed["title"], e.title);
  EXPECT_EQ(embed["color"], 0xD93025);
  EXPECT_EQ(embed["timestamp"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(embed["fields"][0]["name"], "Agent");
  EXPECT_EQ(embed["fields"][0]["inline"], true);
}

TEST(sink_format, telegram_gets_send_message) {
  auto doc = json::parse(telegram_body(switched(), "-100123"));
  EXPECT_EQ(doc["chat_id"], "-100123");
  EXPECT_EQ(doc["disable_web_page_preview"], true);
  auto text = doc["text"].get<std::string>();
  EXPECT_NE(text.find("Agent: builder-1"), std::string::npos);
  EXPECT_LE(text.size(), 4096u + 16);
}

TEST(sink_format, a_digest_counts_and_names_the_first_few) {
  std::vector<event> storm;
  for (int i = 0; i < 40; ++i) {
    auto e = switched();
    e.id = 100 + i;
    e.agent = "agent-" + std::to_string(i);
    storm.push_back(e);
  }
  storm[7].level = severity::warning;
  auto d = digest_of(storm, 3);
  EXPECT_EQ(d.type, "switched");
  EXPECT_EQ(d.id, 139);
  EXPECT_EQ(d.level, severity::warning);
  EXPECT_EQ(d.title, "40 switched events");
  EXPECT_EQ(d.text,
            "40 switched events: agent-0, agent-1, agent-2 and 37 more.");
  EXPECT_TRUE(d.agent.empty());
}

TEST(sink_format, answers_are_delivered_retried_or_final) {
  using k = delivery_verdict::kind;
  EXPECT_EQ(judge_delivery(200, {}, 0).result, k::delivered);
  EXPECT_EQ(judge_delivery(204, {}, 0).result, k::delivered);
  for (long s : {0L, 408L, 429L, 500L, 502L, 503L})
    EXPECT_EQ(judge_delivery(s, {}, 0).result, k::retry) << s;
  for (long s : {301L, 400L, 401L, 403L, 404L, 410L})
    EXPECT_EQ(judge_delivery(s, {}, 0).result, k::final) << s;
  EXPECT_EQ(judge_delivery(429, {{"retry-after", "7"}}, 0).retry_after, 7000);
  auto now = millis{784111777000} - 20'000;
  EXPECT_EQ(
    judge_delivery(503, {{"retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"}}, now)
      .retry_after,
    20'000);
  EXPECT_EQ(judge_delivery(429, {{"retry-after", "never"}}, 0).retry_after, 0);
  EXPECT_EQ(judge_delivery(429, {{"retry-after", "99999999"}}, 0).retry_after,
            day_ms);
}

TEST(sink_format, delivery_backs_off_from_a_second_to_five_minutes) {
  EXPECT_EQ(delivery_backoff(1, 1000, 300'000, 0, 0.5), 1000);
  EXPECT_EQ(delivery_backoff(2, 1000, 300'000, 0, 0.5), 2000);
  EXPECT_EQ(delivery_backoff(12, 1000, 300'000, 0, 0.5), 300'000);
  EXPECT_EQ(delivery_backoff(1, 1000, 300'000, 0, 0.0), 750);
  EXPECT_EQ(delivery_backoff(1, 1000, 300'000, 0, 1.0), 1250);
  EXPECT_EQ(delivery_backoff(1, 1000, 300'000, 30'000, 0.5), 30'000);
}
