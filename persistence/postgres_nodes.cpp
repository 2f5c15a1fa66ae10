// The nodes of a shared PostgreSQL store (store.hpp, "nodes"): who owns which
// agent, leases on the server's clock, takeover of the agents of a node whose
// lease ended. Not on a hot path: plain parameterized statements.

#include "messages/error.hpp"
#include "persistence/postgres_impl.hpp"

#include <map>

namespace sb {

namespace {

/// `ttl` as a PostgreSQL interval expression on parameter `$n`.
std::string lease_end(int n) {
  return "clock_timestamp() + $" + std::to_string(n)
         + "::bigint * interval '1 millisecond'";
}

} // namespace

caf::expected<int64_t> postgres_store::join(const std::string& name,
                                            millis ttl) {
  return guard("join the nodes", [&]() -> caf::expected<int64_t> {
    auto& s = impl_->conn.live();
    auto out = in_transaction(s, [&]() -> caf::expected<int64_t> {
      auto held = s.exec_params("SELECT lease_until > clock_timestamp() AND "
                                "left_at IS NULL, "
                                "to_char(lease_until AT TIME ZONE 'UTC', "
                                "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                                "FROM nodes WHERE name = $1 FOR UPDATE",
                                name);
      if (!held.empty() && held[0][0].as<bool>())
        return make_error(ec::conflict,
                          "node '" + name
                            + "' is running already (its lease runs until "
                            + held[0][1].as<std::string>()
                            + "); give this daemon another "
                              "switchboard.node-name");
      auto res = s.exec_params(
        "INSERT INTO nodes(name, epoch, lease_until, joined_at) VALUES ($1, "
        "nextval('node_epochs'), "
          + lease_end(2)
          + ", clock_timestamp()) ON CONFLICT (name) DO UPDATE SET epoch = "
            "EXCLUDED.epoch, lease_until = EXCLUDED.lease_until, joined_at = "
            "EXCLUDED.joined_at, host = '', port = 0, left_at = NULL "
            "RETURNING epoch",
        name, static_cast<int64_t>(ttl));
      s.exec_params("UPDATE agents SET owner = $1 WHERE owner IS NULL", name);
      return res[0][0].as<int64_t>();
    });
    if (out) {
      node_ = name;
      epoch_ = *out;
    }
    return out;
  });
}

caf::error postgres_store::advertise(const std::string& host, uint16_t port) {
  return guard("advertise the node", [&]() -> caf::error {
    if (sql().run("UPDATE nodes SET host = $1, port = $2 WHERE name = $3 AND "
                  "epoch = $4",
                  {host, static_cast<int>(port), node_, epoch_})
        == 0)
      return make_error(ec::conflict,
                        "node '" + node_ + "' has no lease any more");
    return caf::none;
  });
}

caf::error postgres_store::leave() {
  return guard("leave the nodes", [&]() -> caf::error {
    sql().run("UPDATE nodes SET left_at = clock_timestamp() WHERE name = $1 "
              "AND epoch = $2",
              {node_, epoch_});
    return caf::none;
  });
}

void postgres_store::set_node(const std::string& name, int64_t epoch) {
  node_ = name;
  epoch_ = epoch;
}

caf::expected<bool> postgres_store::renew(millis ttl) {
  return guard("renew the lease", [&]() -> caf::expected<bool> {
    return sql().run("UPDATE nodes SET lease_until = " + lease_end(1)
                       + " WHERE name = $2 AND epoch = $3",
                     {ttl, node_, epoch_})
           == 1;
  });
}

caf::expected<std::vector<std::string>> postgres_store::take_over() {
  using result_t = caf::expected<std::vector<std::string>>;
  return guard("take over agents", [&]() -> result_t {
    auto& s = impl_->conn.live();
    return in_transaction(s, [&]() -> result_t {
      std::vector<std::string> agents;
      // Rows another node is taking over right now are skipped: each
      // expired node goes to exactly one taker.
      auto dead = s.exec_params(
        "SELECT name FROM nodes WHERE name <> $1 AND lease_until < "
        "clock_timestamp() ORDER BY name FOR UPDATE SKIP LOCKED",
        node_);
      for (const auto& row : dead) {
        auto name = row[0].as<std::string>();
        auto moved = s.exec_params("UPDATE agents SET owner = $1 WHERE owner "
                                   "= $2 RETURNING name",
                                   node_, name);
        for (const auto& m : moved)
          agents.push_back(m[0].as<std::string>());
        s.exec_params("DELETE FROM nodes WHERE name = $1", name);
      }
      // Only a node whose own lease runs takes anything over.
      auto mine = s.exec_params("SELECT 1 FROM nodes WHERE name = $1 AND "
                                "epoch = $2 AND lease_until > "
                                "clock_timestamp()",
                                node_, epoch_);
      if (mine.empty())
        return make_error(ec::conflict,
                          "node '" + node_ + "' has no lease any more");
      return agents;
    });
  });
}

caf::expected<node_address> postgres_store::owner_of(const std::string& agent) {
  // NULL reads as "" and 0: an agent without an owner.
  auto found = list("find the owner",
                    "SELECT a.owner, n.host, n.port FROM agents a LEFT JOIN "
                    "nodes n ON n.name = a.owner WHERE a.name = $1",
                    {agent}, [](const sql_row& r) {
                      return node_address{r.text(0), r.text(1),
                                          static_cast<uint16_t>(r.integer(2))};
                    });
  if (!found)
    return found.error();
  if (found->empty())
    return make_error(ec::unknown_agent, "unknown agent '" + agent + "'");
  return found->front();
}

caf::expected<std::vector<std::string>> postgres_store::owned_agents() {
  return list("list owned agents",
              "SELECT name FROM agents WHERE owner = $1 ORDER BY name", {node_},
              [](const sql_row& r) { return r.text(0); });
}

caf::expected<std::vector<node_status>> postgres_store::nodes() {
  return list("list nodes",
              "SELECT n.name, n.host, n.port, n.epoch, n.lease_until > "
              "clock_timestamp(), (SELECT COUNT(*) FROM agents a WHERE "
              "a.owner = n.name) FROM nodes n ORDER BY n.name",
              {}, [](const sql_row& r) {
                node_status n;
                n.name = r.text(0);
                n.host = r.text(1);
                n.port = static_cast<uint16_t>(r.integer(2));
                n.epoch = r.integer(3);
                n.live = r.text(4) == "t";
                n.agents = static_cast<uint64_t>(r.integer(5));
                return n;
              });
}

// -- the shared pool's balance

std::optional<switch_commit>
postgres_store::check_balance(const switch_record& rec) {
  // Called under the selection lock: every other balance-checked commit is
  // either committed (and seen here, READ COMMITTED) or waits for this one.
  std::string ids = "{";
  for (auto& c : rec.balance)
    ids += (ids.size() > 1 ? "," : "") + std::to_string(c.subscription);
  ids += "}";
  std::map<int64_t, uint64_t> total;
  for (auto& c : rec.balance)
    total[c.subscription] += c.agents;
  switch_commit stale;
  sql().run(sq::seats_of_others, {node_, ids}, [&](const sql_row& r) {
    agent_seat seat{r.text(0), r.integer(1)};
    ++total[seat.subscription];
    stale.others.push_back(std::move(seat));
  });
  auto mine = total[rec.to_id];
  for (auto& [id, n] : total)
    if (id != rec.to_id && n < mine) {
      stale.stale = true;
      return stale;
    }
  return std::nullopt;
}

} // namespace sb
