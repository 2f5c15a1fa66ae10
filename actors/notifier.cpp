#include "actors/notifier.hpp"

#include "actors/logging.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"
#include "messages/validate.hpp"
#include "notify/sink_format.hpp"

#include <caf/actor_registry.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

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

// -- what a command leaves behind --------------------------------------------

/// Set in the environment of every command: "<daemon pid>.<run>". It is
/// inherited by all the command starts (setsid does not drop it), so a
/// process reparented to the daemon says whose it is.
constexpr const char* run_marker_name = "SWITCHBOARD_NOTIFY_RUN";

/// What the sweep reads of /proc/<pid>/stat.
struct proc_stat {
  pid_t ppid = 0;
  /// Clock ticks since boot.
  unsigned long long start = 0;
};

std::optional<proc_stat> read_proc_stat(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return std::nullopt;
  // The name (field 2) may hold anything, ')' too: the last one ends it.
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size())
    return std::nullopt;
  std::istringstream rest{line.substr(close + 2)};
  char state = 0;
  proc_stat x;
  rest >> state >> x.ppid;
  std::string skip;
  for (int field = 5; field < 22; ++field) // pgrp ... itrealvalue
    rest >> skip;
  rest >> x.start;
  if (!rest)
    return std::nullopt;
  return x;
}

/// This process's children: reparented orphans included.
std::vector<std::pair<pid_t, proc_stat>> children_of_this_process() {
  std::vector<std::pair<pid_t, proc_stat>> out;
  auto self = ::getpid();
  auto* dir = ::opendir("/proc");
  if (dir == nullptr)
    return out;
  while (auto* entry = ::readdir(dir)) {
    char* end = nullptr;
    auto pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0)
      continue;
    if (auto st = read_proc_stat(static_cast<pid_t>(pid));
        st && st->ppid == self)
      out.emplace_back(static_cast<pid_t>(pid), *st);
  }
  ::closedir(dir);
  return out;
}

/// The run marker in `pid`'s environment ("" if none, or if it cannot be
/// read, as for a zombie).
std::string run_marker_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/environ",
                   std::ios::binary};
  std::string prefix = std::string{run_marker_name} + "=", entry;
  while (std::getline(in, entry, '\0'))
    if (entry.rfind(prefix, 0) == 0)
      return entry.substr(prefix.size());
  return {};
}

/// Now in the unit of proc_stat::start (the kernel's start_boottime in
/// USER_HZ ticks, rounded down the same way).
unsigned long long boot_ticks_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  auto hz = static_cast<unsigned long long>(::sysconf(_SC_CLK_TCK));
  return static_cast<unsigned long long>(ts.tv_sec) * hz
         + static_cast<unsigned long long>(ts.tv_nsec) / (1000000000ULL / hz);
}

/// The commands running in this process. Which of the daemon's children a
/// command left behind (so the daemon never kills a child that is not one
/// of them, such as another command running at the same time):
///   - one whose environment carries this process's run marker: it belongs
///     to that run, and is killed once that run has ended;
///   - one with no marker (it cleared its environment, or it is a zombie
///     whose environment is gone): killed only when no command runs any
///     more, only if it was no child of this process when the first of the
///     commands running since then began, and only if it started after
///     that (the start time in /proc/<pid>/stat, in 10 ms ticks);
///   - one with another process's marker: never.
/// The daemon starts no other children; a process that starts children of
/// its own while running commands (a test) keeps those started before.
class command_runs {
public:
  static command_runs& instance() {
    static command_runs x;
    return x;
  }

  /// A command is about to start: its marker.
  std::string begin() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (active_.empty()) {
      busy_since_ = boot_ticks_now();
      before_.clear();
      for (auto& child : children_of_this_process())
        before_.insert(child.first);
    }
    auto marker = prefix() + std::to_string(++next_);
    active_.insert(marker);
    return marker;
  }

  /// The command of `marker` ended (its shell is reaped): kills and reaps
  /// what it left, layer by layer (a killed process's children are
  /// reparented to this one in turn). Returns how many.
  size_t end(const std::string& marker) {
    std::lock_guard<std::mutex> guard{mtx_};
    active_.erase(marker);
    size_t killed = 0;
    for (int layer = 0; layer < 1000; ++layer) {
      std::vector<pid_t> victims;
      for (auto& [pid, st] : children_of_this_process())
        if (left_behind(pid, st))
          victims.push_back(pid);
      if (victims.empty())
        break;
      for (auto pid : victims)
        ::kill(pid, SIGKILL);
      for (auto pid : victims)
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
          ; // retry
      killed += victims.size();
    }
    return killed;
  }

private:
  static std::string prefix() { return std::to_string(::getpid()) + "."; }

  bool left_behind(pid_t pid, const proc_stat& st) const {
    auto marker = run_marker_of(pid);
    if (!marker.empty())
      return marker.rfind(prefix(), 0) == 0 && active_.count(marker) == 0;
    return active_.empty() && st.start >= busy_since_
           && before_.count(pid) == 0;
  }

  std::mutex mtx_;
  std::set<std::string> active_;
  uint64_t next_ = 0;
  unsigned long long busy_since_ = 0;
  /// This process's children when busy_since_ was taken.
  std::set<pid_t> before_;
};

/// Once per process: orphans of the commands become this process's
/// children (not init's), so that they can be found and reaped.
void become_subreaper() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
      SB_WARN("notifier cannot become a child subreaper ({}); what a "
              "notify-command leaves behind after setsid may survive it",
              std::strerror(errno));
  });
}

/// The daemon's environment for a command, with its run marker.
std::vector<std::string> command_environment(const std::string& marker) {
  std::vector<std::string> env;
  std::string prefix = std::string{run_marker_name} + "=";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::string_view{*e}.rfind(prefix, 0) != 0)
      env.emplace_back(*e);
  env.push_back(prefix + marker);
  return env;
}

/// Starts /bin/sh -c `command` reading `in` on its standard input and
/// writing its standard error to `err`: in a process group of its own (a
/// timeout kills whatever it started too), with none of the daemon's
/// descriptors (database, sockets, log), an empty signal mask (the daemon
/// blocks SIGTERM in all its threads), SIGPIPE at its default and the run
/// marker in its environment. Returns 0 on failure, with `error` set.
pid_t spawn_shell(const std::string& command, int in, int err,
                  const std::string& marker, int& error) {
  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&files);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&files, in, 0);
  posix_spawn_file_actions_adddup2(&files, err, 2);
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
  auto env = command_environment(marker);
  std::vector<char*> envp;
  for (auto& x : env)
    envp.push_back(x.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  error = posix_spawn(&pid, "/bin/sh", &files, &attr, argv, envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  return error == 0 ? pid : 0;
}

/// The read end of a command's standard error (non-blocking): keeps the
/// first stderr_limit bytes, drops the rest (the pipe never fills up).
struct stderr_reader {
  int fd = -1;
  command_outcome* out = nullptr;

  /// Reads what is there now. False at its end (or on an error).
  bool read_available() {
    char buf[4096];
    for (;;) {
      auto n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        auto room = command_outcome::stderr_limit - out->stderr_head.size();
        auto take = std::min(room, static_cast<size_t>(n));
        out->stderr_head.append(buf, take);
        out->stderr_cut = out->stderr_cut || take < static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
};

/// Waits for `pid` to exit for at most `timeout` (poll on its pidfd: no
/// busy loop), reading its standard error meanwhile. True if it exited; it
/// is not reaped yet.
bool exited_within(int pidfd, stderr_reader& err,
                   std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool open = true;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    pollfd p[2] = {{pidfd, POLLIN, 0}, {open ? err.fd : -1, POLLIN, 0}};
    auto r = ::poll(p, 2, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    if ((p[0].revents & POLLIN) != 0)
      return true;
    if (p[1].revents != 0)
      open = err.read_available();
  }
}

std::string describe(int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return {};
  if (WIFEXITED(status))
    return "exit status " + std::to_string(WEXITSTATUS(status));
  return "killed by signal " + std::to_string(WTERMSIG(status));
}

/// Feeds `input` to the shell `pid` (`in`: the write end of its standard
/// input, closed here), waits at most `timeout` for it (then kills its
/// group) and reaps it. Returns what went wrong ("" for exit status 0).
std::string await_shell(pid_t pid, int in, const std::string& input,
                        stderr_reader& err, std::chrono::milliseconds timeout) {
  auto pidfd = ::pidfd_open(pid, 0);
  auto pidfd_errno = errno;
  ::signal(SIGPIPE, SIG_IGN); // a command that does not read: EPIPE, not death
  auto n = ::write(in, input.data(), input.size());
  (void)n;
  ::close(in);
  bool in_time = pidfd >= 0 && exited_within(pidfd, err, timeout);
  if (pidfd >= 0)
    ::close(pidfd);
  if (!in_time)
    ::kill(-pid, SIGKILL); // its group at once; the sweep does the rest
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ; // retry
  if (in_time)
    return describe(status);
  if (pidfd < 0)
    return failed("pidfd_open", pidfd_errno);
  return "no exit within " + std::to_string(timeout.count()) + " ms";
}

} // namespace

command_outcome run_command(const std::string& command,
                            const std::string& input,
                            std::chrono::milliseconds timeout) {
  become_subreaper();
  command_outcome out;
  int in[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    out.failure = failed("pipe", errno);
    return out;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    out.failure = failed("pipe", errno);
    ::close(in[0]);
    ::close(in[1]);
    return out;
  }
  // Only our end: the command's writes block as usual.
  ::fcntl(err[0], F_SETFL, O_NONBLOCK);
  auto& runs = command_runs::instance();
  auto marker = runs.begin();
  int error = 0;
  auto pid = spawn_shell(command, in[0], err[1], marker, error);
  ::close(in[0]);
  ::close(err[1]);
  stderr_reader reader{err[0], &out};
  if (pid == 0) {
    ::close(in[1]);
    out.failure = failed("posix_spawn", error);
  } else {
    out.failure = await_shell(pid, in[1], input, reader, timeout);
  }
  out.left_behind = runs.end(marker);
  reader.read_available(); // what it wrote last (its writers are gone now)
  ::close(err[0]);
  return out;
}

std::string run_notify_command(const std::string& command,
                               const std::string& input,
                               std::chrono::milliseconds timeout) {
  return run_command(command, input, timeout).failure;
}

std::string stderr_for_log(const command_outcome& x) {
  std::string_view text = x.stderr_head;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  auto out = escape_for_terminal(text);
  if (x.stderr_cut)
    out += "...";
  return out;
}

millis notify_backoff::failed(millis now, double jitter) {
  ++failures_;
  auto wait = notify::delivery_backoff(failures_, base, cap, 0, jitter);
  next_at_ = now + wait;
  return wait;
}

void notify_backoff::succeeded() {
  failures_ = 0;
  next_at_ = 0;
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

/// Marks `n` delivered in the store.
void mark_delivered(notifier_ptr self, caf::scoped_actor& blocking,
                    const notification_info& n) {
  auto& st = self->state;
  blocking
    ->request(st.store, std::chrono::seconds(30), delivered_atom::value, n.id,
              st.ctx->now())
    .receive([](ok_atom) {},
             [&](caf::error& err) {
               SB_WARN("notification {} delivered but not marked: {}", n.id,
                       render(err));
             });
}

/// One warning line for a failed delivery: why, the command's standard
/// error, and when the next attempt runs.
void log_failure(const notification_info& n, const command_outcome& x,
                 millis wait) {
  auto err = stderr_for_log(x);
  if (err.empty())
    SB_WARN("notification {} for agent {} not delivered ({}); next attempt "
            "in {} ms",
            n.id, n.agent, x.failure, wait);
  else
    SB_WARN("notification {} for agent {} not delivered ({}; stderr: \"{}\"); "
            "next attempt in {} ms",
            n.id, n.agent, x.failure, err, wait);
}

/// Runs the command for each of `pending`, oldest first; stops at the
/// first failure (keeping the order: it is retried first, after the
/// backoff).
void deliver(notifier_ptr self, caf::scoped_actor& blocking,
             const std::vector<notification_info>& pending,
             const live_options& o) {
  auto& st = self->state;
  for (auto& n : pending) {
    // The backoff counts from the attempt's start: on the daemon's clock,
    // and a run's length (at most notify-timeout) is small beside waits
    // that grow to minutes.
    auto attempt_at = st.ctx->now();
    auto x = run_command(
      o.notify_command, to_json_line(n),
      std::chrono::duration_cast<std::chrono::milliseconds>(o.notify_timeout));
    if (x.left_behind > 0)
      SB_WARN("notify-command for notification {} left {} process(es) "
              "running; killed",
              n.id, x.left_behind);
    if (!x.failure.empty()) {
      ++st.failed;
      std::uniform_real_distribution<double> jitter{0.0, 1.0};
      auto wait = st.backoff.failed(attempt_at, jitter(st.rng));
      log_failure(n, x, wait);
      return;
    }
    st.backoff.succeeded();
    ++st.delivered;
    mark_delivered(self, blocking, n);
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
      if (!st.backoff.due(st.ctx->now())) {
        // The command failed lately: the outbox waits (unread) for the
        // first round after the backoff.
        if (root)
          self->send(caf::actor_cast<root_actor>(root), tick_atom::value);
        return;
      }
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
