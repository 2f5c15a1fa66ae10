#include "actors/deliverer.hpp"

#include "actors/logging.hpp"
#include "actors/timeouts.hpp"
#include "docker_client/http.hpp"
#include "messages/error.hpp"
#include "notify/deliver.hpp"

#include <caf/blocking_actor.hpp>
#include <caf/event_based_actor.hpp>

#include <algorithm>
#include <iterator>

namespace sb {

namespace {

/// Notifications one worker takes at a time.
constexpr uint32_t batch_size = 50;

/// Retries: from about a second, doubling, at most five minutes.
constexpr millis first_retry = 1000;
constexpr millis last_retry = 5 * minute_ms;

/// One receiver's answer may take this long.
constexpr auto delivery_timeout = std::chrono::seconds(10);

/// What a worker takes is this node's for as long as the whole batch may
/// take against a receiver that never answers, and a minute more.
constexpr millis take_lease = batch_size * 10000 + minute_ms;

using self_ptr = deliverer_ptr;

millis to_millis(caf::timespan t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
}

template<class Handle, class... Ts>
auto ask(self_ptr self, const Handle& dest, Ts&&... xs) {
  return request_within(self, *self->state.ctx->clock, dest,
                        store_request_timeout, std::forward<Ts>(xs)...);
}

/// What one worker does: its sink, the plan, one jitter per message.
struct work_order {
  stored_sink sink;
  delivery_plan plan;
  std::vector<double> jitters;
  uint32_t max_attempts = 10;
};

delivery_record skipped(const stored_sink& sink, const delivery_due& due) {
  delivery_record rec;
  rec.sink_id = sink.info.id;
  rec.notification_id = due.note.id;
  rec.state = delivery_state::skipped;
  return rec;
}

/// Delivers `e` for `members` (one, or a digest's) and sends one record
/// per member.
void deliver_one(deliverer_actor parent, const clock_ptr& clock,
                 docker::http_client& http, const work_order& w,
                 const notify::event& e,
                 const std::vector<delivery_due>& members, double jitter) {
  auto now = clock->now();
  auto out = notify::deliver(http, w.sink, e, now, delivery_timeout);
  for (auto& due : members)
    caf::anon_send(parent, delivery_atom::value,
                   next_record(w.sink.info.id, due.note.id, due.attempts + 1,
                               out.verdict, out.status, out.error, now,
                               w.max_attempts, jitter));
}

/// The worker of one sink: the plan in order, one result per notification.
void work(deliverer_actor parent, clock_ptr clock, work_order w) {
  docker::http_client http;
  size_t j = 0;
  for (auto& due : w.plan.single) {
    auto e = notify::event_of(due.note);
    if (!takes(w.sink.info, e)) {
      caf::anon_send(parent, delivery_atom::value, skipped(w.sink, due));
      continue;
    }
    deliver_one(parent, clock, http, w, e, {due}, w.jitters[j++]);
  }
  for (auto& group : w.plan.digests) {
    std::vector<notify::event> events;
    std::vector<delivery_due> members;
    for (auto& due : group) {
      auto e = notify::event_of(due.note);
      if (!takes(w.sink.info, e)) {
        caf::anon_send(parent, delivery_atom::value, skipped(w.sink, due));
        continue;
      }
      events.push_back(std::move(e));
      members.push_back(due);
    }
    if (members.size() == 1)
      deliver_one(parent, clock, http, w, events.front(), members,
                  w.jitters[j++]);
    else if (!members.empty())
      deliver_one(parent, clock, http, w, notify::digest_of(events), members,
                  w.jitters[j++]);
  }
  caf::anon_send(parent, delivery_atom::value, w.sink.info.id);
}

/// Held events go back to the store as they were: due again at once, so
/// the next tick plans them with whatever joined them.
void release(self_ptr self, const stored_sink& sink,
             const std::vector<delivery_due>& held) {
  for (auto& due : held) {
    delivery_record rec;
    rec.sink_id = sink.info.id;
    rec.notification_id = due.note.id;
    rec.attempts = due.attempts;
    self->send(self, delivery_atom::value, std::move(rec));
  }
}

void start_worker(self_ptr self, stored_sink sink,
                  std::vector<delivery_due> batch) {
  auto& st = self->state;
  auto& o = st.ctx->opts;
  work_order w;
  w.max_attempts = static_cast<uint32_t>(o.notify_max_attempts);
  if (sink.info.digest) {
    digest_rule rule{static_cast<size_t>(o.digest_threshold),
                     to_millis(o.digest_interval), to_millis(o.digest_wait)};
    w.plan = plan_deliveries(std::move(batch), rule, st.ctx->now());
  } else {
    w.plan.single = std::move(batch);
  }
  release(self, sink, w.plan.held);
  auto messages = w.plan.single.size() + w.plan.digests.size();
  for (size_t i = 0; i < messages; ++i)
    w.jitters.push_back(
      std::uniform_real_distribution<double>{0.0, 1.0}(st.rng));
  w.sink = std::move(sink);
  if (messages == 0) {
    st.busy.erase(w.sink.info.id);
    return;
  }
  auto me = caf::actor_cast<deliverer_actor>(self);
  auto clock = st.ctx->clock;
  self->system().spawn<caf::detached>(
    [me, clock, w = std::move(w)](caf::blocking_actor*) {
      work(me, clock, w);
    });
}

void look(self_ptr self, const stored_sink& sink) {
  auto& st = self->state;
  st.busy[sink.info.id] = true;
  ask(self, st.store, delivery_atom::value, sink, st.ctx->now(), batch_size,
      take_lease)
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
        SB_WARN("deliverer cannot take what sink {} has due: {}", name,
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
        self->state.names.clear();
        for (auto& s : sinks)
          self->state.names.emplace(s.info.id, s.info.name);
        for (auto& s : sinks)
          if (self->state.busy.count(s.info.id) == 0)
            look(self, s);
      },
      [self](caf::error& err) {
        self->state.listing = false;
        SB_WARN("deliverer cannot list the sinks: {}", render(err));
      });
}

/// Logs and counts a worker's result (a release of a held event is neither).
void record_result(self_ptr self, const delivery_record& rec) {
  if (rec.attempts == 0 && rec.state == delivery_state::pending)
    return;
  auto i = self->state.names.find(rec.sink_id);
  auto sink
    = i == self->state.names.end() ? std::to_string(rec.sink_id) : i->second;
  const char* result = "delivered";
  if (rec.state == delivery_state::failed) {
    result = "failed";
    SB_WARN("notification {} gave up on sink {} after {} attempts ({})",
            rec.notification_id, sink, rec.attempts, rec.last_error);
  } else if (rec.state == delivery_state::pending) {
    result = "retry";
    SB_INFO("notification {} not delivered to sink {} (attempt {}: {}); "
            "again at {}",
            rec.notification_id, sink, rec.attempts, rec.last_error,
            format_iso(rec.next_at));
  } else if (rec.state == delivery_state::skipped) {
    return;
  }
  self->state.ctx->stats->notification_delivered(sink, result);
}

/// One test event to `sink` at `now`, blocking; its result.
delivery_record send_test_event(const stored_sink& sink, millis now) {
  docker::http_client http;
  notify::event e;
  e.type = "test";
  e.at = now;
  e.title = "Test from Switchboard";
  e.text
    = "This is a test event for sink '" + sink.info.name + "': it reaches you.";
  auto out = notify::deliver(http, sink, e, now, delivery_timeout);
  return next_record(sink.info.id, 0, 1, out.verdict, out.status, out.error,
                     now, 1, 0.0);
}

/// `notify test`: one test event to the named sink, its answer returned
/// (nothing stored: a test is not a notification).
caf::result<delivery_record> test_sink(self_ptr self, const std::string& name) {
  auto rp = self->make_response_promise<delivery_record>();
  auto clock = self->state.ctx->clock;
  ask(self, self->state.store, sink_list_atom::value)
    .then(
      [self, rp, name, clock](std::vector<stored_sink>& sinks) mutable {
        auto i = std::find_if(sinks.begin(), sinks.end(),
                              [&](auto& s) { return s.info.name == name; });
        if (i == sinks.end()) {
          rp.deliver(make_error(ec::not_found, "unknown sink '" + name
                                                 + "' (see notify list)"));
          return;
        }
        // The blocking call on a thread of its own, asked like any actor:
        // its answer comes back to this one, which answers the requester.
        auto worker = self->system().spawn<caf::detached>(
          [clock](caf::event_based_actor* w) -> caf::behavior {
            return {[w, clock](sink_test_atom, const stored_sink& sink) {
              w->quit();
              return send_test_event(sink, clock->now());
            }};
          });
        self
          ->request(worker, delivery_timeout + std::chrono::seconds(5),
                    sink_test_atom::value, *i)
          .then([rp](delivery_record& r) mutable { rp.deliver(std::move(r)); },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
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

delivery_plan plan_deliveries(std::vector<delivery_due> batch,
                              const digest_rule& rule, millis now) {
  delivery_plan plan;
  std::map<notification_kind, std::vector<delivery_due>> by_type;
  for (auto& due : batch)
    by_type[due.note.kind].push_back(std::move(due));
  for (auto& [kind, xs] : by_type) {
    std::stable_sort(xs.begin(), xs.end(), [](auto& x, auto& y) {
      return x.note.created_at < y.note.created_at;
    });
    millis oldest = xs.front().note.created_at, newest = oldest;
    bool fresh = false;
    for (auto& x : xs)
      if (x.attempts == 0) {
        fresh = true;
        newest = std::max(newest, x.note.created_at);
      }
    if (fresh && now < newest + rule.wait && now < oldest + rule.interval) {
      for (auto& x : xs)
        (x.attempts == 0 ? plan.held : plan.single).push_back(std::move(x));
      continue;
    }
    for (size_t i = 0; i < xs.size();) {
      size_t end = i;
      while (end < xs.size()
             && xs[end].note.created_at < xs[i].note.created_at + rule.interval)
        ++end;
      if (end - i > rule.threshold)
        plan.digests.emplace_back(xs.begin() + i, xs.begin() + end);
      else
        plan.single.insert(plan.single.end(), xs.begin() + i, xs.begin() + end);
      i = end;
    }
  }
  std::sort(plan.single.begin(), plan.single.end(),
            [](auto& x, auto& y) { return x.note.id < y.note.id; });
  return plan;
}

deliverer_actor::behavior_type deliverer(deliverer_ptr self, store_actor store,
                                         context_ptr ctx) {
  self->state.store = std::move(store);
  self->state.ctx = std::move(ctx);
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) { tick(self); },
    [=](delivery_atom, delivery_record& rec) {
      record_result(self, rec);
      auto now = self->state.ctx->now();
      ask(self, self->state.store, delivery_atom::value, std::move(rec), now)
        .then([](ok_atom) {},
              [](caf::error& err) {
                SB_WARN("deliverer cannot record a delivery: {}", render(err));
              });
    },
    [=](delivery_atom, int64_t sink_id) { self->state.busy.erase(sink_id); },
    [=](sink_test_atom, const std::string& name) {
      return test_sink(self, name);
    },
  };
}

} // namespace sb
