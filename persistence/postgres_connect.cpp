// The PostgreSQL store's connection: where to connect (the URL, the password
// file), opening (the key, migrations, statements), losing the connection
// and getting it back, transactions, and the maintenance calls that are
// SQLite's business only.

#include "messages/error.hpp"
#include "persistence/postgres_impl.hpp"

#include <libpq-fe.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace sb {

namespace {

/// The advisory lock of balance-checked switch commits ("sbselect" in
/// ASCII) and the one every migration holds ("sbschema"). Advisory locks
/// are per database: other databases on the server are not held up.
constexpr int64_t selection_lock = 0x736273656c656374;
constexpr int64_t migration_lock = 0x7362736368656d61;

// -- where to connect

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
  // Defaults the URL may override. A server that does not answer fails the
  // call, not the daemon; a server host that vanished (no FIN, no RST) is
  // noticed within ~10 s instead of the kernel's minutes: unacknowledged
  // data and idle probes.
  static const std::pair<const char*, const char*> defaults[]
    = {{"application_name", "switchboardd"}, {"connect_timeout", "5"},
       {"tcp_user_timeout", "10000"},        {"keepalives_idle", "10"},
       {"keepalives_interval", "5"},         {"keepalives_count", "3"}};
  for (auto& [key, value] : defaults)
    if (!has_key(*pairs, key))
      pairs->emplace_back(key, value);
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

// -- the dialect

namespace {

class pg_row final : public sql_row {
public:
  explicit pg_row(const pqxx::row& r) : r_(r) {}

  bool null(int col) const override { return r_[col].is_null(); }

  int64_t integer(int col) const override {
    return null(col) ? 0 : r_[col].as<int64_t>();
  }

  double real(int col) const override {
    return null(col) ? 0 : r_[col].as<double>();
  }

  std::string text(int col) const override {
    return null(col) ? std::string{} : std::string{r_[col].c_str()};
  }

private:
  const pqxx::row& r_;
};

std::string name_of(sq id) {
  return "sb" + std::to_string(static_cast<int>(id));
}

auto values(sql_params args) {
  std::vector<std::optional<std::string>> out;
  for (auto& v : args) {
    if (v.kind == sql_value::integer)
      out.emplace_back(std::to_string(v.i));
    else if (v.kind == sql_value::real)
      out.emplace_back(pqxx::to_string(v.d));
    else if (v.kind == sql_value::text)
      out.emplace_back(std::string{v.s});
    else
      out.emplace_back();
  }
  return out;
}

int64_t rows(const pqxx::result& res, const on_row& f) {
  if (f)
    for (const auto& r : res)
      f(pg_row{r});
  return res.columns() > 0 ? static_cast<int64_t>(res.size())
                           : static_cast<int64_t>(res.affected_rows());
}

} // namespace

pqxx::nontransaction& pg_connection::live() {
  if (!session)
    throw std::runtime_error("no connection to PostgreSQL");
  return *session;
}

int64_t pg_connection::run(sq id, sql_params args, const on_row& f) {
  if (!sql_preparable(id, dialect::postgres))
    return run(sql_text(id, dialect::postgres), args, f);
  auto params = values(args);
  return rows(live().exec_prepared(name_of(id),
                                   pqxx::prepare::make_dynamic_params(params)),
              f);
}

int64_t pg_connection::run(const std::string& text, sql_params args,
                           const on_row& f) {
  if (args.size() == 0)
    return rows(live().exec(text), f);
  auto params = values(args);
  return rows(
    live().exec_params(text, pqxx::prepare::make_dynamic_params(params)), f);
}

bool pg_connection::has_table(const char* name) {
  auto& s = live();
  return !s.exec("SELECT to_regclass(" + s.quote(name) + ")")[0][0].is_null();
}

void pg_connection::prepare() {
  for (size_t i = 0; i < static_cast<size_t>(sq::count); ++i) {
    auto id = static_cast<sq>(i);
    auto* text = sql_text(id, dialect::postgres);
    if (text == nullptr || !sql_preparable(id, dialect::postgres))
      continue;
    conn->prepare(name_of(id), text);
    conn->prepare_now(name_of(id));
  }
}

// -- the connection

caf::error pg_connection::connect(bool with_statements) {
  try {
    conn = std::make_unique<pqxx::connection>(target.conninfo);
    session = std::make_unique<pqxx::nontransaction>(*conn);
    if (with_statements)
      prepare();
    return caf::none;
  } catch (const std::exception& e) {
    disconnect();
    return make_error(ec::store_failure,
                      "cannot connect to '" + target.display
                        + "': " + scrub(e.what(), target.secrets));
  }
}

void pg_connection::disconnect() noexcept {
  session.reset();
  conn.reset();
}

caf::error pg_connection::ready(const char* what) {
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

caf::error pg_connection::failure(const char* what, const std::exception& e) {
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

namespace {

/// At open, on the connection just made: the key (read or created, and
/// checked against the stored tokens), migrations (in one transaction
/// under the migration lock: daemons starting together on an empty
/// database migrate one after the other), statements.
caf::error set_up(pg_connection& c, const std::string& key_file,
                  token_cipher& cipher) {
  auto key = load_key(c, c.target.display, key_file,
                      "copy the key file of a host that shares this database");
  if (!key)
    return key.error();
  cipher = *key;
  if (auto err = check_key(c, cipher, c.target.display, key_file,
                           ": every host that shares it needs the same key "
                           "file"))
    return err;
  auto err = in_transaction(c.live(), [&] {
    c.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock)
           + ")");
    return migrate_schema(c, {}, 0, false);
  });
  if (err)
    return err;
  c.prepare();
  return caf::none;
}

} // namespace

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
  std::unique_ptr<postgres_store> st{
    new postgres_store(std::make_unique<impl>())};
  auto& c = st->impl_->conn;
  c.target = std::move(*target);
  st->path_ = c.target.display;
  st->key_file_ = opts.key_file;
  try {
    c.conn = std::make_unique<pqxx::connection>(c.target.conninfo);
    c.session = std::make_unique<pqxx::nontransaction>(*c.conn);
    if (auto err = set_up(c, st->key_file_, st->cipher_))
      return err;
  } catch (const std::exception& e) {
    return make_error(ec::store_failure,
                      "cannot open database '" + c.target.display
                        + "': " + scrub(e.what(), c.target.secrets));
  }
  return std::unique_ptr<store>{std::move(st)};
}

sql_connection& postgres_store::sql() {
  return impl_->conn;
}

// -- backups: pg_dump's business

caf::error postgres_store::backup(const std::string&) {
  return make_error(ec::invalid_argument,
                    "backups of a PostgreSQL store are taken with pg_dump "
                    "(of '"
                      + impl_->conn.target.display
                      + "'), not by the daemon; keep the key file with them");
}

// -- transactions

caf::error postgres_store::begin() {
  return guard("BEGIN", [&]() -> caf::error {
    auto& c = impl_->conn;
    if (c.in_tx)
      return make_error(ec::store_failure,
                        "BEGIN failed: a transaction is open already");
    c.exec("BEGIN");
    c.in_tx = true;
    pool_changed_ = false;
    return caf::none;
  });
}

caf::error postgres_store::lock_selection() {
  return guard("take the selection lock", [&]() -> caf::error {
    impl_->conn.exec("SELECT pg_advisory_xact_lock("
                     + std::to_string(selection_lock) + ")");
    return caf::none;
  });
}

caf::error postgres_store::probe_write() {
  if (impl_->conn.in_tx)
    return make_error(ec::store_failure,
                      "probe write failed: inside a transaction");
  // No database-wide write lock to wait for: a write can start if the
  // server takes writes at all.
  return guard("probe write", [&]() -> caf::error {
    auto row
      = impl_->conn.live().exec("SELECT pg_is_in_recovery(), "
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
  return guard("COMMIT", [&]() -> caf::error {
    auto& c = impl_->conn;
    if (!c.in_tx)
      return make_error(ec::store_failure,
                        "COMMIT failed: no transaction is open");
    if (veto_ && veto_()) {
      c.exec("ROLLBACK");
      c.in_tx = false;
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
    if (pool_changed_)
      sql += "SELECT pg_notify(" + c.live().quote(pool_channel) + ", "
             + c.live().quote(node_) + "); ";
    c.exec(sql + "COMMIT");
    c.in_tx = false;
    pool_changed_ = false;
    return caf::none;
  });
}

void postgres_store::rollback() {
  auto& c = impl_->conn;
  bool open = c.in_tx && c.conn;
  c.in_tx = false;
  c.tx_lost = false;
  if (!open)
    return;
  try {
    c.exec("ROLLBACK");
  } catch (const std::exception& e) {
    c.failure("ROLLBACK", e);
  }
}

} // namespace sb
