// The DELIVERER's rules without a clock: which sink takes which event, and
// how an answer becomes the delivery's next state.

#include "actors/deliverer.hpp"

#include <gtest/gtest.h>

using namespace sb;
using notify::delivery_verdict;
using notify::severity;

TEST(deliverer_rules, a_sink_takes_its_events_from_its_lowest_severity) {
  sink_info all;
  all.min_severity = "info";
  notify::event e;
  e.type = "switched";
  e.level = severity::info;
  EXPECT_TRUE(takes(all, e));
  sink_info picky;
  picky.events = {"pool_exhausted", "credential_retired"};
  picky.min_severity = "warning";
  EXPECT_FALSE(takes(picky, e));
  e.type = "pool_exhausted";
  EXPECT_FALSE(takes(picky, e)); // info < warning
  e.level = severity::critical;
  EXPECT_TRUE(takes(picky, e));
  // A test event reaches every sink.
  e.type = "test";
  e.level = severity::info;
  EXPECT_TRUE(takes(picky, e));
}

TEST(deliverer_rules, answers_become_delivered_pending_or_failed) {
  using k = delivery_verdict::kind;
  auto rec = next_record(1, 7, 1, {k::delivered, 0}, 200, "", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::delivered);
  EXPECT_EQ(rec.attempts, 1u);
  rec = next_record(1, 7, 1, {k::retry, 0}, 503, "HTTP 503", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::pending);
  EXPECT_EQ(rec.next_at, 2000);
  EXPECT_EQ(rec.last_status, 503);
  rec = next_record(1, 7, 3, {k::retry, 60'000}, 429, "", 1000, 10, 0.5);
  EXPECT_EQ(rec.next_at, 61'000); // Retry-After wins
  rec = next_record(1, 7, 10, {k::retry, 0}, 503, "", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::failed);
  rec = next_record(1, 7, 1, {k::final, 0}, 404, "HTTP 404", 1000, 10, 0.5);
  EXPECT_EQ(rec.state, delivery_state::failed);
}

// -- the DELIVERER in a daemon ------------------------------------------------

#include "fixtures/daemon_fixture.hpp"
#include "fixtures/http_receiver.hpp"
#include "fixtures/wait.hpp"
#include "notify/sink_format.hpp"

#include <nlohmann/json.hpp>

namespace {

class deliverer_daemon : public sb::test::daemon_fixture {};

} // namespace

TEST_F(deliverer_daemon, a_switch_reaches_a_signed_webhook) {
  sb::test::http_receiver receiver;
  // A sink, written to the store while the daemon is down (the CLI's
  // `notify add` is not there yet).
  stop_daemon();
  {
    auto db = store::open(dir.file("state.db"));
    ASSERT_TRUE(db) << render(db.error());
    sink_spec spec;
    spec.name = "ops";
    spec.url.value = receiver.url("/hooks/ops");
    spec.signing_secret.value = "whsec-test";
    ASSERT_TRUE((*db)->put_sink(spec, now()));
  }
  start_daemon();
  add_subscription("sub-a");
  add_subscription("sub-b");
  add_agent("a1", "sub-a");
  auto res = send_report(report("a1"));
  ASSERT_EQ(res.result, outcome::switched);
  // The deliverer looks every notify-interval of the daemon's clock.
  ASSERT_TRUE(sb::test::wait_until([&] {
    advance(1000);
    return receiver.requests_to("/hooks/ops").size() >= 1;
  }));
  auto req = receiver.requests_to("/hooks/ops").front();
  auto doc = nlohmann::json::parse(req.body);
  EXPECT_EQ(doc["type"], "switched");
  EXPECT_EQ(doc["agent"], "a1");
  // Checked at the instant it was signed: the loop above moved the
  // daemon's clock on while it waited.
  auto sig = req.headers["x-switchboard-signature"];
  auto signed_at = std::stoll(sig.substr(2, sig.find(',') - 2));
  EXPECT_TRUE(notify::signature_valid(sig, "whsec-test", req.body, signed_at));
  EXPECT_FALSE(
    notify::signature_valid(sig, "another-secret", req.body, signed_at));
  // Delivered once: later rounds send nothing more.
  for (int i = 0; i < 5; ++i)
    advance(1000);
  EXPECT_TRUE(sb::test::wait_until(
    [&] { return receiver.requests_to("/hooks/ops").size() == 1; }));
}
