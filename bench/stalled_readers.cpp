// stalled-readers: what clients that ask for large reads and never read the
// answers make the daemon hold (issue R3 1/7: "64 `events --limit 10000`
// requests through the guard and never reading: 52 MB -> 7.6 GB, not
// released after it left").
//
// Starts switchboardd in a folder of its own, seeds failure events with
// 4 KB texts, then opens --clients connections that authenticate, send
// --requests reads of --limit events each and never read. Samples the
// daemon's RSS every 20 ms while they hang, closes them, and samples again.
//   stalled-readers --daemon build/bin/switchboardd [--clients 1]
//     [--requests 64] [--limit 10000] [--events 10000] [--hold 10]

#include "bench/daemon_child.hpp"
#include "client/connect.hpp"
#include "messages/auth_line.hpp"

#include <caf/actor_system.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

using namespace sb;
using namespace sb::bench;
using namespace std::chrono_literals;

namespace {

struct options {
  std::string daemon;
  int clients = 1;
  int requests = 64;
  uint32_t limit = 10000;
  int events = 10000;
  int hold_s = 10;
};

struct config : caf::actor_system_config {
  config() { client::configure(*this); }
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 64 * 1024; // the kernel would otherwise hold megabytes of it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::vector<char>& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    done += static_cast<size_t>(n);
  }
}

std::vector<char> frame(uint8_t op, uint64_t data, uint64_t source,
                        uint64_t dest, const std::vector<char>& payload) {
  std::vector<char> f(32, 0);
  f[0] = static_cast<char>(op);
  auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i)
    f[4 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) {
    f[8 + i] = static_cast<char>((data >> (56 - 8 * i)) & 0xff);
    f[16 + i] = static_cast<char>((source >> (56 - 8 * i)) & 0xff);
    f[24 + i] = static_cast<char>((dest >> (56 - 8 * i)) & 0xff);
  }
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

/// A client that authenticates, asks `requests` reads and never reads.
int stalled_reader(caf::actor_system& sys, uint16_t port,
                   const std::string& token, uint64_t door, int index,
                   const options& o) {
  int fd = connect_to(port);
  if (fd < 0)
    return -1;
  auto hello = auth_hello(token);
  send_all(fd, {hello.begin(), hello.end()});
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') {
    // the "OK admin" line
  }
  caf::node_id::default_data::host_id_type host{};
  host[0] = 0x5B;
  host[1] = static_cast<uint8_t>(index);
  std::vector<char> node;
  caf::binary_serializer sink{sys, node};
  auto nid = caf::make_node_id(static_cast<uint32_t>(9000 + index), host);
  static_cast<void>(sink(nid));
  std::vector<char> bytes = frame(0x01, 0, 0, 0, node);
  for (int i = 1; i <= o.requests; ++i) {
    std::vector<char> payload;
    caf::binary_serializer ps{sys, payload};
    std::vector<caf::strong_actor_ptr> stages;
    auto msg = caf::make_message(events_atom::value, query{"", "", o.limit});
    static_cast<void>(ps(stages, msg));
    auto rq = frame(
      0x02, caf::make_message_id(static_cast<uint64_t>(i)).integer_value(), 7,
      door, payload);
    bytes.insert(bytes.end(), rq.begin(), rq.end());
  }
  send_all(fd, bytes);
  return fd;
}

void seed(caf::actor_system& sys, const front_door_actor& door, int n) {
  auto call = [&](auto... xs) {
    return client::call<report_result>(sys, door, 60s, xs...);
  };
  client::call<subscription_change>(
    sys, door, 60s, sub_add_atom::value,
    subscription_spec{
      std::string{"sub-a"}, secret{"token-of-sub-a"}, {}, {}, {}});
  client::call<agent_info>(sys, door, 60s, agent_add_atom::value,
                           agent_spec{"a1", "sub-a", "", ""});
  client::call<agent_info>(sys, door, 60s, agent_set_atom::value,
                           std::string{"a1"}, auto_switch_mode::off);
  failure_report r;
  r.agent = "a1";
  r.status = 429;
  r.error = std::string(4000, 'e');
  std::vector<std::thread> senders;
  for (int t = 0; t < 8; ++t)
    senders.emplace_back([&] {
      for (int i = 0; i < n / 8; ++i)
        static_cast<void>(call(report_atom::value, r));
    });
  for (auto& t : senders)
    t.join();
}

nlohmann::json intake(caf::actor_system& sys, const front_door_actor& door) {
  auto st = client::call<status_info>(sys, door, 30s, status_atom::value);
  if (!st || !st->intake)
    return nullptr;
  return {{"closed_slow_reader", st->intake->closed_slow_reader},
          {"buffered", st->intake->buffered},
          {"open_connections", st->intake->open_connections}};
}

int run(const options& o) {
  auto dir = std::filesystem::temp_directory_path() / "sb-stalled-readers";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  daemon_child d;
  auto binary = std::filesystem::absolute(o.daemon).string();
  if (!d.start(binary, dir.string(), "warn", {})) {
    std::cerr << "stalled-readers: the daemon did not start\n";
    return 1;
  }
  config cfg;
  caf::actor_system sys{cfg};
  client::endpoint ep;
  ep.port = d.port;
  ep.token = d.token;
  auto door = client::connect(sys, ep);
  if (!door) {
    std::cerr << "stalled-readers: " << render(door.error()) << "\n";
    return 1;
  }
  seed(sys, *door, o.events);
  // One reader that reads, page after page: the caches a read fills (the
  // database's, the allocator's) are in the baseline.
  query q{"", "", max_page_items};
  do {
    auto p = client::call<event_page>(sys, *door, 60s, events_atom::value, q);
    q.before = p ? p->next : 0;
  } while (q.before != 0);
  auto base = rss_mb(d.pid);
  std::vector<int> fds;
  for (int i = 0; i < o.clients; ++i)
    fds.push_back(stalled_reader(sys, d.port, d.token, door->id(), i, o));
  double peak = base;
  auto until
    = std::chrono::steady_clock::now() + std::chrono::seconds(o.hold_s);
  while (std::chrono::steady_clock::now() < until) {
    peak = std::max(peak, rss_mb(d.pid));
    std::this_thread::sleep_for(20ms); // the sampling pace
  }
  auto during = intake(sys, *door);
  for (int fd : fds)
    ::close(fd);
  std::this_thread::sleep_for(5s); // what the daemon keeps once they left
  auto after = rss_mb(d.pid);
  nlohmann::json out{{"clients", o.clients},
                     {"requests_per_client", o.requests},
                     {"limit", o.limit},
                     {"events", o.events},
                     {"rss_mb_before", base},
                     {"rss_mb_peak", peak},
                     {"rss_mb_after", after},
                     {"intake_while_held", during},
                     {"intake_after", intake(sys, *door)},
                     {"answers_ok", static_cast<bool>(client::call<std::string>(
                                      sys, *door, 10s, ping_atom::value))}};
  std::cout << out.dump(2) << "\n";
  d.stop();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"stalled-readers: clients that never read, and the daemon's "
               "memory"};
  app.add_option("--daemon", o.daemon, "switchboardd binary")->required();
  app.add_option("--clients", o.clients, "connections (default 1)");
  app.add_option("--requests", o.requests, "reads per connection (64)");
  app.add_option("--limit", o.limit, "events asked per read (10000)");
  app.add_option("--events", o.events, "events seeded, 4 KB each (10000)");
  app.add_option("--hold", o.hold_s, "seconds the clients hang (10)");
  CLI11_PARSE(app, argc, argv);
  return run(o);
}
