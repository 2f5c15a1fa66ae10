// A failing notify-command backs off (actors/notifier.hpp): the real
// NOTIFIER, detached, on the real scheduler, in front of a fake STORE that
// always has one notification pending, on a clock moved by hand. A round
// within the backoff does not read the outbox nor run the command; a
// failure is one warning line with the command's standard error; a success
// resets the backoff.

#include "actors/notifier.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"
#include "messages/register.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <fstream>
#include <sstream>

using namespace sb;
using namespace std::chrono_literals;

namespace {

struct test_config : caf::actor_system_config {
  test_config() { sb::add_message_types(*this); }
};

size_t lines_of(const std::string& path) {
  std::ifstream in{path};
  size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

class notifier_backoff_test : public ::testing::Test {
protected:
  notifier_backoff_test() : sys(cfg), root(sys) {
    saved_logger = spdlog::default_logger();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
    clock = std::make_shared<manual_clock>(1000000);
    ctx = std::make_shared<daemon_context>(daemon_options{}, engine_settings{},
                                           clock);
    set_command("echo run >> " + runs + "; echo 'no route' >&2; exit 1");
    auto reads = store_reads;
    store = sys.spawn([reads](caf::event_based_actor*) -> caf::behavior {
      return {
        [reads](pending_atom, uint32_t) {
          ++*reads;
          notification_info n;
          n.id = 7;
          n.agent = "a1";
          n.title = "a1 switched";
          return std::vector<notification_info>{n};
        },
        [](delivered_atom, int64_t, millis) { return ok_atom::value; },
      };
    });
    aut
      = sys.spawn<caf::detached>(notifier, caf::actor_cast<store_actor>(store),
                                 ctx, std::make_shared<outbox_signal>());
  }

  ~notifier_backoff_test() override {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    spdlog::set_default_logger(saved_logger);
  }

  void set_command(const std::string& command) {
    auto live = *ctx->live.get();
    live.notify_command = command;
    live.notify_timeout = std::chrono::seconds(10);
    live.notify_interval = std::chrono::seconds(1);
    ctx->live.publish(live);
  }

  /// `ms` pass, then one round (as the ROOT's tick): whether it read the
  /// outbox (decided to deliver). Its answer comes before its delivery.
  bool round_after(millis ms) {
    clock->advance(ms);
    auto before = store_reads->load();
    root->send(aut, tick_atom::value);
    bool answered = false;
    root->receive([&](tick_atom) { answered = true; },
                  caf::after(std::chrono::seconds(30)) >> [] {});
    EXPECT_TRUE(answered);
    return store_reads->load() > before;
  }

  test::temp_dir dir;
  std::string runs = dir.file("runs");
  std::ostringstream log_text;
  std::shared_ptr<spdlog::logger> saved_logger;
  test_config cfg;
  caf::actor_system sys;
  caf::scoped_actor root;
  std::shared_ptr<manual_clock> clock;
  context_ptr ctx;
  std::shared_ptr<std::atomic<int>> store_reads
    = std::make_shared<std::atomic<int>>(0);
  caf::actor store;
  notifier_actor aut;
};

} // namespace

TEST_F(notifier_backoff_test, a_failing_command_waits_longer_each_time) {
  // A round at the same instant right after a delivering one also proves
  // that one over (the NOTIFIER's mailbox is in order): it must not deliver
  // (the backoff is at least 750 ms).
  EXPECT_TRUE(round_after(0)); // failure 1: 0.75 s to 1.25 s
  EXPECT_FALSE(round_after(0));
  EXPECT_EQ(lines_of(runs), 1u);
  EXPECT_FALSE(round_after(700)); // within the backoff
  EXPECT_TRUE(round_after(600));  // 1.3 s: failure 2, 1.5 s to 2.5 s
  EXPECT_FALSE(round_after(0));
  EXPECT_FALSE(round_after(1400)); // 1.4 s later: still within
  EXPECT_TRUE(round_after(1200));  // 2.6 s later: failure 3, 3 s to 5 s
  EXPECT_FALSE(round_after(0));
  EXPECT_FALSE(round_after(2900));
  EXPECT_EQ(lines_of(runs), 3u);
  // One warning line per failure, with the command's standard error.
  auto text = log_text.str();
  size_t failures = 0;
  for (size_t i = text.find("not delivered"); i != std::string::npos;
       i = text.find("not delivered", i + 1))
    ++failures;
  EXPECT_EQ(failures, 3u) << text;
  EXPECT_NE(text.find("notification 7 for agent a1 not delivered (exit status "
                      "1; stderr: \"no route\"); next attempt in "),
            std::string::npos)
    << text;
  EXPECT_EQ(text.find("no route\n"), std::string::npos) << text;
  // A success resets the backoff: the next round delivers at once.
  set_command("echo run >> " + runs);
  EXPECT_TRUE(round_after(2200)); // 5.1 s after failure 3
  EXPECT_TRUE(round_after(0));
  EXPECT_TRUE(round_after(0));
  EXPECT_TRUE(test::wait_until([&] { return lines_of(runs) == 6; }, 10s));
}
