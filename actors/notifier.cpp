#include "actors/notifier.hpp"

#include "actors/logging.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"

#include <caf/actor_registry.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in 2.37).
extern "C" {
#include <sys/pidfd.h>
}

extern char** environ;

namespace sb {

namespace {

/// The notification as the command sees it: one JSON object on one line
/// (never a token: notifications carry names only). The outbox's shape
/// without its status, which is always "pending" here.
std::string to_json_line(const notification_info& n) {
  auto j = to_json(n);
  j.erase("status");
  return json_text(j) + "\n";
}

std::string failed(const char* what, int err) {
  return std::string{what} + " failed: " + std::strerror(err);
}

/// Starts /bin/sh -c `command` reading `in` on its standard input: in a
/// process group of its own (a timeout kills whatever it started too),
/// with none of the daemon's descriptors (database, sockets, log), an
/// empty signal mask (the daemon blocks SIGTERM in all its threads) and
/// SIGPIPE at its default. Returns 0 on failure, with `err` set.
pid_t spawn_shell(const std::string& command, int in, int& err) {
  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&files);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&files, in, 0);
  posix_spawn_file_actions_addclosefrom_np(&files, 3);
  sigset_t none, pipe;
  sigemptyset(&none);
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                    | POSIX_SPAWN_SETSIGDEF);
  std::string sh = "sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  err = posix_spawn(&pid, "/bin/sh", &files, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  return err == 0 ? pid : 0;
}

/// Waits for `pid` to exit for at most `timeout` (poll on its pidfd: no
/// busy loop). True if it exited; it is not reaped yet.
bool exited_within(int pidfd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    auto r
      = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (r > 0)
      return true;
    if (r == 0 || errno != EINTR)
      return false;
  }
}

std::string describe(int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return {};
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  return "killed by signal " + std::to_string(WTERMSIG(status));
}

} // namespace

std::string run_notify_command(const std::string& command,
                               const std::string& input,
                               std::chrono::milliseconds timeout) {
  int in[2];
  if (::pipe2(in, O_CLOEXEC) != 0)
    return failed("pipe", errno);
  int err = 0;
  auto pid = spawn_shell(command, in[0], err);
  ::close(in[0]);
  if (pid == 0) {
    ::close(in[1]);
    return failed("posix_spawn", err);
  }
  auto pidfd = ::pidfd_open(pid, 0);
  err = errno;
  ::signal(SIGPIPE, SIG_IGN); // a command that does not read: EPIPE, not death
  auto n = ::write(in[1], input.data(), input.size());
  (void)n;
  ::close(in[1]);
  bool in_time = pidfd >= 0 && exited_within(pidfd, timeout);
  if (pidfd >= 0)
    ::close(pidfd);
  int status = 0;
  if (!in_time) {
    ::kill(-pid, SIGKILL); // the whole group: no orphans left running
    ::waitpid(pid, &status, 0);
    if (pidfd < 0)
      return failed("pidfd_open", err);
    return "no exit within " + std::to_string(timeout.count()) + " ms";
  }
  ::waitpid(pid, &status, 0);
  return describe(status);
}

void outbox_signal::committed(const daemon_context& ctx) {
  dirty_.store(true);
  if (active_.load() || active_.exchange(true))
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto root = caf::actor_cast<caf::strong_actor_ptr>(root_))
    ctx.clock->schedule(std::move(root),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                          ctx.live.get()->notify_interval)
                          .count(),
                        caf::make_message(tick_atom::value));
}

void outbox_signal::round_starts(const caf::actor_addr& root) {
  active_.store(true);
  dirty_.store(false);
  if (!root)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  root_ = root;
}

bool outbox_signal::rest() {
  active_.store(false);
  // A commit between the round's read and the line above set dirty_ and
  // may have seen the notifier still active: then this round asks again
  // (unless that commit's hook already did, seeing it rest).
  return !(dirty_.load() && !active_.exchange(true));
}

void wake_notifier(caf::actor_system& sys) {
  if (auto root = sys.registry().get(notifier_wake_name))
    caf::anon_send(caf::actor_cast<root_actor>(root), tick_atom::value);
}

namespace {

using notifier_ptr = notifier_actor::stateful_pointer<notifier_state>;

/// The oldest pending notifications, at most a page of them. False if the
/// outbox could not be read.
bool read_outbox(notifier_ptr self, caf::scoped_actor& blocking,
                 std::vector<notification_info>& pending) {
  bool read = true;
  blocking
    ->request(self->state.store, std::chrono::seconds(30), pending_atom::value,
              uint32_t{100})
    .receive([&](std::vector<notification_info>& xs) { pending = xs; },
             [&](caf::error& err) {
               read = false;
               SB_WARN("notifier cannot read the outbox: {}", render(err));
             });
  return read;
}

/// Runs the command for each of `pending`, oldest first; stops at the
/// first failure (keeping the order: it is retried first next round).
void deliver(notifier_ptr self, caf::scoped_actor& blocking,
             const std::vector<notification_info>& pending,
             const live_options& o) {
  auto& st = self->state;
  for (auto& n : pending) {
    auto why = run_notify_command(
      o.notify_command, to_json_line(n),
      std::chrono::duration_cast<std::chrono::milliseconds>(o.notify_timeout));
    if (!why.empty()) {
      ++st.failed;
      SB_WARN("notification {} for agent {} not delivered ({}); will "
              "retry",
              n.id, n.agent, why);
      return;
    }
    ++st.delivered;
    blocking
      ->request(st.store, std::chrono::seconds(30), delivered_atom::value, n.id,
                st.ctx->now())
      .receive([](ok_atom) {},
               [&](caf::error& err) {
                 SB_WARN("notification {} delivered but not marked: {}", n.id,
                         render(err));
               });
    SB_INFO("notification {} for agent {} delivered ({})", n.id, n.agent,
            n.title);
  }
}

} // namespace

notifier_actor::behavior_type
notifier(notifier_actor::stateful_pointer<notifier_state> self,
         store_actor store, context_ptr ctx, outbox_signal_ptr signal) {
  self->state.store = std::move(store);
  self->state.ctx = std::move(ctx);
  self->state.signal = std::move(signal);
  // Rounds are driven by the ROOT's timer: a detached actor must not have a
  // delayed message to itself pending at exit (it would keep it alive and
  // hang CAF's shutdown).
  return {
    [=](tick_atom) {
      auto& st = self->state;
      auto root = caf::actor_cast<caf::actor_addr>(self->current_sender());
      st.signal->round_starts(root);
      auto o = st.ctx->live.get();
      if (o->notify_command.empty())
        return; // parked: the outbox keeps them until a reload sets one
      // A blocking round: this actor has a thread of its own.
      caf::scoped_actor blocking{self->system()};
      std::vector<notification_info> pending;
      bool read = read_outbox(self, blocking, pending);
      // Work found: the next round is due one interval after this one
      // started, as with a fixed timer, whatever this one leaves (a
      // delivered notification's mark is a commit, so a round that finds
      // nothing follows; then the notifier rests).
      bool again = !read || !pending.empty() || st.ctx->shared_pool;
      if ((again || !st.signal->rest()) && root)
        self->send(caf::actor_cast<root_actor>(root), tick_atom::value);
      deliver(self, blocking, pending, *o);
    },
  };
}

} // namespace sb
