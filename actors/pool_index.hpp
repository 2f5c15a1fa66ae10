#pragma once

// The SUBSCRIPTION POOL's selection index: which subscription is the best
// alternative, in O(log S) per pick. Subscriptions that are not excluded are
// kept ordered by (agent count, name); excluded ones are kept ordered by the
// instant their exclusion ends and move back when it passed. A plain class so
// the ordering can be tested without actors.

#include "messages/time.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>

namespace sb {

class pool_index {
public:
  void add(int64_t id, const std::string& name);

  void remove(int64_t id);

  /// Adds `delta` to the subscription's agent count.
  void change_count(int64_t id, int64_t delta);

  /// The subscription is excluded until `until` (0 = not excluded).
  void set_exclusion(int64_t id, millis until);

  /// The candidate with the fewest agents, then the smallest name, that is
  /// not `from` and not excluded at `now`.
  std::optional<int64_t> best(int64_t from, millis now);

  /// The earliest instant an excluded subscription other than `from` comes
  /// back (0 if none is excluded).
  millis earliest_return(int64_t from, millis now);

  size_t size() const { return entries_.size(); }

  /// Number of subscriptions excluded at `now`.
  size_t excluded(millis now);

private:
  struct entry {
    std::string name;
    uint64_t count = 0;
    millis excluded_until = 0;
  };

  using candidate_key = std::tuple<uint64_t, std::string, int64_t>;

  /// Moves subscriptions whose exclusion has ended back to the candidates.
  void refresh(millis now);

  void detach(int64_t id, const entry& e);
  void attach(int64_t id, const entry& e);

  std::unordered_map<int64_t, entry> entries_;
  std::set<candidate_key> candidates_;
  std::set<std::pair<millis, int64_t>> excluded_;
};

} // namespace sb
