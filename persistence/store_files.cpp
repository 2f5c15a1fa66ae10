// The store and its files: opening (file mode, pragmas, the key, migrations
// with their data steps), keeping the WAL short, and online backups.

#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "persistence/store_impl.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sb {

namespace {

/// Creates the file with mode 0600 before SQLite touches it, and tightens an
/// existing file that is readable by others. SQLite gives the -wal and -shm
/// files the mode of the main file.
caf::error prepare_file(const std::string& path) {
  if (path == ":memory:" || path.empty())
    return caf::none;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(ec::store_failure, "cannot open database file '" + path
                                           + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
    ::fchmod(fd, 0600);
  ::close(fd);
  return caf::none;
}

caf::error configure(SQLite::Database& db, const std::string& path,
                     const store_options& opts) {
  if (path != ":memory:") {
    auto mode = db.execAndGet("PRAGMA journal_mode=WAL").getString();
    if (mode != "wal")
      return make_error(ec::store_failure,
                        "cannot switch '" + path + "' to WAL mode");
    db.exec("PRAGMA wal_autocheckpoint="
            + std::to_string(wal_autocheckpoint_pages));
    db.exec("PRAGMA journal_size_limit=" + std::to_string(wal_size_limit));
  }
  db.exec("PRAGMA synchronous=" + opts.synchronous);
  db.exec("PRAGMA foreign_keys=ON");
  // Deleted and overwritten content (a removed subscription, a rotated
  // token) is zeroed in the file rather than left in free space.
  db.exec("PRAGMA secure_delete=ON");
  // Statement journals in memory, not in temporary files created and
  // unlinked per statement; a 16 MiB page cache.
  db.exec("PRAGMA temp_store=MEMORY");
  db.exec("PRAGMA cache_size=-16384");
  return caf::none;
}

/// Seals every plain token; returns how many. Schema 3's data step, and a
/// repair at every open for a row written by hand.
size_t seal_plain_tokens(sql_connection& c, const token_cipher& cipher) {
  std::vector<std::pair<int64_t, std::string>> plain;
  c.run("SELECT id, token FROM subscriptions", {}, [&](const sql_row& r) {
    if (!token_cipher::is_sealed(r.text(1)))
      plain.emplace_back(r.integer(0), r.text(1));
  });
  for (auto& [id, token] : plain)
    c.run("UPDATE subscriptions SET token = $1 WHERE id = $2",
          {cipher.seal(token), id});
  return plain.size();
}

/// Schema 2's data step: the fingerprints of the current tokens of a
/// database from schema 1.
void backfill_fingerprints(sql_connection& c, const token_cipher& cipher) {
  c.run("SELECT name, token, updated_at FROM subscriptions", {},
        [&](const sql_row& r) {
          auto token = r.text(1);
          auto plain = token_cipher::is_sealed(token) ? cipher.open(token)
                                                      : std::optional{token};
          if (plain)
            c.run(sql_text(sq::insert_token_version, dialect::sqlite),
                  {r.text(0), token_fingerprint(*plain), r.text(2)});
        });
}

/// After plain tokens were sealed their old text may still sit in free
/// space, in pages of the WAL and in pages the main file has not received
/// yet: VACUUM rewrites the file from its live rows and the TRUNCATE
/// checkpoint empties the WAL.
void wipe_plain_text(SQLite::Database& db, const std::string& path) {
  if (path == ":memory:")
    return;
  db.exec("VACUUM");
  db.execAndGet("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// Migrations, their data steps, the key check and the sealing repair.
caf::expected<size_t> migrate_and_seal(SQLite::Database& db,
                                       sqlite_connection& conn,
                                       const std::string& path,
                                       const std::string& key_path,
                                       const token_cipher& cipher) {
  if (auto err = check_key(conn, cipher, path, key_path, ""))
    return err;
  size_t sealed = 0;
  auto step = [&](int64_t version) {
    if (version == 2)
      backfill_fingerprints(conn, cipher);
    else if (version == 3)
      sealed += seal_plain_tokens(conn, cipher);
  };
  if (auto err = migrate_schema(conn, step, 0, true))
    return err;
  {
    SQLite::Transaction tx{db};
    sealed += seal_plain_tokens(conn, cipher);
    tx.commit();
  }
  if (sealed > 0)
    wipe_plain_text(db, path);
  return sealed;
}

} // namespace

caf::expected<std::unique_ptr<store>> store::open(const std::string& path,
                                                  const store_options& opts) {
  if (auto err = prepare_file(path))
    return err;
  if (opts.synchronous != "FULL" && opts.synchronous != "NORMAL")
    return make_error(ec::invalid_argument,
                      "synchronous must be FULL or NORMAL, got '"
                        + opts.synchronous + "'");
  try {
    auto flags
      = SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX;
    auto ptr
      = std::make_unique<sqlite_store::impl>(path, flags, opts.busy_timeout_ms);
    auto& db = ptr->db;
    auto& conn = ptr->conn;
    if (auto err = configure(db, path, opts))
      return err;
    std::unique_ptr<sqlite_store> st{new sqlite_store(std::move(ptr))};
    st->path_ = path;
    if (path != ":memory:" || !opts.key_file.empty()) {
      st->key_file_ = key_file_for(path, opts.key_file);
      auto key = load_key(conn, path, st->key_file_, "restore the key file");
      if (!key)
        return key.error();
      st->cipher_ = *key;
    }
    auto sealed = migrate_and_seal(db, conn, path, st->key_file_, st->cipher_);
    if (!sealed)
      return sealed.error();
    st->sealed_at_open_ = *sealed;
    conn.prepare();
    return std::unique_ptr<store>{std::move(st)};
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      "cannot open database '" + path + "': " + e.what());
  }
}

uint64_t sqlite_store::wal_bytes() const {
  struct stat st {};
  if (path_ == ":memory:" || ::stat((path_ + "-wal").c_str(), &st) != 0)
    return 0;
  return static_cast<uint64_t>(st.st_size);
}

caf::expected<bool> sqlite_store::checkpoint() {
  if (path_ == ":memory:")
    return true;
  auto* handle = impl_->db.getHandle();
  // Without a busy handler a checkpoint that would wait for another
  // process's reader gives up at once instead of stalling every write.
  sqlite3_busy_timeout(handle, 0);
  auto rc = sqlite3_wal_checkpoint_v2(
    handle, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(handle, impl_->busy_timeout_ms);
  if (rc == SQLITE_BUSY)
    return false;
  if (rc != SQLITE_OK)
    return make_error(ec::store_failure, std::string{"checkpoint failed: "}
                                           + sqlite3_errmsg(handle));
  return true;
}

caf::error sqlite_store::backup(const std::string& target) {
  // O_EXCL: never overwrite, never follow a planted symlink; 0600 from the
  // first byte.
  int fd = ::open(target.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return make_error(ec::invalid_argument,
                        "'" + target
                          + "' exists already (a backup never overwrites a "
                            "file)");
    return make_error(ec::store_failure, "cannot create '" + target
                                           + "': " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);
  ::close(fd);
  sqlite3* dest = nullptr;
  auto rc
    = sqlite3_open_v2(target.c_str(), &dest, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) {
    auto* job
      = sqlite3_backup_init(dest, "main", impl_->db.getHandle(), "main");
    if (job != nullptr) {
      // One step: the copy is the database as of one instant, and the store
      // (the only writer) is busy with it for its duration.
      sqlite3_backup_step(job, -1);
      rc = sqlite3_backup_finish(job);
    } else {
      rc = sqlite3_errcode(dest);
    }
  }
  std::string why = dest != nullptr ? sqlite3_errmsg(dest) : "out of memory";
  sqlite3_close(dest);
  if (rc != SQLITE_OK) {
    ::unlink(target.c_str());
    return make_error(ec::store_failure,
                      "backup to '" + target + "' failed: " + why);
  }
  return caf::none;
}

} // namespace sb
