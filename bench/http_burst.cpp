// switchboard-bench's HTTP door (bench/http_burst.hpp).

#include "bench/http_burst.hpp"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

namespace sb::bench {

namespace {

using clock_type = std::chrono::steady_clock;

/// Bounds one request, so a stuck daemon ends the burst with errors.
constexpr long request_timeout_s = 120;

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

size_t append_reply(char* data, size_t size, size_t n, void* reply) {
  static_cast<std::string*>(reply)->append(data, size * n);
  return size * n;
}

/// One connection's worth of work: the reports i, i + stride, i + 2 stride,
/// ... sent one after the other on one easy handle.
struct slot {
  CURL* easy = nullptr;
  size_t next = 0;
  size_t stride = 0;
  std::string body;
  std::string reply;
  char error[CURL_ERROR_SIZE] = {};
  clock_type::time_point sent;

  slot() = default;
  slot(const slot&) = delete;
  slot& operator=(const slot&) = delete;

  ~slot() {
    if (easy != nullptr)
      curl_easy_cleanup(easy);
  }
};

/// The burst's state: the multi handle, the slots and what came back.
class http_burst {
public:
  http_burst(uint16_t port, const std::vector<failure_report>& reports,
             size_t connections, const std::string& token)
      : reports_(reports),
        url_("http://127.0.0.1:" + std::to_string(port) + "/v1/reports") {
    multi_ = curl_multi_init();
    auto n = std::min(connections, reports.size());
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      static_cast<long>(n));
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Expect:");
    auto bearer = "Authorization: Bearer " + token;
    headers_ = curl_slist_append(headers_, bearer.c_str());
    for (size_t i = 0; i < n; ++i) {
      slots_.push_back(std::make_unique<slot>());
      slots_.back()->next = i;
      slots_.back()->stride = n;
    }
    out_.latencies_ms.reserve(reports.size());
  }

  ~http_burst() {
    slots_.clear(); // the easy handles go before the multi handle
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }

  http_burst(const http_burst&) = delete;
  http_burst& operator=(const http_burst&) = delete;

  burst_outcome run() {
    auto started = clock_type::now();
    for (auto& s : slots_)
      send_next(*s);
    int running = 0;
    while (in_flight_ > 0) {
      curl_multi_perform(multi_, &running);
      collect();
      if (in_flight_ > 0)
        curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
    }
    out_.wall_s = ms_between(started, clock_type::now()) / 1000.0;
    return std::move(out_);
  }

private:
  void setup(slot& s) {
    s.easy = curl_easy_init();
    curl_easy_setopt(s.easy, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, append_reply);
    curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s.reply);
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    curl_easy_setopt(s.easy, CURLOPT_ERRORBUFFER, s.error);
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.easy, CURLOPT_TIMEOUT, request_timeout_s);
  }

  /// Hands the slot's next report to libcurl; its last one closes the
  /// connection afterwards (the HTTP front holds a thread per open
  /// connection, idle or not).
  void send_next(slot& s) {
    if (s.easy == nullptr)
      setup(s);
    s.body = report_body(reports_[s.next]);
    s.reply.clear();
    s.error[0] = '\0';
    bool last = s.next + s.stride >= reports_.size();
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, s.body.c_str());
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(s.body.size()));
    curl_easy_setopt(s.easy, CURLOPT_FORBID_REUSE, last ? 1L : 0L);
    s.sent = clock_type::now();
    curl_multi_add_handle(multi_, s.easy);
    ++in_flight_;
  }

  void collect() {
    int left = 0;
    while (auto* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      slot* s = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
      auto result = msg->data.result; // msg is invalid after the removal
      curl_multi_remove_handle(multi_, s->easy);
      --in_flight_;
      record(*s, result);
      s->next += s->stride;
      if (s->next < reports_.size())
        send_next(*s);
    }
  }

  void record(slot& s, CURLcode result) {
    out_.latencies_ms.push_back(ms_between(s.sent, clock_type::now()));
    long status = 0;
    curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &status);
    std::string outcome;
    std::string apply = "none";
    if (result == CURLE_OK && status == 200) {
      auto doc = nlohmann::json::parse(s.reply, nullptr, false);
      if (doc.is_object() && doc.contains("outcome")
          && doc["outcome"].is_string())
        outcome = doc["outcome"].get<std::string>();
      if (doc.is_object() && doc.contains("apply") && doc["apply"].is_string())
        apply = doc["apply"].get<std::string>().substr(
          0, doc["apply"].get<std::string>().find(':'));
    }
    if (!outcome.empty()) {
      out_.outcomes[outcome]++;
      out_.applies[apply]++;
      return;
    }
    if (++out_.errors > 1)
      return;
    if (result != CURLE_OK)
      out_.first_error = std::string{curl_easy_strerror(result)} + " ("
                         + (s.error[0] != '\0' ? s.error : "no detail")
                         + ") after " + std::to_string(out_.latencies_ms.back())
                         + " ms";
    else
      out_.first_error = "HTTP " + std::to_string(status) + ": " + s.reply;
  }

  const std::vector<failure_report>& reports_;
  std::string url_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::vector<std::unique_ptr<slot>> slots_; // stable addresses for libcurl
  size_t in_flight_ = 0;
  burst_outcome out_;
};

} // namespace

std::string report_body(const failure_report& r) {
  nlohmann::json j = {{"agent", r.agent}, {"status", r.status}};
  if (!r.error.empty())
    j["error"] = r.error;
  if (!r.subscription.empty())
    j["subscription"] = r.subscription;
  if (!r.source.empty())
    j["source"] = r.source;
  return j.dump();
}

burst_outcome run_http_burst(uint16_t port,
                             const std::vector<failure_report>& reports,
                             size_t connections, const std::string& token) {
  if (reports.empty() || connections == 0)
    return {};
  curl_global_init(CURL_GLOBAL_DEFAULT);
  burst_outcome out;
  {
    http_burst burst{port, reports, connections, token};
    out = burst.run();
  }
  curl_global_cleanup();
  return out;
}

} // namespace sb::bench
