#pragma once

// One clock for `now()` and for every timer of the daemon (retry backoff,
// reconcile, retention, notifier ticks, the settle window, the store's batch
// deadline). The daemon runs on the wall clock, whose timers go through
// CAF's actor clock; tests use the manual clock, which moves only when the
// test advances it and then delivers every timer that fell due, in order,
// so timer logic is tested by stepping time instead of sleeping (the shape
// of Broker's endpoint::clock).

#include "messages/time.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/duration.hpp>
#include <caf/make_message.hpp>
#include <caf/message_id.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace sb {

class daemon_clock {
public:
  virtual ~daemon_clock();

  /// Milliseconds since the Unix epoch.
  virtual millis now() const = 0;

  /// Delivers `msg` to `dest` (as an anonymous message) once `delay`
  /// milliseconds have passed on this clock.
  virtual void schedule(caf::strong_actor_ptr dest, millis delay,
                        caf::message msg)
    = 0;

  /// Fails `self`'s request `response_id` (a response_handle's id()) with
  /// sec::request_timeout once `delay` milliseconds have passed on this
  /// clock, exactly as CAF's own request timeout does: its error arm runs,
  /// and a reply that comes later finds no request and is dropped (as the
  /// timeout is, when the reply came first). So a test's manual clock
  /// decides when a request times out, like every other timer.
  virtual void request_timeout(caf::strong_actor_ptr self,
                               caf::message_id response_id, millis delay)
    = 0;

  /// schedule() for a handle and message elements.
  template<class Handle, class... Ts>
  void send_later(const Handle& dest, caf::timespan delay, Ts&&... xs) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(delay);
    schedule(caf::actor_cast<caf::strong_actor_ptr>(dest), ms.count(),
             caf::make_message(std::forward<Ts>(xs)...));
  }
};

using clock_ptr = std::shared_ptr<daemon_clock>;

/// The wall clock; timers go through CAF's actor clock.
class wall_clock final : public daemon_clock {
public:
  millis now() const override;
  void schedule(caf::strong_actor_ptr dest, millis delay,
                caf::message msg) override;
  void request_timeout(caf::strong_actor_ptr self, caf::message_id response_id,
                       millis delay) override;
};

/// A clock that moves only when told to.
class manual_clock final : public daemon_clock {
public:
  explicit manual_clock(millis start) : now_(start) {
    // nop
  }

  millis now() const override { return now_.load(); }

  void schedule(caf::strong_actor_ptr dest, millis delay,
                caf::message msg) override;

  void request_timeout(caf::strong_actor_ptr self, caf::message_id response_id,
                       millis delay) override;

  /// Moves the clock forward by `ms` and delivers every timer due by then,
  /// earliest first.
  void advance(millis ms);

  /// Timers not delivered yet.
  size_t pending() const;

  /// When the next timer falls due (0 if none is pending).
  millis next_due() const;

private:
  std::atomic<millis> now_;
  mutable std::mutex mtx_;
  /// A message due for `dest`: anonymous, or (a request timeout) the
  /// response `id`, sent by `dest` itself as CAF's clock sends it.
  struct timer {
    caf::strong_actor_ptr dest;
    caf::message_id id;
    caf::message msg;
  };

  void add(millis delay, timer t);

  std::multimap<millis, timer> timers_;
};

} // namespace sb
