#pragma once

// A value one actor owns and others read without a message: the owner
// publishes a whole new immutable value, a reader takes the current one and
// keeps it as long as it wants. A reader never sees half of an update, and
// an update never waits for a reader (nor a reader for the owner, beyond the
// pointer swap). One writer per value, by convention: context.hpp says who.
//
// C++17: std::atomic_load / std::atomic_store on the shared_ptr (libstdc++:
// a small pool of mutexes, each held for one pointer's copy only).

#include <atomic>
#include <memory>
#include <utility>

namespace sb {

template<class T>
class published {
public:
  using pointer = std::shared_ptr<const T>;

  published() : current_(std::make_shared<const T>()) {
    // nop
  }

  explicit published(T initial)
      : current_(std::make_shared<const T>(std::move(initial))) {
    // nop
  }

  published(const published&) = delete;
  published& operator=(const published&) = delete;

  /// The current value (never null). Load it once per message and read
  /// that: a later publication does not change what the reader holds.
  pointer get() const { return std::atomic_load(&current_); }

  /// Replaces the value for every later get(); readers holding the old one
  /// keep it until they drop it. The owner only.
  void publish(T next) { publish(std::make_shared<const T>(std::move(next))); }

  void publish(pointer next) {
    if (next)
      std::atomic_store(&current_, std::move(next));
  }

private:
  pointer current_;
};

} // namespace sb
