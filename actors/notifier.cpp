#include "actors/notifier.hpp"

#include "actors/logging.hpp"
#include "messages/error.hpp"

#include <caf/scoped_actor.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

namespace sb {

namespace {

/// The notification as the command sees it: one JSON object (never a token:
/// notifications carry names only).
std::string to_json_line(const notification_info& n) {
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
      }
    }
    return out + "\"";
  };
  return "{\"id\":" + std::to_string(n.id) + ",\"agent\":" + quote(n.agent)
         + ",\"kind\":" + quote(n.kind) + ",\"title\":" + quote(n.title)
         + ",\"message\":" + quote(n.message)
         + ",\"priority\":" + quote(n.priority)
         + ",\"created_at\":" + quote(format_iso(n.created_at)) + "}\n";
}

} // namespace

std::string run_notify_command(const std::string& command,
                               const std::string& input,
                               std::chrono::milliseconds timeout) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0)
    return std::string{"pipe failed: "} + std::strerror(errno);
  auto pid = ::fork();
  if (pid < 0)
    return std::string{"fork failed: "} + std::strerror(errno);
  if (pid == 0) {
    // Its own process group, so a timeout kills whatever it started too.
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    // Nothing of the daemon's: no database, socket or log descriptor.
    ::close_range(3, ~0U, 0);
    // A fresh signal mask: the daemon blocks SIGTERM in all its threads.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
    ::_exit(127);
  }
  ::setpgid(pid, pid); // also here: no race with the child's own call
  ::close(in[0]);
  ::signal(SIGPIPE, SIG_IGN);
  auto n = ::write(in[1], input.data(), input.size());
  (void)n;
  ::close(in[1]);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
      if (WIFEXITED(status))
        return "exit status " + std::to_string(WEXITSTATUS(status));
      return "killed by signal " + std::to_string(WTERMSIG(status));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL); // the whole group: no orphans left running
      ::waitpid(pid, &status, 0);
      return "no exit within " + std::to_string(timeout.count()) + " ms";
    }
    // This detached actor waits for the child; a short pause between polls.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self,
         store_actor store, context_ptr ctx) {
  self->state.store = std::move(store);
  self->state.ctx = std::move(ctx);
  // Rounds are driven by the ROOT's timer: a detached actor must not have a
  // delayed message to itself pending at exit (it would keep it alive and
  // hang CAF's shutdown).
  return {
    [=](tick_atom) {
      auto& st = self->state;
      auto o = *st.ctx->live.get();
      if (o.notify_command.empty())
        return; // the outbox keeps them until a command is configured
      // A blocking round: this actor has a thread of its own.
      caf::scoped_actor blocking{self->system()};
      std::vector<notification_info> pending;
      blocking
        ->request(st.store, std::chrono::seconds(30), pending_atom::value,
                  uint32_t{100})
        .receive([&](std::vector<notification_info>& xs) { pending = xs; },
                 [&](caf::error& err) {
                   SB_WARN("notifier cannot read the outbox: {}", render(err));
                 });
      for (auto& n : pending) {
        auto why = run_notify_command(
          o.notify_command, to_json_line(n),
          std::chrono::duration_cast<std::chrono::milliseconds>(
            o.notify_timeout));
        if (!why.empty()) {
          ++st.failed;
          SB_WARN("notification {} for agent {} not delivered ({}); will "
                  "retry",
                  n.id, n.agent, why);
          break; // keep the order: retry this one first next round
        }
        ++st.delivered;
        blocking
          ->request(st.store, std::chrono::seconds(30), delivered_atom::value,
                    n.id, st.ctx->now())
          .receive([](ok_atom) {},
                   [&](caf::error& err) {
                     SB_WARN("notification {} delivered but not marked: {}",
                             n.id, render(err));
                   });
        SB_INFO("notification {} for agent {} delivered ({})", n.id, n.agent,
                n.title);
      }
    },
  };
}

} // namespace sb
