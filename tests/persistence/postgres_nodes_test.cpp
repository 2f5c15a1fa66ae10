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
  ASSERT_TRUE(a->add_agent(agent_spec{"old", "sub-a", "", ""}, t0));
  ASSERT_TRUE(a->join("alpha", 60'000));
  ASSERT_TRUE(b->join("beta", 60'000));
  ASSERT_FALSE(b->advertise("10.0.0.2", 7500)); // no error
  ASSERT_TRUE(b->add_agent(agent_spec{"a1", "sub-a", "", ""}, t0));
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

TEST_F(postgres_nodes_test, status_counts_only_this_nodes_agents) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  auto sub = a->put_subscription("sub-a", "tok-a", t0);
  ASSERT_TRUE(sub);
  // Before the nodes: a connection of no node counts the agents of none.
  ASSERT_TRUE(a->add_agent(agent_spec{"old", "sub-a", "ctr-old", ""}, t0));
  auto orphans = a->count_agents();
  ASSERT_TRUE(orphans) << render(orphans.error());
  EXPECT_EQ(orphans->containers, 1u);
  ASSERT_TRUE(a->join("alpha", 60'000));
  ASSERT_TRUE(b->join("beta", 60'000));
  // beta: three agents with containers, two of them switched and behind.
  for (auto name : {"b1", "b2", "b3"})
    ASSERT_TRUE(
      b->add_agent(agent_spec{name, "", "ctr-" + std::string{name}, ""}, t0));
  for (auto name : {"b1", "b2"}) {
    auto rec = switch_to(sub->row, 0);
    rec.agent = name;
    ASSERT_TRUE(b->commit_switch(rec)) << name;
  }
  auto mine = b->count_agents();
  ASSERT_TRUE(mine) << render(mine.error());
  EXPECT_EQ(mine->behind, 2u);
  EXPECT_EQ(mine->containers, 3u);
  // alpha sees its own agent only ("old", taken at join), none of beta's.
  auto theirs = a->count_agents();
  ASSERT_TRUE(theirs) << render(theirs.error());
  EXPECT_EQ(theirs->behind, 0u);
  EXPECT_EQ(theirs->containers, 1u);
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
  ASSERT_TRUE(a->add_agent(agent_spec{"a1", "sub-a", "", ""}, t0));
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

TEST_F(postgres_nodes_test, a_commit_heard_by_the_other_nodes_only) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->join("alpha", 60'000));
  ASSERT_TRUE(b->join("beta", 60'000));
  auto on_a = a->listen();
  auto on_b = b->listen();
  ASSERT_TRUE(on_a && on_b);
  // Nothing yet: the wait times out.
  auto quiet = (*on_b)->wait(50);
  ASSERT_TRUE(quiet) << render(quiet.error());
  EXPECT_FALSE(*quiet);
  // alpha commits a failure: beta hears it, alpha does not hear itself.
  ASSERT_FALSE(a->begin());
  ASSERT_TRUE(a->put_subscription("sub-0", "tok-0", t0));
  ASSERT_FALSE(a->commit());
  auto heard = (*on_b)->wait(5000);
  ASSERT_TRUE(heard) << render(heard.error());
  EXPECT_TRUE(*heard);
  auto self = (*on_a)->wait(200);
  ASSERT_TRUE(self);
  EXPECT_FALSE(*self);
  // Every commit, not only the first.
  ASSERT_FALSE(a->begin());
  ASSERT_TRUE(a->put_subscription("sub-2", "tok-2", t0));
  ASSERT_FALSE(a->commit());
  auto again = (*on_b)->wait(5000);
  ASSERT_TRUE(again) << render(again.error());
  EXPECT_TRUE(*again);
  // A transaction rolled back announces nothing; a read-only one neither.
  ASSERT_FALSE(a->begin());
  ASSERT_TRUE(a->put_subscription("sub-1", "tok-1", t0));
  a->rollback();
  ASSERT_FALSE(a->begin());
  ASSERT_TRUE(a->subscriptions());
  ASSERT_FALSE(a->commit());
  auto none = (*on_b)->wait(200);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST_F(postgres_nodes_test, a_switch_onto_a_busier_subscription_is_stale) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->join("alpha", 60'000));
  ASSERT_TRUE(b->join("beta", 60'000));
  auto s0 = a->put_subscription("sub-0", "tok-0", t0);
  auto s1 = a->put_subscription("sub-1", "tok-1", t0);
  auto s2 = a->put_subscription("sub-2", "tok-2", t0);
  ASSERT_TRUE(s0 && s1 && s2);
  ASSERT_TRUE(a->add_agent(agent_spec{"a1", "sub-0", "", ""}, t0));
  // beta's two agents sit on sub-1, which alpha's pool thought empty.
  ASSERT_TRUE(b->add_agent(agent_spec{"b1", "sub-1", "", ""}, t0));
  ASSERT_TRUE(b->add_agent(agent_spec{"b2", "sub-1", "", ""}, t0));
  auto rec = switch_to(s1->row, 0);
  rec.balance = {seat_count{s1->row.id, 0}, seat_count{s2->row.id, 0}};
  ASSERT_FALSE(a->begin());
  ASSERT_FALSE(a->lock_selection());
  auto stale = a->commit_switch(rec);
  ASSERT_FALSE(a->commit());
  ASSERT_TRUE(stale) << render(stale.error());
  EXPECT_TRUE(stale->stale);
  EXPECT_EQ(stale->generation, 0u);
  ASSERT_EQ(stale->others.size(), 2u);
  for (auto& seat : stale->others)
    EXPECT_EQ(seat.subscription, s1->row.id) << seat.agent;
  // Nothing was written.
  EXPECT_EQ(a->agent("a1")->generation, 0u);
  EXPECT_EQ(a->agent("a1")->subscription, "sub-0");
  // sub-2 with one agent of alpha's own vs sub-1 with beta's two: fine.
  auto ok = switch_to(s2->row, 0);
  ok.balance = {seat_count{s1->row.id, 0}, seat_count{s2->row.id, 1}};
  ASSERT_FALSE(a->begin());
  ASSERT_FALSE(a->lock_selection());
  auto done = a->commit_switch(ok);
  ASSERT_FALSE(a->commit());
  ASSERT_TRUE(done) << render(done.error());
  EXPECT_FALSE(done->stale);
  EXPECT_EQ(done->generation, 1u);
  EXPECT_EQ(a->agent("a1")->subscription, "sub-2");
}

TEST_F(postgres_nodes_test, the_selection_lock_makes_the_other_node_wait) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  ASSERT_FALSE(a->begin());
  ASSERT_FALSE(a->lock_selection());
  // beta's transaction waits for alpha's lock until alpha commits.
  std::promise<void> b_locked;
  auto waited = b_locked.get_future();
  auto other = std::async(std::launch::async, [&] {
    auto err = b->begin();
    if (!err)
      err = b->lock_selection();
    b_locked.set_value();
    if (!err)
      err = b->commit();
    return err;
  });
  EXPECT_EQ(waited.wait_for(300ms), std::future_status::timeout);
  ASSERT_FALSE(a->commit());
  EXPECT_EQ(waited.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(other.get());
}
