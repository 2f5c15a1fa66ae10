// switchboard-bench: measures the real switchboardd under a burst of failure
// reports, and its boot time and memory at fleet scale.
//
// Burst mode (default): starts switchboardd (found beside this binary, or
// --daemon PATH) as a separate process on a temporary database and a free
// loopback port, registers S subscriptions and A agents (agent i on
// subscription i mod S), then sends B concurrent 429 reports for every agent
// from this process, waits for every reply and checks the result: exactly A
// switches when S >= 2A, one notification per switch, A*B events. The reports
// go through one of the daemon's two doors (--transport): `caf` (default) all
// at once over CAF's network from one actor, or `http` as POST /v1/reports
// to the daemon's HTTP front on a free port, over --http-connections
// keep-alive connections at once (bench/http_burst.hpp). Registration and
// the checks use CAF either way. Prints a table, or one JSON line with
// --json. Exits non-zero if the check fails.
//
// Scale mode (--scale): writes A agents and S subscriptions straight into a
// new database, starts the daemon on it and reports the boot time until the
// front door accepts connections, its resident memory, and the latency of
// `status` and `agent show`; with --idle N, then the daemon's CPU at rest
// over N seconds (with --transport http the HTTP front is on, with the
// daemon's default number of HTTP workers).
//
// Storm mode (--storm): the slow-application storm. A agents (200 unless
// --agents says otherwise), all on one subscription and each with a
// container, report a 429 at once over HTTP (one connection each); every
// switch applies the new token to the agent's container, and every
// application takes --reload-delay-ms (500). It measures each report's time
// to its answer: all should be answered within the daemon's apply-wait (5 s)
// plus a margin, and none should wait for another agent's application (an
// answer later than the agent's own application plus 1 s waited for
// something else, typically a worker busy with another agent's).
//
// What is real and what is not, in storm mode: the daemon, its HTTP front,
// its CONTAINER SUPERVISOR and docker workers, and the agent servers (the
// reference agent server, agent_server/, one process per agent, started with
// --reload-delay-ms: the application's 500 ms are spent where a real one
// spends them, in the agent server's reload endpoint) are the real programs.
// The Docker Engine is a test double (bench/fake_docker.hpp): it answers
// the daemon's `inspect` calls, saying each container runs with host
// networking and names its agent server's port. Two hundred real containers
// on this 2-core machine, shared with other work, would measure Docker's
// own start-up and the machine's load more than the daemon, and would need
// a Docker Engine the benchmark cannot assume; an inspect answered by the
// double takes microseconds where a real engine takes about a millisecond,
// which is small against the 500 ms under test. The output says that the
// engine is a double ("docker": "fake engine, real agent servers").

#include "bench/daemon_child.hpp"
#include "bench/fake_docker.hpp"
#include "bench/http_burst.hpp"
#include "client/connect.hpp"
#include "messages/actors.hpp"
#include "messages/register.hpp"
#include "persistence/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using namespace sb;
using sb::bench::burst_outcome;
using sb::bench::cpu_s;
using sb::bench::daemon_child;
using sb::bench::rss_mb;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  int agents = 1000;
  int subscriptions = 2000;
  int burst = 8;
  bool json = false;
  bool scale = false;
  /// Every subscription an oauth login (expiring in 8 h: none is refreshed
  /// during the run), so the refresher has them all to look at.
  bool logins = false;
  /// --scale: seconds of idle CPU measured after the reads (0 = none).
  int idle_s = 0;
  int samples = 200;
  std::string daemon;
  std::string log_level = "info";
  std::string keep_dir;
  std::vector<std::string> daemon_args;
  bool transport_only = false;
  bool wait = false;
  /// The door the burst goes through: "caf" or "http".
  std::string transport = "caf";
  int http_connections = 64;
  /// 0: the daemon's own switchboard.http-workers (1 event-loop thread).
  int http_workers = 0;
  bool http_workers_given = false;
  bool storm = false;
  /// --storm: how long each token application takes in the agent server.
  int reload_delay_ms = 500;
  /// --storm: the daemon's apply-wait, for the "answered late" count (the
  /// daemon keeps its default unless --daemon-arg changes it).
  int apply_wait_ms = 5000;
  /// --storm: the reference agent server binary.
  std::string agent_server;
  /// The daemon's store: SQLite in the bench's folder unless a PostgreSQL
  /// database (empty) is given.
  std::string postgres_url;
  std::string postgres_password_file;
};

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t)
    .count();
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto idx = static_cast<size_t>(p * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(idx, xs.size() - 1)];
}

struct bench_config : caf::actor_system_config {
  bench_config() {
    client::endpoint ep;
    client::configure(*this);
  }
};

/// Sends every report at once from one actor and records, per report, the
/// time from send to reply.
burst_outcome run_burst(caf::actor_system& sys, const front_door_actor& fd,
                        std::vector<failure_report> reports) {
  auto done = std::make_shared<std::promise<burst_outcome>>();
  auto fut = done->get_future();
  sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    auto out = std::make_shared<burst_outcome>();
    auto left = std::make_shared<size_t>(reports.size());
    auto started = clock_type::now();
    out->latencies_ms.reserve(reports.size());
    for (auto& r : reports) {
      auto sent = clock_type::now();
      auto finish = [=] {
        if (--*left == 0) {
          out->wall_s = ms_since(started) / 1000.0;
          done->set_value(std::move(*out));
          self->quit();
        }
      };
      if (r.agent.empty()) {
        // Transport only: the FRONT DOOR answers itself.
        self->request(fd, caf::infinite, ping_atom::value)
          .then(
            [=](std::string&) {
              out->latencies_ms.push_back(ms_since(sent));
              out->outcomes["ping"]++;
              finish();
            },
            [=](caf::error& err) {
              if (++out->errors == 1)
                out->first_error = render(err);
              finish();
            });
        continue;
      }
      // No timer per request: the bench measures the daemon, not CAF's
      // clock; run_burst's caller bounds the whole burst instead.
      self->request(fd, caf::infinite, report_atom::value, r)
        .then(
          [=](report_result& res) {
            out->latencies_ms.push_back(ms_since(sent));
            out->outcomes[to_string(res.result)]++;
            finish();
          },
          [=](caf::error& err) {
            out->latencies_ms.push_back(ms_since(sent));
            if (++out->errors == 1)
              out->first_error = render(err);
            finish();
          });
    }
    return {[](ok_atom) {}};
  });
  return fut.get();
}

template<class T, class... Ts>
T must(caf::actor_system& sys, const front_door_actor& fd, Ts... xs) {
  auto res = client::call<T>(sys, fd, std::chrono::seconds(120), xs...);
  if (!res) {
    std::cerr << "switchboard-bench: " << render(res.error()) << "\n";
    std::exit(2);
  }
  return std::move(*res);
}

std::string sub_name(int i) {
  return "sub-" + std::to_string(i);
}

std::string agent_name(int i) {
  return "agent-" + std::to_string(i);
}

int64_t count(SQLite::Database& db, const char* sql) {
  return db.execAndGet(sql).getInt64();
}

/// Starts the daemon under test and connects to it; says why on failure.
std::optional<front_door_actor> start_and_connect(const options& o,
                                                  const std::string& dir,
                                                  daemon_child& d,
                                                  caf::actor_system& sys) {
  // The bench's own daemon options first: a --daemon-arg may override them.
  std::vector<std::string> extra;
  d.http = o.transport == "http";
  if (d.http && o.http_workers_given)
    extra.push_back("--switchboard.http-workers="
                    + std::to_string(o.http_workers));
  if (!o.postgres_url.empty()) {
    extra.push_back("--switchboard.store=postgresql");
    extra.push_back("--switchboard.postgres-url=" + o.postgres_url);
    extra.push_back("--switchboard.postgres-password-file="
                    + o.postgres_password_file);
  }
  extra.insert(extra.end(), o.daemon_args.begin(), o.daemon_args.end());
  if (!d.start(o.daemon, dir, o.log_level, extra)) {
    std::cerr << "switchboard-bench: the daemon did not start (see " << dir
              << "/daemon.log)\n";
    return std::nullopt;
  }
  client::endpoint ep;
  ep.port = d.port;
  ep.token = d.token;
  auto fd = client::connect(sys, ep);
  if (!fd) {
    std::cerr << "switchboard-bench: " << render(fd.error()) << "\n";
    return std::nullopt;
  }
  return *fd;
}

/// Subscription i: a token, or with --logins an oauth login whose access
/// token has 8 hours left (its endpoint is never called during a run).
subscription_spec bench_subscription(const options& o, int i) {
  subscription_spec spec{
    sub_name(i), secret{"bench-token-" + std::to_string(i)}, {}, {}, {}};
  if (o.logins) {
    spec.terms.kind = credential_kind::oauth;
    spec.terms.expires_at = wall_clock_ms() + 8 * hour_ms;
    spec.terms.scopes = {"user:inference", "user:profile"};
    spec.refresh_token.value = "bench-refresh-" + std::to_string(i);
    spec.token_url = "http://127.0.0.1:9/token";
  }
  return spec;
}

/// Registers S subscriptions and A agents (agent i on subscription i mod S).
void register_fleet(caf::actor_system& sys, const front_door_actor& fd,
                    const options& o) {
  for (int i = 0; i < o.subscriptions; ++i)
    must<subscription_change>(sys, fd, sub_add_atom::value,
                              bench_subscription(o, i));
  for (int i = 0; i < o.agents; ++i)
    must<agent_info>(
      sys, fd, agent_add_atom::value,
      agent_spec{agent_name(i), sub_name(i % o.subscriptions), "", ""});
}

/// The burst: B reports per agent. Each names the subscription the failed
/// request ran on, as the platform knows it.
std::vector<failure_report> make_reports(const options& o) {
  std::vector<failure_report> reports;
  reports.reserve(static_cast<size_t>(o.agents) * o.burst);
  for (int b = 0; b < o.burst; ++b)
    for (int i = 0; i < o.agents; ++i) {
      failure_report r;
      r.agent = agent_name(i);
      r.status = 429;
      r.error = "rate limit reached";
      r.subscription = sub_name(i % o.subscriptions);
      r.source = "bench";
      reports.push_back(std::move(r));
    }
  if (o.transport_only)
    for (auto& r : reports)
      r.agent.clear();
  return reports;
}

/// What the burst left in the database.
struct burst_counts {
  int64_t switches = 0;
  int64_t notifications = 0;
  int64_t events = 0;
};

/// One number from the PostgreSQL database (libpq: the URL and the password
/// go as separate parameters, nothing is quoted by hand).
int64_t count_postgres(PGconn* conn, const char* sql) {
  auto* res = PQexec(conn, sql);
  int64_t n = -1;
  if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
    n = std::stoll(PQgetvalue(res, 0, 0));
  else
    std::cerr << "switchboard-bench: " << PQerrorMessage(conn);
  PQclear(res);
  return n;
}

std::string first_line_of(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

burst_counts count_results_postgres(const options& o) {
  auto password = o.postgres_password_file.empty()
                    ? std::string{}
                    : first_line_of(o.postgres_password_file);
  const char* keys[]
    = {"dbname", password.empty() ? nullptr : "password", nullptr};
  const char* values[] = {o.postgres_url.c_str(), password.c_str(), nullptr};
  auto* conn = PQconnectdbParams(keys, values, 1);
  burst_counts c;
  if (PQstatus(conn) != CONNECTION_OK) {
    std::cerr << "switchboard-bench: " << PQerrorMessage(conn);
  } else {
    c.switches = count_postgres(conn, "SELECT COUNT(*) FROM switch_history "
                                      "WHERE trigger = 'auto'");
    c.notifications = count_postgres(conn, "SELECT COUNT(*) FROM "
                                           "notifications WHERE kind = "
                                           "'switch'");
    c.events = count_postgres(conn, "SELECT COUNT(*) FROM failure_events");
  }
  PQfinish(conn);
  return c;
}

burst_counts count_results(const options& o, const std::string& dir) {
  if (!o.postgres_url.empty())
    return count_results_postgres(o);
  SQLite::Database db{dir + "/bench.db", SQLite::OPEN_READONLY};
  burst_counts c;
  c.switches = count(db, "SELECT COUNT(*) FROM switch_history "
                         "WHERE trigger = 'auto'");
  c.notifications = count(db, "SELECT COUNT(*) FROM notifications "
                              "WHERE kind = 'switch'");
  c.events = count(db, "SELECT COUNT(*) FROM failure_events");
  return c;
}

/// The daemon's side of the burst, measured around it.
struct burst_costs {
  double daemon_cpu_s = 0;
  double bench_cpu_s = 0;
  double daemon_rss_mb = 0;
  store_status store;
};

nlohmann::json burst_summary(const options& o, const burst_outcome& out,
                             const burst_counts& c, const burst_costs& k) {
  int64_t total = static_cast<int64_t>(o.agents) * o.burst;
  bool ok = out.errors == 0 && c.events == total
            && c.notifications == c.switches
            && (o.subscriptions < 2 * o.agents || c.switches == o.agents);
  nlohmann::json j = {
    {"mode", "burst"},
    {"transport", o.transport},
    {"agents", o.agents},
    {"subscriptions", o.subscriptions},
    {"burst", o.burst},
    {"reports", total},
    {"switches", c.switches},
    {"notifications", c.notifications},
    {"events", c.events},
    {"errors", out.errors},
    {"outcomes", out.outcomes},
    {"wall_s", out.wall_s},
    {"reports_per_s", static_cast<double>(total) / out.wall_s},
    {"min_ms", percentile(out.latencies_ms, 0.0)},
    {"p50_ms", percentile(out.latencies_ms, 0.50)},
    {"p99_ms", percentile(out.latencies_ms, 0.99)},
    {"max_ms", percentile(out.latencies_ms, 1.0)},
    {"daemon_rss_mb", k.daemon_rss_mb},
    {"daemon_cpu_s", k.daemon_cpu_s},
    {"store_commits", k.store.commits},
    {"store_largest_batch", k.store.largest_batch},
    {"bench_cpu_s", k.bench_cpu_s},
    {"check", ok ? "passed" : "FAILED"},
  };
  if (o.transport == "http") {
    j["http_connections"] = std::min<int64_t>(total, o.http_connections);
    j["http_workers"] = o.http_workers;
  }
  return j;
}

void print_burst(const nlohmann::json& j) {
  std::printf("switchboard burst: %d agents, %d subscriptions, %d reports "
              "per agent\n",
              j["agents"].get<int>(), j["subscriptions"].get<int>(),
              j["burst"].get<int>());
  if (j["transport"] == "http")
    std::printf("  transport      http (POST /v1/reports), %d connections, "
                "%d daemon HTTP threads (0: its default)\n",
                j["http_connections"].get<int>(), j["http_workers"].get<int>());
  else
    std::printf("  transport      caf (all at once from one actor)\n");
  std::printf("  reports        %lld in %.3f s = %.0f reports/s\n",
              j["reports"].get<long long>(), j["wall_s"].get<double>(),
              j["reports_per_s"].get<double>());
  std::printf("  latency        min %.1f ms, p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms\n",
              j["min_ms"].get<double>(), j["p50_ms"].get<double>(),
              j["p99_ms"].get<double>(), j["max_ms"].get<double>());
  std::printf("  switches       %lld, notifications %lld, events %lld\n",
              j["switches"].get<long long>(),
              j["notifications"].get<long long>(),
              j["events"].get<long long>());
  std::printf("  daemon RSS     %.1f MB\n", j["daemon_rss_mb"].get<double>());
  std::printf("  CPU            daemon %.3f s, bench %.3f s\n",
              j["daemon_cpu_s"].get<double>(), j["bench_cpu_s"].get<double>());
  std::printf("  store          %llu commits since start, largest batch "
              "%llu\n",
              j["store_commits"].get<unsigned long long>(),
              j["store_largest_batch"].get<unsigned long long>());
  std::printf("  check          %s\n", j["check"].get<std::string>().c_str());
}

/// Sends the burst through the chosen door.
burst_outcome send_burst(const options& o, caf::actor_system& sys,
                         const front_door_actor& fd, const daemon_child& d,
                         std::vector<failure_report> reports) {
  if (o.transport == "http")
    return sb::bench::run_http_burst(
      d.http_port, reports, static_cast<size_t>(o.http_connections), d.token);
  return run_burst(sys, fd, std::move(reports));
}

int burst_mode(const options& o, const std::string& dir) {
  daemon_child d;
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto fd_res = start_and_connect(o, dir, d, sys);
  if (!fd_res)
    return 2;
  auto fd = *fd_res;
  register_fleet(sys, fd, o);
  auto reports = make_reports(o);
  if (o.wait) {
    // For profiling: attach to the daemon now, then press enter.
    std::cerr << "daemon pid " << d.pid << ": press enter for the burst"
              << std::endl;
    std::string line;
    std::getline(std::cin, line);
  }
  burst_costs k;
  auto daemon_cpu0 = cpu_s(d.pid);
  auto bench_cpu0 = cpu_s(::getpid());
  auto out = send_burst(o, sys, fd, d, std::move(reports));
  k.daemon_cpu_s = cpu_s(d.pid) - daemon_cpu0;
  k.bench_cpu_s = cpu_s(::getpid()) - bench_cpu0;
  k.daemon_rss_mb = rss_mb(d.pid);
  // The store's group commit: how many transactions carried the burst.
  auto st = must<status_info>(sys, fd, status_atom::value);
  k.store = st.store.value_or(store_status{});
  d.stop();
  if (out.errors > 0)
    std::cerr << "switchboard-bench: " << out.errors
              << " reports failed; the first: " << out.first_error << "\n";
  auto j = burst_summary(o, out, count_results(o, dir), k);
  if (o.json)
    std::cout << j.dump() << std::endl;
  else
    print_burst(j);
  return j["check"] == "passed" ? 0 : 1;
}

/// Fills a fresh database with S subscriptions and A agents in one
/// transaction, through the daemon's own schema.
void populate(const std::string& path, int agents, int subscriptions,
              bool logins) {
  {
    auto st = store::open(path);
    if (!st) {
      std::cerr << "switchboard-bench: " << render(st.error()) << "\n";
      std::exit(2);
    }
  }
  SQLite::Database db{path, SQLite::OPEN_READWRITE};
  SQLite::Transaction tx{db};
  auto now = format_iso(wall_clock_ms());
  SQLite::Statement sub{db, "INSERT INTO subscriptions(id, name, token, "
                            "created_at, updated_at) VALUES (?, ?, ?, ?, ?)"};
  for (int i = 0; i < subscriptions; ++i) {
    sub.bind(1, i + 1);
    sub.bind(2, sub_name(i));
    sub.bind(3, "bench-token-" + std::to_string(i));
    sub.bind(4, now);
    sub.bind(5, now);
    sub.exec();
    sub.reset();
  }
  // Logins: a credentials row each (the refresh token is never spent: it
  // is due in hours).
  SQLite::Statement cred{
    db, "INSERT INTO credentials(subscription_id, kind, expires_at, "
        "issued_at, scopes, refresh_token, refresh_sha256) "
        "VALUES (?, 'oauth', ?, ?, 'user:inference', 'unused', ?)"};
  for (int i = 0; logins && i < subscriptions; ++i) {
    auto at = wall_clock_ms();
    cred.bind(1, i + 1);
    cred.bind(2, static_cast<int64_t>(at + 8 * hour_ms));
    cred.bind(3, static_cast<int64_t>(at));
    cred.bind(4, "sha-" + std::to_string(i));
    cred.exec();
    cred.reset();
  }
  SQLite::Statement ag{db, "INSERT INTO agents(name, subscription_id, "
                           "created_at, updated_at) VALUES (?, ?, ?, ?)"};
  for (int i = 0; i < agents; ++i) {
    ag.bind(1, agent_name(i));
    ag.bind(2, i % subscriptions + 1);
    ag.bind(3, now);
    ag.bind(4, now);
    ag.exec();
    ag.reset();
  }
  tx.commit();
}

int scale_mode(const options& o, const std::string& dir) {
  populate(dir + "/bench.db", o.agents, o.subscriptions, o.logins);
  daemon_child d;
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto fd_res = start_and_connect(o, dir, d, sys);
  if (!fd_res)
    return 2;
  auto fd = *fd_res;
  // The first status waits for every agent to have been spawned and seen.
  auto first = clock_type::now();
  auto st = must<status_info>(sys, fd, status_atom::value);
  auto first_status_ms = ms_since(first);
  std::vector<double> status_ms, show_ms;
  for (int i = 0; i < o.samples; ++i) {
    auto t = clock_type::now();
    must<status_info>(sys, fd, status_atom::value);
    status_ms.push_back(ms_since(t));
    t = clock_type::now();
    must<agent_info>(sys, fd, agent_get_atom::value,
                     agent_name((i * 7919) % o.agents));
    show_ms.push_back(ms_since(t));
  }
  auto rss = rss_mb(d.pid);
  // At rest: nothing sent for idle_s seconds; the daemon's own CPU time
  // over that window, as a share of one core. The connection stays open
  // (as a CLI's or a backend's would), nothing else runs.
  double idle_pct = 0;
  if (o.idle_s > 0) {
    // The reads' tail (workers polling, the store's idle checkpoint) is
    // not rest.
    std::this_thread::sleep_for(std::chrono::seconds(5));
    auto before = cpu_s(d.pid);
    std::this_thread::sleep_for(std::chrono::seconds(o.idle_s));
    idle_pct = 100.0 * (cpu_s(d.pid) - before) / o.idle_s;
  }
  bool ok = st.agents == static_cast<uint64_t>(o.agents)
            && st.subscriptions == static_cast<uint64_t>(o.subscriptions);
  nlohmann::json j = {
    {"mode", "scale"},
    {"agents", o.agents},
    {"subscriptions", o.subscriptions},
    {"boot_s", d.boot_s},
    {"first_status_ms", first_status_ms},
    {"ready_s", d.boot_s + first_status_ms / 1000.0},
    {"status_p50_ms", percentile(status_ms, 0.5)},
    {"status_p99_ms", percentile(status_ms, 0.99)},
    {"agent_show_p50_ms", percentile(show_ms, 0.5)},
    {"agent_show_p99_ms", percentile(show_ms, 0.99)},
    {"daemon_rss_mb", rss},
    {"idle_s", o.idle_s},
    {"idle_cpu_percent", idle_pct},
    {"check", ok ? "passed" : "FAILED"},
  };
  if (o.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("switchboard scale: %d agents, %d subscriptions\n", o.agents,
                o.subscriptions);
    std::printf("  boot to listening   %.3f s (every agent answering after "
                "%.3f s)\n",
                d.boot_s, d.boot_s + first_status_ms / 1000.0);
    std::printf("  daemon RSS          %.1f MB\n", rss);
    std::printf("  status              first %.1f ms, p50 %.2f ms, p99 %.2f "
                "ms\n",
                first_status_ms, percentile(status_ms, 0.5),
                percentile(status_ms, 0.99));
    std::printf("  agent show          p50 %.2f ms, p99 %.2f ms\n",
                percentile(show_ms, 0.5), percentile(show_ms, 0.99));
    if (o.idle_s > 0)
      std::printf("  idle CPU            %.3f%% of a core over %d s\n",
                  idle_pct, o.idle_s);
    std::printf("  check               %s\n", ok ? "passed" : "FAILED");
  }
  return ok ? 0 : 1;
}

/// The reference agent servers of the storm, one process per agent.
struct agent_servers {
  std::vector<pid_t> pids;
  std::vector<uint16_t> ports;

  agent_servers() = default;
  agent_servers(const agent_servers&) = delete;
  agent_servers& operator=(const agent_servers&) = delete;

  /// Starts n of them in dir/agents/I; false if one does not listen within
  /// a minute.
  bool start(const std::string& binary, const std::string& dir, int n,
             int reload_delay_ms) {
    std::set<uint16_t> taken;
    for (int i = 0; i < n; ++i) {
      uint16_t port = 0;
      while (port == 0 || taken.count(port) > 0)
        port = sb::bench::free_port();
      taken.insert(port);
      auto home = dir + "/agents/" + std::to_string(i);
      std::filesystem::create_directories(home);
      auto pid = ::fork();
      if (pid == 0) {
        int log = ::open((home + "/agent-server.log").c_str(),
                         O_CREAT | O_WRONLY | O_TRUNC, 0600);
        ::dup2(log, 2);
        std::vector<std::string> args = {binary,
                                         "--port",
                                         std::to_string(port),
                                         "--token-file",
                                         home + "/token",
                                         "--exhausted-file",
                                         home + "/exhausted",
                                         "--reload-delay-ms",
                                         std::to_string(reload_delay_ms)};
        std::vector<char*> argv;
        for (auto& a : args)
          argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
      }
      pids.push_back(pid);
      ports.push_back(port);
    }
    auto deadline = clock_type::now() + std::chrono::seconds(60);
    for (auto port : ports)
      while (!sb::bench::port_open(port)) {
        if (clock_type::now() > deadline)
          return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    return true;
  }

  ~agent_servers() {
    for (auto pid : pids)
      ::kill(pid, SIGTERM);
    for (auto pid : pids)
      ::waitpid(pid, nullptr, 0);
  }
};

/// Waits until the Docker Engine double has had no request for `quiet`
/// (the daemon's applications are over), at most `limit`; the time waited.
double wait_until_quiet(const sb::bench::fake_docker& engine,
                        std::chrono::milliseconds quiet,
                        std::chrono::seconds limit) {
  auto started = clock_type::now();
  while (engine.quiet_for() < quiet && clock_type::now() - started < limit)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return ms_since(started) / 1000.0;
}

int storm_mode(const options& o, const std::string& dir) {
  agent_servers servers;
  if (!servers.start(o.agent_server, dir, o.agents, o.reload_delay_ms)) {
    std::cerr << "switchboard-bench: the agent servers did not all start "
                 "(see "
              << dir << "/agents/*/agent-server.log)\n";
    return 2;
  }
  // Every container starts with subscription 0's token, as registered
  // below.
  sb::bench::fake_docker engine;
  for (int i = 0; i < o.agents; ++i)
    engine.add_container("storm-" + std::to_string(i), servers.ports[i],
                         "CLAUDE_CODE_OAUTH_TOKEN", "bench-token-0");
  if (!engine.start(dir + "/docker.sock")) {
    std::cerr << "switchboard-bench: cannot listen on " << dir
              << "/docker.sock\n";
    return 2;
  }
  daemon_child d;
  d.docker_socket = dir + "/docker.sock";
  bench_config cfg;
  caf::actor_system sys{cfg};
  auto fd_res = start_and_connect(o, dir, d, sys);
  if (!fd_res)
    return 2;
  auto fd = *fd_res;
  for (int i = 0; i < o.subscriptions; ++i)
    must<subscription_change>(
      sys, fd, sub_add_atom::value,
      subscription_spec{
        sub_name(i), secret{"bench-token-" + std::to_string(i)}, {}, {}, {}});
  for (int i = 0; i < o.agents; ++i)
    must<agent_info>(
      sys, fd, agent_add_atom::value,
      agent_spec{agent_name(i), sub_name(0), "storm-" + std::to_string(i), ""});
  // Whatever the registration made the daemon ask the engine is over
  // before the storm.
  wait_until_quiet(engine, std::chrono::seconds(2), std::chrono::seconds(120));
  std::vector<failure_report> reports;
  for (int i = 0; i < o.agents; ++i) {
    failure_report r;
    r.agent = agent_name(i);
    r.status = 429;
    r.error = "rate limit reached";
    r.subscription = sub_name(0);
    r.source = "bench";
    reports.push_back(std::move(r));
  }
  auto requests0 = engine.requests();
  auto daemon_cpu0 = cpu_s(d.pid);
  auto out = sb::bench::run_http_burst(d.http_port, reports,
                                       static_cast<size_t>(o.agents), d.token);
  // The applications answered "pending" go on after their reports'
  // answers: the time until the last one is done, from the storm's start.
  auto rest_s = wait_until_quiet(engine, std::chrono::seconds(1),
                                 std::chrono::seconds(300));
  double daemon_cpu_s = cpu_s(d.pid) - daemon_cpu0;
  auto all_applied_s = out.wall_s + std::max(0.0, rest_s - 1.0);
  d.stop();
  auto engine_requests = engine.requests() - requests0;
  engine.stop();
  auto late_ms = static_cast<double>(o.apply_wait_ms) + 1000.0;
  auto own_ms = static_cast<double>(o.reload_delay_ms) + 1000.0;
  auto over = [&](double limit) {
    return std::count_if(out.latencies_ms.begin(), out.latencies_ms.end(),
                         [&](double x) { return x > limit; });
  };
  auto late = over(late_ms);
  auto waited = over(own_ms);
  auto switched = out.outcomes.count("switched") > 0
                    ? static_cast<int64_t>(out.outcomes.at("switched"))
                    : 0;
  auto hot = out.applies.count("hot_reloaded") > 0
               ? static_cast<int64_t>(out.applies.at("hot_reloaded"))
               : 0;
  bool ok = out.errors == 0 && switched == o.agents;
  bool goal = ok && late == 0 && waited == 0 && hot == o.agents;
  if (out.errors > 0)
    std::cerr << "switchboard-bench: " << out.errors
              << " reports failed; the first: " << out.first_error << "\n";
  nlohmann::json j = {
    {"mode", "storm"},
    {"transport", "http"},
    {"docker", "fake engine, real agent servers"},
    {"agents", o.agents},
    {"subscriptions", o.subscriptions},
    {"reload_delay_ms", o.reload_delay_ms},
    {"apply_wait_ms", o.apply_wait_ms},
    {"errors", out.errors},
    {"outcomes", out.outcomes},
    {"applies", out.applies},
    {"wall_s", out.wall_s},
    {"all_applied_s", all_applied_s},
    {"engine_requests", engine_requests},
    {"min_ms", percentile(out.latencies_ms, 0.0)},
    {"p50_ms", percentile(out.latencies_ms, 0.50)},
    {"p99_ms", percentile(out.latencies_ms, 0.99)},
    {"max_ms", percentile(out.latencies_ms, 1.0)},
    {"late", late},
    {"late_after_ms", late_ms},
    {"waited_for_others", waited},
    {"waited_after_ms", own_ms},
    {"daemon_cpu_s", daemon_cpu_s},
    {"check", ok ? "passed" : "FAILED"},
    {"goal", goal ? "met" : "not met"},
  };
  if (o.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::printf("switchboard storm: %d agents on one subscription report a "
                "429 at once over HTTP; each token application takes %d ms "
                "(real agent servers, a Docker Engine double)\n",
                o.agents, o.reload_delay_ms);
    std::printf("  answers        all in %.3f s; latency min %.0f ms, p50 "
                "%.0f ms, p99 %.0f ms, max %.0f ms\n",
                out.wall_s, percentile(out.latencies_ms, 0.0),
                percentile(out.latencies_ms, 0.50),
                percentile(out.latencies_ms, 0.99),
                percentile(out.latencies_ms, 1.0));
    std::printf("  late           %lld answered after apply-wait + 1 s "
                "(%.0f ms)\n",
                static_cast<long long>(late), late_ms);
    std::printf("  waited         %lld answered after their own "
                "application + 1 s (%.0f ms)\n",
                static_cast<long long>(waited), own_ms);
    std::printf("  applications   %s; every one done after %.3f s\n",
                nlohmann::json(out.applies).dump().c_str(), all_applied_s);
    std::printf("  daemon CPU     %.3f s\n", daemon_cpu_s);
    std::printf("  check          %s, goal %s\n", ok ? "passed" : "FAILED",
                goal ? "met" : "not met");
  }
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"switchboard-bench: burst and scale benchmarks of switchboardd"};
  auto* agents_opt = app
                       .add_option("--agents", o.agents,
                                   "agents (default 1000; 200 with "
                                   "--storm)")
                       ->check(CLI::Range(1, 1000000));
  auto* subs_opt = app
                     .add_option("--subscriptions", o.subscriptions,
                                 "subscriptions (default 2000; with --storm, "
                                 "agents + 1)")
                     ->check(CLI::Range(1, 100000));
  app.add_option("--burst", o.burst, "reports per agent (default 8)")
    ->check(CLI::Range(1, 1000));
  app.add_flag("--json", o.json, "print one JSON line");
  app.add_flag("--scale", o.scale,
               "boot time, memory and read latency at fleet size instead");
  app.add_flag("--logins", o.logins,
               "register every subscription as an oauth login (8 h left)");
  app
    .add_option("--idle", o.idle_s,
                "with --scale: then measure the daemon's CPU at rest over "
                "this many seconds (default 0: not measured)")
    ->check(CLI::Range(0, 3600));
  app.add_option("--samples", o.samples,
                 "requests per latency measurement in --scale (default 200)");
  app.add_option("--daemon", o.daemon,
                 "switchboardd binary (default: beside this one)");
  app.add_option("--log-level", o.log_level,
                 "the daemon's log level (default info)");
  app.add_option("--daemon-arg", o.daemon_args,
                 "extra option for the daemon (repeatable), e.g. "
                 "--daemon-arg=--switchboard.db-synchronous=NORMAL");
  app.add_flag("--transport-only", o.transport_only,
               "send pings instead of reports: the cost of CAF's network "
               "layer alone (the check then fails by design)");
  app.add_flag("--wait", o.wait,
               "wait for a line on stdin before the burst (to attach a "
               "profiler to the daemon)");
  app
    .add_option("--transport", o.transport,
                "the door of the burst: caf (default) or http (POST "
                "/v1/reports to the daemon's HTTP front)")
    ->check(CLI::IsMember({"caf", "http"}));
  app
    .add_option("--http-connections", o.http_connections,
                "with --transport http: connections at once (default 64)")
    ->check(CLI::Range(1, 1024));
  auto* workers_opt = app
                        .add_option("--http-workers", o.http_workers,
                                    "with --transport http: the daemon's "
                                    "switchboard.http-workers (default: the "
                                    "daemon's own, one event-loop thread)")
                        ->check(CLI::Range(1, 256));
  app.add_flag("--storm", o.storm,
               "the slow-application storm instead: every agent, with a "
               "container, reports a 429 at once over HTTP");
  app
    .add_option("--reload-delay-ms", o.reload_delay_ms,
                "with --storm: how long each token application takes "
                "(default 500)")
    ->check(CLI::Range(0, 600000));
  app
    .add_option("--apply-wait-ms", o.apply_wait_ms,
                "with --storm: the daemon's apply-wait, for the count of late "
                "answers (default 5000, the daemon's default)")
    ->check(CLI::Range(0, 600000));
  app.add_option("--agent-server", o.agent_server,
                 "with --storm: the reference agent server (default: "
                 "agent-server beside this binary)");
  app.add_option("--postgres-url", o.postgres_url,
                 "burst on the PostgreSQL store: an empty database, as "
                 "postgresql://USER@HOST:PORT/DB (default: SQLite)");
  app.add_option("--postgres-password-file", o.postgres_password_file,
                 "with --postgres-url: the file with its password");
  app.add_option("--keep", o.keep_dir,
                 "use this folder for the database and log, and keep it");
  CLI11_PARSE(app, argc, argv);
  o.http_workers_given = workers_opt->count() > 0;
  if (o.storm) {
    if (o.scale || o.transport_only) {
      std::cerr << "switchboard-bench: --storm is a mode of its own\n";
      return 2;
    }
    o.transport = "http";
    if (agents_opt->count() == 0)
      o.agents = 200;
    if (subs_opt->count() == 0)
      o.subscriptions = o.agents + 1;
    if (o.subscriptions < 2) {
      std::cerr << "switchboard-bench: --storm needs a subscription to "
                   "switch to\n";
      return 2;
    }
    if (o.agent_server.empty())
      o.agent_server
        = (std::filesystem::path{argv[0]}.parent_path() / "agent-server")
            .string();
    if (!std::filesystem::exists(o.agent_server)) {
      std::cerr << "switchboard-bench: no agent server at " << o.agent_server
                << " (build the agent-server target, or --agent-server "
                   "PATH)\n";
      return 2;
    }
    o.agent_server = std::filesystem::absolute(o.agent_server).string();
  }
  if (o.transport_only && o.transport != "caf") {
    std::cerr << "switchboard-bench: --transport-only measures CAF's network "
                 "layer; it needs --transport caf\n";
    return 2;
  }
  if (o.scale && !o.postgres_url.empty()) {
    std::cerr << "switchboard-bench: --scale fills an SQLite file; "
                 "--postgres-url is for the burst\n";
    return 2;
  }
  if (o.daemon.empty())
    o.daemon = (std::filesystem::path{argv[0]}.parent_path() / "switchboardd")
                 .string();
  if (!std::filesystem::exists(o.daemon)) {
    std::cerr << "switchboard-bench: no daemon at " << o.daemon
              << " (use --daemon PATH)\n";
    return 2;
  }
  o.daemon = std::filesystem::absolute(o.daemon).string();
  std::string dir = o.keep_dir;
  if (dir.empty()) {
    std::string tmpl
      = (std::filesystem::temp_directory_path() / "switchboard-bench-XXXXXX")
          .string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      return 2;
    dir = tmpl;
  } else {
    std::filesystem::create_directories(dir);
    std::filesystem::remove(dir + "/bench.db");
  }
  dir = std::filesystem::absolute(dir).string();
  auto rc = o.storm   ? storm_mode(o, dir)
            : o.scale ? scale_mode(o, dir)
                      : burst_mode(o, dir);
  if (o.keep_dir.empty())
    std::filesystem::remove_all(dir);
  return rc;
}
