// The store and its files: opening (file mode, pragmas, the key, migrations
// with their data steps), keeping the WAL short, and online backups.

#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "persistence/schema.hpp"
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

bool has_sealed_tokens(SQLite::Database& db) {
  if (!db.tableExists("subscriptions"))
    return false;
  return db.execAndGet("SELECT EXISTS (SELECT 1 FROM subscriptions WHERE "
                       "substr(token, 1, 4) = 'sb1:')")
           .getInt()
         != 0;
}

/// The key of the database: read from its file, or created when the file is
/// missing and no token depends on it. A missing key with sealed tokens is
/// an error: a new key could never open them.
caf::expected<token_cipher> load_key(SQLite::Database& db,
                                     const std::string& path,
                                     const std::string& key_path) {
  struct stat st {};
  if (::stat(key_path.c_str(), &st) == 0 || errno != ENOENT)
    return token_cipher::read(key_path);
  if (has_sealed_tokens(db))
    return make_error(ec::store_failure,
                      "the database '" + path
                        + "' holds encrypted tokens but its key file '"
                        + key_path
                        + "' does not exist: restore the key file (it is "
                          "not part of the database or its backups)");
  return token_cipher::create(key_path);
}

/// A wrong key is refused before anything is written with it.
caf::error check_key(SQLite::Database& db, const token_cipher& cipher,
                     const std::string& path, const std::string& key_path) {
  if (!db.tableExists("subscriptions"))
    return caf::none;
  SQLite::Statement st{db, "SELECT token FROM subscriptions"};
  while (st.executeStep()) {
    auto token = st.getColumn(0).getString();
    if (token_cipher::is_sealed(token) && !cipher.open(token))
      return make_error(ec::store_failure,
                        "the key file '" + key_path
                          + "' does not open the tokens in '" + path
                          + "' (it is not the key of this database)");
  }
  return caf::none;
}

/// Seals every plain token; returns how many. Schema 3's data step, and a
/// repair at every open for a row written by hand.
size_t seal_plain_tokens(SQLite::Database& db, const token_cipher& cipher) {
  std::vector<std::pair<int64_t, std::string>> plain;
  {
    SQLite::Statement st{db, "SELECT id, token FROM subscriptions"};
    while (st.executeStep()) {
      auto token = st.getColumn(1).getString();
      if (!token_cipher::is_sealed(token))
        plain.emplace_back(st.getColumn(0).getInt64(), std::move(token));
    }
  }
  SQLite::Statement upd{db, "UPDATE subscriptions SET token = ? WHERE id = ?"};
  for (auto& [id, token] : plain) {
    upd.bind(1, cipher.seal(token));
    upd.bind(2, id);
    upd.exec();
    upd.reset();
  }
  return plain.size();
}

/// Schema 2's data step: the fingerprints of the current tokens of a
/// database from schema 1.
void backfill_fingerprints(SQLite::Database& db, const token_cipher& cipher) {
  SQLite::Statement list{db,
                         "SELECT name, token, updated_at FROM subscriptions"};
  SQLite::Statement ins{db, "INSERT OR IGNORE INTO token_versions("
                            "subscription, sha256, created_at) "
                            "VALUES (?, ?, ?)"};
  while (list.executeStep()) {
    auto token = list.getColumn(1).getString();
    auto plain = token_cipher::is_sealed(token) ? cipher.open(token)
                                                : std::optional{token};
    if (!plain)
      continue;
    ins.bind(1, list.getColumn(0).getString());
    ins.bind(2, token_fingerprint(*plain));
    ins.bind(3, list.getColumn(2).getString());
    ins.exec();
    ins.reset();
  }
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
                                       const std::string& path,
                                       const std::string& key_path,
                                       const token_cipher& cipher) {
  if (auto err = check_key(db, cipher, path, key_path))
    return err;
  size_t sealed = 0;
  auto step = [&](SQLite::Database& conn, int64_t version) {
    if (version == 2)
      backfill_fingerprints(conn, cipher);
    else if (version == 3)
      sealed += seal_plain_tokens(conn, cipher);
  };
  if (auto err = migrate(db, step))
    return err;
  {
    SQLite::Transaction tx{db};
    sealed += seal_plain_tokens(db, cipher);
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
    if (auto err = configure(db, path, opts))
      return err;
    if (path != ":memory:" || !opts.key_file.empty()) {
      ptr->key_file = key_file_for(path, opts.key_file);
      auto key = load_key(db, path, ptr->key_file);
      if (!key)
        return key.error();
      ptr->cipher = *key;
    }
    auto sealed = migrate_and_seal(db, path, ptr->key_file, ptr->cipher);
    if (!sealed)
      return sealed.error();
    ptr->sealed_at_open = *sealed;
    ptr->sql = std::make_unique<statements>(db);
    return std::unique_ptr<store>{new sqlite_store(std::move(ptr))};
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      "cannot open database '" + path + "': " + e.what());
  }
}

const std::string& sqlite_store::key_file() const {
  return impl_->key_file;
}

size_t sqlite_store::sealed_at_open() const {
  return impl_->sealed_at_open;
}

uint64_t sqlite_store::wal_bytes() const {
  struct stat st {};
  if (impl_->path == ":memory:"
      || ::stat((impl_->path + "-wal").c_str(), &st) != 0)
    return 0;
  return static_cast<uint64_t>(st.st_size);
}

caf::expected<bool> sqlite_store::checkpoint() {
  if (impl_->path == ":memory:")
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
