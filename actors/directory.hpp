#pragma once

// The directory of AGENTs by name, as the ADMIN publishes it (it spawns,
// monitors and removes agents and is its only writer): the FRONT DOOR reads
// it to route a report straight to its agent, one hop instead of two on the
// hot path; the POOL to know whose word counts; the AGENTs to know whether
// anybody watches. An immutable value: the ADMIN publishes a new one on each
// change (actors/published.hpp), a reader holds the one it loaded.

#include "messages/actors.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

namespace sb {

class agent_directory {
public:
  using map_type = std::unordered_map<std::string, agent_actor>;

  agent_directory() = default;

  /// `agents` is shared with the ADMIN's later publications that change
  /// only the watchers.
  agent_directory(std::shared_ptr<const map_type> agents, caf::actor_addr owner,
                  uint32_t watchers)
      : agents_(std::move(agents)), owner_(std::move(owner)),
        watchers_(watchers) {
    // nop
  }

  /// The agent's handle, or an invalid handle.
  agent_actor find(const std::string& name) const {
    if (!agents_)
      return {};
    auto i = agents_->find(name);
    return i == agents_->end() ? agent_actor{} : i->second;
  }

  /// Whether `sender` is the ADMIN or the AGENT `name` itself: those alone
  /// may tell the POOL where that agent counts (a count must not move on
  /// anybody else's word).
  bool speaks_for(const std::string& name,
                  const caf::strong_actor_ptr& sender) const {
    if (!sender)
      return false;
    if (owner_ && sender->address() == owner_)
      return true;
    auto agent = find(name);
    return agent && caf::actor_cast<caf::strong_actor_ptr>(agent) == sender;
  }

  /// The agents as published (shared, never changed; null = none).
  const std::shared_ptr<const map_type>& agents() const { return agents_; }

  /// How many clients watch the decisions (AGENTs format watch lines only
  /// when someone listens).
  uint32_t watchers() const { return watchers_; }

private:
  std::shared_ptr<const map_type> agents_;
  /// The ADMIN.
  caf::actor_addr owner_;
  uint32_t watchers_ = 0;
};

} // namespace sb
