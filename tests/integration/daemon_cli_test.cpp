// End to end: the real switchboardd binary on a free port with a temporary
// database, driven by the real switchboard binary through every admin
// command, including the error cases; a restart keeps agents, subscriptions
// and settings; SIGTERM stops the daemon within 5 seconds.

#include "fixtures/process.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <thread>

using namespace sb;
using namespace sb::test;
using json = nlohmann::json;

namespace {

class daemon_cli_test : public ::testing::Test {
protected:
  void SetUp() override { start(); }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--switchboard.port=0",
                                  "--switchboard.db-path=" + db_path(),
                                  "--switchboard.log-level=debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon = std::make_unique<daemon_process>(daemon_binary(), args);
    ASSERT_NE(daemon->port(), 0) << daemon->log();
  }

  std::string db_path() const { return dir.file("state.db"); }

  run_result cli(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(),
                {cli_binary(), "--port", std::to_string(daemon->port())});
    return run(args, input);
  }

  /// Runs a command that must succeed with --json and parses its output.
  json ok(std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), "--json");
    auto res = cli(args, input);
    EXPECT_EQ(res.rc, 0) << res.err;
    try {
      return json::parse(res.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << res.out << " (" << e.what() << ")";
      return json{};
    }
  }

  /// Runs a command that must fail with a one-line message containing `what`.
  void fails(std::vector<std::string> args, const std::string& what) {
    auto res = cli(args);
    EXPECT_NE(res.rc, 0) << "succeeded: " << res.out;
    EXPECT_NE(res.err.find(what), std::string::npos) << "stderr: " << res.err;
    EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1)
      << "stderr: " << res.err;
  }

  std::string write_file(const std::string& name, const std::string& text) {
    auto path = dir.file(name);
    std::ofstream out{path};
    out << text;
    return path;
  }

  temp_dir dir;
  std::unique_ptr<daemon_process> daemon;
};

} // namespace

TEST_F(daemon_cli_test, ping_and_status) {
  auto res = cli({"ping"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_NE(res.out.find("pong"), std::string::npos);
  auto st = ok({"status"});
  EXPECT_FALSE(st["version"].get<std::string>().empty());
  EXPECT_EQ(st["agents"], 0);
  EXPECT_EQ(st["subscriptions"], 0);
  for (auto name :
       {"admin", "store", "subscription-pool", "container-supervisor"})
    EXPECT_EQ(st["components"][name]["state"], "running") << name;
  EXPECT_EQ(cli({"status"}).rc, 0);
}

TEST_F(daemon_cli_test, subscriptions_add_list_rotate_remove) {
  auto token_a = write_file("a.token", "sk-secret-token-aaaa\n");
  auto added = ok({"subscription", "add", "sub-a", "--token-file", token_a});
  EXPECT_EQ(added["name"], "sub-a");
  EXPECT_EQ(added["rotated"], false);
  // From standard input.
  added = ok({"subscription", "add", "sub-b", "--token-file", "-"},
             "sk-secret-token-bbbb\n");
  EXPECT_EQ(added["name"], "sub-b");
  ok({"agent", "add", "a1", "--subscription", "sub-a"});
  // Same name again: rotation, reported with the agents that get it.
  auto rotated = ok({"subscription", "add", "sub-a", "--token-file", "-"},
                    "sk-secret-token-cccc");
  EXPECT_EQ(rotated["rotated"], true);
  EXPECT_EQ(rotated["reloading"], json::array({"a1"}));
  auto list = ok({"subscription", "list"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "sub-a");
  EXPECT_EQ(list[0]["agent_count"], 1);
  EXPECT_TRUE(list[0]["id"].is_number_integer());
  EXPECT_EQ(list[1]["name"], "sub-b");
  EXPECT_EQ(list[1]["agent_count"], 0);
  // Removing unassigns the agents.
  auto removed = ok({"subscription", "remove", "sub-a"});
  EXPECT_EQ(removed["unassigned"], json::array({"a1"}));
  EXPECT_TRUE(ok({"agent", "show", "a1"})["subscription"].is_null());
  EXPECT_EQ(ok({"subscription", "list"}).size(), 1u);
  // Tokens never appear in any output or in the daemon's log.
  auto all_output = cli({"subscription", "list"}).out
                    + cli({"--json", "subscription", "list"}).out
                    + cli({"status"}).out + daemon->log();
  for (auto secret :
       {"sk-secret-token-aaaa", "sk-secret-token-bbbb", "sk-secret-token-cccc"})
    EXPECT_EQ(all_output.find(secret), std::string::npos) << secret;
}

TEST_F(daemon_cli_test, subscription_errors_change_nothing) {
  fails({"subscription", "add", "x", "--token-file",
         write_file("empty.token", "\n")},
        "empty");
  fails({"subscription", "add", "x", "--token-file", dir.file("missing")},
        "cannot read token file");
  fails({"subscription", "add", "", "--token-file", write_file("t", "tok")},
        "must not be empty");
  fails({"subscription", "remove", "nope"}, "unknown subscription 'nope'");
  fails({"subscription", "add", std::string(129, 'x'), "--token-file",
         write_file("t2", "tok")},
        "longer than 128 bytes");
  EXPECT_TRUE(ok({"subscription", "list"}).empty());
}

TEST_F(daemon_cli_test, agents_add_list_show_remove) {
  ok({"subscription", "add", "sub-a", "--token-file", "-"}, "tok-a");
  auto a1 = ok(
    {"agent", "add", "a1", "--subscription", "sub-a", "--container", "ctr-1"});
  EXPECT_EQ(a1["name"], "a1");
  EXPECT_EQ(a1["subscription"], "sub-a");
  EXPECT_EQ(a1["container"], "ctr-1");
  ok({"agent", "add", "a2"});
  auto list = ok({"agent", "list"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "a1");
  EXPECT_EQ(list[0]["subscription"], "sub-a");
  EXPECT_EQ(list[0]["generation"], 0);
  EXPECT_EQ(list[0]["applied_generation"], 0);
  EXPECT_EQ(list[0]["container"], "ctr-1");
  EXPECT_EQ(list[1]["name"], "a2");
  EXPECT_TRUE(list[1]["subscription"].is_null());
  EXPECT_TRUE(list[1]["container"].is_null());
  auto show = ok({"agent", "show", "a2"});
  EXPECT_EQ(show["name"], "a2");
  EXPECT_EQ(show["switching"], false);
  auto human = cli({"agent", "list"});
  EXPECT_EQ(human.rc, 0);
  EXPECT_NE(human.out.find("a1"), std::string::npos);
  EXPECT_EQ(ok({"agent", "remove", "a2"})["removed"], "a2");
  EXPECT_EQ(ok({"agent", "list"}).size(), 1u);
  EXPECT_EQ(ok({"status"})["agents"], 1);
}

TEST_F(daemon_cli_test, agent_errors_change_nothing) {
  ok({"subscription", "add", "sub-a", "--token-file", "-"}, "tok-a");
  ok({"agent", "add", "a1", "--subscription", "sub-a"});
  auto before = ok({"agent", "list"});
  fails({"agent", "add", "a1"}, "agent 'a1' exists already");
  fails({"agent", "add", "a2", "--subscription", "nope"},
        "unknown subscription 'nope'");
  fails({"agent", "add", ""}, "must not be empty");
  fails({"agent", "add", std::string(129, 'a')}, "longer than 128 bytes");
  fails({"agent", "add", "bad\x01name"}, "control character");
  fails({"agent", "add", "tab\tname"}, "control character");
  fails({"agent", "add", "a3", "--container", "-bad"}, "container name");
  fails({"agent", "show", "ghost"}, "unknown agent 'ghost'");
  fails({"agent", "remove", "ghost"}, "unknown agent 'ghost'");
  fails({"agent", "set", "a1", "auto-switch", "maybe"}, "on or off");
  fails({"agent", "set", "a1", "colour", "blue"}, "unknown agent setting");
  fails({"assign", "a1", "nope"}, "unknown subscription 'nope'");
  fails({"assign", "ghost", "sub-a"}, "unknown agent 'ghost'");
  EXPECT_EQ(ok({"agent", "list"}), before);
  // A name of exactly 128 bytes is fine.
  ok({"agent", "add", std::string(128, 'b')});
}

TEST_F(daemon_cli_test, settings_get_and_set) {
  auto all = ok({"settings", "get"});
  EXPECT_EQ(all["auto-switch"], "on");
  EXPECT_EQ(all["exclusion-window"], "2h");
  EXPECT_EQ(ok({"settings", "set", "auto-switch", "off"})["auto-switch"],
            "off");
  EXPECT_EQ(ok({"settings", "get", "auto-switch"})["auto-switch"], "off");
  auto plain = cli({"settings", "get", "auto-switch"});
  EXPECT_EQ(plain.out, "off\n");
  fails({"settings", "set", "auto-switch", "maybe"}, "not on or off");
  fails({"settings", "set", "nope", "1"}, "unknown setting 'nope'");
  fails({"settings", "set", "exclusion-window", "soon"}, "not a duration");
  EXPECT_EQ(ok({"settings", "get"})["auto-switch"], "off");
}

TEST_F(daemon_cli_test, state_survives_a_restart) {
  ok({"subscription", "add", "sub-a", "--token-file", "-"}, "tok-a");
  ok({"subscription", "add", "sub-b", "--token-file", "-"}, "tok-b");
  ok({"agent", "add", "a1", "--subscription", "sub-a", "--container", "c1"});
  ok({"agent", "add", "a2", "--subscription", "sub-b"});
  ok({"agent", "set", "a2", "auto-switch", "off"});
  ok({"settings", "set", "auto-switch", "off"});
  ok({"settings", "set", "switch-budget", "3"});
  auto agents = ok({"agent", "list"});
  auto subs = ok({"subscription", "list"});
  auto rc = daemon->terminate(std::chrono::seconds(5));
  ASSERT_TRUE(rc.has_value()) << "did not stop within 5 s";
  EXPECT_EQ(*rc, 0);
  start();
  EXPECT_EQ(ok({"agent", "list"}), agents);
  auto subs_after = ok({"subscription", "list"});
  ASSERT_EQ(subs_after.size(), subs.size());
  for (size_t i = 0; i < subs.size(); ++i) {
    EXPECT_EQ(subs_after[i]["name"], subs[i]["name"]);
    EXPECT_EQ(subs_after[i]["agent_count"], subs[i]["agent_count"]);
  }
  auto settings = ok({"settings", "get"});
  EXPECT_EQ(settings["auto-switch"], "off");
  EXPECT_EQ(settings["switch-budget"], 3); // a JSON number
  EXPECT_EQ(ok({"agent", "show", "a2"})["auto_switch"], "off");
}

TEST_F(daemon_cli_test, sigterm_stops_within_five_seconds) {
  ok({"subscription", "add", "sub-a", "--token-file", "-"}, "tok-a");
  for (int i = 0; i < 20; ++i)
    ok({"agent", "add", "a" + std::to_string(i), "--subscription", "sub-a"});
  auto rc = daemon->terminate(std::chrono::seconds(5));
  ASSERT_TRUE(rc.has_value()) << daemon->log();
  EXPECT_EQ(*rc, 0);
  EXPECT_NE(daemon->log().find("stopped"), std::string::npos);
}

TEST_F(daemon_cli_test, unreachable_daemon_is_a_clear_error) {
  auto port = daemon->port();
  ASSERT_TRUE(daemon->terminate().has_value());
  auto started = std::chrono::steady_clock::now();
  auto res = run({cli_binary(), "--port", std::to_string(port), "status"});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(res.rc, 1);
  EXPECT_NE(res.err.find("not reachable"), std::string::npos) << res.err;
  EXPECT_EQ(std::count(res.err.begin(), res.err.end(), '\n'), 1) << res.err;
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST_F(daemon_cli_test, json_after_the_subcommand_and_json_errors) {
  ok({"subscription", "add", "sub-a", "--token-file", "-"}, "t-a");
  auto after = run({cli_binary(), "--port", std::to_string(daemon->port()),
                    "subscription", "list", "--json"});
  ASSERT_EQ(after.rc, 0) << after.err;
  EXPECT_EQ(nlohmann::json::parse(after.out).at(0)["name"], "sub-a");
  // The daemon's refusal: exit 1, the daemon's code.
  auto unknown = run({cli_binary(), "--port", std::to_string(daemon->port()),
                      "agent", "show", "ghost", "--json"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_TRUE(unknown.err.empty()) << unknown.err;
  auto doc = nlohmann::json::parse(unknown.out);
  EXPECT_EQ(doc["error"]["code"], "unknown_agent");
  EXPECT_EQ(doc["error"]["message"], "unknown agent 'ghost'");
  // Bad input: exit 2, code "usage", nothing sent.
  auto usage = run({cli_binary(), "--port", std::to_string(daemon->port()),
                    "report", "a1", "--status", "42", "--json"});
  EXPECT_EQ(usage.rc, 2);
  EXPECT_EQ(nlohmann::json::parse(usage.out)["error"]["code"], "usage");
  auto parse = run({cli_binary(), "--json", "agent", "list", "--frob"});
  EXPECT_EQ(parse.rc, 2);
  EXPECT_EQ(nlohmann::json::parse(parse.out)["error"]["code"], "usage");
  // Not reachable: exit 1, "unavailable", in the operator's words.
  auto away = run({cli_binary(), "--port", "1", "status", "--json"});
  EXPECT_EQ(away.rc, 1);
  auto gone = nlohmann::json::parse(away.out);
  EXPECT_EQ(gone["error"]["code"], "unavailable");
  EXPECT_EQ(gone["error"]["message"].get<std::string>().find("system_error"),
            std::string::npos)
    << gone.dump();
  // Settings: numbers are numbers, words stay words.
  auto settings = ok({"settings", "get"});
  EXPECT_TRUE(settings["switch-budget"].is_number()) << settings.dump();
  EXPECT_EQ(settings["auto-switch"], "on");
}

TEST_F(daemon_cli_test, usage_errors_exit_2) {
  auto res = cli({"agent"});
  EXPECT_EQ(res.rc, 2);
  res = cli({"frobnicate"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("unknown command 'frobnicate' (see --help)"),
            std::string::npos)
    << res.err;
  // A typo gets the nearest command, as git and kubectl suggest.
  res = cli({"agnet", "list"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("unknown command 'agnet': did you mean `agent "
                         "list`?"),
            std::string::npos)
    << res.err;
  res = cli({"--json", "subscription", "lsit"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.out.find("did you mean `subscription list`?"),
            std::string::npos)
    << res.out;
  res = cli({"report", "a1"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("--status"), std::string::npos) << res.err;
  res = run({cli_binary(), "--help"});
  EXPECT_EQ(res.rc, 0);
  EXPECT_NE(res.out.find("subscription"), std::string::npos);
}

// -- start-up checks
// ------------------------------------------------------------

TEST(daemon_config, bad_values_and_unknown_keys_stop_start_up) {
  temp_dir dir;
  int files = 0;
  auto write = [&](const std::string& text) {
    auto path = dir.file("bad" + std::to_string(++files) + ".ini");
    std::ofstream{path} << text;
    return "--config-file=" + path;
  };
  struct bad_case {
    std::vector<std::string> args;
    std::string expected;
  };
  std::vector<bad_case> cases = {
    {{write("[switchboard]\nport=\"abc\"\n")}, "switchboard.port"},
    {{write("[switchboard]\nport=70000\n")}, "switchboard.port"},
    {{write("[switchboard]\nprot=7411\n")}, "switchboard.prot"},
    {{write("[switchboard]\nstop-timeout=\"soon\"\n")},
     "switchboard.stop-timeout"},
    {{write("[settings]\nauto-switch=\"maybe\"\n")}, "auto-switch"},
    {{write("[settings]\nswitch-budget=\"-1\"\n")}, "switch-budget"},
    {{write("[elsewhere]\nx=1\n")}, "[elsewhere]"},
    {{"--switchboard.port=abc"}, "switchboard.port: 'abc'"},
    {{"--switchboard.nope=1"}, "--switchboard.nope=1"},
    {{"--switchboard.log-level=loud"}, "log-level"},
    {{"--switchboard.host=0.0.0.0"}, "TLS"},
    {{"--config-file=" + dir.file("missing.ini")}, "does not exist"},
  };
  for (auto& c : cases) {
    auto argv = c.args;
    argv.insert(argv.begin(), daemon_binary());
    argv.push_back("--switchboard.db-path=" + dir.file("x.db"));
    auto res = run(argv, {}, std::chrono::seconds(10));
    EXPECT_EQ(res.rc, 2) << c.expected << ": " << res.err;
    EXPECT_NE(res.err.find(c.expected), std::string::npos)
      << "expected '" << c.expected << "' in: " << res.err;
  }
}

// -- the switch engine through the CLI
// ------------------------------------------

TEST_F(daemon_cli_test, reports_history_events_and_notifications) {
  for (auto s : {"sub-a", "sub-b"})
    ok({"subscription", "add", s, "--token-file", "-"}, std::string{"t-"} + s);
  ok({"agent", "add", "a1", "--subscription", "sub-a"});
  auto r = ok({"report", "a1", "--status", "429", "--error", "usage limit",
               "--source", "chat", "--execution-id", "x-1"});
  EXPECT_EQ(r["outcome"], "switched");
  EXPECT_EQ(r["agent"], "a1");
  EXPECT_EQ(r["from"], "sub-a");
  EXPECT_EQ(r["to"], "sub-b");
  EXPECT_EQ(r["generation"], 1);
  EXPECT_EQ(r["failure_kind"], "rate_limit");
  EXPECT_EQ(r["event_count"], 1);
  EXPECT_EQ(r["apply"], "no_container");
  EXPECT_TRUE(r.contains("retry_after_ms"));
  r = ok({"report", "a1", "--status", "500", "--error", "exit code 137"});
  EXPECT_EQ(r["outcome"], "ignored");
  EXPECT_EQ(r["failure_kind"], "ignored");
  EXPECT_EQ(r["reason"], "killed");
  // A late report of sub-a's request, inside the settle window after sub-b's
  // token was applied: it belongs to that switch.
  r = ok({"report", "a1", "--status", "429", "--subscription", "sub-a"});
  EXPECT_EQ(r["outcome"], "coalesced");
  EXPECT_EQ(r["from"], "sub-a");
  EXPECT_EQ(r["to"], "sub-b");
  EXPECT_EQ(r["generation"], 1);
  fails({"report", "ghost", "--status", "429"}, "unknown agent 'ghost'");
  fails({"report", "a1", "--status", "99"}, "status");
  auto events = ok({"events", "--agent", "a1"});
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2]["message"], "usage limit");
  EXPECT_EQ(events[2]["source"], "chat");
  EXPECT_EQ(events[2]["subscription"], "sub-a");
  EXPECT_EQ(events[2]["kind"], "rate_limit");
  EXPECT_EQ(events[2]["status"], 429);
  // All three were sub-a's requests (the later two arrived before the
  // settle window of the switch ended).
  EXPECT_EQ(ok({"events", "--subscription", "sub-a"}).size(), 3u);
  EXPECT_EQ(ok({"events", "--subscription", "sub-b"}).size(), 0u);
  EXPECT_EQ(ok({"events", "--limit", "1"}).size(), 1u);
  auto hist = ok({"history", "--agent", "a1"});
  ASSERT_EQ(hist.size(), 1u);
  EXPECT_EQ(hist[0]["from"], "sub-a");
  EXPECT_EQ(hist[0]["to"], "sub-b");
  EXPECT_EQ(hist[0]["generation"], 1);
  EXPECT_EQ(hist[0]["failure_kind"], "rate_limit");
  EXPECT_EQ(hist[0]["apply"], "no_container");
  auto notes = ok({"notifications"});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]["priority"], "high");
  EXPECT_EQ(notes[0]["status"], "pending");
  EXPECT_NE(notes[0]["message"].get<std::string>().find("sub-b"),
            std::string::npos);
  auto subs = ok({"subscription", "list"});
  EXPECT_FALSE(subs[0]["excluded_until"].is_null()); // sub-a drained
  // The two 429s; the ignored failure does not count.
  EXPECT_EQ(subs[0]["failures_2h"], 2);
  auto a1 = ok({"agent", "show", "a1"});
  EXPECT_EQ(a1["switching"], false);
  EXPECT_EQ(a1["applied_generation"], 1);
  EXPECT_EQ(a1["last_apply"]["result"], "no_container");
  EXPECT_FALSE(a1["epoch_started_at"].is_null());
  EXPECT_FALSE(a1["settle_until"].is_null());
  // Text output too; sub-b's own failure, named: no alternative left.
  auto text
    = cli({"report", "a1", "--status", "401", "--subscription", "sub-b"});
  EXPECT_EQ(text.rc, 0);
  EXPECT_NE(text.out.find("no_alternative"), std::string::npos) << text.out;
}

TEST_F(daemon_cli_test, provider_headers_from_the_command_line) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    ok({"subscription", "add", s, "--token-file", "-"}, std::string{"t-"} + s);
  ok({"agent", "add", "a1", "--subscription", "sub-a"});
  auto r = ok({"observe", "a1", "--subscription", "sub-b", "--header",
               "anthropic-ratelimit-unified-status: allowed", "--header",
               "Anthropic-Ratelimit-Unified-5h-Utilization:0.2"});
  EXPECT_EQ(r["outcome"], "observed");
  // What `curl -D` writes: a redirect, then the answer; the last counts.
  auto file = write_file(
    "headers.txt", "HTTP/1.1 301 Moved Permanently\r\n"
                   "anthropic-ratelimit-unified-5h-utilization: 0.99\r\n\r\n"
                   "HTTP/2 200\r\ncontent-type: application/json\r\n"
                   "anthropic-ratelimit-unified-5h-utilization: 0.5\r\n"
                   "anthropic-ratelimit-unified-7d-utilization: 0.25\r\n\r\n");
  ok({"observe", "a1", "--subscription", "sub-c", "--headers-file", file});
  auto subs = ok({"subscription", "list"});
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_TRUE(subs[0]["utilization_5h"].is_null());
  EXPECT_EQ(subs[1]["utilization_5h"], 0.2);
  EXPECT_EQ(subs[1]["provider_status"], "allowed");
  EXPECT_FALSE(subs[1]["evidence_at"].is_null());
  EXPECT_EQ(subs[2]["utilization_5h"], 0.5);
  EXPECT_EQ(subs[2]["utilization_7d"], 0.25);
  EXPECT_TRUE(subs[2]["reset_5h_at"].is_null());
  // At the wall: a headroom switch to the subscription with most headroom.
  r = ok({"observe", "a1", "--header",
          "anthropic-ratelimit-unified-5h-utilization: 0.97"});
  EXPECT_EQ(r["outcome"], "switched");
  EXPECT_EQ(r["to"], "sub-b");
  auto hist = ok({"history", "--agent", "a1"});
  ASSERT_EQ(hist.size(), 1u);
  EXPECT_EQ(hist[0]["trigger"], "headroom");
  EXPECT_EQ(ok({"events"}).size(), 0u); // no failure event
  // A 429 with a retry-after excludes sub-b until then, not for 2 hours.
  r = ok({"report", "a1", "--status", "429", "--subscription", "sub-b",
          "--header", "retry-after: 120"});
  EXPECT_EQ(r["outcome"], "switched");
  subs = ok({"subscription", "list"});
  auto until = subs[1]["excluded_until"].get<std::string>();
  auto reset = subs[1]["reset_at"].get<std::string>();
  EXPECT_EQ(until, reset);
  // Errors: nothing sent, one line.
  fails({"observe", "a1"}, "observe needs the response's headers");
  fails({"observe", "a1", "--header", "no colon here"}, "bad header");
  fails({"report", "a1", "--status", "429", "--header", "bad name: x"},
        "header name");
  fails(
    {"observe", "a1", "--subscription", "sub-zz", "--header", "retry-after: 1"},
    "unknown subscription 'sub-zz'");
  auto table = cli({"subscription", "list"});
  EXPECT_NE(table.out.find("UTIL_5H/7D"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("0.50/0.25"), std::string::npos) << table.out;
}

TEST_F(daemon_cli_test, sixty_four_reports_from_many_processes_switch_once) {
  for (auto s : {"sub-a", "sub-b", "sub-c"})
    ok({"subscription", "add", s, "--token-file", "-"}, std::string{"t-"} + s);
  ok({"agent", "add", "a1", "--subscription", "sub-a"});
  std::vector<std::thread> clients;
  std::vector<run_result> results(64);
  for (size_t i = 0; i < results.size(); ++i)
    clients.emplace_back([&, i] {
      results[i]
        = cli({"--json", "report", "a1", "--status", "429", "--subscription",
               "sub-a", "--execution-id", "exec-" + std::to_string(i)});
    });
  for (auto& t : clients)
    t.join();
  std::map<std::string, int> outcomes;
  for (auto& res : results) {
    ASSERT_EQ(res.rc, 0) << res.err;
    auto j = json::parse(res.out);
    outcomes[j["outcome"]]++;
    EXPECT_EQ(j["to"], "sub-b") << res.out;
  }
  EXPECT_EQ(outcomes["switched"], 1);
  EXPECT_EQ(outcomes["coalesced"] + outcomes["stale"], 63);
  EXPECT_EQ(ok({"history"}).size(), 1u);
  EXPECT_EQ(ok({"notifications"}).size(), 1u);
  EXPECT_EQ(ok({"events", "--limit", "1000"}).size(), 64u);
  auto subs = ok({"subscription", "list"});
  EXPECT_EQ(subs[1]["agent_count"], 1);
  EXPECT_EQ(subs[2]["agent_count"], 0); // no cascade to sub-c
}

// What a backend sends: reports that do not name their subscription, from
// separate processes whose starts are spread over 1.5 s. All 24 belong to the
// burst on sub-a: one switch, and no other subscription is touched.
TEST_F(daemon_cli_test, unnamed_reports_spread_over_a_second_switch_once) {
  for (auto s : {"sub-a", "sub-b", "sub-c", "sub-d"})
    ok({"subscription", "add", s, "--token-file", "-"}, std::string{"t-"} + s);
  ok({"agent", "add", "x", "--subscription", "sub-a"});
  std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> delay_ms{0, 1500};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  std::vector<run_result> results(24);
  for (size_t i = 0; i < results.size(); ++i) {
    auto at = start + std::chrono::milliseconds(delay_ms(rng));
    clients.emplace_back([&, i, at] {
      std::this_thread::sleep_until(at); // the workload: arrivals spread out
      results[i] = cli({"--json", "report", "x", "--status", "429", "--error",
                        "rate limit reached"});
    });
  }
  for (auto& t : clients)
    t.join();
  std::map<std::string, int> outcomes;
  for (auto& res : results) {
    ASSERT_EQ(res.rc, 0) << res.err;
    auto j = json::parse(res.out);
    outcomes[j["outcome"]]++;
    EXPECT_EQ(j["from"], "sub-a") << res.out;
    EXPECT_EQ(j["to"], "sub-b") << res.out;
  }
  EXPECT_EQ(outcomes["switched"], 1);
  EXPECT_EQ(outcomes["coalesced"], 23);
  EXPECT_EQ(ok({"history"}).size(), 1u);
  EXPECT_EQ(ok({"notifications"}).size(), 1u);
  auto evs = ok({"events", "--limit", "1000"});
  EXPECT_EQ(evs.size(), 24u);
  for (auto& ev : evs)
    EXPECT_EQ(ev["subscription"], "sub-a");
  for (auto& sub : ok({"subscription", "list"})) {
    if (sub["name"] == "sub-a")
      EXPECT_FALSE(sub["excluded_until"].is_null());
    else
      EXPECT_TRUE(sub["excluded_until"].is_null()) << sub.dump();
  }
}

TEST_F(daemon_cli_test, garbage_on_the_port_does_not_hurt_the_daemon) {
  // Random bytes, a truncated handshake and an HTTP request: each connection
  // is dropped by the daemon, which keeps serving.
  std::vector<std::string> payloads;
  std::string noise;
  for (int i = 0; i < 65536; ++i)
    noise.push_back(static_cast<char>((i * 7919 + 13) % 256));
  payloads.push_back(noise);
  payloads.push_back(std::string(7, '\0'));
  payloads.push_back("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  payloads.push_back(std::string(100000, '\xff'));
  for (auto& p : payloads) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(daemon->port());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              0);
    auto n = ::send(fd, p.data(), p.size(), MSG_NOSIGNAL);
    (void)n;
    ::close(fd);
  }
  auto res = cli({"ping"});
  EXPECT_EQ(res.rc, 0) << res.err << daemon->log();
  EXPECT_EQ(ok({"status"})["agents"], 0);
}

// -- the notification outbox
// ----------------------------------------------------

TEST(notify_command, delivers_the_outbox_once_and_retries_failures) {
  temp_dir dir;
  auto sink = dir.file("delivered.jsonl");
  auto gate = dir.file("open");
  // Delivers (appends the JSON line) only while the gate file exists.
  auto command = "test -e " + gate + " && cat >> " + sink;
  daemon_process d{daemon_binary(),
                   {"--switchboard.port=0",
                    "--switchboard.db-path=" + dir.file("state.db"),
                    "--switchboard.notify-command=" + command,
                    "--switchboard.notify-interval=100ms"}};
  ASSERT_NE(d.port(), 0) << d.log();
  auto cli = [&](std::vector<std::string> args, const std::string& in = {}) {
    args.insert(args.begin(),
                {cli_binary(), "--port", std::to_string(d.port()), "--json"});
    auto res = run(args, in);
    EXPECT_EQ(res.rc, 0) << res.err;
    return json::parse(res.out.empty() ? "null" : res.out);
  };
  cli({"subscription", "add", "sub-a", "--token-file", "-"}, "tok-a");
  cli({"subscription", "add", "sub-b", "--token-file", "-"}, "tok-b");
  cli({"agent", "add", "a1", "--subscription", "sub-a"});
  EXPECT_EQ(cli({"report", "a1", "--status", "429"})["outcome"], "switched");
  // The command fails while the gate is closed: the notification stays
  // pending and nothing was written.
  auto notes = cli({"notifications"});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]["status"], "pending");
  std::ofstream{gate} << "";
  ASSERT_TRUE(wait_until(
    [&] { return cli({"notifications"})[0]["status"] == "delivered"; }));
  std::ifstream in{sink};
  std::string line;
  std::vector<json> lines;
  while (std::getline(in, line))
    lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 1u); // once, not once per round
  EXPECT_EQ(lines[0]["agent"], "a1");
  EXPECT_EQ(lines[0]["kind"], "switch");
  EXPECT_EQ(lines[0]["priority"], "high");
  EXPECT_NE(lines[0]["message"].get<std::string>().find("sub-b"),
            std::string::npos);
  EXPECT_TRUE(d.terminate(std::chrono::seconds(5)).has_value());
}

TEST_F(daemon_cli_test, a_failed_application_is_one_log_line_per_attempt) {
  // No engine behind the socket: every application fails, and is retried.
  daemon.reset();
  start({"--switchboard.docker-socket=" + dir.file("no-engine.sock"),
         "--switchboard.retry-initial=100ms", "--switchboard.retry-max=100ms",
         "--switchboard.apply-wait=1s"});
  for (auto s : {"sub-a", "sub-b"})
    ok({"subscription", "add", s, "--token-file", "-"}, std::string{"t-"} + s);
  ok({"agent", "add", "x", "--subscription", "sub-a", "--container", "c-x"});
  ok({"report", "x", "--status", "429"});
  auto lines = [&](const std::string& text) {
    auto log = daemon->log();
    size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos;
         at = log.find(text, at + 1))
      ++n;
    return n;
  };
  // Three attempts: the first and two retries.
  ASSERT_TRUE(
    wait_until([&] { return lines("token of generation 1 not applied") >= 3; },
               std::chrono::seconds(20)))
    << daemon->log();
  auto log = daemon->log();
  EXPECT_EQ(log.find("generation 1 applied"), std::string::npos) << log;
  EXPECT_EQ(lines("container is behind"), 0u) << log;
  EXPECT_EQ(lines("retrying in 100 ms"),
            lines("token of generation 1 not applied"))
    << log;
}

TEST_F(daemon_cli_test, an_unreachable_engine_is_named_in_status_and_on_add) {
  daemon.reset();
  start({"--switchboard.docker-socket=" + dir.file("no-engine.sock")});
  ok({"subscription", "add", "sub-a", "--token-file", "-"}, "t-a");
  EXPECT_EQ(ok({"status"})["components"]["container-supervisor"]["engine"],
            "unknown");
  auto res = cli(
    {"agent", "add", "x", "--subscription", "sub-a", "--container", "c-x"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_NE(res.err.find("warning: the Docker engine at"), std::string::npos)
    << res.err;
  auto sup = ok({"status"})["components"]["container-supervisor"];
  EXPECT_EQ(sup["engine"], "unreachable") << sup.dump();
  EXPECT_NE(sup["engine_error"].get<std::string>().find("no-engine.sock"),
            std::string::npos);
}
