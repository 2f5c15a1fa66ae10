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
  return candidate_key{rank(e.utilization), e.count, e.order, id};
}

pool_index::place pool_index::place_of(const entry& e) {
  if (e.out)
    return place::none;
  if (e.excluded_until > 0)
    return place::excluded;
  if (e.cap > 0 && e.count >= e.cap)
    return place::none;
  return place::candidate;
}

void pool_index::detach(int64_t id, const entry& e) {
  switch (place_of(e)) {
  case place::excluded:
    excluded_.erase({e.excluded_until, id});
    break;
  case place::candidate:
    candidates_.erase(key(id, e));
    break;
  case place::none:
    break;
  }
}

void pool_index::attach(int64_t id, const entry& e) {
  switch (place_of(e)) {
  case place::excluded:
    excluded_.emplace(e.excluded_until, id);
    break;
  case place::candidate:
    candidates_.insert(key(id, e));
    break;
  case place::none:
    break;
  }
}

template<class F>
void pool_index::update(int64_t id, F f) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  auto& e = i->second;
  if (stale_) {
    // The next query rebuilds both structures from the entries.
    f(e);
    return;
  }
  auto before = key(id, e);
  auto until = e.excluded_until;
  auto was = place_of(e);
  f(e);
  auto is = place_of(e);
  if (was == place::candidate && is == place::candidate) {
    // Still a candidate: re-keyed in place (its node reused), or left
    // alone when its place did not change.
    auto after = key(id, e);
    if (!(before < after) && !(after < before))
      return;
    auto node = candidates_.extract(before);
    node.value() = after;
    candidates_.insert(std::move(node));
    return;
  }
  if (was == is && (is == place::none || until == e.excluded_until))
    return; // still out, or excluded until the same instant
  if (was == place::excluded)
    excluded_.erase({until, id});
  else if (was == place::candidate)
    candidates_.erase(before);
  attach(id, e);
}

void pool_index::add(int64_t id, const std::string& name) {
  if (entries_.count(id) > 0)
    return;
  entries_[id].name = name;
  names_.emplace(name, id);
  stale_ = true;
}

void pool_index::remove(int64_t id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  if (!stale_)
    detach(id, i->second);
  names_.erase({i->second.name, id});
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

void pool_index::set_state(int64_t id, millis until,
                           std::optional<double> utilization) {
  update(id, [until, utilization](entry& e) {
    e.excluded_until = until;
    e.utilization = utilization;
  });
}

void pool_index::set_out(int64_t id, bool out) {
  update(id, [out](entry& e) { e.out = out; });
}

void pool_index::set_cap(int64_t id, uint32_t cap) {
  update(id, [cap](entry& e) { e.cap = cap; });
}

void pool_index::rebuild() {
  uint32_t order = 0;
  for (auto& [name, id] : names_)
    entries_[id].order = order++;
  candidates_.clear();
  excluded_.clear();
  for (auto& [id, e] : entries_)
    attach(id, e);
  stale_ = false;
}

void pool_index::prepare(millis now) {
  if (stale_)
    rebuild();
  while (!excluded_.empty() && excluded_.begin()->first <= now) {
    auto id = excluded_.begin()->second;
    excluded_.erase(excluded_.begin());
    auto& e = entries_[id];
    e.excluded_until = 0;
    if (place_of(e) == place::candidate)
      candidates_.insert(key(id, e));
  }
}

std::optional<int64_t>
pool_index::best(int64_t from, millis now, std::optional<double> ceiling,
                 const std::function<bool(int64_t)>& skip) {
  prepare(now);
  for (auto& k : candidates_) {
    ++visits_;
    if (k.id == from || (skip && skip(k.id)))
      continue;
    if (!ceiling)
      return k.id;
    // Ranks ascend: past the ceiling's rank nothing further qualifies.
    if (k.rank > rank(*ceiling))
      break;
    auto u = entries_[k.id].utilization.value_or(unknown_utilization);
    if (u <= *ceiling + 1e-9)
      return k.id;
  }
  return std::nullopt;
}

std::vector<int64_t> pool_index::peers(int64_t best, int64_t from, millis now,
                                       std::optional<double> ceiling) {
  prepare(now);
  std::vector<int64_t> out;
  auto i = entries_.find(best);
  if (i == entries_.end())
    return out;
  auto best_rank = rank(i->second.utilization);
  // Straight to the first candidate of that rank.
  auto k = candidates_.lower_bound(candidate_key{best_rank, 0, 0, 0});
  for (; k != candidates_.end() && k->rank == best_rank; ++k) {
    ++visits_;
    if (k->id == from)
      continue;
    auto u = entries_[k->id].utilization.value_or(unknown_utilization);
    if (!ceiling || u <= *ceiling + 1e-9)
      out.push_back(k->id);
  }
  return out;
}

millis pool_index::earliest_return(int64_t from, millis now) {
  prepare(now);
  for (auto& [until, id] : excluded_) {
    ++visits_;
    if (id != from)
      return until;
  }
  return 0;
}

size_t pool_index::excluded(millis now) {
  prepare(now);
  return excluded_.size();
}

size_t pool_index::candidates(millis now) {
  prepare(now);
  return candidates_.size();
}

} // namespace sb
