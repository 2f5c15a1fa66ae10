#include "actors/clock.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/no_stages.hpp>
#include <caf/sec.hpp>

#include <vector>

namespace sb {

namespace {

caf::mailbox_element_ptr anonymous(caf::message msg) {
  return caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                   caf::no_stages, std::move(msg));
}

} // namespace

daemon_clock::~daemon_clock() {
  // nop
}

millis wall_clock::now() const {
  return wall_clock_ms();
}

void wall_clock::schedule(caf::strong_actor_ptr dest, millis delay,
                          caf::message msg) {
  if (!dest)
    return;
  auto& clock = dest->home_system->clock();
  clock.schedule_message(clock.now() + std::chrono::milliseconds(delay),
                         std::move(dest), anonymous(std::move(msg)));
}

void wall_clock::request_timeout(caf::strong_actor_ptr self,
                                 caf::message_id response_id, millis delay) {
  if (!self)
    return;
  // What CAF's request(dest, timeout, ...) does with its timeout.
  auto& clock = self->home_system->clock();
  clock.set_request_timeout(clock.now() + std::chrono::milliseconds(delay),
                            caf::actor_cast<caf::abstract_actor*>(self),
                            response_id);
}

void manual_clock::add(millis delay, timer t) {
  std::lock_guard<std::mutex> guard{mtx_};
  timers_.emplace(now_.load() + std::max<millis>(delay, 0), std::move(t));
}

void manual_clock::schedule(caf::strong_actor_ptr dest, millis delay,
                            caf::message msg) {
  if (!dest)
    return;
  add(delay, timer{std::move(dest), caf::make_message_id(), std::move(msg)});
}

void manual_clock::request_timeout(caf::strong_actor_ptr self,
                                   caf::message_id response_id, millis delay) {
  if (!self)
    return;
  add(delay,
      timer{std::move(self), response_id,
            caf::make_message(caf::make_error(caf::sec::request_timeout))});
}

void manual_clock::advance(millis ms) {
  std::vector<timer> due;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto t = now_.load() + ms;
    now_.store(t);
    auto end = timers_.upper_bound(t);
    for (auto i = timers_.begin(); i != end; ++i)
      due.emplace_back(std::move(i->second));
    timers_.erase(timers_.begin(), end);
  }
  // Outside the lock: a receiver may schedule its next timer at once.
  for (auto& x : due) {
    // A request timeout comes from the requester itself (as CAF's does).
    auto sender = x.id.is_response() ? x.dest : nullptr;
    x.dest->enqueue(caf::make_mailbox_element(std::move(sender), x.id,
                                              caf::no_stages, std::move(x.msg)),
                    nullptr);
  }
}

size_t manual_clock::pending() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return timers_.size();
}

millis manual_clock::next_due() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return timers_.empty() ? 0 : timers_.begin()->first;
}

} // namespace sb
