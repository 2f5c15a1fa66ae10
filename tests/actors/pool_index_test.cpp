// The POOL's selection index: order, exclusion, expiry, counts.

#include "actors/pool_index.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace sb;

TEST(pool_index, fewest_agents_then_name_and_never_the_current_one) {
  pool_index idx;
  idx.add(1, "sub-b");
  idx.add(2, "sub-a");
  idx.add(3, "sub-c");
  EXPECT_EQ(idx.best(0, 0), 2); // all empty: by name
  EXPECT_EQ(idx.best(2, 0), 1); // not the one the agent is on
  idx.change_count(2, 1);
  idx.change_count(1, 1);
  EXPECT_EQ(idx.best(0, 0), 3);
  idx.change_count(3, 2);
  EXPECT_EQ(idx.best(0, 0), 2); // sub-a and sub-b tie at 1: name
  idx.change_count(3, -5);      // never below zero
  EXPECT_EQ(idx.best(0, 0), 3);
}

TEST(pool_index, excluded_subscriptions_come_back_when_their_time_passed) {
  pool_index idx;
  idx.add(1, "sub-a");
  idx.add(2, "sub-b");
  idx.set_exclusion(1, 1000);
  idx.set_exclusion(2, 500);
  EXPECT_FALSE(idx.best(0, 100).has_value());
  EXPECT_EQ(idx.excluded(100), 2u);
  EXPECT_EQ(idx.earliest_return(0, 100), 500);
  EXPECT_EQ(idx.earliest_return(2, 100), 1000); // not counting the current
  EXPECT_EQ(idx.best(0, 500), 2);               // sub-b is back at 500
  EXPECT_EQ(idx.excluded(500), 1u);
  idx.change_count(1, 3); // counts change while excluded
  EXPECT_EQ(idx.best(2, 1000), 1);
  // A longer exclusion replaces a shorter one.
  idx.set_exclusion(2, 5000);
  EXPECT_EQ(idx.best(0, 2000), 1);
  idx.remove(1);
  EXPECT_FALSE(idx.best(0, 2000).has_value());
  EXPECT_EQ(idx.earliest_return(0, 2000), 5000);
}

// -- excluded subscriptions are not candidates
// ---------------------------------

namespace {

/// `n` excluded subscriptions ("ex-00000", ...; the i-th until 1000 + i)
/// and `free` ones ("free-0", ...) with ids from 1'000'000.
pool_index crowded(int n, int free) {
  pool_index idx;
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "ex-%05d", i);
    idx.add(i + 1, name);
    idx.set_exclusion(i + 1, 1000 + i);
  }
  for (int i = 0; i < free; ++i)
    idx.add(1'000'000 + i, "free-" + std::to_string(i));
  return idx;
}

} // namespace

TEST(pool_index, a_pick_never_walks_ten_thousand_excluded_subscriptions) {
  auto idx = crowded(10'000, 3);
  // Excluded ones are not in the candidate structure at all.
  EXPECT_EQ(idx.candidates(0), 3u);
  EXPECT_EQ(idx.excluded(0), 10'000u);
  // The "ex-" names order before "free-": with excluded subscriptions among
  // the candidates a pick would walk all 10,000 of them first.
  auto before = idx.visits();
  EXPECT_EQ(idx.best(0, 0), 1'000'000);
  EXPECT_EQ(idx.visits() - before, 1u);
  before = idx.visits();
  EXPECT_EQ(idx.best(1'000'000, 0), 1'000'001); // skips `from` only
  EXPECT_EQ(idx.visits() - before, 2u);
  before = idx.visits();
  EXPECT_EQ(idx.best(1'000'000, 0, 0.6), 1'000'001); // unknown = 0.5
  EXPECT_EQ(idx.visits() - before, 2u);
  before = idx.visits();
  EXPECT_EQ(idx.peers(1'000'000, 0, 0).size(), 3u);
  EXPECT_EQ(idx.visits() - before, 3u);
  before = idx.visits();
  EXPECT_EQ(idx.earliest_return(1, 0), 1001); // skips `from` only
  EXPECT_EQ(idx.visits() - before, 2u);
  // A thousand picks with counts moving, as in a storm: each looks at the
  // first candidate only.
  before = idx.visits();
  for (int i = 0; i < 1000; ++i) {
    auto id = idx.best(0, 0);
    ASSERT_TRUE(id.has_value());
    idx.change_count(*id, 1);
  }
  EXPECT_EQ(idx.visits() - before, 1000u);
  EXPECT_EQ(idx.candidates(0), 3u);
}

TEST(pool_index, excluded_subscriptions_come_back_when_their_exclusion_ends) {
  auto idx = crowded(10'000, 3);
  for (int i = 0; i < 3; ++i)
    idx.change_count(1'000'000 + i, 1);
  EXPECT_EQ(idx.best(0, 999), 1'000'000);
  // Time: the first 5,000 have ended at 5999 (until 1000 + i).
  EXPECT_EQ(idx.candidates(5999), 5003u);
  EXPECT_EQ(idx.excluded(5999), 5000u);
  EXPECT_EQ(idx.best(0, 5999), 1); // no agents and the smallest name
  EXPECT_EQ(idx.earliest_return(0, 5999), 6000);
  // An exclusion lifted (newer evidence, a reset): back at once.
  idx.set_exclusion(9'000, 0);
  EXPECT_EQ(idx.candidates(5999), 5004u);
  idx.set_state(9'001, 0, 0.05);
  EXPECT_EQ(idx.best(0, 5999), 9'001); // most headroom first
  // Excluded again, or longer: out again until then.
  idx.set_state(9'001, 20'000, 0.05);
  idx.set_exclusion(1, 30'000);
  EXPECT_EQ(idx.best(0, 5999), 2);
  EXPECT_EQ(idx.excluded(5999), 5000u);
  // Everything back once the last instant passed.
  EXPECT_EQ(idx.excluded(30'000), 0u);
  EXPECT_EQ(idx.candidates(30'000), 10'003u);
  EXPECT_EQ(idx.best(0, 30'000), 9'001);
  EXPECT_EQ(idx.earliest_return(0, 30'000), 0);
}

TEST(pool_index, names_added_later_keep_the_name_order) {
  pool_index idx;
  idx.add(1, "sub-m");
  idx.add(2, "sub-z");
  EXPECT_EQ(idx.best(0, 0), 1);
  idx.add(3, "sub-a"); // orders before both
  EXPECT_EQ(idx.best(0, 0), 3);
  idx.change_count(3, 1);
  idx.add(4, "sub-n"); // between sub-m and sub-z
  idx.change_count(1, 1);
  EXPECT_EQ(idx.best(0, 0), 4);
  idx.remove(4);
  EXPECT_EQ(idx.best(0, 0), 2);
  idx.add(5, "sub-m"); // the same name twice: by id
  idx.change_count(2, 1);
  idx.change_count(5, 1);
  idx.remove(3);
  EXPECT_EQ(idx.best(0, 0), 1); // sub-m (1), sub-m (5), sub-z (2)
  EXPECT_EQ(idx.best(1, 0), 5);
  EXPECT_EQ(idx.size(), 3u);
}

// -- the same picks as the index keyed by names
// --------------------------------

namespace {

/// The index as it was before its keys became integers: candidates ordered
/// by (rank, count, name, id), excluded ones by instant. What it answers is
/// what the index must answer.
class reference_index {
public:
  void add(int64_t id, const std::string& name) {
    if (entries_.count(id) == 0) {
      entries_[id].name = name;
      attach(id);
    }
  }
  void remove(int64_t id) {
    if (entries_.count(id) > 0) {
      detach(id);
      entries_.erase(id);
    }
  }
  void change_count(int64_t id, int64_t delta) {
    update(id, [delta](entry& e) {
      auto next = static_cast<int64_t>(e.count) + delta;
      e.count = next < 0 ? 0 : static_cast<uint64_t>(next);
    });
  }
  void set_exclusion(int64_t id, millis until) {
    update(id, [until](entry& e) { e.until = until; });
  }
  void set_utilization(int64_t id, std::optional<double> u) {
    update(id, [u](entry& e) { e.u = u; });
  }
  std::optional<int64_t> best(int64_t from, millis now,
                              std::optional<double> ceiling) {
    refresh(now);
    for (auto& k : candidates_) {
      auto id = std::get<3>(k);
      if (id == from)
        continue;
      if (!ceiling)
        return id;
      if (std::get<0>(k) > pool_index::rank(*ceiling))
        break;
      if (entries_[id].u.value_or(unknown_utilization) <= *ceiling + 1e-9)
        return id;
    }
    return std::nullopt;
  }
  std::vector<int64_t> peers(int64_t best, int64_t from, millis now,
                             std::optional<double> ceiling) {
    refresh(now);
    std::vector<int64_t> out;
    if (entries_.count(best) == 0)
      return out;
    auto best_rank = pool_index::rank(entries_[best].u);
    for (auto& k : candidates_) {
      auto id = std::get<3>(k);
      if (std::get<0>(k) != best_rank || id == from)
        continue;
      auto u = entries_[id].u.value_or(unknown_utilization);
      if (!ceiling || u <= *ceiling + 1e-9)
        out.push_back(id);
    }
    return out;
  }
  millis earliest_return(int64_t from, millis now) {
    refresh(now);
    for (auto& [until, id] : excluded_)
      if (id != from)
        return until;
    return 0;
  }
  size_t excluded(millis now) {
    refresh(now);
    return excluded_.size();
  }

private:
  struct entry {
    std::string name;
    uint64_t count = 0;
    millis until = 0;
    std::optional<double> u;
  };
  using key_t = std::tuple<int, uint64_t, std::string, int64_t>;
  key_t key(int64_t id) {
    auto& e = entries_[id];
    return key_t{pool_index::rank(e.u), e.count, e.name, id};
  }
  void detach(int64_t id) {
    if (entries_[id].until > 0)
      excluded_.erase({entries_[id].until, id});
    else
      candidates_.erase(key(id));
  }
  void attach(int64_t id) {
    if (entries_[id].until > 0)
      excluded_.emplace(entries_[id].until, id);
    else
      candidates_.insert(key(id));
  }
  template<class F>
  void update(int64_t id, F f) {
    if (entries_.count(id) == 0)
      return;
    detach(id);
    f(entries_[id]);
    attach(id);
  }
  void refresh(millis now) {
    while (!excluded_.empty() && excluded_.begin()->first <= now) {
      auto id = excluded_.begin()->second;
      excluded_.erase(excluded_.begin());
      entries_[id].until = 0;
      candidates_.insert(key(id));
    }
  }
  std::map<int64_t, entry> entries_;
  std::set<key_t> candidates_;
  std::set<std::pair<millis, int64_t>> excluded_;
};

} // namespace

TEST(pool_index, answers_as_the_index_keyed_by_names_did) {
  std::mt19937 rng(20261207);
  auto pick
    = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  pool_index idx;
  reference_index ref;
  millis now = 0;
  for (int step = 0; step < 200'000; ++step) {
    auto id = static_cast<int64_t>(1 + pick(60));
    std::optional<double> u;
    if (pick(4) != 0)
      u = pick(23) / 20.0 - 0.05; // -0.05 .. 1.05, steps on the boundaries
    std::optional<double> ceiling;
    if (pick(3) == 0)
      ceiling = pick(21) / 20.0;
    auto from = static_cast<int64_t>(pick(62));
    switch (pick(12)) {
    case 0: { // names repeat, so equal names tie by id
      auto name = "sub-" + std::to_string(pick(40));
      idx.add(id, name);
      ref.add(id, name);
      break;
    }
    case 1:
      idx.remove(id);
      ref.remove(id);
      break;
    case 2:
    case 3: {
      auto delta = static_cast<int64_t>(pick(5)) - 2;
      idx.change_count(id, delta);
      ref.change_count(id, delta);
      break;
    }
    case 4: {
      millis until = pick(3) == 0 ? 0 : now + pick(400);
      idx.set_exclusion(id, until);
      ref.set_exclusion(id, until);
      break;
    }
    case 5:
      idx.set_utilization(id, u);
      ref.set_utilization(id, u);
      break;
    case 6: {
      millis until = pick(2) == 0 ? 0 : now + pick(400);
      idx.set_state(id, until, u);
      ref.set_exclusion(id, until);
      ref.set_utilization(id, u);
      break;
    }
    case 7:
      ASSERT_EQ(idx.earliest_return(from, now), ref.earliest_return(from, now));
      ASSERT_EQ(idx.excluded(now), ref.excluded(now));
      break;
    default: {
      auto best = idx.best(from, now, ceiling);
      ASSERT_EQ(best, ref.best(from, now, ceiling)) << "step " << step;
      if (best) {
        ASSERT_EQ(idx.peers(*best, from, now, ceiling),
                  ref.peers(*best, from, now, ceiling));
      }
    }
    }
    now += pick(10);
  }
}
