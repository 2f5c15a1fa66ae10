// The store's rules, once for both dialects (sql_store.hpp), and what every
// store shares: the answers of a store without nodes, load().

#include "persistence/sql_store.hpp"

#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "messages/text_list.hpp"
#include "messages/validate.hpp"

#include <algorithm>
#include <limits>
#include <map>

namespace sb {

// -- rows

millis sql_row::time(int col) const {
  return null(col) ? 0 : parse_iso(text(col)).value_or(0);
}

caf::optional<std::string> sql_row::optional_text(int col) const {
  if (null(col))
    return caf::none;
  return text(col);
}

caf::optional<double> sql_row::optional_real(int col) const {
  if (null(col))
    return caf::none;
  return real(col);
}

caf::error sql_connection::failure(const char* what, const std::exception& e) {
  return make_error(ec::store_failure,
                    std::string{what} + " failed: " + e.what());
}

namespace {

uint64_t unsigned_at(const sql_row& r, int col) {
  return static_cast<uint64_t>(r.integer(col));
}

stored_agent read_agent_row(const sql_row& r) {
  stored_agent a;
  a.id = r.integer(0);
  a.name = r.text(1);
  a.subscription_id = r.integer(2);
  a.subscription = r.text(3);
  a.container = r.text(4);
  a.generation = unsigned_at(r, 5);
  a.applied_generation = unsigned_at(r, 6);
  a.auto_switch
    = parse_kind<auto_switch_mode>(r.text(7)).value_or(auto_switch_mode::on);
  if (!r.null(8))
    a.last_apply = parse_apply_outcome(r.text(8));
  a.last_apply_at = r.time(9);
  a.last_switch_at = r.time(10);
  a.created_at = r.time(11);
  a.pool = r.text(12);
  return a;
}

provider_kind provider_at(const sql_row& r, int col) {
  return parse_kind<provider_kind>(r.text(col))
    .value_or(provider_kind::anthropic);
}

/// retired, retired_at, drained, max_agents, cleared_at from column `col`.
void read_standing(const sql_row& r, int col, stored_subscription& s) {
  s.retired
    = parse_kind<retire_reason>(r.text(col)).value_or(retire_reason::none);
  s.retired_at = r.time(col + 1);
  s.drained = r.integer(col + 2) != 0;
  s.max_agents = static_cast<uint32_t>(r.integer(col + 3));
  s.cleared_at = r.time(col + 4);
}

stored_subscription read_subscription_row(const sql_row& r) {
  stored_subscription s;
  s.id = r.integer(0);
  s.name = r.text(1);
  // Sealed as stored: subscriptions() opens it.
  s.token.value = r.text(2);
  s.created_at = r.time(3);
  s.updated_at = r.time(4);
  s.provider = provider_at(r, 5);
  s.pool = r.text(6);
  read_standing(r, 7, s);
  // The credentials row, when there is one (LEFT JOIN).
  if (!r.null(12)) {
    s.terms.kind = parse_kind<credential_kind>(r.text(12))
                     .value_or(credential_kind::token);
    s.terms.expires_at = r.integer(13);
    s.terms.scopes = split_list(r.text(14), ' ');
    s.refreshed_at = r.integer(15);
    s.refreshes = unsigned_at(r, 16);
  }
  return s;
}

stored_credential read_credential_row(const sql_row& r) {
  stored_credential c;
  c.name = r.text(0);
  c.provider = provider_at(r, 1);
  c.pool = r.text(2);
  c.expires_at = r.integer(3);
  c.issued_at = r.integer(4);
  c.refreshed_at = r.integer(5);
  c.refreshes = unsigned_at(r, 6);
  c.retired
    = parse_kind<retire_reason>(r.text(7)).value_or(retire_reason::none);
  c.refresh_sha256 = r.text(8);
  c.kind
    = parse_kind<credential_kind>(r.text(9)).value_or(credential_kind::token);
  return c;
}

event_info read_event_row(const sql_row& r) {
  event_info ev;
  ev.id = r.integer(0);
  ev.agent = r.text(1);
  ev.subscription = r.text(2);
  ev.kind = parse_kind<failure_kind>(r.text(3)).value_or(failure_kind::ignored);
  ev.reason = r.text(4);
  ev.status = static_cast<int>(r.integer(5));
  ev.message = r.text(6);
  ev.source = r.text(7);
  ev.execution_id = r.text(8);
  ev.reset_at = r.time(9);
  ev.at = r.time(10);
  return ev;
}

history_info read_history_row(const sql_row& r) {
  history_info h;
  h.id = r.integer(0);
  h.agent = r.text(1);
  h.from = r.optional_text(2);
  h.to = r.optional_text(3);
  h.by = parse_kind<trigger>(r.text(4)).value_or(trigger::automatic);
  h.kind = parse_kind<failure_kind>(r.text(5)).value_or(failure_kind::none);
  h.event_count = static_cast<uint32_t>(r.integer(6));
  h.generation = unsigned_at(r, 7);
  h.apply = parse_apply_outcome(r.text(8));
  h.at = r.time(9);
  return h;
}

stored_evidence read_evidence_row(const sql_row& r) {
  stored_evidence ev;
  ev.subscription = r.text(0);
  ev.status
    = parse_kind<provider_status>(r.text(1)).value_or(provider_status::unknown);
  ev.status_at = r.time(2);
  ev.status_reset = r.time(3);
  ev.utilization_5h = r.optional_real(4);
  ev.utilization_5h_at = r.time(5);
  ev.reset_5h = r.time(6);
  ev.utilization_7d = r.optional_real(7);
  ev.utilization_7d_at = r.time(8);
  ev.reset_7d = r.time(9);
  ev.evidence_at = r.time(10);
  ev.readmitted_at = r.time(11);
  return ev;
}

notification_info read_notification_row(const sql_row& r) {
  notification_info n;
  n.id = r.integer(0);
  n.agent = r.text(1);
  n.kind = parse_kind<notification_kind>(r.text(2)).value_or(
    notification_kind::switched);
  n.title = r.text(3);
  n.message = r.text(4);
  n.priority = parse_kind<notification_priority>(r.text(5)).value_or(
    notification_priority::normal);
  n.status = parse_kind<notification_status>(r.text(6)).value_or(
    notification_status::pending);
  n.created_at = r.time(7);
  n.subscription = r.text(8);
  n.pool = r.text(9);
  n.from = r.text(10);
  n.to = r.text(11);
  n.reason = r.text(12);
  n.reset_at = r.integer(13);
  return n;
}

/// Every row of statement `id` as a record made by `read_row`.
template<class Row>
auto collect(sql_connection& c, sq id, sql_params args, Row read_row) {
  std::vector<std::decay_t<decltype(read_row(std::declval<sql_row&>()))>> out;
  c.run(id, args, [&](const sql_row& r) { out.emplace_back(read_row(r)); });
  return out;
}

/// The first column of the first row as an integer (0 without a row).
int64_t first_integer(sql_connection& c, sq id, sql_params args) {
  int64_t out = 0;
  c.run(id, args, [&](const sql_row& r) { out = r.integer(0); });
  return out;
}

/// The id that the rows of a read stay below, query::before or (0: from the
/// newest) the largest id. Bound as a plain `id < $n`, not beside a
/// "$n = 0 OR", so the id index serves the range on every page.
int64_t id_bound(const query& q) {
  return q.before > 0 ? q.before : std::numeric_limits<int64_t>::max();
}

int64_t limit_of(uint32_t limit) {
  return static_cast<int64_t>(std::min(limit, max_query_limit));
}

int64_t signed_of(uint64_t x) {
  return static_cast<int64_t>(x);
}

caf::error unknown_agent(const std::string& name) {
  return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
}

caf::error unknown_subscription(const std::string& name) {
  return make_error(ec::unknown_subscription,
                    "unknown subscription '" + name + "'");
}

} // namespace

caf::expected<stored_agent> sql_store::read_agent(const std::string& name) {
  auto found = collect(sql(), sq::agent_by_name, {name}, read_agent_row);
  if (found.empty())
    return unknown_agent(name);
  return std::move(found.front());
}

caf::error sql_store::write(const char* what, sq id, sql_params args,
                            bool pool) {
  return guard(what, [&]() -> caf::error {
    sql().run(id, args);
    pool_changed_ = pool_changed_ || pool;
    return caf::none;
  });
}

// -- the savepoint of one write

caf::error sql_store::savepoint() {
  return write("SAVEPOINT", sq::savepoint, {}, false);
}

caf::error sql_store::release() {
  return write("RELEASE", sq::release, {}, false);
}

void sql_store::rollback_to() {
  // After a failed statement PostgreSQL ignores everything but this: it
  // makes the transaction usable again.
  try {
    sql().run(sq::rollback_to);
    sql().run(sq::release);
  } catch (const std::exception& e) {
    // The enclosing COMMIT reports what went wrong.
    sql().failure("ROLLBACK TO", e);
  }
}

// -- subscriptions

caf::error sql_store::check_pool(subscription_upsert& up,
                                 const subscription_spec& spec) {
  auto& row = up.row;
  if (up.rotated) {
    // A rotation keeps what the subscription is.
    if (spec.provider && *spec.provider != row.provider)
      return make_error(ec::invalid_argument,
                        "subscription '" + row.name + "' is a "
                          + to_string(row.provider) + " subscription; remove "
                          + "it and add it again to change its provider");
    if (!spec.pool.empty() && spec.pool != row.pool)
      return make_error(ec::invalid_argument,
                        "subscription '" + row.name + "' is in pool '"
                          + row.pool + "'; remove it and add it again to "
                          + "move it to pool '" + spec.pool + "'");
    return caf::none;
  }
  row.provider = spec.provider.value_or(provider_kind::anthropic);
  row.pool = spec.pool.empty() ? default_pool : spec.pool;
  std::optional<provider_kind> held;
  sql().run(sq::provider_of_pool, {row.pool},
            [&](const sql_row& r) { held = provider_at(r, 0); });
  if (held && *held != row.provider)
    return make_error(ec::invalid_argument,
                      "pool '" + row.pool + "' holds " + to_string(*held)
                        + " subscriptions; a " + to_string(row.provider)
                        + " subscription goes into a pool of its own "
                          "(--pool NAME)");
  return caf::none;
}

caf::expected<subscription_upsert>
sql_store::upsert_subscription(const subscription_spec& spec, millis now) {
  return guard("put subscription", [&]() -> caf::expected<subscription_upsert> {
    auto& c = sql();
    auto& name = spec.name;
    auto& token = spec.token.value;
    auto sha = token_fingerprint(token);
    std::string owner;
    c.run(sq::owner_of_token, {sha},
          [&](const sql_row& r) { owner = r.text(0); });
    if (!owner.empty() && owner != name)
      return make_error(ec::invalid_argument,
                        "this token is registered already, as subscription '"
                          + owner + "'");
    subscription_upsert result;
    c.run(sq::subscription_by_name, {name}, [&](const sql_row& r) {
      result.rotated = true;
      result.row.id = r.integer(0);
      result.row.created_at = r.time(1);
      result.row.provider = provider_at(r, 2);
      result.row.pool = r.text(3);
      read_standing(r, 4, result.row);
    });
    result.row.name = name;
    if (auto err = check_pool(result, spec))
      return err;
    // Only the sealed form reaches the database (and SQLite's WAL).
    auto sealed = cipher_.seal(token);
    auto at = format_iso(now);
    if (result.rotated) {
      c.run(sq::update_token, {sealed, at, result.row.id});
      // A new token brings it back from retirement.
      result.row.retired = retire_reason::none;
      result.row.retired_at = 0;
    } else {
      result.row.id = first_integer(
        c, sq::insert_subscription,
        {name, sealed, at, to_string(result.row.provider), result.row.pool});
      result.row.created_at = now;
    }
    if (spec.max_agents) {
      result.row.max_agents = *spec.max_agents;
      c.run(sq::set_max_agents,
            {static_cast<int64_t>(*spec.max_agents), result.row.id});
    }
    c.run(sq::insert_token_version, {name, sha, at});
    put_credential(result, spec, now);
    pool_changed_ = true;
    result.row.name = name;
    result.row.token.value = token;
    result.row.token_sha256 = sha;
    result.row.terms = spec.terms;
    result.row.updated_at = now;
    return result;
  });
}

void sql_store::put_credential(const subscription_upsert& up,
                               const subscription_spec& spec, millis now) {
  auto& c = sql();
  auto& t = spec.terms;
  // A plain token of unknown expiry needs no row (a rotation to one ends
  // an oauth chain: its refresh token is forgotten).
  if (t.kind == credential_kind::token && t.expires_at == 0) {
    c.run(sq::delete_credential, {up.row.id});
    return;
  }
  bool oauth = t.kind == credential_kind::oauth;
  auto sealed_refresh
    = oauth ? cipher_.seal(spec.refresh_token.value) : std::string{};
  auto refresh_sha
    = oauth ? token_fingerprint(spec.refresh_token.value) : std::string{};
  auto sealed_id = spec.id_token.value.empty()
                     ? std::string{}
                     : cipher_.seal(spec.id_token.value);
  auto scopes = join_list(t.scopes, " ");
  c.run(sq::put_credential,
        {up.row.id, to_string(t.kind), t.expires_at, now, scopes,
         text_or_null(sealed_refresh), refresh_sha, text_or_null(sealed_id),
         spec.account_id, spec.token_url});
}

caf::expected<std::vector<stored_credential>> sql_store::credentials() {
  return list("list credentials", sq::list_credentials, {},
              read_credential_row);
}

caf::expected<refresh_claim>
sql_store::claim_refresh(const std::string& name, millis now, millis lease) {
  return guard("claim a credential", [&]() -> caf::expected<refresh_claim> {
    auto& c = sql();
    refresh_claim out;
    out.claimed
      = c.run(sq::claim_credential, {node_, now + lease, name, now}) > 0;
    bool found = false;
    std::string sealed;
    c.run(sq::credential_by_name, {name}, [&](const sql_row& r) {
      found = true;
      out.cred = read_credential_row(r);
      sealed = r.text(10);
      out.token_url = r.text(11);
      out.rejected_sha256 = r.text(12);
      out.held_until = r.integer(14);
    });
    if (!found)
      return unknown_subscription(name);
    if (!out.claimed)
      return out;
    auto refresh = cipher_.open(sealed);
    if (!refresh)
      return make_error(ec::store_failure,
                        "the refresh token of subscription '" + name
                          + "' does not open with the key file");
    out.refresh_token.value = std::move(*refresh);
    return out;
  });
}

caf::expected<subscription_upsert>
sql_store::complete_refresh(const refresh_grant& g, millis now) {
  using result_t = caf::expected<subscription_upsert>;
  return guard("store a refreshed credential", [&]() -> result_t {
    auto& c = sql();
    subscription_upsert result;
    bool found = false;
    c.run(sq::subscription_by_name, {g.name}, [&](const sql_row& r) {
      found = true;
      result.row.id = r.integer(0);
      result.row.created_at = r.time(1);
      result.row.provider = provider_at(r, 2);
      result.row.pool = r.text(3);
      read_standing(r, 4, result.row);
    });
    if (!found)
      return unknown_subscription(g.name);
    auto& token = g.access_token.value;
    auto sha = token_fingerprint(token);
    auto at = format_iso(now);
    // Not update_token: a refresh does not bring a retired one back.
    c.run(sq::refresh_token_only, {cipher_.seal(token), at, result.row.id});
    c.run(sq::insert_token_version, {g.name, sha, at});
    std::optional<std::string> refresh, refresh_sha, id_token, scopes;
    if (!g.refresh_token.value.empty()) {
      refresh = cipher_.seal(g.refresh_token.value);
      refresh_sha = token_fingerprint(g.refresh_token.value);
    }
    if (!g.id_token.value.empty())
      id_token = cipher_.seal(g.id_token.value);
    if (!g.scopes.empty())
      scopes = join_list(g.scopes, " ");
    c.run(sq::finish_refresh, {g.expires_at, now, refresh, refresh_sha,
                               id_token, scopes, result.row.id});
    c.run(sq::credential_by_name, {g.name}, [&](const sql_row& r) {
      auto cred = read_credential_row(r);
      result.row.refreshed_at = cred.refreshed_at;
      result.row.refreshes = cred.refreshes;
      result.row.terms.scopes = split_list(r.text(16), ' ');
    });
    pool_changed_ = true;
    result.rotated = true;
    result.row.name = g.name;
    result.row.token.value = token;
    result.row.token_sha256 = sha;
    result.row.terms.kind = credential_kind::oauth;
    result.row.terms.expires_at = g.expires_at;
    result.row.updated_at = now;
    return result;
  });
}

caf::error sql_store::release_refresh(const std::string& name,
                                      const std::string& rejected_sha256) {
  return write("release a credential", sq::release_credential,
               {name, rejected_sha256}, false);
}

namespace {

sink_kind sink_kind_of(const std::string& text) {
  for (auto k : {sink_kind::webhook, sink_kind::slack, sink_kind::discord,
                 sink_kind::telegram})
    if (text == to_string(k))
      return k;
  return sink_kind::webhook;
}

} // namespace

caf::expected<sink_info> sql_store::put_sink(const sink_spec& spec,
                                             millis now) {
  return guard("put sink", [&]() -> caf::expected<sink_info> {
    auto& c = sql();
    auto seal_or_null = [this](const secret& x) {
      return x.value.empty()
               ? std::optional<std::string>{}
               : std::optional<std::string>{cipher_.seal(x.value)};
    };
    auto url = cipher_.seal(spec.url.value);
    auto host = url_host(spec.url.value);
    auto signing = seal_or_null(spec.signing_secret);
    auto chat = seal_or_null(spec.chat_id);
    auto events = join_list(spec.events, ",");
    sink_info info;
    // Upserted, then read back: SQLite's RETURNING stand-in
    // (last_insert_rowid) does not see the id of a row that was updated.
    c.run(sq::put_sink,
          {spec.name, to_string(spec.kind), url, host, signing, chat, events,
           spec.min_severity, int64_t{spec.digest ? 1 : 0}, now});
    info.id = first_integer(c, sq::sink_id, {spec.name});
    info.name = spec.name;
    info.kind = spec.kind;
    info.host = host;
    info.signed_ = !spec.signing_secret.value.empty();
    info.events = spec.events;
    info.min_severity = spec.min_severity;
    info.digest = spec.digest;
    info.created_at = now;
    return info;
  });
}

caf::error sql_store::remove_sink(const std::string& name) {
  return guard("remove sink", [&]() -> caf::error {
    // SQLite keeps no foreign keys: the deliveries go first, by hand.
    sql().run(sq::delete_deliveries, {name});
    if (sql().run(sq::delete_sink, {name}) == 0)
      return make_error(ec::not_found, "unknown sink '" + name + "'");
    return caf::none;
  });
}

caf::expected<std::vector<delivery_due>>
sql_store::take_deliveries(const stored_sink& sink, millis now, uint32_t limit,
                           millis lease) {
  using result_t = caf::expected<std::vector<delivery_due>>;
  return guard("take due deliveries", [&]() -> result_t {
    auto& c = sql();
    std::vector<delivery_due> due;
    c.run(sq::due_deliveries,
          {sink.info.id, sink.since_id, now,
           static_cast<int64_t>(std::max<uint32_t>(limit, 1)), node_},
          [&](const sql_row& r) {
            delivery_due d;
            d.note = read_notification_row(r);
            d.attempts = static_cast<uint32_t>(r.integer(14));
            due.emplace_back(std::move(d));
          });
    std::vector<delivery_due> taken;
    for (auto& d : due)
      if (c.run(sq::take_delivery,
                {sink.info.id, d.note.id, now, now + lease, node_})
          > 0)
        taken.emplace_back(std::move(d));
    return taken;
  });
}

caf::error sql_store::record_delivery(const delivery_record& rec, millis now) {
  return write("record a delivery", sq::record_delivery,
               {rec.sink_id, rec.notification_id, to_string(rec.state),
                static_cast<int64_t>(rec.attempts), rec.next_at,
                static_cast<int64_t>(rec.last_status), rec.last_error, now},
               false);
}

caf::expected<std::vector<delivery_failure>>
sql_store::failed_deliveries(uint32_t limit) {
  return list("list failed deliveries", sq::failed_deliveries,
              {static_cast<int64_t>(std::max<uint32_t>(limit, 1))},
              [](const sql_row& r) {
                delivery_failure f;
                f.sink = r.text(0);
                f.notification_id = r.integer(1);
                f.attempts = static_cast<uint32_t>(r.integer(2));
                f.last_status = static_cast<int32_t>(r.integer(3));
                f.last_error = r.text(4);
                f.at = r.integer(5);
                return f;
              });
}

caf::expected<std::vector<sink_status>> sql_store::sink_statuses() {
  using result_t = caf::expected<std::vector<sink_status>>;
  return guard("list sink deliveries", [&]() -> result_t {
    auto all = sinks();
    if (!all)
      return all.error();
    auto& c = sql();
    std::map<int64_t, sink_status> by_id;
    for (auto& s : *all)
      by_id[s.info.id].info = s.info;
    c.run(sq::sink_counts, {}, [&](const sql_row& r) {
      auto i = by_id.find(r.integer(0));
      if (i == by_id.end())
        return;
      i->second.delivered = static_cast<uint64_t>(r.integer(1));
      i->second.failed = static_cast<uint64_t>(r.integer(2));
      i->second.pending = static_cast<uint64_t>(r.integer(3));
      i->second.last_delivered_at = r.integer(4);
    });
    std::vector<sink_status> out;
    for (auto& s : *all) {
      auto& x = by_id[s.info.id];
      c.run(sq::sink_last_attempt, {s.info.id}, [&](const sql_row& r) {
        x.last_status = static_cast<int32_t>(r.integer(0));
        x.last_error = r.text(1);
      });
      out.push_back(std::move(x));
    }
    return out;
  });
}

caf::expected<std::vector<stored_sink>> sql_store::sinks() {
  using result_t = caf::expected<std::vector<stored_sink>>;
  return guard("list sinks", [&]() -> result_t {
    std::vector<stored_sink> out;
    bool opened = true;
    sql().run(sq::list_sinks, {}, [&](const sql_row& r) {
      stored_sink s;
      s.info.id = r.integer(0);
      s.info.name = r.text(1);
      s.info.kind = sink_kind_of(r.text(2));
      s.info.host = r.text(3);
      s.info.signed_ = !r.null(4);
      s.info.events = split_list(r.text(5), ',');
      s.info.min_severity = r.text(6);
      s.info.digest = r.integer(7) != 0;
      s.info.created_at = r.integer(8);
      auto open = [&](int col, secret& out) {
        if (r.null(col))
          return;
        auto text = cipher_.open(r.text(col));
        opened = opened && static_cast<bool>(text);
        if (text)
          out.value = std::move(*text);
      };
      open(9, s.url);
      open(4, s.signing_secret);
      open(10, s.chat_id);
      s.since_id = r.integer(11);
      out.push_back(std::move(s));
    });
    if (!opened)
      return make_error(ec::store_failure,
                        "a sink's URL or secret does not open with the key "
                        "file");
    return out;
  });
}

caf::error sql_store::save_standing(const subscription_standing& s) {
  return guard("save subscription standing", [&]() -> caf::error {
    auto retired_at
      = s.retired_at == 0 ? std::string{} : format_iso(s.retired_at);
    auto cleared_at
      = s.cleared_at == 0 ? std::string{} : format_iso(s.cleared_at);
    auto n = sql().run(sq::save_standing,
                       {to_string(s.retired), text_or_null(retired_at),
                        int64_t{s.drained ? 1 : 0},
                        static_cast<int64_t>(s.max_agents),
                        text_or_null(cleared_at), s.name});
    if (n == 0)
      return unknown_subscription(s.name);
    pool_changed_ = true;
    return caf::none;
  });
}

caf::expected<std::vector<std::string>>
sql_store::remove_subscription(const std::string& name) {
  using result_t = caf::expected<std::vector<std::string>>;
  return guard("remove subscription", [&]() -> result_t {
    auto& c = sql();
    auto id = first_integer(c, sq::subscription_by_name, {name});
    if (id == 0)
      return unknown_subscription(name);
    auto agents = collect(c, sq::agents_of_subscription, {id},
                          [](const sql_row& r) { return r.text(0); });
    c.run(sq::unassign_agents, {id});
    c.run(sq::delete_credential, {id});
    c.run(sq::delete_subscription, {id});
    c.run(sq::delete_token_versions, {name});
    pool_changed_ = true;
    return agents;
  });
}

caf::expected<std::vector<stored_subscription>> sql_store::subscriptions() {
  using result_t = caf::expected<std::vector<stored_subscription>>;
  return guard("list subscriptions", [&]() -> result_t {
    auto result
      = collect(sql(), sq::list_subscriptions, {}, read_subscription_row);
    for (auto& s : result) {
      auto token = cipher_.open(s.token.value);
      if (!token)
        return make_error(ec::store_failure,
                          "the token of subscription '" + s.name
                            + "' does not open with the key file");
      s.token.value = std::move(*token);
      s.token_sha256 = token_fingerprint(s.token.value);
    }
    return result;
  });
}

caf::expected<std::vector<token_version>> sql_store::token_versions() {
  return list("list token versions", sq::list_token_versions, {},
              [](const sql_row& r) {
                return token_version{r.text(0), r.text(1), r.time(2)};
              });
}

// -- agents

caf::expected<stored_agent> sql_store::add_agent(const agent_spec& spec,
                                                 millis now) {
  return guard("add agent", [&]() -> caf::expected<stored_agent> {
    auto& c = sql();
    if (first_integer(c, sq::agent_exists, {spec.name}) != 0)
      return make_error(ec::duplicate_agent,
                        "agent '" + spec.name + "' exists already");
    int64_t sub_id = 0;
    std::string pool = spec.pool;
    if (!spec.subscription.empty()) {
      std::string sub_pool;
      c.run(sq::subscription_by_name, {spec.subscription},
            [&](const sql_row& r) {
              sub_id = r.integer(0);
              sub_pool = r.text(3);
            });
      if (sub_id == 0)
        return unknown_subscription(spec.subscription);
      if (pool.empty())
        pool = sub_pool;
      else if (pool != sub_pool)
        return make_error(ec::invalid_argument,
                          "subscription '" + spec.subscription
                            + "' is in pool '" + sub_pool + "', not in pool '"
                            + pool + "'");
    }
    if (pool.empty())
      pool = default_pool;
    c.run(sq::insert_agent,
          {spec.name, id_or_null(sub_id), text_or_null(spec.container),
           format_iso(now), node_, pool});
    pool_changed_ = true;
    return read_agent(spec.name);
  });
}

caf::error sql_store::remove_agent(const std::string& name) {
  return guard("remove agent", [&]() -> caf::error {
    if (sql().run(sq::delete_agent, {name}) == 0)
      return unknown_agent(name);
    pool_changed_ = true;
    return caf::none;
  });
}

caf::expected<std::vector<stored_agent>> sql_store::agents() {
  return list("list agents", sq::list_agents, {}, read_agent_row);
}

caf::expected<stored_agent> sql_store::agent(const std::string& name) {
  return guard("read agent", [&] { return read_agent(name); });
}

caf::error sql_store::set_agent_auto_switch(const std::string& name,
                                            auto_switch_mode value,
                                            millis now) {
  return guard("set agent auto-switch", [&]() -> caf::error {
    if (sql().run(sq::set_auto_switch,
                  {to_string(value), format_iso(now), name})
        == 0)
      return unknown_agent(name);
    return caf::none;
  });
}

caf::expected<switch_commit>
sql_store::commit_switch(const switch_record& rec) {
  return guard("commit switch", [&]() -> caf::expected<switch_commit> {
    auto& c = sql();
    // Removed while the switch was decided: say so, not "FOREIGN KEY
    // constraint failed".
    if (rec.to_id != 0 && c.run(sq::subscription_name_by_id, {rec.to_id}) == 0)
      return make_error(ec::unknown_subscription,
                        "subscription '" + rec.to_name
                          + "' was removed while the switch to it was "
                            "being decided; nothing changed");
    if (!rec.balance.empty())
      if (auto stale = check_balance(rec))
        return std::move(*stale);
    auto at = format_iso(rec.at);
    if (c.run(sq::switch_agent,
              {id_or_null(rec.to_id), at, rec.agent,
               signed_of(rec.expected_generation), node_, epoch_})
        == 0) {
      auto cur = read_agent(rec.agent);
      if (!cur)
        return cur.error();
      // Only the fence on the owner leaves the generation as expected.
      if (cur->generation == rec.expected_generation)
        return make_error(ec::conflict,
                          "node '" + node_ + "' no longer owns agent '"
                            + rec.agent
                            + "' (its lease ended or another node took the "
                              "agent over); nothing changed");
      return make_error(ec::conflict,
                        "agent '" + rec.agent + "' is at generation "
                          + std::to_string(cur->generation) + ", expected "
                          + std::to_string(rec.expected_generation));
    }
    pool_changed_ = true;
    switch_commit result;
    result.generation = rec.expected_generation + 1;
    auto generation = signed_of(result.generation);
    result.history_id = first_integer(
      c, sq::insert_history,
      {rec.agent, text_or_null(rec.from_name), text_or_null(rec.to_name),
       to_string(rec.by), to_string(rec.kind), signed_of(rec.event_count),
       generation, at});
    if (rec.notify)
      result.notification_id = first_integer(
        c, sq::insert_switch_notification,
        {rec.agent, generation, rec.title, rec.message, at, rec.to_name,
         rec.from_name,
         rec.kind == failure_kind::none ? std::string{to_string(rec.by)}
                                        : std::string{to_string(rec.kind)}});
    return result;
  });
}

caf::error sql_store::record_apply(const apply_record& rec) {
  return guard("record apply", [&]() -> caf::error {
    auto text = to_string(rec.result);
    auto at = format_iso(rec.at);
    auto generation = signed_of(rec.generation);
    if (sql().run(sq::record_apply_on_agent,
                  {text, at, rec.applied ? 1 : 0, generation, rec.agent})
        == 0)
      return unknown_agent(rec.agent);
    sql().run(sq::record_apply_on_history, {text, at, rec.agent, generation});
    return caf::none;
  });
}

caf::expected<std::string>
sql_store::subscription_of_generation(const std::string& agent,
                                      uint64_t generation) {
  return guard("read the subscription of a generation",
               [&]() -> caf::expected<std::string> {
                 auto found
                   = collect(sql(), sq::subscription_of_generation,
                             {agent, signed_of(generation)},
                             [](const sql_row& r) { return r.text(0); });
                 if (found.empty())
                   return make_error(ec::invalid_argument,
                                     "agent '" + agent + "' has no generation "
                                       + std::to_string(generation));
                 return std::move(found.front());
               });
}

caf::expected<agent_counts> sql_store::count_agents() {
  return guard("count agents", [&]() -> caf::expected<agent_counts> {
    agent_counts out;
    sql().run(sq::count_agents, {node_}, [&](const sql_row& r) {
      out.behind = unsigned_at(r, 0);
      out.containers = unsigned_at(r, 1);
    });
    return out;
  });
}

// -- failure events

caf::expected<int64_t> sql_store::add_event(const event_info& ev) {
  return guard("record failure event", [&]() -> caf::expected<int64_t> {
    auto id
      = first_integer(sql(), sq::insert_event,
                      {ev.agent, ev.subscription, to_string(ev.kind), ev.reason,
                       ev.status, ev.message, ev.source, ev.execution_id,
                       iso_text_or_null(ev.reset_at), format_iso(ev.at)});
    pool_changed_ = true;
    return id;
  });
}

caf::expected<std::vector<event_info>> sql_store::events(const query& q) {
  return list("list events", sq::list_events,
              {q.agent, q.subscription, id_bound(q), limit_of(q.limit)},
              read_event_row);
}

caf::expected<std::vector<exclusion_seed>>
sql_store::exclusion_seeds(millis since, millis now) {
  using result_t = caf::expected<std::vector<exclusion_seed>>;
  return guard("read exclusions", [&]() -> result_t {
    std::map<std::string, exclusion_seed> seeds;
    sql().run(sq::newest_failures, {format_iso(since)}, [&](const sql_row& r) {
      auto& seed = seeds[r.text(0)];
      seed.last_failure_at = r.time(1);
      seed.window_failure_at = r.time(2);
    });
    sql().run(sq::future_resets, {format_iso(now)},
              [&](const sql_row& r) { seeds[r.text(0)].reset_at = r.time(1); });
    std::vector<exclusion_seed> result;
    for (auto& [name, seed] : seeds) {
      seed.subscription = name;
      result.push_back(std::move(seed));
    }
    return result;
  });
}

caf::expected<std::vector<failure_count>>
sql_store::failure_counts(millis since) {
  return list(
    "count failures", sq::count_failures, {format_iso(since)},
    [](const sql_row& r) {
      return failure_count{
        r.text(0),
        parse_kind<failure_kind>(r.text(1)).value_or(failure_kind::ignored),
        static_cast<uint32_t>(r.integer(2))};
    });
}

caf::expected<uint64_t> sql_store::delete_events_before(millis cutoff,
                                                        uint32_t batch) {
  return guard("delete old events", [&]() -> caf::expected<uint64_t> {
    return static_cast<uint64_t>(
      sql().run(sq::delete_old_events,
                {format_iso(cutoff), static_cast<int64_t>(batch)}));
  });
}

// -- provider evidence

caf::error sql_store::save_evidence(const stored_evidence& ev) {
  // No row when the subscription is gone: nothing to keep.
  return write(
    "save provider evidence", sq::save_evidence,
    {ev.subscription, to_string(ev.status), iso_text_or_null(ev.status_at),
     iso_text_or_null(ev.status_reset), ev.utilization_5h,
     iso_text_or_null(ev.utilization_5h_at), iso_text_or_null(ev.reset_5h),
     ev.utilization_7d, iso_text_or_null(ev.utilization_7d_at),
     iso_text_or_null(ev.reset_7d), iso_text_or_null(ev.evidence_at),
     iso_text_or_null(ev.readmitted_at)},
    true);
}

caf::expected<std::vector<stored_evidence>> sql_store::evidence() {
  return list("list provider evidence", sq::list_evidence, {},
              read_evidence_row);
}

// -- history and notifications

caf::expected<std::vector<history_info>> sql_store::history(const query& q) {
  return list("list history", sq::list_history,
              {q.agent, q.subscription, id_bound(q), limit_of(q.limit)},
              read_history_row);
}

caf::expected<int64_t> sql_store::add_notification(const notification_info& n) {
  return guard("add notification", [&]() -> caf::expected<int64_t> {
    return first_integer(sql(), sq::insert_notification,
                         {n.agent, to_string(n.kind), n.title, n.message,
                          to_string(n.priority), format_iso(n.created_at),
                          n.subscription, n.pool, n.from, n.to, n.reason,
                          n.reset_at});
  });
}

caf::expected<std::vector<notification_info>>
sql_store::notifications(const query& q) {
  return list("list notifications", sq::list_notifications,
              {q.agent, id_bound(q), limit_of(q.limit)}, read_notification_row);
}

caf::error sql_store::mark_delivered(int64_t id, millis at) {
  return write("mark notification delivered", sq::mark_delivered,
               {format_iso(at), id}, false);
}

caf::expected<std::vector<notification_info>>
sql_store::pending_notifications(uint32_t limit) {
  return list("list pending notifications", sq::pending_notifications,
              {limit_of(limit)}, read_notification_row);
}

caf::expected<uint64_t> sql_store::count_pending_notifications() {
  return guard("count pending notifications", [&]() -> caf::expected<uint64_t> {
    return static_cast<uint64_t>(
      first_integer(sql(), sq::count_pending_notifications, {}));
  });
}

// -- settings

caf::expected<settings_map> sql_store::settings() {
  return guard("read settings", [&]() -> caf::expected<settings_map> {
    settings_map result;
    sql().run(sq::list_settings, {},
              [&](const sql_row& r) { result.emplace(r.text(0), r.text(1)); });
    return result;
  });
}

caf::error sql_store::put_setting(const std::string& key,
                                  const std::string& value, millis now) {
  return write("write setting", sq::put_setting, {key, value, format_iso(now)},
               false);
}

// -- every store

store::~store() = default;

namespace {

caf::error not_shared() {
  return make_error(ec::invalid_argument,
                    "an SQLite store has one daemon: several nodes need "
                    "switchboard.store = postgresql");
}

} // namespace

caf::expected<int64_t> store::join(const std::string&, millis) {
  return not_shared();
}

caf::error store::advertise(const std::string&, uint16_t) {
  return not_shared();
}

void store::set_node(const std::string&, int64_t) {
  // nop: one daemon, no fence beyond the generation
}

caf::error store::leave() {
  return not_shared();
}

caf::expected<bool> store::renew(millis) {
  return not_shared();
}

caf::expected<std::vector<std::string>> store::take_over() {
  return not_shared();
}

caf::expected<node_address> store::owner_of(const std::string&) {
  return not_shared();
}

caf::expected<std::vector<std::string>> store::owned_agents() {
  return not_shared();
}

caf::expected<std::vector<node_status>> store::nodes() {
  return not_shared();
}

caf::expected<std::unique_ptr<store::change_listener>> store::listen() {
  return not_shared();
}

caf::expected<snapshot> store::load(millis now, millis window) {
  snapshot result;
  auto take = [](auto&& x, auto& into) {
    if (x)
      into = std::move(*x);
    return x ? caf::error{} : x.error();
  };
  if (auto err = take(subscriptions(), result.subscriptions))
    return err;
  if (auto err = take(agents(), result.agents))
    return err;
  if (auto err = take(settings(), result.settings))
    return err;
  if (auto err = take(exclusion_seeds(now - window, now), result.exclusions))
    return err;
  if (auto err = take(token_versions(), result.token_versions))
    return err;
  if (auto err = take(evidence(), result.evidence))
    return err;
  return result;
}

} // namespace sb
