#pragma once

// The SUBSCRIPTION POOL's selection index: which subscription is the best
// alternative, in O(log S) per pick. Subscriptions that are not excluded are
// the candidates, kept ordered by (headroom rank, agent count, name);
// excluded ones are not candidates at all: they wait in a second structure
// ordered by the instant their exclusion ends, and move back to the
// candidates on the first query at or after that instant, or at once when
// their exclusion is lifted (set_exclusion with 0, e.g. newer evidence). A
// pick therefore never walks past an excluded subscription, however many
// there are. A plain class so the ordering can be tested without actors.
//
// Every key is made of integers: the name enters the order as its position
// among all names (ties of equal names by id), renumbered when a
// subscription is added, so the order is the same as comparing the names
// and a comparison is never a string comparison.
//
// A subscription that is out (retired or drained) is in neither structure;
// nor is one at its cap of agents (set_cap) once its exclusion, if any, has
// ended: it comes back when an agent leaves it.
//
// Headroom rank: utilization in steps of 0.10 (0.00-0.09, 0.10-0.19, ...,
// 1.00), so subscriptions of about the same headroom tie and a storm of
// switches spreads over them by agent count; an unknown utilization ranks
// after the steps below 0.50 and before the ones from 0.50 up.

#include "messages/time.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sb {

/// An unknown utilization counts as this much where a number is needed
/// (the ceiling of a proactive switch).
constexpr double unknown_utilization = 0.5;

class pool_index {
public:
  void add(int64_t id, const std::string& name);

  void remove(int64_t id);

  /// Adds `delta` to the subscription's agent count.
  void change_count(int64_t id, int64_t delta);

  /// The subscription is excluded until `until` (0 = not excluded).
  void set_exclusion(int64_t id, millis until);

  /// The subscription's utilization now (none = unknown).
  void set_utilization(int64_t id, std::optional<double> utilization);

  /// Both at once: one re-keying at most, none when nothing that orders
  /// the subscription changed.
  void set_state(int64_t id, millis until, std::optional<double> utilization);

  /// Out of selection (retired or drained) or back.
  void set_out(int64_t id, bool out);

  /// At most `cap` agents (0 = no cap): at the cap it is no candidate.
  void set_cap(int64_t id, uint32_t cap);

  /// The best candidate that is not `from` and not excluded at `now`: the
  /// most headroom, then the fewest agents, then the smallest name. With a
  /// `ceiling`, only candidates whose utilization (unknown counts as
  /// unknown_utilization) is at most that.
  /// `skip` (if given) passes over candidates it returns true for (a model
  /// bucket that is out).
  std::optional<int64_t> best(int64_t from, millis now,
                              std::optional<double> ceiling = std::nullopt,
                              const std::function<bool(int64_t)>& skip = {});

  /// The candidates that tie with `best` in headroom rank (best included,
  /// `from` and excluded ones not; with a `ceiling`, only those within it):
  /// where another node's agents could make `best` the worse pick.
  std::vector<int64_t> peers(int64_t best, int64_t from, millis now,
                             std::optional<double> ceiling = std::nullopt);

  /// The earliest instant an excluded subscription other than `from` comes
  /// back (0 if none is excluded).
  millis earliest_return(int64_t from, millis now);

  size_t size() const { return entries_.size(); }

  /// Number of subscriptions excluded at `now`.
  size_t excluded(millis now);

  /// Number of candidates (subscriptions not excluded) at `now`.
  size_t candidates(millis now);

  /// For tests: how many entries best, peers and earliest_return have
  /// looked at so far (each candidate or excluded entry a loop visited).
  uint64_t visits() const { return visits_; }

  /// The rank of a utilization (see the header comment); smaller is better.
  static int rank(std::optional<double> utilization);

private:
  struct entry {
    std::string name;
    uint64_t count = 0;
    millis excluded_until = 0;
    std::optional<double> utilization;
    /// Position of (name, id) among all subscriptions' (name, id).
    uint32_t order = 0;
    bool out = false;
    uint32_t cap = 0;
  };

  /// Where an entry belongs: nowhere, excluded_ or candidates_.
  enum class place : uint8_t { none, excluded, candidate };
  static place place_of(const entry& e);

  /// A candidate's place: rank, count, then name order (unique per entry,
  /// so `id` never decides and only says which subscription it is).
  struct candidate_key {
    int rank;
    uint64_t count;
    uint32_t order;
    int64_t id;

    bool operator<(const candidate_key& other) const {
      if (rank != other.rank)
        return rank < other.rank;
      if (count != other.count)
        return count < other.count;
      return order < other.order;
    }
  };

  static candidate_key key(int64_t id, const entry& e);

  /// Renumbers the name orders and rebuilds both structures if an add
  /// made them stale, then moves subscriptions whose exclusion has ended
  /// back to the candidates.
  void prepare(millis now);

  /// Assigns every entry its position in name order and rebuilds the
  /// candidates and the excluded ones from the entries.
  void rebuild();

  void detach(int64_t id, const entry& e);
  void attach(int64_t id, const entry& e);

  template<class F>
  void update(int64_t id, F f);

  std::unordered_map<int64_t, entry> entries_;
  /// Every (name, id), in the order names compare.
  std::set<std::pair<std::string, int64_t>> names_;
  /// An add since the last rebuild: the name orders and both structures
  /// are out of date (mutators then change the entries only).
  bool stale_ = false;
  std::set<candidate_key> candidates_;
  std::set<std::pair<millis, int64_t>> excluded_;
  uint64_t visits_ = 0;
};

} // namespace sb
