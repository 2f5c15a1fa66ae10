// The PostgreSQL store's connection: where to connect (the URL, the password
// file), opening (the key, migrations, statements), losing the connection
// and getting it back, transactions, and the maintenance calls that are
// SQLite's business only.

#include "messages/error.hpp"
#include "persistence/postgres_impl.hpp"

#include <libpq-fe.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace sb {

namespace {

/// The advisory lock of balance-checked switch commits ("sbselect" in
/// ASCII; the migrations hold another).
constexpr int64_t selection_lock = 0x736273656c656374;

// -- where to connect
// --------------------------------------------------------------

/// The first line of the password file. Errors name the file, never its
/// content.
caf::expected<std::string> read_password(const std::string& path) {
  errno = 0;
  std::ifstream in{path};
  std::string line;
  if (!in || (!std::getline(in, line) && in.bad())) {
    auto why = errno != 0 ? std::strerror(errno) : "cannot read it";
    return make_error(ec::invalid_argument,
                      "cannot read the PostgreSQL password file '" + path
                        + "': " + why);
  }
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  if (line.empty())
    return make_error(ec::invalid_argument, "the PostgreSQL password file '"
                                              + path
                                              + "' has an empty first line");
  return line;
}

/// `value` quoted for a key=value conninfo: in single quotes, with
/// backslashes and single quotes escaped by a backslash.
std::string quote_value(const std::string& value) {
  std::string result = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'')
      result += '\\';
    result += c;
  }
  return result + "'";
}

using conninfo_pairs = std::vector<std::pair<std::string, std::string>>;

std::string serialize(const conninfo_pairs& pairs) {
  std::string result;
  for (auto& [key, value] : pairs) {
    if (!result.empty())
      result += ' ';
    result += key + '=' + quote_value(value);
  }
  return result;
}

/// Whether `url` may carry a password: "password" anywhere, or a ':' in
/// the user part of a URI (scheme://user:password@host).
bool may_carry_password(const std::string& url) {
  if (url.find("password") != std::string::npos)
    return true;
  auto scheme = url.find("://");
  if (scheme == std::string::npos)
    return false;
  auto at = url.find('@', scheme);
  return at != std::string::npos && url.find(':', scheme + 3) < at;
}

/// The keyword/value pairs libpq reads from `url` (a URI or a conninfo),
/// without its password, which goes to `password`.
caf::expected<conninfo_pairs> parse_url(const std::string& url,
                                        std::string& password) {
  char* why = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options{
    PQconninfoParse(url.c_str(), &why), PQconninfoFree};
  if (!options) {
    std::string text = why != nullptr ? why : "out of memory";
    PQfreemem(why);
    // libpq's message may quote the URL.
    if (may_carry_password(url))
      text = "(the parser's message is withheld: it could show the password)";
    return make_error(ec::invalid_argument,
                      "invalid PostgreSQL url: " + scrub(text, {}));
  }
  conninfo_pairs pairs;
  for (auto* opt = options.get(); opt->keyword != nullptr; ++opt) {
    if (opt->val == nullptr)
      continue;
    if (std::strcmp(opt->keyword, "password") == 0)
      password = opt->val;
    else
      pairs.emplace_back(opt->keyword, opt->val);
  }
  return pairs;
}

bool has_key(const conninfo_pairs& pairs, const char* key) {
  for (auto& kv : pairs)
    if (kv.first == key)
      return true;
  return false;
}

// -- the key
// -----------------------------------------------------------------------

bool has_subscriptions_table(pqxx::transaction_base& session) {
  return !session.exec("SELECT to_regclass('subscriptions')")[0][0].is_null();
}

bool has_sealed_tokens(pqxx::transaction_base& session) {
  if (!has_subscriptions_table(session))
    return false;
  return session
    .exec("SELECT EXISTS (SELECT 1 FROM subscriptions WHERE "
          "substr(token, 1, 4) = 'sb1:')")[0][0]
    .as<bool>();
}

/// The key: read from its file, or created when the file is missing and no
/// token depends on it. A missing key with sealed tokens is an error: a new
/// key could never open them.
caf::expected<token_cipher> load_key(pqxx::transaction_base& session,
                                     const std::string& display,
                                     const std::string& key_path) {
  struct stat st {};
  if (::stat(key_path.c_str(), &st) == 0 || errno != ENOENT)
    return token_cipher::read(key_path);
  if (has_sealed_tokens(session))
    return make_error(ec::store_failure,
                      "the database '" + display
                        + "' holds encrypted tokens but the key file '"
                        + key_path
                        + "' does not exist: copy the key file of a host "
                          "that shares this database (it is not part of the "
                          "database or its backups)");
  auto created = token_cipher::create(key_path);
  // Another daemon of this host created it meanwhile: use that one.
  if (!created && ::stat(key_path.c_str(), &st) == 0)
    return token_cipher::read(key_path);
  return created;
}

/// A wrong key is refused before anything is written with it.
caf::error check_key(pqxx::transaction_base& session,
                     const token_cipher& cipher, const std::string& display,
                     const std::string& key_path) {
  if (!has_subscriptions_table(session))
    return caf::none;
  for (const auto& row : session.exec("SELECT token FROM subscriptions")) {
    std::string token = row[0].c_str();
    if (token_cipher::is_sealed(token) && !cipher.open(token))
      return make_error(ec::store_failure,
                        "the key file '" + key_path
                          + "' does not open the tokens in '" + display
                          + "' (it is not the key of this database: every "
                            "host that shares it needs the same key file)");
  }
  return caf::none;
}

} // namespace

caf::expected<bool> postgres_url_has_password(const std::string& url) {
  std::string password;
  auto pairs = parse_url(url, password);
  if (!pairs)
    return pairs.error();
  return !password.empty();
}

caf::expected<postgres_target> resolve_target(const postgres_options& opts) {
  postgres_target result;
  std::string url_password;
  auto pairs = parse_url(opts.url, url_password);
  if (!pairs)
    return pairs.error();
  result.display = url_password.empty() ? opts.url : serialize(*pairs);
  std::string password = url_password;
  if (!opts.password_file.empty()) {
    auto from_file = read_password(opts.password_file);
    if (!from_file)
      return from_file.error();
    password = std::move(*from_file);
  }
  for (auto* secret : {&url_password, &password})
    if (!secret->empty())
      result.secrets.push_back(*secret);
  if (!has_key(*pairs, "application_name"))
    pairs->emplace_back("application_name", "switchboardd");
  // A server that does not answer fails the call, not the daemon.
  if (!has_key(*pairs, "connect_timeout"))
    pairs->emplace_back("connect_timeout", "5");
  // A server host that vanished (no FIN, no RST) is noticed within ~10 s
  // instead of the kernel's minutes: unacknowledged data and idle probes.
  if (!has_key(*pairs, "tcp_user_timeout"))
    pairs->emplace_back("tcp_user_timeout", "10000");
  if (!has_key(*pairs, "keepalives_idle"))
    pairs->emplace_back("keepalives_idle", "10");
  if (!has_key(*pairs, "keepalives_interval"))
    pairs->emplace_back("keepalives_interval", "5");
  if (!has_key(*pairs, "keepalives_count"))
    pairs->emplace_back("keepalives_count", "3");
  if (!password.empty())
    pairs->emplace_back("password", password);
  result.conninfo = serialize(*pairs);
  return result;
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
  for (auto& secret : secrets) {
    if (secret.empty())
      continue;
    for (auto pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 3))
      text.replace(pos, secret.size(), "***");
  }
  // Server messages come as "ERROR:  what\nDETAIL:  why\n": one line.
  std::string line;
  for (char c : text) {
    bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (!space)
      line += c;
    else if (!line.empty() && line.back() != ' ')
      line += ' ';
  }
  while (!line.empty() && line.back() == ' ')
    line.pop_back();
  return line;
}

// -- the connection
// ----------------------------------------------------------------

caf::error postgres_store::impl::connect() {
  try {
    conn = std::make_unique<pqxx::connection>(target.conninfo);
    session = std::make_unique<pqxx::nontransaction>(*conn);
    prepare_statements(*conn);
    return caf::none;
  } catch (const std::exception& e) {
    disconnect();
    return make_error(ec::store_failure,
                      "cannot connect to '" + target.display
                        + "': " + scrub(e.what(), target.secrets));
  }
}

void postgres_store::impl::disconnect() noexcept {
  session.reset();
  conn.reset();
}

caf::error postgres_store::impl::ready(const char* what) {
  if (tx_lost)
    return make_error(ec::store_failure,
                      std::string{what}
                        + " failed: the connection to PostgreSQL broke "
                          "inside the transaction, which the server rolled "
                          "back");
  if (conn)
    return caf::none;
  if (auto err = connect())
    return make_error(ec::store_failure,
                      std::string{what} + " failed: " + render(err));
  return caf::none;
}

caf::error postgres_store::impl::failure(const char* what,
                                         const std::exception& e) {
  auto why = scrub(e.what(), target.secrets);
  // A broken connection is opened again by the next call; one that broke
  // inside a transaction took the transaction with it.
  if (conn && !conn->is_open()) {
    disconnect();
    tx_lost = in_tx;
  }
  return make_error(ec::store_failure, std::string{what} + " failed: " + why);
}

// -- opening
// -----------------------------------------------------------------------

caf::error postgres_store::impl::set_up() {
  auto key = load_key(*session, target.display, key_file);
  if (!key)
    return key.error();
  cipher = *key;
  if (auto err = check_key(*session, cipher, target.display, key_file))
    return err;
  if (auto err = postgres_migrate(*session))
    return err;
  prepare_statements(*conn);
  return caf::none;
}

postgres_store::postgres_store(std::unique_ptr<impl> ptr)
    : impl_(std::move(ptr)) {
  // nop
}

postgres_store::~postgres_store() = default;

caf::expected<std::unique_ptr<store>>
postgres_store::open(const postgres_options& opts) {
  if (opts.key_file.empty())
    return make_error(ec::invalid_argument,
                      "a PostgreSQL store needs a key file: every host that "
                      "shares the database must be given the same one");
  auto target = resolve_target(opts);
  if (!target)
    return target.error();
  auto ptr = std::make_unique<impl>();
  ptr->target = std::move(*target);
  ptr->key_file = opts.key_file;
  auto& d = *ptr;
  try {
    d.conn = std::make_unique<pqxx::connection>(d.target.conninfo);
    d.session = std::make_unique<pqxx::nontransaction>(*d.conn);
    if (auto err = d.set_up())
      return err;
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      "cannot open database '" + d.target.display
                        + "': " + scrub(e.what(), d.target.secrets));
  }
  return std::unique_ptr<store>{new postgres_store(std::move(ptr))};
}

const std::string& postgres_store::path() const {
  return impl_->target.display;
}

const std::string& postgres_store::key_file() const {
  return impl_->key_file;
}

size_t postgres_store::sealed_at_open() const {
  // A PostgreSQL store never held plain tokens.
  return 0;
}

// -- maintenance: the server's business
// ----------------------------------------------------

uint64_t postgres_store::wal_bytes() const {
  return 0;
}

caf::expected<bool> postgres_store::checkpoint() {
  return true;
}

caf::error postgres_store::backup(const std::string&) {
  return make_error(ec::invalid_argument,
                    "backups of a PostgreSQL store are taken with pg_dump "
                    "(of '"
                      + impl_->target.display
                      + "'), not by the daemon; keep the key file with them");
}

// -- transactions
// -----------------------------------------------------------------

caf::error postgres_store::begin() {
  return impl_->guard("BEGIN", [&]() -> caf::error {
    if (impl_->in_tx)
      return make_error(ec::store_failure,
                        "BEGIN failed: a transaction is open already");
    impl_->exec("BEGIN");
    impl_->in_tx = true;
    impl_->pool_changed = false;
    return caf::none;
  });
}

caf::error postgres_store::lock_selection() {
  return impl_->guard("take the selection lock", [&]() -> caf::error {
    impl_->exec("SELECT pg_advisory_xact_lock(" + std::to_string(selection_lock)
                + ")");
    return caf::none;
  });
}

caf::error postgres_store::probe_write() {
  if (impl_->in_tx)
    return make_error(ec::store_failure,
                      "probe write failed: inside a transaction");
  // No database-wide write lock to wait for: a write can start if the
  // server takes writes at all.
  return impl_->guard("probe write", [&]() -> caf::error {
    auto row = impl_->exec("SELECT pg_is_in_recovery(), "
                           "current_setting('transaction_read_only')")[0];
    if (row[0].as<bool>())
      return make_error(ec::store_failure,
                        "probe write failed: the PostgreSQL server is a "
                        "standby (in recovery) and takes no writes");
    if (std::string{row[1].c_str()} == "on")
      return make_error(ec::store_failure,
                        "probe write failed: the PostgreSQL database is "
                        "read-only (default_transaction_read_only)");
    return caf::none;
  });
}

caf::error postgres_store::commit() {
  return impl_->guard("COMMIT", [&]() -> caf::error {
    if (!impl_->in_tx)
      return make_error(ec::store_failure,
                        "COMMIT failed: no transaction is open");
    if (impl_->veto && impl_->veto()) {
      impl_->exec("ROLLBACK");
      impl_->in_tx = false;
      return make_error(ec::store_failure,
                        "COMMIT failed: vetoed (the transaction was rolled "
                        "back)");
    }
    // The server answers COMMIT of a transaction that a failed statement
    // aborted with a silent ROLLBACK; the SELECT before it fails instead.
    // One round trip for both. On failure the transaction stays open until
    // rollback(), as in SQLite. A transaction that changed the shared pool
    // notifies the other nodes' listeners (delivered once it committed).
    std::string sql = "SELECT 1; ";
    if (impl_->pool_changed)
      sql += "SELECT pg_notify(" + impl_->session->quote(pool_channel) + ", "
             + impl_->session->quote(impl_->node) + "); ";
    impl_->exec(sql + "COMMIT");
    impl_->in_tx = false;
    impl_->pool_changed = false;
    return caf::none;
  });
}

void postgres_store::rollback() {
  auto& d = *impl_;
  bool open = d.in_tx && d.conn;
  d.in_tx = false;
  d.tx_lost = false;
  if (!open)
    return;
  try {
    d.exec("ROLLBACK");
  } catch (const std::exception& e) {
    d.failure("ROLLBACK", e);
  }
}

caf::error postgres_store::savepoint() {
  return impl_->guard("SAVEPOINT", [&]() -> caf::error {
    impl_->exec("SAVEPOINT w");
    return caf::none;
  });
}

caf::error postgres_store::release() {
  return impl_->guard("RELEASE", [&]() -> caf::error {
    impl_->exec("RELEASE SAVEPOINT w");
    return caf::none;
  });
}

void postgres_store::rollback_to() {
  auto& d = *impl_;
  if (!d.conn)
    return;
  // After a failed statement the server ignores everything but this: it
  // makes the transaction usable again.
  try {
    d.exec("ROLLBACK TO SAVEPOINT w");
    d.exec("RELEASE SAVEPOINT w");
  } catch (const std::exception& e) {
    // The enclosing COMMIT reports what went wrong.
    d.failure("ROLLBACK TO", e);
  }
}

void postgres_store::set_commit_veto(std::function<bool()> veto) {
  impl_->veto = std::move(veto);
}

} // namespace sb
