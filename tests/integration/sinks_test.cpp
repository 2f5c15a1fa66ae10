// Notification sinks end to end: the real switchboardd and CLI against a
// real HTTP receiver (tests/fixtures/http_receiver.hpp). `notify add` reads
// its secrets from files and never shows them; a webhook's signature
// verifies; a daemon killed with -9 while a receiver fails delivers every
// event after its restart, one accepted copy each.

#include "fixtures/http_receiver.hpp"
#include "fixtures/wait.hpp"
#include "integration/live_daemon.hpp"
#include "notify/sink_format.hpp"

#include <chrono>
#include <set>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* url_secret = "T0SECRET/B0SECRET/xoxSECRETPATH";
constexpr const char* signing_secret = "whsec-SIGNING-SECRET-77";

class sinks : public live_daemon {
protected:
  void SetUp() override { start_fast(); }

  /// Delivery rounds every 100 ms.
  void start_fast() {
    start({"--switchboard.notify-interval=100ms",
           "--switchboard.digest-wait=200ms"});
  }

  std::string write_file(const std::string& name, const std::string& text) {
    auto path = dir.file(name);
    std::ofstream{path} << text << "\n";
    return path;
  }

  /// Runs a CLI command and keeps what it printed.
  run_result kept(std::vector<std::string> args, const std::string& in = {}) {
    auto res = cli(std::move(args), in);
    outputs += res.out + res.err;
    return res;
  }

  json ok_kept(std::vector<std::string> args, const std::string& in = {}) {
    args.insert(args.begin(), "--json");
    auto res = kept(args, in);
    EXPECT_EQ(res.rc, 0) << res.out << res.err;
    return json::parse(res.out, nullptr, false);
  }

  /// Agents a0..a{n-1} on sub-a, each switched once to sub-b.
  void switch_agents(int n) {
    ok_kept({"subscription", "add", "sub-a", "--token-file", "-"}, "tok-a");
    ok_kept({"subscription", "add", "sub-b", "--token-file", "-"}, "tok-b");
    for (int i = 0; i < n; ++i)
      ok_kept(
        {"agent", "add", "a" + std::to_string(i), "--subscription", "sub-a"});
    for (int i = 0; i < n; ++i) {
      auto r = ok_kept({"report", "a" + std::to_string(i), "--status", "429"});
      EXPECT_EQ(r["outcome"], "switched") << r.dump();
    }
  }

  /// No secret in anything the daemon or the CLI wrote, nor in the
  /// database's bytes.
  void expect_no_secret() {
    std::string all
      = outputs + daemon->log() + slurp(db_path()) + slurp(db_path() + "-wal");
    EXPECT_EQ(all.find("SECRET"), std::string::npos);
  }

  http_receiver receiver;
  std::string outputs;
};

std::set<std::string> distinct(const std::vector<std::string>& xs) {
  return {xs.begin(), xs.end()};
}

} // namespace

TEST_F(sinks, notify_add_list_test_and_remove_never_show_a_secret) {
  auto url
    = write_file("url", receiver.url(std::string{"/hooks/"} + url_secret));
  auto secret = write_file("secret", signing_secret);
  auto added = ok_kept({"notify", "add", "ops", "--kind", "webhook",
                        "--url-file", url, "--secret-file", secret, "--events",
                        "switched,pool_exhausted", "--no-digest"});
  EXPECT_EQ(added["name"], "ops");
  EXPECT_EQ(added["signed"], true);
  EXPECT_EQ(added["host"], receiver.url("").substr(0, receiver.url("").size()));
  auto text = kept({"notify", "list"});
  EXPECT_EQ(text.rc, 0) << text.err;
  EXPECT_NE(text.out.find("ops"), std::string::npos) << text.out;
  // The test event reaches the receiver, signed with the secret file's
  // content.
  auto tested = kept({"notify", "test", "ops"});
  EXPECT_EQ(tested.rc, 0) << tested.out << tested.err;
  EXPECT_NE(tested.out.find("HTTP 200 (delivered)"), std::string::npos)
    << tested.out;
  auto reqs = receiver.requests_to("/hooks/");
  ASSERT_EQ(reqs.size(), 1u);
  auto sig = reqs[0].headers["x-switchboard-signature"];
  auto t = std::stoll(sig.substr(2, sig.find(',') - 2));
  EXPECT_TRUE(notify::signature_valid(sig, signing_secret, reqs[0].body, t));
  EXPECT_FALSE(notify::signature_valid(sig, "another", reqs[0].body, t));
  EXPECT_EQ(json::parse(reqs[0].body)["type"], "test");
  // Bad input: a clear error, exit 2, nothing added.
  auto bad = kept({"notify", "add", "x", "--kind", "pager", "--url-file", url});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("webhook, slack, discord or telegram"),
            std::string::npos)
    << bad.err;
  bad = kept({"notify", "add", "x", "--kind", "telegram", "--url-file", url});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("chat id"), std::string::npos) << bad.err;
  bad = kept({"notify", "add", "x", "--kind", "slack", "--url-file",
              write_file("empty", "")});
  EXPECT_EQ(bad.rc, 2);
  bad = kept({"notify", "add", "x", "--kind", "slack", "--url-file",
              write_file("bad-url", "ftp://SECRET@host/x")});
  EXPECT_EQ(bad.rc, 2);
  bad = kept({"notify", "add", "x", "--kind", "slack", "--url-file", url,
              "--events", "switched,nonsense"});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("unknown event type 'nonsense'"), std::string::npos)
    << bad.err;
  EXPECT_EQ(ok_kept({"notify", "list"}).size(), 1u);
  // A receiver that refuses: the test says so and exits 1.
  receiver.answer("/gone", 410);
  ok_kept({"notify", "add", "gone", "--kind", "slack", "--url-file",
           write_file("gone", receiver.url("/gone"))});
  auto refused = kept({"notify", "test", "gone"});
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.out.find("HTTP 410"), std::string::npos) << refused.out;
  EXPECT_EQ(ok_kept({"notify", "remove", "gone"})["removed"], "gone");
  auto missing = kept({"notify", "remove", "gone"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("unknown sink 'gone'"), std::string::npos)
    << missing.err;
  expect_no_secret();
}

TEST_F(sinks, a_kill_during_retries_loses_no_event) {
  receiver.answer("/hooks/", 500);
  ok_kept({"notify", "add", "ops", "--kind", "webhook", "--url-file",
           write_file("url", receiver.url(std::string{"/hooks/"} + url_secret)),
           "--secret-file", write_file("secret", signing_secret),
           "--no-digest"});
  switch_agents(6);
  auto events = ok_kept({"notifications", "--limit", "100"});
  ASSERT_EQ(events.size(), 6u);
  // Retrying: the receiver has refused some deliveries already.
  ASSERT_TRUE(wait_until([&] { return receiver.requests().size() >= 3; }, 20s));
  daemon->kill_hard();
  receiver.answer("/hooks/", 200);
  start_fast();
  ASSERT_TRUE(wait_until(
    [&] { return distinct(receiver.accepted_ids("/hooks/")).size() == 6; },
    30s))
    << daemon->log();
  // One accepted copy of each, and every one of the outbox's ids.
  auto accepted = receiver.accepted_ids("/hooks/");
  EXPECT_EQ(accepted.size(), 6u);
  std::set<std::string> outbox;
  for (auto& n : events)
    outbox.insert(std::to_string(n["id"].get<int64_t>()));
  EXPECT_EQ(distinct(accepted), outbox);
  auto list = ok_kept({"notify", "list"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["delivered"], 6);
  EXPECT_EQ(list[0]["pending"], 0);
  EXPECT_TRUE(ok_kept({"notifications", "--failed"}).empty());
  expect_no_secret();
}

TEST_F(sinks, a_receiver_that_refuses_for_good_is_listed_as_failed) {
  receiver.answer("/hooks/", 403);
  ok_kept({"notify", "add", "ops", "--kind", "discord", "--url-file",
           write_file("url", receiver.url(std::string{"/hooks/"} + url_secret)),
           "--no-digest"});
  switch_agents(2);
  json failed;
  ASSERT_TRUE(wait_until(
    [&] {
      failed = ok_kept({"notifications", "--failed"});
      return failed.size() == 2;
    },
    20s));
  EXPECT_EQ(failed[0]["sink"], "ops");
  EXPECT_EQ(failed[0]["attempts"], 1);
  EXPECT_EQ(failed[0]["last_status"], 403);
  // A final answer is tried once.
  EXPECT_EQ(receiver.requests_to("/hooks/").size(), 2u);
  auto text = kept({"notifications", "--failed"});
  EXPECT_NE(text.out.find("HTTP 403"), std::string::npos) << text.out;
  expect_no_secret();
}
