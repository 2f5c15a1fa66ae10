// One delivery to a real HTTP receiver per kind of sink: what arrives, the
// webhook's signature as a receiver checks it, and what each answer means.

#include "docker_client/http.hpp"
#include "fixtures/http_receiver.hpp"
#include "notify/deliver.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace sb;
using namespace sb::notify;
using namespace sb::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

millis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

stored_sink sink_at(const http_receiver& r, sink_kind kind,
                    const std::string& path) {
  stored_sink s;
  s.info.name = "ops";
  s.info.kind = kind;
  s.url.value = r.url(path);
  s.info.host = url_host(s.url.value);
  return s;
}

event an_event() {
  event e;
  e.id = 42;
  e.type = "switched";
  e.level = severity::warning;
  e.at = now_ms();
  e.agent = "builder-1";
  e.from = "team-a";
  e.to = "team-b";
  e.title = "Subscription auto-switched to 'team-b'";
  e.text = "Agent 'builder-1' was switched.";
  return e;
}

} // namespace

TEST(deliver, a_webhook_is_signed_and_carries_its_event_id) {
  http_receiver r;
  auto sink = sink_at(r, sink_kind::webhook, "/hooks/SECRET-PATH");
  sink.signing_secret.value = "whsec-1";
  docker::http_client http;
  auto now = now_ms();
  auto out = deliver(http, sink, an_event(), now, 5s);
  EXPECT_EQ(out.verdict.result, delivery_verdict::kind::delivered);
  EXPECT_EQ(out.status, 200);
  ASSERT_EQ(r.requests().size(), 1u);
  auto req = r.requests().front();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/hooks/SECRET-PATH");
  EXPECT_EQ(req.headers["x-switchboard-event-id"], "42");
  EXPECT_NE(req.headers["content-type"].find("application/json"),
            std::string::npos);
  // What the receiver does with it.
  auto sig = req.headers["x-switchboard-signature"];
  EXPECT_TRUE(signature_valid(sig, "whsec-1", req.body, now / 1000));
  EXPECT_FALSE(signature_valid(sig, "whsec-2", req.body, now / 1000));
  EXPECT_EQ(json::parse(req.body)["to"], "team-b");
  EXPECT_EQ(r.accepted_ids("/hooks"), std::vector<std::string>{"42"});
}

TEST(deliver, slack_discord_and_telegram_get_their_formats) {
  http_receiver r;
  docker::http_client http;
  auto e = an_event();
  ASSERT_EQ(deliver(http, sink_at(r, sink_kind::slack, "/slack"), e, e.at, 5s)
              .verdict.result,
            delivery_verdict::kind::delivered);
  auto discord = sink_at(r, sink_kind::discord, "/discord");
  ASSERT_EQ(deliver(http, discord, e, e.at, 5s).verdict.result,
            delivery_verdict::kind::delivered);
  auto tg = sink_at(r, sink_kind::telegram, "/botTOKEN/sendMessage");
  tg.chat_id.value = "-100123";
  ASSERT_EQ(deliver(http, tg, e, e.at, 5s).verdict.result,
            delivery_verdict::kind::delivered);
  auto slack = json::parse(r.requests_to("/slack").at(0).body);
  EXPECT_TRUE(slack["blocks"].is_array());
  EXPECT_FALSE(slack["text"].get<std::string>().empty());
  auto d = json::parse(r.requests_to("/discord").at(0).body);
  EXPECT_EQ(d["embeds"][0]["color"], 0xF2A600);
  auto t = json::parse(r.requests_to("/botTOKEN").at(0).body);
  EXPECT_EQ(t["chat_id"], "-100123");
  // Only a webhook is signed.
  EXPECT_EQ(
    r.requests_to("/slack").at(0).headers.count("x-switchboard-signature"), 0u);
}

TEST(deliver, answers_decide_a_retry_or_the_end_and_errors_hide_the_path) {
  http_receiver r;
  docker::http_client http;
  auto sink = sink_at(r, sink_kind::webhook, "/hooks/SECRET-PATH");
  auto e = an_event();
  r.answer_next("/hooks", 1, 500);
  auto out = deliver(http, sink, e, e.at, 5s);
  EXPECT_EQ(out.verdict.result, delivery_verdict::kind::retry);
  EXPECT_EQ(out.status, 500);
  EXPECT_EQ(out.error.find("SECRET"), std::string::npos) << out.error;
  r.answer_next("/hooks", 1, 429, 3);
  out = deliver(http, sink, e, e.at, 5s);
  EXPECT_EQ(out.verdict.result, delivery_verdict::kind::retry);
  EXPECT_EQ(out.verdict.retry_after, 3000);
  r.answer_next("/hooks", 1, 404);
  out = deliver(http, sink, e, e.at, 5s);
  EXPECT_EQ(out.verdict.result, delivery_verdict::kind::final);
  r.stall("/hooks", true);
  out = deliver(http, sink, e, e.at, 1s);
  EXPECT_EQ(out.verdict.result, delivery_verdict::kind::retry);
  EXPECT_NE(out.error.find("no answer"), std::string::npos) << out.error;
  EXPECT_EQ(out.error.find("SECRET"), std::string::npos) << out.error;
  r.stall("/hooks", false);
  // Only the accepted copies count.
  EXPECT_TRUE(r.accepted_ids("/hooks").empty());
}

TEST(deliver, notifications_of_the_outbox_become_typed_events) {
  notification_info n;
  n.id = 7;
  n.kind = notification_kind::retired;
  n.priority = notification_priority::high;
  n.title = "t";
  n.message = "m";
  auto e = event_of(n);
  EXPECT_EQ(e.type, "credential_retired");
  EXPECT_EQ(e.level, severity::critical);
  n.kind = notification_kind::switched;
  n.priority = notification_priority::high;
  n.from = "s1";
  n.to = "s2";
  n.reason = "rate_limit";
  n.pool = "claude";
  EXPECT_EQ(event_of(n).type, "switched");
  EXPECT_EQ(event_of(n).level, severity::info);
  EXPECT_EQ(event_of(n).from, "s1");
  EXPECT_EQ(event_of(n).to, "s2");
  EXPECT_EQ(event_of(n).reason, "rate_limit");
  EXPECT_EQ(event_of(n).pool, "claude");
  n.kind = notification_kind::expiring;
  EXPECT_EQ(event_of(n).type, "credential_expiring");
  n.kind = notification_kind::pool_exhausted;
  n.reset_at = 1800000000000;
  EXPECT_EQ(event_of(n).level, severity::critical);
  EXPECT_EQ(event_of(n).reset_at, 1800000000000);
  n.kind = notification_kind::utilization_high;
  EXPECT_EQ(event_of(n).level, severity::critical);
  n.priority = notification_priority::normal;
  EXPECT_EQ(event_of(n).level, severity::warning);
  n.kind = notification_kind::node_down;
  EXPECT_EQ(event_of(n).type, "node_down");
  n.kind = notification_kind::refresh_failing;
  EXPECT_EQ(event_of(n).type, "credential_refresh_failing");
}
