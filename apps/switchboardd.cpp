// switchboardd: the daemon. Reads conf/switchboard.ini (or --config-file),
// opens the database, starts the actors and serves until SIGINT or SIGTERM.

#include "actors/config.hpp"
#include "actors/logging.hpp"
#include "actors/reload.hpp"
#include "actors/root.hpp"
#include "http/http_front.hpp"
#include "intake/basp_guard.hpp"
#include "messages/error.hpp"
#include "persistence/db_lock.hpp"
#include "persistence/postgres_store.hpp"
#include "persistence/store.hpp"
#include "persistence/token_cipher.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>

#include <pthread.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

namespace {

/// The database as the daemon holds it: an SQLite file locked, then opened;
/// a PostgreSQL database (shared by design: no lock) opened.
struct opened_database {
  std::optional<sb::db_lock> lock;
  std::shared_ptr<sb::store> store;
  /// PostgreSQL: a second connection for the node's lease and lookups.
  std::shared_ptr<sb::store> cluster = nullptr;
};

/// The database's folder: created with mode 0700 if missing. A path that
/// cannot be examined (a loop of symlinks, a name too long, a file where a
/// folder should be) is an error line, never an exception.
caf::error prepare_folder(const std::string& db_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto parent = fs::path{db_path}.parent_path();
  if (parent.empty())
    return caf::none;
  auto st = fs::status(parent, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return sb::make_error(sb::ec::store_failure, "cannot use the folder '"
                                                   + parent.string()
                                                   + "': " + ec.message());
  if (fs::exists(st) && !fs::is_directory(st))
    return sb::make_error(sb::ec::store_failure, "the folder of the database '"
                                                   + parent.string()
                                                   + "' is not a directory");
  if (fs::exists(st))
    return caf::none;
  fs::create_directories(parent, ec);
  if (ec)
    return sb::make_error(sb::ec::store_failure, "cannot create '"
                                                   + parent.string()
                                                   + "': " + ec.message());
  fs::permissions(parent, fs::perms::owner_all, ec);
  return caf::none;
}

caf::expected<opened_database> open_postgres(const sb::daemon_options& opts) {
  using sb::ec;
  if (opts.postgres_url.empty())
    return sb::make_error(ec::invalid_argument,
                          "switchboard.store = postgresql needs "
                          "switchboard.postgres-url");
  auto has_password = sb::postgres_url_has_password(opts.postgres_url);
  if (!has_password)
    return has_password.error();
  if (*has_password)
    return sb::make_error(ec::invalid_argument,
                          "switchboard.postgres-url must not carry the "
                          "password: put it in switchboard.postgres-password-"
                          "file (mode 0600)");
  sb::postgres_options pg;
  pg.url = opts.postgres_url;
  pg.password_file = opts.postgres_password_file;
  pg.key_file = sb::key_file_for(opts.db_path, opts.key_file);
  if (auto err = prepare_folder(pg.key_file))
    return err;
  auto db = sb::postgres_store::open(pg);
  if (!db)
    return db.error();
  auto cluster = sb::postgres_store::open(pg);
  if (!cluster)
    return cluster.error();
  SB_INFO("database {} (PostgreSQL; tokens encrypted with the key in {})",
          (*db)->path(), (*db)->key_file());
  return opened_database{std::nullopt, std::move(*db), std::move(*cluster)};
}

caf::expected<opened_database> open_database(const sb::daemon_options& opts) {
  if (opts.store == "postgresql")
    return open_postgres(opts);
  if (auto err = prepare_folder(opts.db_path))
    return err;
  auto lock = sb::db_lock::acquire(opts.db_path);
  if (!lock)
    return lock.error();
  struct stat st {};
  if (::stat(opts.db_path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
      && st.st_size == 0)
    SB_WARN("the database file {} is empty (0 bytes): starting with a new, "
            "empty database",
            opts.db_path);
  sb::store_options store_opts;
  store_opts.synchronous = opts.db_synchronous;
  store_opts.key_file = opts.key_file;
  auto db = sb::store::open(opts.db_path, store_opts);
  if (!db)
    return db.error();
  if (auto n = (*db)->sealed_at_open(); n > 0)
    SB_WARN("encrypted {} plain token(s) from an earlier version with the key "
            "in {}; their plain text was wiped from the database and its WAL",
            n, (*db)->key_file());
  SB_INFO("database {} (tokens encrypted with the key in {})", opts.db_path,
          (*db)->key_file());
  return opened_database{std::move(*lock), std::move(*db)};
}

/// SIGHUP: the configuration again, from the same file and command line.
void reload(int argc, char** argv, caf::actor_system& sys, sb::daemon& d,
            sb::daemon_options& running) {
  SB_INFO("received SIGHUP: reading the configuration again");
  sd_notify(0, "RELOADING=1");
  sb::daemon_config fresh;
  if (auto err = fresh.parse_and_check(argc, argv); !err.empty()) {
    SB_ERROR("configuration reload refused, the running configuration stays: "
             "{}",
             err);
    sd_notify(0, "READY=1");
    return;
  }
  auto report = sb::apply_reload(sys, d.front_door(), d.context()->live,
                                 running, fresh.opts);
  for (auto& key : report.applied)
    SB_INFO("configuration reload: {} applied", key);
  for (auto& key : report.need_restart)
    SB_WARN("configuration reload: {} changed; it takes effect at the next "
            "restart",
            key);
  for (auto& why : report.failed)
    SB_ERROR("configuration reload: {}", why);
  // The credential files are read again whatever else changed: replacing a
  // token file and reloading is how a credential is revoked.
  if (auto err = d.reload_credentials(); !err.empty())
    SB_ERROR("configuration reload: the credentials stay as they were: {}",
             err);
  if (report.applied.empty() && report.need_restart.empty()
      && report.failed.empty())
    SB_INFO("configuration reload: nothing changed");
  sd_notify(0, "READY=1");
}

int run(int argc, char** argv) {
  // Signals reach only the main thread's sigwait(): block them before CAF
  // starts its threads, which inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  sb::daemon_config cfg;
  if (auto err = cfg.parse_and_check(argc, argv); !err.empty()) {
    std::fprintf(stderr, "switchboardd: %s\n", err.c_str());
    return 2;
  }
  if (cfg.help_printed)
    return 0;
  auto& opts = cfg.opts;
  if (auto err
      = sb::setup_logging(opts.log_level, opts.log_file, opts.log_format);
      !err.empty()) {
    std::fprintf(stderr, "switchboardd: %s\n", err.c_str());
    return 2;
  }
  // Every client costs descriptors: allow what the hard limit allows.
  sb::intake::raise_descriptor_limit();
  SB_INFO("switchboardd starting (config {})",
          cfg.config_file.empty() ? std::string{"built-in defaults"}
                                  : cfg.config_file);
  // Held until main returns: no second daemon opens this database.
  auto db = open_database(opts);
  if (!db) {
    SB_ERROR("{}", sb::render(db.error()));
    return 1;
  }
  caf::actor_system sys{cfg};
  // A core component that stops on its own ends the daemon, in order.
  auto on_fatal = [](const std::string&) { ::kill(::getpid(), SIGTERM); };
  auto d = sb::daemon::start(sys, opts, std::move(db->store),
                             std::make_shared<sb::wall_clock>(), on_fatal,
                             std::move(db->cluster));
  if (!d) {
    SB_ERROR("{}", sb::render(d.error()));
    return 1;
  }
  if (opts.http_port >= 0) {
    auto settings = sb::http::http_settings::of(opts);
    settings.tokens = (*d)->credentials();
    auto http = sb::http::http_front::start(
      sys, (*d)->front_door(), (*d)->report_door(), (*d)->context(), settings);
    if (!http) {
      SB_ERROR("{}", sb::render(http.error()));
      (*d)->stop();
      return 1;
    }
    (*d)->attach(std::move(*http));
  }
  // Under systemd (Type=notify): ready once every door listens.
  sd_notifyf(0, "READY=1\nSTATUS=listening on %s:%u", opts.host.c_str(),
             static_cast<unsigned>((*d)->port()));
  auto running = opts;
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      reload(argc, argv, sys, **d, running);
      continue;
    }
    SB_INFO("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sd_notify(0, "STOPPING=1");
    break;
  }
  (*d)->stop();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Start-up must end with one line, never an abort.
    std::fprintf(stderr, "switchboardd: %s\n", e.what());
    return 1;
  }
}
