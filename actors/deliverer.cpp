#include "actors/deliverer.hpp"

#include "actors/logging.hpp"
#include "actors/timeouts.hpp"
#include "docker_client/http.hpp"
#include "messages/error.hpp"
#include "notify/deliver.hpp"

#include <caf/blocking_actor.hpp>

#include <algorithm>

namespace sb {

namespace {

/// Notifications one worker takes at a time.
constexpr uint32_t batch_size = 50;

/// Retries: from about a second, doubling, at most five minutes.
constexpr millis first_retry = 1000;
constexpr millis last_retry = 5 * minute_ms;

/// One receiver's answer may take this long.
constexpr auto delivery_timeout = std::chrono::seconds(10);

/// Attempts before a delivery is given up.
constexpr uint32_t default_max_attempts = 10;

using self_ptr = deliverer_ptr;

template<class Handle, class... Ts>
auto ask(self_ptr self, const Handle& dest, Ts&&... xs) {
  return request_within(self, *self->state.ctx->clock, dest,
                        store_request_timeout, std::forward<Ts>(xs)...);
}

/// The worker of one sink: delivers the batch in order, one result each.
void work(deliverer_actor parent, clock_ptr clock, stored_sink sink,
          std::vector<delivery_due> batch, std::vector<double> jitters) {
  docker::http_client http;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& due = batch[i];
    auto e = notify::event_of(due.note);
    auto now = clock->now();
    if (!takes(sink.info, e)) {
      delivery_record rec;
      rec.sink_id = sink.info.id;
      rec.notification_id = due.note.id;
      rec.state = delivery_state::skipped;
      caf::anon_send(parent, delivery_atom::value, std::move(rec));
      continue;
    }
    auto out = notify::deliver(http, sink, e, now, delivery_timeout);
    caf::anon_send(parent, delivery_atom::value,
                   next_record(sink.info.id, due.note.id, due.attempts + 1,
                               out.verdict, out.status, out.error, now,
                               default_max_attempts, jitters[i]));
  }
  caf::anon_send(parent, delivery_atom::value, sink.info.id);
}

void start_worker(self_ptr self, stored_sink sink,
                  std::vector<delivery_due> batch) {
  std::vector<double> jitters;
  for (size_t i = 0; i < batch.size(); ++i)
    jitters.push_back(
      std::uniform_real_distribution<double>{0.0, 1.0}(self->state.rng));
  auto me = caf::actor_cast<deliverer_actor>(self);
  auto clock = self->state.ctx->clock;
  self->system().spawn<caf::detached>(
    [me, clock, sink, batch, jitters](caf::blocking_actor*) {
      work(me, clock, sink, batch, jitters);
    });
}

void look(self_ptr self, const stored_sink& sink) {
  auto& st = self->state;
  st.busy[sink.info.id] = true;
  ask(self, st.store, delivery_atom::value, sink, st.ctx->now(), batch_size)
    .then(
      [self, sink](std::vector<delivery_due>& batch) {
        if (batch.empty()) {
          self->state.busy.erase(sink.info.id);
          return;
        }
        start_worker(self, sink, std::move(batch));
      },
      [self, id = sink.info.id, name = sink.info.name](caf::error& err) {
        self->state.busy.erase(id);
        SB_WARN("deliverer cannot read what sink {} has due: {}", name,
                render(err));
      });
}

void tick(self_ptr self) {
  auto& st = self->state;
  st.ctx->clock->send_later(self, st.ctx->live.get()->notify_interval,
                            tick_atom::value);
  if (st.listing)
    return;
  st.listing = true;
  ask(self, st.store, sink_list_atom::value)
    .then(
      [self](std::vector<stored_sink>& sinks) {
        self->state.listing = false;
        for (auto& s : sinks)
          if (self->state.busy.count(s.info.id) == 0)
            look(self, s);
      },
      [self](caf::error& err) {
        self->state.listing = false;
        SB_WARN("deliverer cannot list the sinks: {}", render(err));
      });
}

} // namespace

bool takes(const sink_info& sink, const notify::event& e) {
  if (e.type == "test")
    return true;
  if (!sink.events.empty()
      && std::find(sink.events.begin(), sink.events.end(), e.type)
           == sink.events.end())
    return false;
  auto lowest = notify::parse_severity(sink.min_severity)
                  .value_or(notify::severity::info);
  return e.level >= lowest;
}

delivery_record next_record(int64_t sink_id, int64_t notification_id,
                            uint32_t attempts,
                            const notify::delivery_verdict& v, long status,
                            const std::string& error, millis now,
                            uint32_t max_attempts, double jitter) {
  delivery_record rec;
  rec.sink_id = sink_id;
  rec.notification_id = notification_id;
  rec.attempts = attempts;
  rec.last_status = static_cast<int32_t>(status);
  rec.last_error = error;
  using k = notify::delivery_verdict::kind;
  if (v.result == k::delivered) {
    rec.state = delivery_state::delivered;
  } else if (v.result == k::final || attempts >= max_attempts) {
    rec.state = delivery_state::failed;
  } else {
    rec.state = delivery_state::pending;
    rec.next_at = now
                  + notify::delivery_backoff(attempts, first_retry, last_retry,
                                             v.retry_after, jitter);
  }
  return rec;
}

deliverer_actor::behavior_type deliverer(deliverer_ptr self, store_actor store,
                                         context_ptr ctx) {
  self->state.store = std::move(store);
  self->state.ctx = std::move(ctx);
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) { tick(self); },
    [=](delivery_atom, delivery_record& rec) {
      if (rec.state == delivery_state::failed)
        SB_WARN("notification {} gave up on sink {} after {} attempts ({})",
                rec.notification_id, rec.sink_id, rec.attempts, rec.last_error);
      auto now = self->state.ctx->now();
      ask(self, self->state.store, delivery_atom::value, std::move(rec), now)
        .then([](ok_atom) {},
              [](caf::error& err) {
                SB_WARN("deliverer cannot record a delivery: {}", render(err));
              });
    },
    [=](delivery_atom, int64_t sink_id) { self->state.busy.erase(sink_id); },
  };
}

} // namespace sb
