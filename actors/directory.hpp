#pragma once

// The directory of AGENTs by name. The ADMIN owns it (it spawns, monitors and
// removes agents and is its only writer); the FRONT DOOR reads it to route a
// report straight to its agent, one hop instead of two on the hot path.

#include "messages/actors.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>

#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace sb {

class agent_directory {
public:
  void put(const std::string& name, agent_actor handle) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    map_[name] = std::move(handle);
  }

  /// Removes `name` if it still maps to `handle`.
  void erase(const std::string& name, const agent_actor& handle) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    auto i = map_.find(name);
    if (i != map_.end() && i->second == handle)
      map_.erase(i);
  }

  void clear() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    map_.clear();
  }

  /// The agent's handle, or an invalid handle.
  agent_actor find(const std::string& name) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = map_.find(name);
    return i == map_.end() ? agent_actor{} : i->second;
  }

  /// The ADMIN, which writes the directory (set once it runs).
  void set_owner(caf::actor_addr owner) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    owner_ = std::move(owner);
  }

  /// Whether `sender` is the ADMIN or the AGENT `name` itself: those alone
  /// may tell the POOL where that agent counts (a count must not move on
  /// anybody else's word).
  bool speaks_for(const std::string& name,
                  const caf::strong_actor_ptr& sender) const {
    if (!sender)
      return false;
    std::shared_lock<std::shared_mutex> guard{mtx_};
    if (owner_ && sender->address() == owner_)
      return true;
    auto i = map_.find(name);
    return i != map_.end()
           && caf::actor_cast<caf::strong_actor_ptr>(i->second) == sender;
  }

private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, agent_actor> map_;
  caf::actor_addr owner_;
};

} // namespace sb
