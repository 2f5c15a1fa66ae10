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

namespace {

delivery_due due_at(int64_t id, notification_kind kind, millis at,
                    uint32_t attempts = 0) {
  delivery_due d;
  d.note.id = id;
  d.note.kind = kind;
  d.note.created_at = at;
  d.note.agent = "a" + std::to_string(id);
  d.attempts = attempts;
  return d;
}

} // namespace

TEST(deliverer_rules, a_storm_of_one_type_becomes_one_digest) {
  digest_rule rule{10, 60'000, 5'000};
  std::vector<delivery_due> batch;
  for (int64_t i = 1; i <= 40; ++i)
    batch.push_back(due_at(i, notification_kind::switched, 1000 + i * 10));
  batch.push_back(due_at(41, notification_kind::pool_exhausted, 1200));
  // Within digest-wait of the newest: everything waits.
  auto plan = plan_deliveries(batch, rule, 2000);
  EXPECT_EQ(plan.held.size(), 41u);
  EXPECT_TRUE(plan.single.empty());
  EXPECT_TRUE(plan.digests.empty());
  // Quiet for digest-wait: 40 switches are one digest, the lone
  // pool_exhausted goes out on its own.
  plan = plan_deliveries(batch, rule, 1400 + 5000);
  EXPECT_TRUE(plan.held.empty());
  ASSERT_EQ(plan.digests.size(), 1u);
  EXPECT_EQ(plan.digests.front().size(), 40u);
  ASSERT_EQ(plan.single.size(), 1u);
  EXPECT_EQ(plan.single.front().note.id, 41);
}

TEST(deliverer_rules, a_digest_waits_at_most_its_interval_and_counts_per_run) {
  digest_rule rule{10, 60'000, 5'000};
  std::vector<delivery_due> batch;
  // An event every 2 s for 80 s: never quiet for 5 s.
  for (int64_t i = 0; i < 40; ++i)
    batch.push_back(due_at(i + 1, notification_kind::switched, i * 2000));
  auto plan = plan_deliveries(batch, rule, 59'999);
  EXPECT_EQ(plan.held.size(), 40u);
  // A minute after the oldest it goes, cut into runs of one interval: 30
  // events in the first minute (a digest), 10 in the next (one by one).
  plan = plan_deliveries(batch, rule, 80'000);
  ASSERT_EQ(plan.digests.size(), 1u);
  EXPECT_EQ(plan.digests.front().size(), 30u);
  EXPECT_EQ(plan.single.size(), 10u);
  // Ten events are no storm; a retry is never held.
  batch.resize(10);
  batch.push_back(due_at(99, notification_kind::retired, 0, 3));
  plan = plan_deliveries(batch, rule, 100'000);
  EXPECT_TRUE(plan.digests.empty());
  EXPECT_EQ(plan.single.size(), 11u);
  plan = plan_deliveries({due_at(99, notification_kind::retired, 99'000, 3)},
                         rule, 100'000);
  EXPECT_EQ(plan.single.size(), 1u);
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

#include <set>

namespace {

class deliverer_daemon : public sb::test::daemon_fixture {};

} // namespace

TEST_F(deliverer_daemon, a_switch_reaches_a_signed_webhook) {
  sb::test::http_receiver receiver;
  // A sink written to the store while the daemon is down.
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

namespace {

sink_spec sink(const std::string& name, sink_kind kind, const std::string& url,
               bool digest) {
  sink_spec spec;
  spec.name = name;
  spec.kind = kind;
  spec.url.value = url;
  spec.digest = digest;
  return spec;
}

/// The distinct event ids a receiver accepted under `path`.
std::set<std::string> ids(const sb::test::http_receiver& r,
                          const std::string& path) {
  auto xs = r.accepted_ids(path);
  return {xs.begin(), xs.end()};
}

} // namespace

TEST_F(deliverer_daemon, a_storm_is_forty_webhooks_and_one_slack_digest) {
  sb::test::http_receiver receiver;
  call<sink_info>(sink_add_atom::value,
                  sink("machines", sink_kind::webhook,
                       receiver.url("/hooks/machines"), false));
  call<sink_info>(
    sink_add_atom::value,
    sink("people", sink_kind::slack, receiver.url("/hooks/people"), true));
  add_subscription("sub-a");
  add_subscription("sub-b");
  for (int i = 0; i < 40; ++i)
    add_agent("a" + std::to_string(i), "sub-a");
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(send_report(report("a" + std::to_string(i))).result,
              outcome::switched);
  ASSERT_TRUE(sb::test::wait_until([&] {
    advance(1000);
    return ids(receiver, "/hooks/machines").size() == 40
           && !receiver.requests_to("/hooks/people").empty();
  }));
  // Later rounds send nothing more to either.
  for (int i = 0; i < 70; ++i)
    advance(1000);
  auto st = call<std::vector<sink_status>>(sink_show_atom::value);
  ASSERT_TRUE(sb::test::wait_until([&] {
    st = call<std::vector<sink_status>>(sink_show_atom::value);
    return st.size() == 2 && st[0].pending == 0 && st[1].pending == 0;
  }));
  EXPECT_EQ(receiver.requests_to("/hooks/machines").size(), 40u);
  auto people = receiver.requests_to("/hooks/people");
  ASSERT_EQ(people.size(), 1u);
  auto doc = nlohmann::json::parse(people.front().body);
  auto text = doc["text"].get<std::string>();
  EXPECT_NE(text.find("40 switched events"), std::string::npos) << text;
  EXPECT_NE(text.find("and 35 more"), std::string::npos) << text;
  // notify list: both sinks, what they delivered.
  EXPECT_EQ(st[0].info.name, "machines");
  EXPECT_EQ(st[0].delivered, 40u);
  EXPECT_EQ(st[1].info.name, "people");
  EXPECT_EQ(st[1].delivered, 40u);
  EXPECT_GT(st[1].last_delivered_at, 0);
}

TEST_F(
  deliverer_daemon,
  retries_deliver_one_accepted_copy_per_event_and_a_dead_sink_delays_no_other) {
  sb::test::http_receiver receiver;
  // Flaky answers 500 three times, then 429 with Retry-After 2, then
  // takes; dead never answers; live takes everything at once.
  receiver.answer_next("/hooks/flaky", 3, 500);
  receiver.answer_next("/hooks/flaky", 1, 429, 2);
  receiver.stall("/hooks/dead", true);
  for (auto name : {"flaky", "dead", "live"})
    call<sink_info>(sink_add_atom::value,
                    sink(name, sink_kind::webhook,
                         receiver.url(std::string{"/hooks/"} + name), false));
  add_subscription("sub-a");
  add_subscription("sub-b");
  for (int i = 0; i < 5; ++i)
    add_agent("a" + std::to_string(i), "sub-a");
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(send_report(report("a" + std::to_string(i))).result,
              outcome::switched);
  // The live sink has all five while the dead one still holds its first.
  ASSERT_TRUE(sb::test::wait_until([&] {
    advance(1000);
    return ids(receiver, "/hooks/live").size() == 5;
  }));
  EXPECT_LE(receiver.requests_to("/hooks/dead").size(), 1u);
  ASSERT_TRUE(sb::test::wait_until([&] {
    advance(1000);
    return ids(receiver, "/hooks/flaky").size() == 5;
  }));
  // Exactly one accepted copy of each event; the refused ones were
  // answered 500 or 429.
  EXPECT_EQ(receiver.accepted_ids("/hooks/flaky").size(), 5u);
  EXPECT_EQ(receiver.accepted_ids("/hooks/live").size(), 5u);
  receiver.stall("/hooks/dead", false);
}

TEST_F(deliverer_daemon, notify_test_answers_with_the_receivers_status) {
  sb::test::http_receiver receiver;
  call<sink_info>(sink_add_atom::value,
                  sink("ok", sink_kind::discord, receiver.url("/ok"), true));
  receiver.answer("/gone", 404);
  call<sink_info>(sink_add_atom::value, sink("gone", sink_kind::webhook,
                                             receiver.url("/gone"), true));
  auto r = call<delivery_record>(sink_test_atom::value, std::string{"ok"});
  EXPECT_EQ(r.state, delivery_state::delivered);
  EXPECT_EQ(r.last_status, 200);
  auto body = nlohmann::json::parse(receiver.requests_to("/ok").front().body);
  EXPECT_TRUE(body.contains("embeds")) << body.dump();
  r = call<delivery_record>(sink_test_atom::value, std::string{"gone"});
  EXPECT_EQ(r.state, delivery_state::failed);
  EXPECT_EQ(r.last_status, 404);
  auto missing
    = try_call<delivery_record>(sink_test_atom::value, std::string{"nope"});
  ASSERT_FALSE(missing);
  EXPECT_TRUE(is(missing.error(), ec::not_found)) << render(missing.error());
  // Bad input: refused before the store, nothing added.
  auto bad = sink("bad", sink_kind::webhook, "ftp://x/y", true);
  auto added = try_call<sink_info>(sink_add_atom::value, bad);
  ASSERT_FALSE(added);
  EXPECT_TRUE(is(added.error(), ec::invalid_argument));
  EXPECT_EQ(call<std::vector<sink_status>>(sink_show_atom::value).size(), 2u);
  EXPECT_TRUE(try_call<ok_atom>(sink_rm_atom::value, std::string{"gone"}));
  EXPECT_EQ(call<std::vector<sink_status>>(sink_show_atom::value).size(), 1u);
}
