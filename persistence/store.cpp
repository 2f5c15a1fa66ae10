#include "persistence/store.hpp"

#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "messages/validate.hpp"
#include "persistence/store_impl.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <unordered_map>

namespace sb {

namespace {

/// Binds ISO text, or NULL for 0.
void bind_time(SQLite::Statement& st, int index, millis t) {
  if (t == 0)
    st.bind(index);
  else
    st.bind(index, format_iso(t));
}

millis column_time(const SQLite::Column& c) {
  if (c.isNull())
    return 0;
  return parse_iso(c.getString()).value_or(0);
}

std::string column_text(const SQLite::Column& c) {
  return c.isNull() ? std::string{} : c.getString();
}

caf::optional<std::string> column_optional(const SQLite::Column& c) {
  if (c.isNull())
    return caf::none;
  return c.getString();
}

void bind_optional(SQLite::Statement& st, int index,
                   const caf::optional<double>& x) {
  if (x)
    st.bind(index, *x);
  else
    st.bind(index);
}

caf::optional<double> column_double(const SQLite::Column& c) {
  if (c.isNull())
    return caf::none;
  return c.getDouble();
}

void bind_optional(SQLite::Statement& st, int index, const std::string& s) {
  if (s.empty())
    st.bind(index);
  else
    st.bind(index, s);
}

int commit_hook_trampoline(void* arg) {
  auto* veto = static_cast<std::function<bool()>*>(arg);
  return (*veto)() ? 1 : 0;
}

stored_agent read_agent_row(SQLite::Statement& st) {
  stored_agent a;
  a.id = st.getColumn(0).getInt64();
  a.name = st.getColumn(1).getString();
  a.subscription_id = st.getColumn(2).isNull() ? 0 : st.getColumn(2).getInt64();
  a.subscription = column_text(st.getColumn(3));
  a.container = column_text(st.getColumn(4));
  a.generation = static_cast<uint64_t>(st.getColumn(5).getInt64());
  a.applied_generation = static_cast<uint64_t>(st.getColumn(6).getInt64());
  a.auto_switch = parse_kind<auto_switch_mode>(st.getColumn(7).getString())
                    .value_or(auto_switch_mode::on);
  if (!st.getColumn(8).isNull())
    a.last_apply = parse_apply_outcome(st.getColumn(8).getString());
  a.last_apply_at = column_time(st.getColumn(9));
  a.last_switch_at = column_time(st.getColumn(10));
  a.created_at = column_time(st.getColumn(11));
  return a;
}

stored_subscription read_subscription_row(SQLite::Statement& st) {
  stored_subscription s;
  s.id = st.getColumn(0).getInt64();
  s.name = st.getColumn(1).getString();
  // Sealed as stored: sqlite_store::subscriptions() opens it.
  s.token.value = st.getColumn(2).getString();
  s.created_at = column_time(st.getColumn(3));
  s.updated_at = column_time(st.getColumn(4));
  return s;
}

event_info read_event_row(SQLite::Statement& st) {
  event_info ev;
  ev.id = st.getColumn(0).getInt64();
  ev.agent = st.getColumn(1).getString();
  ev.subscription = st.getColumn(2).getString();
  ev.kind = parse_kind<failure_kind>(st.getColumn(3).getString())
              .value_or(failure_kind::ignored);
  ev.reason = st.getColumn(4).getString();
  ev.status = st.getColumn(5).getInt();
  ev.message = st.getColumn(6).getString();
  ev.source = st.getColumn(7).getString();
  ev.execution_id = st.getColumn(8).getString();
  ev.reset_at = column_time(st.getColumn(9));
  ev.at = column_time(st.getColumn(10));
  return ev;
}

history_info read_history_row(SQLite::Statement& st) {
  history_info h;
  h.id = st.getColumn(0).getInt64();
  h.agent = st.getColumn(1).getString();
  h.from = column_optional(st.getColumn(2));
  h.to = column_optional(st.getColumn(3));
  h.by = parse_kind<trigger>(st.getColumn(4).getString())
           .value_or(trigger::automatic);
  h.kind = parse_kind<failure_kind>(st.getColumn(5).getString())
             .value_or(failure_kind::none);
  h.event_count = static_cast<uint32_t>(st.getColumn(6).getInt64());
  h.generation = static_cast<uint64_t>(st.getColumn(7).getInt64());
  h.apply = parse_apply_outcome(st.getColumn(8).getString());
  h.at = column_time(st.getColumn(9));
  return h;
}

stored_evidence read_evidence_row(SQLite::Statement& st) {
  stored_evidence ev;
  ev.subscription = st.getColumn(0).getString();
  ev.status = parse_kind<provider_status>(st.getColumn(1).getString())
                .value_or(provider_status::unknown);
  ev.status_at = column_time(st.getColumn(2));
  ev.status_reset = column_time(st.getColumn(3));
  ev.utilization_5h = column_double(st.getColumn(4));
  ev.utilization_5h_at = column_time(st.getColumn(5));
  ev.reset_5h = column_time(st.getColumn(6));
  ev.utilization_7d = column_double(st.getColumn(7));
  ev.utilization_7d_at = column_time(st.getColumn(8));
  ev.reset_7d = column_time(st.getColumn(9));
  ev.evidence_at = column_time(st.getColumn(10));
  ev.readmitted_at = column_time(st.getColumn(11));
  return ev;
}

notification_info read_notification_row(SQLite::Statement& st) {
  notification_info n;
  n.id = st.getColumn(0).getInt64();
  n.agent = st.getColumn(1).getString();
  n.kind = parse_kind<notification_kind>(st.getColumn(2).getString())
             .value_or(notification_kind::switched);
  n.title = st.getColumn(3).getString();
  n.message = st.getColumn(4).getString();
  n.priority = parse_kind<notification_priority>(st.getColumn(5).getString())
                 .value_or(notification_priority::normal);
  n.status = parse_kind<notification_status>(st.getColumn(6).getString())
               .value_or(notification_status::pending);
  n.created_at = column_time(st.getColumn(7));
  return n;
}

/// Steps through `st` and turns every row into a record with `read_row`.
template<class Row>
auto collect(SQLite::Statement& st, Row read_row) {
  std::vector<decltype(read_row(st))> result;
  while (st.executeStep())
    result.emplace_back(read_row(st));
  return result;
}

} // namespace

caf::expected<stored_agent>
sqlite_store::impl::read_agent(const std::string& name) {
  use st{sql->agent_by_name};
  st->bind(1, name);
  if (!st->executeStep())
    return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
  return read_agent_row(*st);
}

// -- construction
// ---------------------------------------------------------------

sqlite_store::sqlite_store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

store::~store() = default;

namespace {

caf::error not_shared() {
  return make_error(ec::invalid_argument,
                    "an SQLite store has one daemon: several nodes need "
                    "switchboard.store = postgresql");
}

} // namespace

std::vector<exclusion_seed>
seed_list(std::map<std::string, exclusion_seed> seeds) {
  std::vector<exclusion_seed> result;
  result.reserve(seeds.size());
  for (auto& [name, seed] : seeds) {
    seed.subscription = name;
    result.push_back(std::move(seed));
  }
  return result;
}

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

sqlite_store::~sqlite_store() {
  if (impl_ && impl_->veto)
    sqlite3_commit_hook(impl_->db.getHandle(), nullptr, nullptr);
}

const std::string& sqlite_store::path() const {
  return impl_->path;
}

// -- transactions
// -----------------------------------------------------------------

caf::error sqlite_store::begin() {
  return impl_->guard("BEGIN", [&]() -> caf::error {
    impl_->db.exec("BEGIN IMMEDIATE");
    return caf::none;
  });
}

caf::error sqlite_store::probe_write() {
  // A probe answers now: an outside writer holding the lock for longer
  // than a moment is what it reports, not something to wait out.
  constexpr int probe_wait_ms = 250;
  auto* handle = impl_->db.getHandle();
  sqlite3_busy_timeout(handle, std::min(probe_wait_ms, impl_->busy_timeout_ms));
  auto err = begin();
  rollback();
  sqlite3_busy_timeout(handle, impl_->busy_timeout_ms);
  return err;
}

caf::error sqlite_store::commit() {
  return impl_->guard("COMMIT", [&]() -> caf::error {
    impl_->db.exec("COMMIT");
    return caf::none;
  });
}

void sqlite_store::rollback() {
  // After a vetoed or failed COMMIT, SQLite may have rolled back already.
  if (sqlite3_get_autocommit(impl_->db.getHandle()) == 0)
    sqlite3_exec(impl_->db.getHandle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

caf::error sqlite_store::savepoint() {
  return impl_->guard("SAVEPOINT", [&]() -> caf::error {
    use {
      impl_->sql->savepoint
      } -> exec();
    return caf::none;
  });
}

caf::error sqlite_store::release() {
  return impl_->guard("RELEASE", [&]() -> caf::error {
    use {
      impl_->sql->release
      } -> exec();
    return caf::none;
  });
}

void sqlite_store::rollback_to() {
  try {
    use {
      impl_->sql->rollback_to
      } -> exec();
    use {
      impl_->sql->release
      } -> exec();
  } catch (const std::exception&) {
    // The enclosing COMMIT reports what went wrong.
  }
}

void sqlite_store::set_commit_veto(std::function<bool()> veto) {
  impl_->veto = std::move(veto);
  if (impl_->veto)
    sqlite3_commit_hook(impl_->db.getHandle(), commit_hook_trampoline,
                        &impl_->veto);
  else
    sqlite3_commit_hook(impl_->db.getHandle(), nullptr, nullptr);
}

// -- subscriptions
// ----------------------------------------------------------------

caf::expected<subscription_upsert>
sqlite_store::put_subscription(const std::string& name,
                               const std::string& token, millis now) {
  return impl_->guard(
    "put subscription", [&]() -> caf::expected<subscription_upsert> {
      auto& sql = *impl_->sql;
      auto sha = token_fingerprint(token);
      {
        use owner{sql.owner_of_token};
        owner->bind(1, sha);
        if (owner->executeStep() && owner->getColumn(0).getString() != name)
          return make_error(ec::invalid_argument,
                            "this token is registered already, as subscription "
                            "'"
                              + owner->getColumn(0).getString() + "'");
      }
      subscription_upsert result;
      {
        use find{sql.subscription_by_name};
        find->bind(1, name);
        if (find->executeStep()) {
          result.rotated = true;
          result.row.id = find->getColumn(0).getInt64();
          result.row.created_at = column_time(find->getColumn(1));
        }
      }
      // Only the sealed form reaches the file (and its WAL).
      auto sealed = impl_->cipher.seal(token);
      if (result.rotated) {
        use upd{sql.update_token};
        upd->bind(1, sealed);
        upd->bind(2, format_iso(now));
        upd->bind(3, static_cast<int64_t>(result.row.id));
        upd->exec();
      } else {
        use ins{sql.insert_subscription};
        ins->bind(1, name);
        ins->bind(2, sealed);
        ins->bind(3, format_iso(now));
        ins->bind(4, format_iso(now));
        ins->exec();
        result.row.id = impl_->db.getLastInsertRowid();
        result.row.created_at = now;
      }
      {
        use version{sql.insert_token_version};
        version->bind(1, name);
        version->bind(2, sha);
        version->bind(3, format_iso(now));
        version->exec();
      }
      result.row.name = name;
      result.row.token.value = token;
      result.row.token_sha256 = sha;
      result.row.updated_at = now;
      return result;
    });
}

caf::expected<std::vector<std::string>>
sqlite_store::remove_subscription(const std::string& name) {
  return impl_->guard(
    "remove subscription", [&]() -> caf::expected<std::vector<std::string>> {
      auto& sql = *impl_->sql;
      int64_t id = 0;
      {
        use find{sql.subscription_by_name};
        find->bind(1, name);
        if (!find->executeStep())
          return make_error(ec::unknown_subscription,
                            "unknown subscription '" + name + "'");
        id = find->getColumn(0).getInt64();
      }
      std::vector<std::string> agents;
      {
        use list{sql.agents_of_subscription};
        list->bind(1, id);
        while (list->executeStep())
          agents.emplace_back(list->getColumn(0).getString());
      }
      use unassign{sql.unassign_agents};
      unassign->bind(1, id);
      unassign->exec();
      use del{sql.delete_subscription};
      del->bind(1, id);
      del->exec();
      use versions{sql.delete_token_versions};
      versions->bind(1, name);
      versions->exec();
      return agents;
    });
}

caf::expected<std::vector<stored_subscription>> sqlite_store::subscriptions() {
  return impl_->guard("list subscriptions",
                      [&]() -> caf::expected<std::vector<stored_subscription>> {
                        std::vector<stored_subscription> result;
                        {
                          use st{impl_->sql->list_subscriptions};
                          result = collect(*st, read_subscription_row);
                        }
                        for (auto& s : result) {
                          auto token = impl_->cipher.open(s.token.value);
                          if (!token)
                            return make_error(
                              ec::store_failure,
                              "the token of subscription '" + s.name
                                + "' does not open with the key file");
                          s.token.value = std::move(*token);
                          s.token_sha256 = token_fingerprint(s.token.value);
                        }
                        return result;
                      });
}

// -- agents
// -------------------------------------------------------------------------

caf::expected<stored_agent> sqlite_store::add_agent(const agent_spec& spec,
                                                    millis now) {
  return impl_->guard("add agent", [&]() -> caf::expected<stored_agent> {
    auto& sql = *impl_->sql;
    {
      use dup{sql.agent_exists};
      dup->bind(1, spec.name);
      if (dup->executeStep())
        return make_error(ec::duplicate_agent,
                          "agent '" + spec.name + "' exists already");
    }
    int64_t sub_id = 0;
    if (!spec.subscription.empty()) {
      use find{sql.subscription_by_name};
      find->bind(1, spec.subscription);
      if (!find->executeStep())
        return make_error(ec::unknown_subscription,
                          "unknown subscription '" + spec.subscription + "'");
      sub_id = find->getColumn(0).getInt64();
    }
    {
      use ins{sql.insert_agent};
      ins->bind(1, spec.name);
      if (sub_id == 0)
        ins->bind(2);
      else
        ins->bind(2, sub_id);
      bind_optional(*ins, 3, spec.container);
      ins->bind(4, format_iso(now));
      ins->bind(5, format_iso(now));
      ins->exec();
    }
    return impl_->read_agent(spec.name);
  });
}

caf::error sqlite_store::remove_agent(const std::string& name) {
  return impl_->guard("remove agent", [&]() -> caf::error {
    use del{impl_->sql->delete_agent};
    del->bind(1, name);
    if (del->exec() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    return caf::none;
  });
}

caf::expected<std::vector<stored_agent>> sqlite_store::agents() {
  return impl_->guard("list agents",
                      [&]() -> caf::expected<std::vector<stored_agent>> {
                        use st{impl_->sql->list_agents};
                        return collect(*st, read_agent_row);
                      });
}

caf::expected<stored_agent> sqlite_store::agent(const std::string& name) {
  return impl_->guard("read agent", [&]() -> caf::expected<stored_agent> {
    return impl_->read_agent(name);
  });
}

caf::error sqlite_store::set_agent_auto_switch(const std::string& name,
                                               auto_switch_mode value,
                                               millis now) {
  return impl_->guard("set agent auto-switch", [&]() -> caf::error {
    use st{impl_->sql->set_auto_switch};
    st->bind(1, to_string(value));
    st->bind(2, format_iso(now));
    st->bind(3, name);
    if (st->exec() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    return caf::none;
  });
}

caf::expected<switch_commit>
sqlite_store::commit_switch(const switch_record& rec) {
  return impl_->guard("commit switch", [&]() -> caf::expected<switch_commit> {
    auto& sql = *impl_->sql;
    switch_commit result;
    if (rec.to_id != 0) {
      // Removed while the switch was decided: say so, not "FOREIGN KEY
      // constraint failed".
      use exists{sql.subscription_name_by_id};
      exists->bind(1, rec.to_id);
      if (!exists->executeStep())
        return make_error(ec::unknown_subscription,
                          "subscription '" + rec.to_name
                            + "' was removed while the switch to it was "
                              "being decided; nothing changed");
    }
    {
      use upd{sql.switch_agent};
      if (rec.to_id == 0)
        upd->bind(1);
      else
        upd->bind(1, rec.to_id);
      upd->bind(2, format_iso(rec.at));
      upd->bind(3, format_iso(rec.at));
      upd->bind(4, rec.agent);
      upd->bind(5, static_cast<int64_t>(rec.expected_generation));
      if (upd->exec() == 0) {
        auto cur = impl_->read_agent(rec.agent);
        if (!cur)
          return cur.error();
        return make_error(ec::conflict,
                          "agent '" + rec.agent + "' is at generation "
                            + std::to_string(cur->generation) + ", expected "
                            + std::to_string(rec.expected_generation));
      }
    }
    result.generation = rec.expected_generation + 1;
    {
      use hist{sql.insert_history};
      hist->bind(1, rec.agent);
      bind_optional(*hist, 2, rec.from_name);
      bind_optional(*hist, 3, rec.to_name);
      hist->bind(4, to_string(rec.by));
      hist->bind(5, to_string(rec.kind));
      hist->bind(6, static_cast<int64_t>(rec.event_count));
      hist->bind(7, static_cast<int64_t>(result.generation));
      hist->bind(8, format_iso(rec.at));
      hist->exec();
      result.history_id = impl_->db.getLastInsertRowid();
    }
    if (rec.notify) {
      use note{sql.insert_switch_notification};
      note->bind(1, rec.agent);
      note->bind(2, static_cast<int64_t>(result.generation));
      note->bind(3, rec.title);
      note->bind(4, rec.message);
      note->bind(5, format_iso(rec.at));
      note->exec();
      result.notification_id = impl_->db.getLastInsertRowid();
    }
    return result;
  });
}

caf::error sqlite_store::record_apply(const apply_record& rec) {
  return impl_->guard("record apply", [&]() -> caf::error {
    auto& sql = *impl_->sql;
    auto text = to_string(rec.result);
    {
      use upd{sql.record_apply_on_agent};
      upd->bind(1, text);
      upd->bind(2, format_iso(rec.at));
      upd->bind(3, rec.applied ? 1 : 0);
      upd->bind(4, static_cast<int64_t>(rec.generation));
      upd->bind(5, static_cast<int64_t>(rec.generation));
      upd->bind(6, rec.agent);
      if (upd->exec() == 0)
        return make_error(ec::unknown_agent,
                          "unknown agent '" + rec.agent + "'");
    }
    use hist{sql.record_apply_on_history};
    hist->bind(1, text);
    hist->bind(2, format_iso(rec.at));
    hist->bind(3, rec.agent);
    hist->bind(4, static_cast<int64_t>(rec.generation));
    hist->exec();
    return caf::none;
  });
}

// -- failure events
// -----------------------------------------------------------------

caf::expected<int64_t> sqlite_store::add_event(const event_info& ev) {
  return impl_->guard("record failure event", [&]() -> caf::expected<int64_t> {
    use ins{impl_->sql->insert_event};
    // The event outlives the statement: bind its text without copies.
    ins->bindNoCopy(1, ev.agent);
    ins->bindNoCopy(2, ev.subscription);
    ins->bind(3, to_string(ev.kind));
    ins->bindNoCopy(4, ev.reason);
    ins->bind(5, ev.status);
    ins->bindNoCopy(6, ev.message);
    ins->bindNoCopy(7, ev.source);
    ins->bindNoCopy(8, ev.execution_id);
    bind_time(*ins, 9, ev.reset_at);
    ins->bind(10, format_iso(ev.at));
    ins->exec();
    return impl_->db.getLastInsertRowid();
  });
}

caf::expected<std::vector<event_info>> sqlite_store::events(const query& q) {
  return impl_->guard(
    "list events", [&]() -> caf::expected<std::vector<event_info>> {
      use st{impl_->sql->list_events};
      st->bind(1, q.agent);
      st->bind(2, q.subscription);
      st->bind(3, id_bound(q));
      st->bind(4, static_cast<int64_t>(std::min(q.limit, max_query_limit)));
      return collect(*st, read_event_row);
    });
}

caf::expected<std::vector<exclusion_seed>>
sqlite_store::exclusion_seeds(millis since, millis now) {
  return impl_->guard(
    "read exclusions", [&]() -> caf::expected<std::vector<exclusion_seed>> {
      auto& sql = *impl_->sql;
      std::map<std::string, exclusion_seed> seeds;
      {
        use recent{sql.newest_failures};
        recent->bind(1, format_iso(since));
        while (recent->executeStep()) {
          auto& seed = seeds[recent->getColumn(0).getString()];
          seed.last_failure_at = column_time(recent->getColumn(1));
          seed.window_failure_at = column_time(recent->getColumn(2));
        }
      }
      {
        use resets{sql.future_resets};
        resets->bind(1, format_iso(now));
        while (resets->executeStep())
          seeds[resets->getColumn(0).getString()].reset_at
            = column_time(resets->getColumn(1));
      }
      return seed_list(std::move(seeds));
    });
}

caf::expected<std::vector<failure_count>>
sqlite_store::failure_counts(millis since) {
  return impl_->guard(
    "count failures", [&]() -> caf::expected<std::vector<failure_count>> {
      use st{impl_->sql->count_failures};
      st->bind(1, format_iso(since));
      return collect(*st, [](SQLite::Statement& row) {
        return failure_count{
          row.getColumn(0).getString(),
          parse_kind<failure_kind>(row.getColumn(1).getString())
            .value_or(failure_kind::ignored),
          static_cast<uint32_t>(row.getColumn(2).getInt64())};
      });
    });
}

caf::expected<uint64_t> sqlite_store::delete_events_before(millis cutoff,
                                                           uint32_t batch) {
  return impl_->guard("delete old events", [&]() -> caf::expected<uint64_t> {
    use st{impl_->sql->delete_old_events};
    st->bind(1, format_iso(cutoff));
    st->bind(2, static_cast<int64_t>(batch));
    return static_cast<uint64_t>(st->exec());
  });
}

// -- provider evidence
// --------------------------------------------------------------

caf::error sqlite_store::save_evidence(const stored_evidence& ev) {
  return impl_->guard("save provider evidence", [&]() -> caf::error {
    use st{impl_->sql->save_evidence};
    st->bind(1, ev.subscription);
    st->bind(2, to_string(ev.status));
    bind_time(*st, 3, ev.status_at);
    bind_time(*st, 4, ev.status_reset);
    bind_optional(*st, 5, ev.utilization_5h);
    bind_time(*st, 6, ev.utilization_5h_at);
    bind_time(*st, 7, ev.reset_5h);
    bind_optional(*st, 8, ev.utilization_7d);
    bind_time(*st, 9, ev.utilization_7d_at);
    bind_time(*st, 10, ev.reset_7d);
    bind_time(*st, 11, ev.evidence_at);
    bind_time(*st, 12, ev.readmitted_at);
    // No row when the subscription is gone: nothing to keep.
    st->exec();
    return caf::none;
  });
}

caf::expected<std::vector<stored_evidence>> sqlite_store::evidence() {
  return impl_->guard("list provider evidence",
                      [&]() -> caf::expected<std::vector<stored_evidence>> {
                        use st{impl_->sql->list_evidence};
                        return collect(*st, read_evidence_row);
                      });
}

// -- history and notifications
// ------------------------------------------------------

caf::expected<std::vector<history_info>> sqlite_store::history(const query& q) {
  return impl_->guard(
    "list history", [&]() -> caf::expected<std::vector<history_info>> {
      use st{impl_->sql->list_history};
      st->bind(1, q.agent);
      st->bind(2, q.subscription);
      st->bind(3, id_bound(q));
      st->bind(4, static_cast<int64_t>(std::min(q.limit, max_query_limit)));
      return collect(*st, read_history_row);
    });
}

caf::expected<int64_t>
sqlite_store::add_notification(const notification_info& n) {
  return impl_->guard("add notification", [&]() -> caf::expected<int64_t> {
    use ins{impl_->sql->insert_notification};
    ins->bind(1, n.agent);
    ins->bind(2, to_string(n.kind));
    ins->bind(3, n.title);
    ins->bind(4, n.message);
    ins->bind(5, to_string(n.priority));
    ins->bind(6, format_iso(n.created_at));
    ins->exec();
    return impl_->db.getLastInsertRowid();
  });
}

caf::expected<std::vector<notification_info>>
sqlite_store::notifications(const query& q) {
  return impl_->guard(
    "list notifications",
    [&]() -> caf::expected<std::vector<notification_info>> {
      use st{impl_->sql->list_notifications};
      st->bind(1, q.agent);
      st->bind(2, id_bound(q));
      st->bind(3, static_cast<int64_t>(std::min(q.limit, max_query_limit)));
      return collect(*st, read_notification_row);
    });
}

caf::expected<std::vector<notification_info>>
sqlite_store::pending_notifications(uint32_t limit) {
  return impl_->guard(
    "list pending notifications",
    [&]() -> caf::expected<std::vector<notification_info>> {
      use st{impl_->sql->pending_notifications};
      st->bind(1, static_cast<int64_t>(std::min(limit, max_query_limit)));
      return collect(*st, read_notification_row);
    });
}

caf::expected<uint64_t> sqlite_store::count_pending_notifications() {
  return impl_->guard("count pending notifications",
                      [&]() -> caf::expected<uint64_t> {
                        // The partial index notifications_pending.
                        return static_cast<uint64_t>(
                          impl_->db
                            .execAndGet("SELECT count(*) FROM notifications "
                                        "WHERE status = 'pending'")
                            .getInt64());
                      });
}

caf::error sqlite_store::mark_delivered(int64_t id, millis at) {
  return impl_->guard("mark notification delivered", [&]() -> caf::error {
    use st{impl_->sql->mark_delivered};
    st->bind(1, format_iso(at));
    st->bind(2, id);
    st->exec();
    return caf::none;
  });
}

// -- settings
// -----------------------------------------------------------------------

caf::expected<settings_map> sqlite_store::settings() {
  return impl_->guard("read settings", [&]() -> caf::expected<settings_map> {
    settings_map result;
    use st{impl_->sql->list_settings};
    while (st->executeStep())
      result.emplace(st->getColumn(0).getString(),
                     st->getColumn(1).getString());
    return result;
  });
}

caf::error sqlite_store::put_setting(const std::string& key,
                                     const std::string& value, millis now) {
  return impl_->guard("write setting", [&]() -> caf::error {
    use st{impl_->sql->put_setting};
    st->bind(1, key);
    st->bind(2, value);
    st->bind(3, format_iso(now));
    st->exec();
    return caf::none;
  });
}

caf::expected<std::vector<token_version>> sqlite_store::token_versions() {
  return impl_->guard("list token versions",
                      [&]() -> caf::expected<std::vector<token_version>> {
                        use st{impl_->sql->list_token_versions};
                        return collect(*st, [](SQLite::Statement& row) {
                          return token_version{row.getColumn(0).getString(),
                                               row.getColumn(1).getString(),
                                               column_time(row.getColumn(2))};
                        });
                      });
}

caf::expected<std::string>
sqlite_store::subscription_of_generation(const std::string& agent,
                                         uint64_t generation) {
  return impl_->guard("read the subscription of a generation",
                      [&]() -> caf::expected<std::string> {
                        use st{impl_->sql->subscription_of_generation};
                        st->bind(1, agent);
                        st->bind(2, static_cast<int64_t>(generation));
                        if (!st->executeStep())
                          return make_error(ec::invalid_argument,
                                            "agent '" + agent
                                              + "' has no generation "
                                              + std::to_string(generation));
                        return column_text(st->getColumn(0));
                      });
}

caf::expected<agent_counts> sqlite_store::count_agents() {
  return impl_->guard("count agents", [&]() -> caf::expected<agent_counts> {
    use st{impl_->sql->count_agents};
    st->executeStep();
    agent_counts out;
    out.behind = static_cast<uint64_t>(st->getColumn(0).getInt64());
    out.containers = static_cast<uint64_t>(st->getColumn(1).getInt64());
    return out;
  });
}

caf::expected<snapshot> store::load(millis now, millis window) {
  snapshot result;
  auto subs = subscriptions();
  if (!subs)
    return subs.error();
  result.subscriptions = std::move(*subs);
  auto as = agents();
  if (!as)
    return as.error();
  result.agents = std::move(*as);
  auto st = settings();
  if (!st)
    return st.error();
  result.settings = std::move(*st);
  auto seeds = exclusion_seeds(now - window, now);
  if (!seeds)
    return seeds.error();
  result.exclusions = std::move(*seeds);
  auto versions = token_versions();
  if (!versions)
    return versions.error();
  result.token_versions = std::move(*versions);
  auto ev = evidence();
  if (!ev)
    return ev.error();
  result.evidence = std::move(*ev);
  return result;
}

} // namespace sb
