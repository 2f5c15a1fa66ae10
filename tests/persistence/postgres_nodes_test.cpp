// Nodes of a shared PostgreSQL store: one name, one live daemon; leases on
// the server's clock; a node whose lease ended loses its agents to exactly
// one taker, and its late commit is fenced off (owner, epoch, generation).

#include "fixtures/postgres_env.hpp"
#include "fixtures/temp_dir.hpp"
#include "fixtures/wait.hpp"
#include "messages/error.hpp"
#include "persistence/postgres_store.hpp"

#include <gtest/gtest.h>

#include <future>

using namespace sb;
using namespace std::chrono_literals;

namespace {

constexpr millis t0 = 1'800'000'000'000;

class postgres_nodes_test : public ::testing::Test {
protected:
  std::unique_ptr<store> open_store() {
    auto res = postgres_store::open(
      {pg.url(), pg.password_file(), dir.file("switchboard.key")});
    EXPECT_TRUE(res) << render(res.error());
    return res ? std::move(*res) : nullptr;
  }

  switch_record switch_to(const stored_subscription& to, uint64_t expected) {
    switch_record rec;
    rec.agent = "a1";
    rec.to_id = to.id;
    rec.to_name = to.name;
    rec.expected_generation = expected;
    rec.at = t0 + 1000;
    return rec;
  }

  test::temp_dir dir;
  test::postgres_database pg;
};

} // namespace

TEST_F(postgres_nodes_test, one_live_daemon_per_node_name) {
  auto a = open_store();
  auto again = open_store();
  ASSERT_TRUE(a && again);
  auto first = a->join("alpha", 60'000);
  ASSERT_TRUE(first) << render(first.error());
  auto refused = again->join("alpha", 60'000);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), ec::conflict));
  EXPECT_NE(render(refused.error()).find("node-name"), std::string::npos)
    << render(refused.error());
  // Another name joins; epochs never repeat.
  auto second = again->join("beta", 60'000);
  ASSERT_TRUE(second) << render(second.error());
  EXPECT_GT(*second, *first);
  ASSERT_FALSE(a->advertise("127.0.0.1", 7411)); // no error
  auto ns = a->nodes();
  ASSERT_TRUE(ns);
  ASSERT_EQ(ns->size(), 2u);
  EXPECT_EQ(ns->at(0).name, "alpha");
  EXPECT_EQ(ns->at(0).port, 7411);
  EXPECT_TRUE(ns->at(0).live);
}

TEST_F(postgres_nodes_test, agents_belong_to_the_node_that_added_them) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->put_subscription("sub-a", "tok-a", t0));
  // Agents from before the nodes: the first node to join owns them.
  ASSERT_TRUE(a->add_agent(agent_spec{"old", "sub-a", ""}, t0));
  ASSERT_TRUE(a->join("alpha", 60'000));
  ASSERT_TRUE(b->join("beta", 60'000));
  ASSERT_FALSE(b->advertise("10.0.0.2", 7500)); // no error
  ASSERT_TRUE(b->add_agent(agent_spec{"a1", "sub-a", ""}, t0));
  auto owner = a->owner_of("a1");
  ASSERT_TRUE(owner) << render(owner.error());
  EXPECT_EQ(owner->node, "beta");
  EXPECT_EQ(owner->host, "10.0.0.2");
  EXPECT_EQ(owner->port, 7500);
  EXPECT_EQ(a->owner_of("old")->node, "alpha");
  EXPECT_TRUE(is(a->owner_of("ghost").error(), ec::unknown_agent));
  EXPECT_EQ(*a->owned_agents(), std::vector<std::string>{"old"});
  EXPECT_EQ(*b->owned_agents(), std::vector<std::string>{"a1"});
}

TEST_F(postgres_nodes_test, an_expired_owner_is_taken_over_once_and_fenced) {
  auto a = open_store();
  auto b = open_store();
  auto c = open_store();
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(a->put_subscription("sub-a", "tok-a", t0));
  ASSERT_TRUE(a->put_subscription("sub-b", "tok-b", t0));
  auto subs = *a->subscriptions();
  // alpha's lease is short and never renewed: it "dies".
  ASSERT_TRUE(a->join("alpha", 300));
  ASSERT_TRUE(b->join("beta", 60'000));
  ASSERT_TRUE(c->join("gamma", 60'000));
  ASSERT_TRUE(a->add_agent(agent_spec{"a1", "sub-a", ""}, t0));
  // While alpha's lease runs, nothing is taken.
  auto early = b->take_over();
  ASSERT_TRUE(early) << render(early.error());
  EXPECT_TRUE(early->empty());
  // Two nodes race for it: exactly one gets the agent.
  std::vector<std::string> by_b, by_c;
  ASSERT_TRUE(test::wait_until(
    [&] {
      auto fb = std::async(std::launch::async, [&] { return b->take_over(); });
      auto fc = std::async(std::launch::async, [&] { return c->take_over(); });
      auto rb = fb.get();
      auto rc = fc.get();
      EXPECT_TRUE(rb && rc);
      if (rb)
        by_b.insert(by_b.end(), rb->begin(), rb->end());
      if (rc)
        by_c.insert(by_c.end(), rc->begin(), rc->end());
      return !by_b.empty() || !by_c.empty();
    },
    10s));
  EXPECT_EQ(by_b.size() + by_c.size(), 1u);
  auto taker = by_b.empty() ? c.get() : b.get();
  auto taker_name = by_b.empty() ? "gamma" : "beta";
  EXPECT_EQ(a->owner_of("a1")->node, taker_name);
  // The deposed owner: no lease to renew, its late commit changes nothing.
  auto renewed = a->renew(60'000);
  ASSERT_TRUE(renewed);
  EXPECT_FALSE(*renewed);
  auto late = a->commit_switch(switch_to(subs[1], 0));
  ASSERT_FALSE(late);
  EXPECT_TRUE(is(late.error(), ec::conflict));
  EXPECT_NE(render(late.error()).find("no longer owns"), std::string::npos)
    << render(late.error());
  EXPECT_EQ(a->agent("a1")->generation, 0u);
  // The new owner commits the next generation.
  auto won = taker->commit_switch(switch_to(subs[1], 0));
  ASSERT_TRUE(won) << render(won.error());
  EXPECT_EQ(won->generation, 1u);
  // The third node is not the owner: fenced as well.
  auto other = (taker == b.get() ? c.get() : b.get())
                 ->commit_switch(switch_to(subs[0], 1));
  ASSERT_FALSE(other);
  EXPECT_TRUE(is(other.error(), ec::conflict));
}

TEST_F(postgres_nodes_test, an_sqlite_store_has_no_nodes) {
  auto db = store::open(":memory:");
  ASSERT_TRUE(db);
  EXPECT_FALSE((*db)->shared());
  auto joined = (*db)->join("alpha", 1000);
  ASSERT_FALSE(joined);
  EXPECT_NE(render(joined.error()).find("postgresql"), std::string::npos);
}
