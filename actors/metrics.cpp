// The daemon's Prometheus metrics (actors/metrics.hpp).

#include "actors/metrics.hpp"

#include "messages/register.hpp"

#include <dirent.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

namespace sb {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

/// More than any enum of messages/kinds.hpp has enumerators.
constexpr size_t max_enum = 16;

/// The label value of an answer: its outcome, or "error".
std::string outcome_label(std::optional<outcome> x) {
  return x ? to_string(*x) : "error";
}

std::string kind_label(failure_kind x) {
  return x == failure_kind::none ? "none" : to_string(x);
}

/// The slot of an answer's outcome: 0 is "error", the outcomes follow.
size_t outcome_slot(std::optional<outcome> x) {
  return x ? std::min(static_cast<size_t>(*x) + 1, max_enum - 1) : 0;
}

template<class Enum>
size_t index_of(Enum x) {
  return std::min(static_cast<size_t>(x), max_enum - 1);
}

/// Series created on first use (only what happened shows up), then reached
/// without a lock: an atomic pointer per label combination.
template<class T, size_t N>
class lazy_series {
public:
  explicit lazy_series(Family<T>& family) : family_(family) {
    for (auto& x : slots_)
      x.store(nullptr, std::memory_order_relaxed);
  }

  template<class Make>
  T& at(size_t i, Make labels) {
    auto p = slots_[i].load(std::memory_order_acquire);
    if (p != nullptr)
      return *p;
    std::lock_guard<std::mutex> guard{mutex_};
    p = slots_[i].load(std::memory_order_relaxed);
    if (p == nullptr) {
      p = &family_.Add(labels());
      slots_[i].store(p, std::memory_order_release);
    }
    return *p;
  }

private:
  Family<T>& family_;
  std::mutex mutex_;
  std::array<std::atomic<T*>, N> slots_;
};

Histogram::BucketBoundaries duration_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,  0.5,    1,     2.5,  5,     10,   30};
}

Histogram::BucketBoundaries apply_buckets() {
  return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120};
}

Histogram::BucketBoundaries batch_buckets() {
  return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
}

Gauge& gauge(prometheus::Registry& r, const std::string& name,
             const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

Family<Gauge>& gauge_family(prometheus::Registry& r, const std::string& name,
                            const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

/// This process as /proc/self and getrlimit show it now (0 for what could
/// not be read).
struct process_sample {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};

/// Seconds since the epoch at boot (/proc/stat's btime).
double boot_time_seconds() {
  std::ifstream in{"/proc/stat"};
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value)
      return value;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

/// Fields 3 and on of /proc/self/stat (after the name, which may hold
/// spaces and parentheses): field n is at n - 3.
std::vector<std::string> self_stat_fields() {
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return {};
  std::istringstream rest{line.substr(close + 1)};
  std::vector<std::string> out;
  for (std::string x; rest >> x;)
    out.push_back(std::move(x));
  return out;
}

double open_descriptors() {
  auto* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return 0;
  double n = 0;
  while (auto* e = ::readdir(dir))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(dir);
  return n - 1; // the directory's own descriptor
}

process_sample sample_process() {
  process_sample x;
  auto f = self_stat_fields();
  auto field = [&f](size_t n) {
    return n >= 3 && n - 3 < f.size() ? std::strtod(f[n - 3].c_str(), nullptr)
                                      : 0.0;
  };
  auto hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  x.cpu_seconds = (field(14) + field(15)) / hz; // utime + stime
  x.virtual_bytes = field(23);
  x.resident_bytes = field(24) * page;
  static const double boot = boot_time_seconds();
  x.start_time_seconds = boot + field(22) / hz;
  x.open_fds = open_descriptors();
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    x.max_fds = lim.rlim_cur == RLIM_INFINITY
                  ? static_cast<double>(std::numeric_limits<int64_t>::max())
                  : static_cast<double>(lim.rlim_cur);
  return x;
}

/// Every state a subscription's credential can be in.
constexpr credential_state credential_states[]
  = {credential_state::active, credential_state::cooling,
     credential_state::draining, credential_state::retired};

} // namespace

struct metrics::impl {
  prometheus::Registry registry;

  Family<Counter>& reports = prometheus::BuildCounter()
                               .Name("switchboard_reports_total")
                               .Help("Failure reports answered, by outcome "
                                     "and by the kind they were classified as")
                               .Register(registry);
  lazy_series<Counter, max_enum * max_enum> report_series{reports};

  Family<Counter>& observations = prometheus::BuildCounter()
                                    .Name("switchboard_observations_total")
                                    .Help("Observations (provider evidence of "
                                          "successful responses) answered")
                                    .Register(registry);
  lazy_series<Counter, max_enum> observation_series{observations};

  Family<Counter>& switches = prometheus::BuildCounter()
                                .Name("switchboard_switches_total")
                                .Help("Switches committed, by trigger")
                                .Register(registry);
  lazy_series<Counter, max_enum> switch_series{switches};

  Counter& repicks = prometheus::BuildCounter()
                       .Name("switchboard_switch_repicks_total")
                       .Help("Several nodes: picks the store found stale "
                             "under the selection lock (the pool picked "
                             "again)")
                       .Register(registry)
                       .Add({});

  Family<Counter>& applications
    = prometheus::BuildCounter()
        .Name("switchboard_token_applications_total")
        .Help("Token applications to containers, by result")
        .Register(registry);
  lazy_series<Counter, max_enum> application_series{applications};

  Histogram& report_duration = prometheus::BuildHistogram()
                                 .Name("switchboard_report_duration_seconds")
                                 .Help("From a report's arrival to its answer")
                                 .Register(registry)
                                 .Add({}, duration_buckets());

  Histogram& apply_duration
    = prometheus::BuildHistogram()
        .Name("switchboard_apply_duration_seconds")
        .Help("From a token application's request to its result")
        .Register(registry)
        .Add({}, apply_buckets());

  Histogram& batch_size = prometheus::BuildHistogram()
                            .Name("switchboard_store_commit_batch_size")
                            .Help("Writes per store transaction (group commit)")
                            .Register(registry)
                            .Add({}, batch_buckets());

  Gauge& agents = gauge(registry, "switchboard_agents", "Agents registered");
  Gauge& agents_behind = gauge(registry, "switchboard_agents_behind",
                               "Agents whose container runs an older token "
                               "generation than the one committed");
  Family<Gauge>& subscriptions = prometheus::BuildGauge()
                                   .Name("switchboard_subscriptions")
                                   .Help("Subscriptions registered, by pool")
                                   .Register(registry);
  Family<Gauge>& excluded
    = prometheus::BuildGauge()
        .Name("switchboard_subscriptions_excluded")
        .Help("Subscriptions of a pool excluded from selection now")
        .Register(registry);
  Family<Gauge>& expiry
    = prometheus::BuildGauge()
        .Name("switchboard_credential_expiry_seconds")
        .Help("Seconds until the soonest expiry of a credential of a pool "
              "that is not retired (negative: expired)")
        .Register(registry);
  /// The pools of the last scrape: a pool gone since loses its series.
  std::set<std::string> pools_seen;
  std::set<std::string> expiry_seen;

  void set_pools(const metric_gauges& g) {
    for (auto& name : pools_seen)
      if (g.pools.count(name) == 0) {
        subscriptions.Remove(&subscriptions.Add({{"pool", name}}));
        excluded.Remove(&excluded.Add({{"pool", name}}));
      }
    for (auto& name : expiry_seen) {
      auto i = g.pools.find(name);
      if (i == g.pools.end() || !i->second.expiry_seconds)
        expiry.Remove(&expiry.Add({{"pool", name}}));
    }
    pools_seen.clear();
    expiry_seen.clear();
    for (auto& [name, p] : g.pools) {
      subscriptions.Add({{"pool", name}})
        .Set(static_cast<double>(p.subscriptions));
      excluded.Add({{"pool", name}}).Set(static_cast<double>(p.excluded));
      pools_seen.insert(name);
      if (p.expiry_seconds) {
        expiry.Add({{"pool", name}}).Set(*p.expiry_seconds);
        expiry_seen.insert(name);
      }
    }
  }

  Family<Counter>& refreshes
    = prometheus::BuildCounter()
        .Name("switchboard_credential_refreshes_total")
        .Help("Refreshes of oauth credentials, by result (ok, backoff, "
              "recovered, dead)")
        .Register(registry);
  std::map<std::string, Counter*, std::less<>> refresh_series;
  Gauge& pending = gauge(registry, "switchboard_notifications_pending",
                         "Notifications in the outbox not yet delivered");
  Gauge& containers = gauge(registry, "switchboard_containers",
                            "Agents that run in a container");
  Gauge& engine_up = gauge(registry, "switchboard_docker_engine_up",
                           "1 if the Docker engine answered a ping, 0 if not");
  Gauge& unresponsive
    = gauge(registry, "switchboard_components_unresponsive",
            "Daemon components that did not answer the scrape in time");

  Family<Counter>& intake_closed
    = prometheus::BuildCounter()
        .Name("switchboard_intake_closed_total")
        .Help("Client connections the front door's guard refused or closed, "
              "by reason")
        .Register(registry);
  Gauge& intake_open = gauge(registry, "switchboard_intake_connections",
                             "Client connections of the front door now");
  Gauge& intake_buffered
    = gauge(registry, "switchboard_intake_buffered_bytes",
            "Answer bytes waiting for clients that have not read them");
  /// The guard's counters at the last scrape (they only grow).
  std::map<std::string, uint64_t> intake_seen;

  /// One scrape at a time sets the gauges and serializes.
  std::mutex render_mutex;

  Family<Gauge>& build_info
    = gauge_family(registry, "switchboard_build_info",
                   "Always 1; the version of this switchboardd in its label");

  Counter& process_cpu
    = prometheus::BuildCounter()
        .Name("process_cpu_seconds_total")
        .Help("Total user and system CPU time spent in seconds")
        .Register(registry)
        .Add({});
  double process_cpu_seen = 0;
  Gauge& process_resident = gauge(registry, "process_resident_memory_bytes",
                                  "Resident memory size in bytes");
  Gauge& process_virtual = gauge(registry, "process_virtual_memory_bytes",
                                 "Virtual memory size in bytes");
  Gauge& process_fds
    = gauge(registry, "process_open_fds", "Number of open file descriptors");
  Gauge& process_max_fds = gauge(registry, "process_max_fds",
                                 "Maximum number of open file descriptors");
  Gauge& process_start
    = gauge(registry, "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds");

  void sample(const process_sample& x) {
    if (x.cpu_seconds > process_cpu_seen) {
      process_cpu.Increment(x.cpu_seconds - process_cpu_seen);
      process_cpu_seen = x.cpu_seconds;
    }
    process_resident.Set(x.resident_bytes);
    process_virtual.Set(x.virtual_bytes);
    process_fds.Set(x.open_fds);
    process_max_fds.Set(x.max_fds);
    process_start.Set(x.start_time_seconds);
  }

  Family<Gauge>& sub_utilization = gauge_family(
    registry, "switchboard_subscription_utilization",
    "Utilization of a subscription's rate-limit window (0 to 1) as the "
    "provider last reported it, by window (5h, 7d); absent when unknown");
  Family<Gauge>& sub_state = gauge_family(
    registry, "switchboard_subscription_state",
    "1 for the state a subscription is in (active, cooling, draining, "
    "retired), 0 for the others");
  Family<Gauge>& sub_agents
    = gauge_family(registry, "switchboard_subscription_agents",
                   "Agents assigned to a subscription");
  /// The series of the last list: a subscription gone loses them.
  std::set<std::pair<Family<Gauge>*, Gauge*>> sub_series;
  std::mutex sub_mutex;

  void list(const std::vector<subscription_info>& xs) {
    std::lock_guard<std::mutex> guard{sub_mutex};
    std::set<std::pair<Family<Gauge>*, Gauge*>> now;
    auto set = [&now](Family<Gauge>& f, const prometheus::Labels& labels,
                      double value) {
      auto& g = f.Add(labels);
      g.Set(value);
      now.emplace(&f, &g);
    };
    for (auto& x : xs) {
      prometheus::Labels labels{{"pool", x.pool}, {"subscription", x.name}};
      set(sub_agents, labels, static_cast<double>(x.agent_count));
      for (auto st : credential_states) {
        auto l = labels;
        l.emplace("state", to_string(st));
        set(sub_state, l, x.state == st ? 1 : 0);
      }
      for (auto& [window, u] : {std::pair{"5h", x.utilization_5h},
                                std::pair{"7d", x.utilization_7d}})
        if (u) {
          auto l = labels;
          l.emplace("window", window);
          set(sub_utilization, l, *u);
        }
    }
    for (auto& [family, series] : sub_series)
      if (now.count({family, series}) == 0)
        family->Remove(series);
    sub_series = std::move(now);
  }

  Family<Counter>& deliveries
    = prometheus::BuildCounter()
        .Name("switchboard_notifications_delivered_total")
        .Help("Deliveries of notifications to sinks, by sink and result "
              "(delivered, retry, failed)")
        .Register(registry);

  void count_intake(const intake_status& x) {
    std::pair<const char*, uint64_t> reasons[]
      = {{"credential", x.refused_auth},
         {"forbidden", x.closed_forbidden},
         {"timeout", x.closed_timeout},
         {"oversize", x.closed_oversize},
         {"bad_header", x.closed_bad_header},
         {"slow_reader", x.closed_slow_reader},
         {"capacity", x.refused},
         {"evicted", x.evicted},
         {"tls", x.tls_failures}};
    for (auto& [reason, total] : reasons) {
      auto& seen = intake_seen[reason];
      auto& series = intake_closed.Add({{"reason", reason}});
      if (total > seen)
        series.Increment(static_cast<double>(total - seen));
      seen = total;
    }
    intake_open.Set(static_cast<double>(x.open_connections));
    intake_buffered.Set(static_cast<double>(x.buffered));
  }
};

metrics::metrics() : impl_(std::make_unique<impl>()) {
  // The series alerts and dashboards use show up from the start at 0: an
  // increase() over a series that appears only with its first event misses
  // that event. The rest appear when they first happen.
  for (auto by : {trigger::automatic, trigger::manual, trigger::rotation,
                  trigger::headroom})
    impl_->switch_series.at(index_of(by), [by] {
      return prometheus::Labels{{"trigger", to_string(by)}};
    });
  for (auto o : {outcome::switched, outcome::coalesced, outcome::no_alternative,
                 outcome::stale, outcome::ignored})
    for (auto k : {failure_kind::rate_limit, failure_kind::auth})
      impl_->report_series.at(outcome_slot(o) * max_enum + index_of(k), [o, k] {
        return prometheus::Labels{{"outcome", outcome_label(o)},
                                  {"kind", kind_label(k)}};
      });
  for (auto r : {"ok", "backoff", "recovered", "dead"})
    impl_->refresh_series[r] = &impl_->refreshes.Add({{"result", r}});
  for (auto r : {apply_result::hot_reloaded, apply_result::restarted,
                 apply_result::failed})
    impl_->application_series.at(index_of(r), [r] {
      return prometheus::Labels{{"result", to_string(r)}};
    });
  impl_->build_info.Add({{"version", version()}}).Set(1);
}

metrics::~metrics() = default;

void metrics::report_answered(std::optional<outcome> result, failure_kind kind,
                              std::optional<double> seconds) {
  auto i = outcome_slot(result) * max_enum + index_of(kind);
  impl_->report_series
    .at(i,
        [&] {
          return prometheus::Labels{{"outcome", outcome_label(result)},
                                    {"kind", kind_label(kind)}};
        })
    .Increment();
  if (seconds)
    impl_->report_duration.Observe(*seconds);
}

void metrics::observation_answered(std::optional<outcome> result) {
  impl_->observation_series
    .at(outcome_slot(result),
        [&] {
          return prometheus::Labels{{"outcome", outcome_label(result)}};
        })
    .Increment();
}

void metrics::switched(trigger by) {
  impl_->switch_series
    .at(index_of(by),
        [&] {
          return prometheus::Labels{{"trigger", to_string(by)}};
        })
    .Increment();
}

void metrics::repicked() {
  impl_->repicks.Increment();
}

void metrics::token_applied(apply_result result, double seconds) {
  impl_->application_series
    .at(index_of(result),
        [&] {
          return prometheus::Labels{{"result", to_string(result)}};
        })
    .Increment();
  impl_->apply_duration.Observe(seconds);
}

void metrics::credential_refreshed(std::string_view result) {
  // The four series exist from the start: no lock needed to find one.
  auto i = impl_->refresh_series.find(result);
  if (i != impl_->refresh_series.end())
    i->second->Increment();
}

void metrics::store_committed(size_t writes) {
  impl_->batch_size.Observe(static_cast<double>(writes));
}

void metrics::notification_delivered(const std::string& sink,
                                     std::string_view result) {
  // Add finds the series (under the family's lock): deliveries are few.
  impl_->deliveries.Add({{"sink", sink}, {"result", std::string{result}}})
    .Increment();
}

void metrics::subscriptions_listed(const std::vector<subscription_info>& xs) {
  impl_->list(xs);
}

std::string metrics::render(const metric_gauges& g) {
  std::lock_guard<std::mutex> guard{impl_->render_mutex};
  impl_->sample(sample_process());
  impl_->agents.Set(static_cast<double>(g.agents));
  impl_->agents_behind.Set(static_cast<double>(g.agents_behind));
  impl_->set_pools(g);
  impl_->pending.Set(static_cast<double>(g.notifications_pending));
  impl_->containers.Set(static_cast<double>(g.containers));
  impl_->engine_up.Set(g.docker_engine_up ? 1 : 0);
  impl_->unresponsive.Set(static_cast<double>(g.components_unresponsive));
  if (g.intake)
    impl_->count_intake(*g.intake);
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, impl_->registry.Collect());
  return out.str();
}

} // namespace sb
