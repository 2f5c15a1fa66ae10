#include "actors/pool_index.hpp"

#include <algorithm>
#include <cmath>

namespace sb {

int pool_index::rank(std::optional<double> utilization) {
  if (!utilization)
    return 9; // between step 4 (0.40-0.49, rank 8) and step 5 (rank 10)
  auto step = static_cast<int>(std::floor(*utilization * 10 + 1e-9));
  return 2 * std::clamp(step, 0, 10);
}

pool_index::candidate_key pool_index::key(int64_t id, const entry& e) {
  return candidate_key{rank(e.utilization), e.count, e.name, id};
}

void pool_index::detach(int64_t id, const entry& e) {
  if (e.excluded_until > 0)
    excluded_.erase({e.excluded_until, id});
  else
    candidates_.erase(key(id, e));
}

void pool_index::attach(int64_t id, const entry& e) {
  if (e.excluded_until > 0)
    excluded_.emplace(e.excluded_until, id);
  else
    candidates_.emplace(key(id, e));
}

template<class F>
void pool_index::update(int64_t id, F f) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  detach(id, i->second);
  f(i->second);
  attach(id, i->second);
}

void pool_index::add(int64_t id, const std::string& name) {
  if (entries_.count(id) > 0)
    return;
  auto& e = entries_[id];
  e.name = name;
  attach(id, e);
}

void pool_index::remove(int64_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  detach(id, i->second);
  entries_.erase(i);
}

void pool_index::change_count(int64_t id, int64_t delta) {
  update(id, [delta](entry& e) {
    auto next = static_cast<int64_t>(e.count) + delta;
    e.count = next < 0 ? 0 : static_cast<uint64_t>(next);
  });
}

void pool_index::set_exclusion(int64_t id, millis until) {
  update(id, [until](entry& e) { e.excluded_until = until; });
}

void pool_index::set_utilization(int64_t id,
                                 std::optional<double> utilization) {
  update(id, [utilization](entry& e) { e.utilization = utilization; });
}

void pool_index::refresh(millis now) {
  while (!excluded_.empty() && excluded_.begin()->first <= now) {
    auto id = excluded_.begin()->second;
    excluded_.erase(excluded_.begin());
    auto& e = entries_[id];
    e.excluded_until = 0;
    candidates_.emplace(key(id, e));
  }
}

std::optional<int64_t> pool_index::best(int64_t from, millis now,
                                        std::optional<double> ceiling) {
  refresh(now);
  for (auto& k : candidates_) {
    auto id = std::get<3>(k);
    if (id == from)
      continue;
    if (!ceiling)
      return id;
    // Ranks ascend: past the ceiling's rank nothing further qualifies.
    if (std::get<0>(k) > rank(*ceiling))
      break;
    auto u = entries_[id].utilization.value_or(unknown_utilization);
    if (u <= *ceiling + 1e-9)
      return id;
  }
  return std::nullopt;
}

std::vector<int64_t> pool_index::peers(int64_t best, int64_t from, millis now,
                                       std::optional<double> ceiling) {
  refresh(now);
  std::vector<int64_t> out;
  auto i = entries_.find(best);
  if (i == entries_.end())
    return out;
  auto best_rank = rank(i->second.utilization);
  for (auto& k : candidates_) {
    if (std::get<0>(k) > best_rank)
      break;
    auto id = std::get<3>(k);
    if (std::get<0>(k) < best_rank || id == from)
      continue;
    auto u = entries_[id].utilization.value_or(unknown_utilization);
    if (!ceiling || u <= *ceiling + 1e-9)
      out.push_back(id);
  }
  return out;
}

millis pool_index::earliest_return(int64_t from, millis now) {
  refresh(now);
  for (auto& [until, id] : excluded_)
    if (id != from)
      return until;
  return 0;
}

size_t pool_index::excluded(millis now) {
  refresh(now);
  return excluded_.size();
}

} // namespace sb
