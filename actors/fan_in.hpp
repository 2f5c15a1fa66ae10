#pragma once

// One fan-out helper: several requests whose answers are merged into one
// value, delivered when the last request has ended (answered, failed or
// timed out). The shared state's destructor delivers, so there is no counter
// to get wrong and a component that never answers only costs its timeout
// (the shape of VAST's status request state).

#include <caf/error.hpp>
#include <caf/message_priority.hpp>
#include <caf/typed_response_promise.hpp>

#include <functional>
#include <memory>
#include <utility>

namespace sb {

template<class T>
class fan_in {
public:
  /// `finalize` runs on the value right before it is delivered.
  explicit fan_in(caf::typed_response_promise<T> rp, T initial = {},
                  std::function<void(T&)> finalize = nullptr)
      : state_(std::make_shared<state>(std::move(rp), std::move(initial),
                                       std::move(finalize))) {
    // nop
  }

  T& value() { return state_->value; }

  /// Sends `xs...` to `dest` with a high priority (a busy component answers
  /// before its backlog); `on_answer(T&, Answer&)` or
  /// `on_error(T&, const caf::error&)` merges the outcome.
  template<class Answer, class Self, class Dest, class Timeout, class OnAnswer,
           class OnError, class... Ts>
  void ask(Self self, const Dest& dest, Timeout timeout, OnAnswer on_answer,
           OnError on_error, Ts&&... xs) {
    auto st = state_;
    self
      ->template request<caf::message_priority::high>(dest, timeout,
                                                      std::forward<Ts>(xs)...)
      .then(
        [st, on_answer](Answer& x) mutable { on_answer(st->value, x); },
        [st, on_error](caf::error& err) mutable { on_error(st->value, err); });
  }

private:
  struct state {
    state(caf::typed_response_promise<T> p, T v, std::function<void(T&)> f)
        : rp(std::move(p)), value(std::move(v)), finalize(std::move(f)) {
      // nop
    }

    ~state() {
      if (finalize)
        finalize(value);
      rp.deliver(std::move(value));
    }

    caf::typed_response_promise<T> rp;
    T value;
    std::function<void(T&)> finalize;
  };

  std::shared_ptr<state> state_;
};

} // namespace sb
