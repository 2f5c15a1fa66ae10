#include "actors/pool_index.hpp"

namespace sb {

void pool_index::detach(int64_t id, const entry& e) {
  if (e.excluded_until > 0)
    excluded_.erase({e.excluded_until, id});
  else
    candidates_.erase(candidate_key{e.count, e.name, id});
}

void pool_index::attach(int64_t id, const entry& e) {
  if (e.excluded_until > 0)
    excluded_.emplace(e.excluded_until, id);
  else
    candidates_.emplace(e.count, e.name, id);
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
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  auto& e = i->second;
  detach(id, e);
  auto next = static_cast<int64_t>(e.count) + delta;
  e.count = next < 0 ? 0 : static_cast<uint64_t>(next);
  attach(id, e);
}

void pool_index::set_exclusion(int64_t id, millis until) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return;
  auto& e = i->second;
  detach(id, e);
  e.excluded_until = until;
  attach(id, e);
}

void pool_index::refresh(millis now) {
  while (!excluded_.empty() && excluded_.begin()->first <= now) {
    auto id = excluded_.begin()->second;
    excluded_.erase(excluded_.begin());
    auto& e = entries_[id];
    e.excluded_until = 0;
    candidates_.emplace(e.count, e.name, id);
  }
}

std::optional<int64_t> pool_index::best(int64_t from, millis now) {
  refresh(now);
  for (auto& key : candidates_)
    if (std::get<2>(key) != from)
      return std::get<2>(key);
  return std::nullopt;
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
