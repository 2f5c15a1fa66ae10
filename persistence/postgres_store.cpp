// The operations of the PostgreSQL store: SQLite's (store.cpp) one for one,
// with the same answers and the same errors.

#include "messages/error.hpp"
#include "messages/fingerprint.hpp"
#include "messages/validate.hpp"
#include "persistence/postgres_impl.hpp"

#include <algorithm>
#include <map>
#include <optional>

namespace sb {

namespace {

using pqxx::field;
using pqxx::row;

/// ISO text, or NULL for 0.
std::optional<std::string> iso_or_null(millis t) {
  if (t == 0)
    return std::nullopt;
  return format_iso(t);
}

/// The text, or NULL for "".
std::optional<std::string> text_or_null(const std::string& s) {
  if (s.empty())
    return std::nullopt;
  return s;
}

std::optional<double> double_or_null(const caf::optional<double>& x) {
  if (!x)
    return std::nullopt;
  return *x;
}

/// The id, or NULL for 0 (no subscription).
std::optional<int64_t> id_or_null(int64_t id) {
  if (id == 0)
    return std::nullopt;
  return id;
}

millis column_time(const field& f) {
  if (f.is_null())
    return 0;
  return parse_iso(f.c_str()).value_or(0);
}

std::string column_text(const field& f) {
  return f.is_null() ? std::string{} : std::string{f.c_str()};
}

caf::optional<std::string> column_optional(const field& f) {
  if (f.is_null())
    return caf::none;
  return std::string{f.c_str()};
}

caf::optional<double> column_double(const field& f) {
  if (f.is_null())
    return caf::none;
  return f.as<double>();
}

int64_t column_int(const field& f) {
  return f.is_null() ? 0 : f.as<int64_t>();
}

int64_t limit_of(uint32_t limit) {
  return static_cast<int64_t>(std::min(limit, max_query_limit));
}

stored_agent read_agent_row(const row& r) {
  stored_agent a;
  a.id = column_int(r[0]);
  a.name = column_text(r[1]);
  a.subscription_id = column_int(r[2]);
  a.subscription = column_text(r[3]);
  a.container = column_text(r[4]);
  a.generation = static_cast<uint64_t>(column_int(r[5]));
  a.applied_generation = static_cast<uint64_t>(column_int(r[6]));
  a.auto_switch
    = parse_kind<auto_switch_mode>(r[7].c_str()).value_or(auto_switch_mode::on);
  if (!r[8].is_null())
    a.last_apply = parse_apply_outcome(r[8].c_str());
  a.last_apply_at = column_time(r[9]);
  a.last_switch_at = column_time(r[10]);
  a.created_at = column_time(r[11]);
  return a;
}

stored_subscription read_subscription_row(const row& r) {
  stored_subscription s;
  s.id = column_int(r[0]);
  s.name = column_text(r[1]);
  // Sealed as stored: postgres_store::subscriptions() opens it.
  s.token.value = column_text(r[2]);
  s.created_at = column_time(r[3]);
  s.updated_at = column_time(r[4]);
  return s;
}

event_info read_event_row(const row& r) {
  event_info ev;
  ev.id = column_int(r[0]);
  ev.agent = column_text(r[1]);
  ev.subscription = column_text(r[2]);
  ev.kind
    = parse_kind<failure_kind>(r[3].c_str()).value_or(failure_kind::ignored);
  ev.reason = column_text(r[4]);
  ev.status = static_cast<int>(column_int(r[5]));
  ev.message = column_text(r[6]);
  ev.source = column_text(r[7]);
  ev.execution_id = column_text(r[8]);
  ev.reset_at = column_time(r[9]);
  ev.at = column_time(r[10]);
  return ev;
}

history_info read_history_row(const row& r) {
  history_info h;
  h.id = column_int(r[0]);
  h.agent = column_text(r[1]);
  h.from = column_optional(r[2]);
  h.to = column_optional(r[3]);
  h.by = parse_kind<trigger>(r[4].c_str()).value_or(trigger::automatic);
  h.kind = parse_kind<failure_kind>(r[5].c_str()).value_or(failure_kind::none);
  h.event_count = static_cast<uint32_t>(column_int(r[6]));
  h.generation = static_cast<uint64_t>(column_int(r[7]));
  h.apply = parse_apply_outcome(column_text(r[8]));
  h.at = column_time(r[9]);
  return h;
}

stored_evidence read_evidence_row(const row& r) {
  stored_evidence ev;
  ev.subscription = column_text(r[0]);
  ev.status = parse_kind<provider_status>(r[1].c_str())
                .value_or(provider_status::unknown);
  ev.status_at = column_time(r[2]);
  ev.status_reset = column_time(r[3]);
  ev.utilization_5h = column_double(r[4]);
  ev.utilization_5h_at = column_time(r[5]);
  ev.reset_5h = column_time(r[6]);
  ev.utilization_7d = column_double(r[7]);
  ev.utilization_7d_at = column_time(r[8]);
  ev.reset_7d = column_time(r[9]);
  ev.evidence_at = column_time(r[10]);
  ev.readmitted_at = column_time(r[11]);
  return ev;
}

notification_info read_notification_row(const row& r) {
  notification_info n;
  n.id = column_int(r[0]);
  n.agent = column_text(r[1]);
  n.kind = parse_kind<notification_kind>(r[2].c_str())
             .value_or(notification_kind::switched);
  n.title = column_text(r[3]);
  n.message = column_text(r[4]);
  n.priority = parse_kind<notification_priority>(r[5].c_str())
                 .value_or(notification_priority::normal);
  n.status = parse_kind<notification_status>(r[6].c_str())
               .value_or(notification_status::pending);
  n.created_at = column_time(r[7]);
  return n;
}

/// Every row of `res` as a record made by `read_row`.
template<class Row>
auto collect(const pqxx::result& res, Row read_row) {
  std::vector<decltype(read_row(res[0]))> result;
  result.reserve(res.size());
  for (const auto& r : res)
    result.emplace_back(read_row(r));
  return result;
}

} // namespace

caf::expected<stored_agent>
postgres_store::impl::read_agent(const std::string& name) {
  auto res = run(pg::agent_by_name, name);
  if (res.empty())
    return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
  return read_agent_row(res[0]);
}

// -- subscriptions
// ----------------------------------------------------------------

caf::expected<subscription_upsert>
postgres_store::put_subscription(const std::string& name,
                                 const std::string& token, millis now) {
  return impl_->guard(
    "put subscription", [&]() -> caf::expected<subscription_upsert> {
      auto& d = *impl_;
      auto sha = token_fingerprint(token);
      auto owner = d.run(pg::owner_of_token, sha);
      if (!owner.empty() && column_text(owner[0][0]) != name)
        return make_error(ec::invalid_argument,
                          "this token is registered already, as subscription "
                          "'"
                            + column_text(owner[0][0]) + "'");
      subscription_upsert result;
      auto found = d.run(pg::subscription_by_name, name);
      if (!found.empty()) {
        result.rotated = true;
        result.row.id = column_int(found[0][0]);
        result.row.created_at = column_time(found[0][1]);
      }
      // Only the sealed form reaches the database.
      auto sealed = d.cipher.seal(token);
      if (result.rotated) {
        d.run(pg::update_token, sealed, format_iso(now), result.row.id);
      } else {
        auto ins = d.run(pg::insert_subscription, name, sealed, format_iso(now),
                         format_iso(now));
        result.row.id = column_int(ins[0][0]);
        result.row.created_at = now;
      }
      d.run(pg::insert_token_version, name, sha, format_iso(now));
      d.pool_changed = true;
      result.row.name = name;
      result.row.token.value = token;
      result.row.token_sha256 = sha;
      result.row.updated_at = now;
      return result;
    });
}

caf::expected<std::vector<std::string>>
postgres_store::remove_subscription(const std::string& name) {
  return impl_->guard(
    "remove subscription", [&]() -> caf::expected<std::vector<std::string>> {
      auto& d = *impl_;
      auto found = d.run(pg::subscription_by_name, name);
      if (found.empty())
        return make_error(ec::unknown_subscription,
                          "unknown subscription '" + name + "'");
      auto id = column_int(found[0][0]);
      auto agents = collect(d.run(pg::agents_of_subscription, id),
                            [](const row& r) { return column_text(r[0]); });
      d.run(pg::unassign_agents, id);
      d.run(pg::delete_subscription, id);
      d.run(pg::delete_token_versions, name);
      d.pool_changed = true;
      return agents;
    });
}

caf::expected<std::vector<stored_subscription>>
postgres_store::subscriptions() {
  return impl_->guard(
    "list subscriptions",
    [&]() -> caf::expected<std::vector<stored_subscription>> {
      auto result
        = collect(impl_->run(pg::list_subscriptions), read_subscription_row);
      for (auto& s : result) {
        auto token = impl_->cipher.open(s.token.value);
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

caf::expected<std::vector<token_version>> postgres_store::token_versions() {
  return impl_->guard(
    "list token versions", [&]() -> caf::expected<std::vector<token_version>> {
      return collect(impl_->run(pg::list_token_versions), [](const row& r) {
        return token_version{column_text(r[0]), column_text(r[1]),
                             column_time(r[2])};
      });
    });
}

// -- agents
// -------------------------------------------------------------------------

caf::expected<stored_agent> postgres_store::add_agent(const agent_spec& spec,
                                                      millis now) {
  return impl_->guard("add agent", [&]() -> caf::expected<stored_agent> {
    auto& d = *impl_;
    if (!d.run(pg::agent_exists, spec.name).empty())
      return make_error(ec::duplicate_agent,
                        "agent '" + spec.name + "' exists already");
    int64_t sub_id = 0;
    if (!spec.subscription.empty()) {
      auto found = d.run(pg::subscription_by_name, spec.subscription);
      if (found.empty())
        return make_error(ec::unknown_subscription,
                          "unknown subscription '" + spec.subscription + "'");
      sub_id = column_int(found[0][0]);
    }
    d.run(pg::insert_agent, spec.name, id_or_null(sub_id),
          text_or_null(spec.container), format_iso(now), format_iso(now),
          d.node);
    d.pool_changed = true;
    return d.read_agent(spec.name);
  });
}

caf::error postgres_store::remove_agent(const std::string& name) {
  return impl_->guard("remove agent", [&]() -> caf::error {
    if (impl_->run(pg::delete_agent, name).affected_rows() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    impl_->pool_changed = true;
    return caf::none;
  });
}

caf::expected<std::vector<stored_agent>> postgres_store::agents() {
  return impl_->guard(
    "list agents", [&]() -> caf::expected<std::vector<stored_agent>> {
      return collect(impl_->run(pg::list_agents), read_agent_row);
    });
}

caf::expected<stored_agent> postgres_store::agent(const std::string& name) {
  return impl_->guard("read agent", [&]() -> caf::expected<stored_agent> {
    return impl_->read_agent(name);
  });
}

caf::error postgres_store::set_agent_auto_switch(const std::string& name,
                                                 auto_switch_mode value,
                                                 millis now) {
  return impl_->guard("set agent auto-switch", [&]() -> caf::error {
    auto res = impl_->run(pg::set_auto_switch, to_string(value),
                          format_iso(now), name);
    if (res.affected_rows() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + name + "'");
    return caf::none;
  });
}

caf::expected<switch_commit>
postgres_store::commit_switch(const switch_record& rec) {
  return impl_->guard("commit switch", [&]() -> caf::expected<switch_commit> {
    auto& d = *impl_;
    // Removed while the switch was decided: say so, not "violates foreign
    // key constraint".
    if (rec.to_id != 0 && d.run(pg::subscription_name_by_id, rec.to_id).empty())
      return make_error(ec::unknown_subscription,
                        "subscription '" + rec.to_name
                          + "' was removed while the switch to it was "
                            "being decided; nothing changed");
    if (!rec.balance.empty())
      if (auto stale = d.check_balance(rec))
        return std::move(*stale);
    auto upd = d.run(
      pg::switch_agent, id_or_null(rec.to_id), format_iso(rec.at), rec.agent,
      static_cast<int64_t>(rec.expected_generation), d.node, d.epoch);
    if (upd.affected_rows() == 0) {
      auto cur = d.read_agent(rec.agent);
      if (!cur)
        return cur.error();
      if (cur->generation == rec.expected_generation)
        return make_error(ec::conflict,
                          "node '" + d.node + "' no longer owns agent '"
                            + rec.agent
                            + "' (its lease ended or another node took the "
                              "agent over); nothing changed");
      return make_error(ec::conflict,
                        "agent '" + rec.agent + "' is at generation "
                          + std::to_string(cur->generation) + ", expected "
                          + std::to_string(rec.expected_generation));
    }
    d.pool_changed = true;
    switch_commit result;
    result.generation = rec.expected_generation + 1;
    auto generation = static_cast<int64_t>(result.generation);
    auto hist = d.run(
      pg::insert_history, rec.agent, text_or_null(rec.from_name),
      text_or_null(rec.to_name), to_string(rec.by), to_string(rec.kind),
      static_cast<int64_t>(rec.event_count), generation, format_iso(rec.at));
    result.history_id = column_int(hist[0][0]);
    if (rec.notify) {
      auto note = d.run(pg::insert_switch_notification, rec.agent, generation,
                        rec.title, rec.message, format_iso(rec.at));
      result.notification_id = column_int(note[0][0]);
    }
    return result;
  });
}

caf::error postgres_store::record_apply(const apply_record& rec) {
  return impl_->guard("record apply", [&]() -> caf::error {
    auto& d = *impl_;
    auto text = to_string(rec.result);
    auto at = format_iso(rec.at);
    auto generation = static_cast<int64_t>(rec.generation);
    auto upd = d.run(pg::record_apply_on_agent, text, at, rec.applied,
                     generation, rec.agent);
    if (upd.affected_rows() == 0)
      return make_error(ec::unknown_agent, "unknown agent '" + rec.agent + "'");
    d.run(pg::record_apply_on_history, text, at, rec.agent, generation);
    return caf::none;
  });
}

caf::expected<std::string>
postgres_store::subscription_of_generation(const std::string& agent,
                                           uint64_t generation) {
  return impl_->guard(
    "read the subscription of a generation",
    [&]() -> caf::expected<std::string> {
      auto res = impl_->run(pg::subscription_of_generation, agent,
                            static_cast<int64_t>(generation));
      if (res.empty())
        return make_error(ec::invalid_argument, "agent '" + agent
                                                  + "' has no generation "
                                                  + std::to_string(generation));
      return column_text(res[0][0]);
    });
}

caf::expected<agent_counts> postgres_store::count_agents() {
  return impl_->guard("count agents", [&]() -> caf::expected<agent_counts> {
    auto res = impl_->run(pg::count_agents, impl_->node);
    agent_counts out;
    out.behind = static_cast<uint64_t>(column_int(res[0][0]));
    out.containers = static_cast<uint64_t>(column_int(res[0][1]));
    return out;
  });
}

// -- failure events
// -----------------------------------------------------------------

caf::expected<int64_t> postgres_store::add_event(const event_info& ev) {
  return impl_->guard("record failure event", [&]() -> caf::expected<int64_t> {
    auto res = impl_->run(pg::insert_event, ev.agent, ev.subscription,
                          to_string(ev.kind), ev.reason, ev.status, ev.message,
                          ev.source, ev.execution_id, iso_or_null(ev.reset_at),
                          format_iso(ev.at));
    impl_->pool_changed = true;
    return column_int(res[0][0]);
  });
}

caf::expected<std::vector<event_info>> postgres_store::events(const query& q) {
  return impl_->guard(
    "list events", [&]() -> caf::expected<std::vector<event_info>> {
      return collect(impl_->run(pg::list_events, q.agent, q.subscription,
                                id_bound(q), limit_of(q.limit)),
                     read_event_row);
    });
}

caf::expected<std::vector<exclusion_seed>>
postgres_store::exclusion_seeds(millis since, millis now) {
  return impl_->guard(
    "read exclusions", [&]() -> caf::expected<std::vector<exclusion_seed>> {
      std::map<std::string, exclusion_seed> seeds;
      for (const auto& r : impl_->run(pg::newest_failures, format_iso(since))) {
        auto& seed = seeds[column_text(r[0])];
        seed.last_failure_at = column_time(r[1]);
        seed.window_failure_at = column_time(r[2]);
      }
      for (const auto& r : impl_->run(pg::future_resets, format_iso(now)))
        seeds[column_text(r[0])].reset_at = column_time(r[1]);
      return seed_list(std::move(seeds));
    });
}

caf::expected<std::vector<failure_count>>
postgres_store::failure_counts(millis since) {
  return impl_->guard(
    "count failures", [&]() -> caf::expected<std::vector<failure_count>> {
      return collect(
        impl_->run(pg::count_failures, format_iso(since)), [](const row& r) {
          return failure_count{column_text(r[0]),
                               parse_kind<failure_kind>(r[1].c_str())
                                 .value_or(failure_kind::ignored),
                               static_cast<uint32_t>(column_int(r[2]))};
        });
    });
}

caf::expected<uint64_t> postgres_store::delete_events_before(millis cutoff,
                                                             uint32_t batch) {
  return impl_->guard("delete old events", [&]() -> caf::expected<uint64_t> {
    auto res = impl_->run(pg::delete_old_events, format_iso(cutoff),
                          static_cast<int64_t>(batch));
    return static_cast<uint64_t>(res.affected_rows());
  });
}

// -- provider evidence
// --------------------------------------------------------------

caf::error postgres_store::save_evidence(const stored_evidence& ev) {
  return impl_->guard("save provider evidence", [&]() -> caf::error {
    // No row when the subscription is gone: nothing to keep.
    impl_->run(pg::save_evidence, ev.subscription, to_string(ev.status),
               iso_or_null(ev.status_at), iso_or_null(ev.status_reset),
               double_or_null(ev.utilization_5h),
               iso_or_null(ev.utilization_5h_at), iso_or_null(ev.reset_5h),
               double_or_null(ev.utilization_7d),
               iso_or_null(ev.utilization_7d_at), iso_or_null(ev.reset_7d),
               iso_or_null(ev.evidence_at), iso_or_null(ev.readmitted_at));
    impl_->pool_changed = true;
    return caf::none;
  });
}

caf::expected<std::vector<stored_evidence>> postgres_store::evidence() {
  return impl_->guard("list provider evidence",
                      [&]() -> caf::expected<std::vector<stored_evidence>> {
                        return collect(impl_->run(pg::list_evidence),
                                       read_evidence_row);
                      });
}

// -- history and notifications
// ------------------------------------------------------

caf::expected<std::vector<history_info>>
postgres_store::history(const query& q) {
  return impl_->guard(
    "list history", [&]() -> caf::expected<std::vector<history_info>> {
      return collect(impl_->run(pg::list_history, q.agent, q.subscription,
                                id_bound(q), limit_of(q.limit)),
                     read_history_row);
    });
}

caf::expected<int64_t>
postgres_store::add_notification(const notification_info& n) {
  return impl_->guard("add notification", [&]() -> caf::expected<int64_t> {
    auto res = impl_->run(pg::insert_notification, n.agent,
                          std::string{to_string(n.kind)}, n.title, n.message,
                          std::string{to_string(n.priority)},
                          format_iso(n.created_at));
    return column_int(res[0][0]);
  });
}

caf::expected<std::vector<notification_info>>
postgres_store::notifications(const query& q) {
  return impl_->guard("list notifications",
                      [&]() -> caf::expected<std::vector<notification_info>> {
                        return collect(impl_->run(pg::list_notifications,
                                                  q.agent, id_bound(q),
                                                  limit_of(q.limit)),
                                       read_notification_row);
                      });
}

caf::error postgres_store::mark_delivered(int64_t id, millis at) {
  return impl_->guard("mark notification delivered", [&]() -> caf::error {
    impl_->run(pg::mark_delivered, format_iso(at), id);
    return caf::none;
  });
}

caf::expected<std::vector<notification_info>>
postgres_store::pending_notifications(uint32_t limit) {
  return impl_->guard(
    "list pending notifications",
    [&]() -> caf::expected<std::vector<notification_info>> {
      return collect(impl_->run(pg::pending_notifications, limit_of(limit)),
                     read_notification_row);
    });
}

caf::expected<uint64_t> postgres_store::count_pending_notifications() {
  return impl_->guard("count pending notifications",
                      [&]() -> caf::expected<uint64_t> {
                        auto res = impl_->run(pg::count_pending_notifications);
                        return static_cast<uint64_t>(column_int(res[0][0]));
                      });
}

// -- settings
// -----------------------------------------------------------------------

caf::expected<settings_map> postgres_store::settings() {
  return impl_->guard("read settings", [&]() -> caf::expected<settings_map> {
    settings_map result;
    for (const auto& r : impl_->run(pg::list_settings))
      result.emplace(column_text(r[0]), column_text(r[1]));
    return result;
  });
}

caf::error postgres_store::put_setting(const std::string& key,
                                       const std::string& value, millis now) {
  return impl_->guard("write setting", [&]() -> caf::error {
    impl_->run(pg::put_setting, key, value, format_iso(now));
    return caf::none;
  });
}

} // namespace sb
