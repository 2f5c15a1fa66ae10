// switchboardd: the daemon. Reads conf/switchboard.ini (or --config-file),
// opens the database, starts the actors and serves until SIGINT or SIGTERM.

#include "actors/config.hpp"
#include "actors/logging.hpp"
#include "actors/root.hpp"
#include "intake/basp_guard.hpp"
#include "messages/error.hpp"
#include "persistence/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

int main(int argc, char** argv) {
  // Signals reach only the main thread's sigwait(): block them before CAF
  // starts its threads, which inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  sb::daemon_config cfg;
  if (auto err = cfg.parse_and_check(argc, argv); !err.empty()) {
    std::fprintf(stderr, "switchboardd: %s\n", err.c_str());
    return 2;
  }
  if (cfg.help_printed)
    return 0;
  auto& opts = cfg.opts;
  if (auto err = sb::setup_logging(opts.log_level, opts.log_file);
      !err.empty()) {
    std::fprintf(stderr, "switchboardd: %s\n", err.c_str());
    return 2;
  }
  // Every client costs descriptors: allow what the hard limit allows.
  sb::intake::raise_descriptor_limit();
  SB_INFO("switchboardd starting (config {})",
          cfg.config_file.empty() ? std::string{"built-in defaults"}
                                  : cfg.config_file);
  // The database, in a folder only we can read.
  std::error_code ec;
  auto parent = std::filesystem::path{opts.db_path}.parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      SB_ERROR("cannot create {}: {}", parent.string(), ec.message());
      return 1;
    }
    std::filesystem::permissions(parent, std::filesystem::perms::owner_all, ec);
  }
  sb::store_options store_opts;
  store_opts.synchronous = opts.db_synchronous;
  auto db = sb::store::open(opts.db_path, store_opts);
  if (!db) {
    SB_ERROR("{}", sb::render(db.error()));
    return 1;
  }
  SB_INFO("database {}", opts.db_path);
  caf::actor_system sys{cfg};
  // A core component that stops on its own ends the daemon, in order.
  auto on_fatal = [](const std::string&) { ::kill(::getpid(), SIGTERM); };
  auto d
    = sb::daemon::start(sys, opts, std::shared_ptr<sb::store>{std::move(*db)},
                        std::make_shared<sb::wall_clock>(), on_fatal);
  if (!d) {
    SB_ERROR("{}", sb::render(d.error()));
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  SB_INFO("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*d)->stop();
  return 0;
}
