// The fake notification receiver (tests/fixtures/http_receiver.hpp) checked
// on its own, with a real HTTP client: what it records, scripted answers
// (standing, the next n, per path prefix), stalls that never hold up its
// destructor, and which event ids it accepted.

#include "fixtures/http_client.hpp"
#include "fixtures/http_receiver.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <thread>

using namespace sb::test;
using namespace std::chrono_literals;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

http_reply call(const std::string& method, const std::string& url,
                const std::string& body = {}, long timeout_s = 10) {
  http_call_options opts;
  opts.timeout_s = timeout_s;
  return http_call(method, url, body, opts);
}

/// POSTs `body` with "X-Switchboard-Event-Id: id" (http_call sends no
/// headers of the caller's); the status, 0 if no answer.
long post_event(const std::string& url, const std::string& id,
                const std::string& body = R"({"type":"switched"})") {
  auto* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  auto id_header = "X-Switchboard-Event-Id: " + id;
  headers = curl_slist_append(headers, id_header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
    curl, CURLOPT_WRITEFUNCTION,
    +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

} // namespace

TEST(http_receiver, answers_200_ok_by_default_and_records_every_request) {
  http_receiver rx;
  EXPECT_EQ(rx.url("/hook"),
            "http://127.0.0.1:" + std::to_string(rx.port()) + "/hook");
  auto before = now_ms();

  auto posted = call("POST", rx.url("/hook"), R"({"id":42})");
  ASSERT_EQ(posted.status, 200) << posted.error;
  EXPECT_EQ(posted.body, R"({"ok":true})");
  EXPECT_EQ(posted.headers["content-type"], "application/json");
  EXPECT_EQ(posted.headers.count("retry-after"), 0u);
  auto got = call("GET", rx.url("/bot123:abc/getMe?x=1"));
  EXPECT_EQ(got.status, 200) << got.error;
  auto put = call("PUT", rx.url("/anything/else"), "plain");
  EXPECT_EQ(put.status, 200) << put.error;

  auto after = now_ms();
  ASSERT_TRUE(rx.wait_for_requests(3, 0ms));
  auto seen = rx.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/hook");
  EXPECT_EQ(seen[0].body, R"({"id":42})");
  EXPECT_EQ(seen[0].headers["content-type"], "application/json");
  EXPECT_EQ(seen[0].headers["host"], "127.0.0.1:" + std::to_string(rx.port()));
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_GE(seen[0].at_ms, before);
  EXPECT_LE(seen[0].at_ms, seen[1].at_ms);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].target, "/bot123:abc/getMe?x=1");
  EXPECT_EQ(seen[1].status, 200);
  EXPECT_EQ(seen[2].method, "PUT");
  EXPECT_EQ(seen[2].body, "plain");
  EXPECT_LE(seen[2].at_ms, after);

  auto hooks = rx.requests_to("/hook");
  ASSERT_EQ(hooks.size(), 1u);
  EXPECT_EQ(hooks[0].body, R"({"id":42})");
  EXPECT_EQ(rx.requests_to("/bot123").size(), 1u);
  EXPECT_TRUE(rx.requests_to("/nowhere").empty());
  EXPECT_FALSE(rx.wait_for_requests(4, 10ms));

  // HEAD answers no body; a large body (curl may send Expect:
  // 100-continue) arrives whole.
  EXPECT_EQ(call("HEAD", rx.url("/hook")).status, 200);
  std::string large(200 * 1024, 'x');
  EXPECT_EQ(call("POST", rx.url("/large"), large).status, 200);
  auto big = rx.requests_to("/large");
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].body, large);
}

TEST(http_receiver, answer_next_then_back_to_the_standing_answer) {
  http_receiver rx;
  rx.answer_next("/slack", 2, 429, 3);

  for (int i = 0; i < 2; ++i) {
    auto r = call("POST", rx.url("/slack/T1/B2"), "{}");
    EXPECT_EQ(r.status, 429) << r.error;
    EXPECT_EQ(r.headers["retry-after"], "3");
    EXPECT_EQ(r.body, R"({"ok":false})");
  }
  // Other paths are not scripted by it.
  EXPECT_EQ(call("POST", rx.url("/discord"), "{}").status, 200);
  auto third = call("POST", rx.url("/slack/T1/B2"), "{}");
  EXPECT_EQ(third.status, 200) << third.error;
  EXPECT_EQ(third.headers.count("retry-after"), 0u);
  EXPECT_EQ(third.body, R"({"ok":true})");

  std::vector<int> statuses;
  for (auto& seen : rx.requests_to("/slack"))
    statuses.push_back(seen.status);
  EXPECT_EQ(statuses, (std::vector<int>{429, 429, 200}));

  // A standing answer, with a body of the test's; queued ones go first.
  rx.answer("/tg", 500, 7, "oops");
  rx.answer_next("/tg", 1, 503);
  auto queued = call("POST", rx.url("/tg/sendMessage"), "{}");
  EXPECT_EQ(queued.status, 503);
  EXPECT_EQ(queued.headers.count("retry-after"), 0u);
  for (int i = 0; i < 2; ++i) {
    auto standing = call("POST", rx.url("/tg/sendMessage"), "{}");
    EXPECT_EQ(standing.status, 500);
    EXPECT_EQ(standing.headers["retry-after"], "7");
    EXPECT_EQ(standing.body, "oops");
    EXPECT_EQ(standing.headers["content-type"], "text/plain; charset=utf-8");
  }

  // The longest prefix wins; 204 answers no body (Discord's answer).
  rx.answer("/", 404);
  rx.answer("/discord", 204);
  auto discord = call("POST", rx.url("/discord/123/abc"), "{}");
  EXPECT_EQ(discord.status, 204) << discord.error;
  EXPECT_EQ(discord.body, "");
  EXPECT_EQ(call("GET", rx.url("/elsewhere")).status, 404);

  EXPECT_THROW(rx.answer("/x", 100), std::invalid_argument);
}

TEST(http_receiver, lifting_a_stall_answers_the_waiting_and_drops_the_gone) {
  http_receiver rx;
  rx.stall("/hook", true);

  // This client gives up while stalled: dropped, never answered.
  auto gave_up = call("POST", rx.url("/hook"), "first", 1);
  EXPECT_EQ(gave_up.status, 0);
  // This one waits; other paths are served meanwhile.
  auto waiting = std::async(std::launch::async,
                            [&] { return call("POST", rx.url("/hook"), "2"); });
  ASSERT_TRUE(rx.wait_for_requests(2));
  EXPECT_EQ(call("POST", rx.url("/slack"), "{}").status, 200);
  rx.answer("/hook", 202);
  rx.stall("/hook", false);

  auto answered = waiting.get();
  EXPECT_EQ(answered.status, 202) << answered.error;
  auto hooks = rx.requests_to("/hook");
  ASSERT_EQ(hooks.size(), 2u);
  EXPECT_EQ(hooks[0].body, "first");
  EXPECT_EQ(hooks[0].status, 0);
  EXPECT_EQ(hooks[1].status, 202);
  // And the path answers at once again.
  EXPECT_EQ(call("POST", rx.url("/hook"), "3").status, 202);
  EXPECT_EQ(rx.requests_to("/hook").at(0).status, 0);
}

TEST(http_receiver, a_stall_never_holds_up_the_destructor) {
  auto rx = std::make_unique<http_receiver>();
  rx->stall("/hook", true);
  auto short_timeout = call("POST", rx->url("/hook"), "{}", 1);
  EXPECT_EQ(short_timeout.status, 0);
  EXPECT_FALSE(short_timeout.error.empty());

  // A patient client, still waiting when the receiver goes.
  auto patient = std::async(std::launch::async, [url = rx->url("/hook/x")] {
    return call("POST", url, "{}", 60);
  });
  ASSERT_TRUE(rx->wait_for_requests(2));
  auto start = std::chrono::steady_clock::now();
  rx.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_EQ(patient.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(patient.get().status, 0);
}

TEST(http_receiver, accepted_ids_lists_only_2xx_answers) {
  http_receiver rx;
  rx.answer_next("/hook", 1, 503, 1);
  EXPECT_EQ(post_event(rx.url("/hook"), "e1"), 503);
  EXPECT_EQ(post_event(rx.url("/hook"), "e1"), 200); // the retry
  EXPECT_EQ(post_event(rx.url("/hook"), "e2"), 200);
  rx.answer("/hook", 400);
  EXPECT_EQ(post_event(rx.url("/hook"), "e3"), 400);
  rx.answer("/hook", 204);
  EXPECT_EQ(post_event(rx.url("/hook"), "e4"), 204);
  EXPECT_EQ(call("POST", rx.url("/hook"), "{}").status, 204); // no id
  EXPECT_EQ(post_event(rx.url("/other"), "e5"), 200);

  EXPECT_EQ(rx.accepted_ids("/hook"),
            (std::vector<std::string>{"e1", "e2", "e4"}));
  EXPECT_EQ(rx.accepted_ids("/other"), (std::vector<std::string>{"e5"}));
  EXPECT_TRUE(rx.accepted_ids("/nowhere").empty());
  EXPECT_EQ(rx.requests_to("/hook").at(0).headers["x-switchboard-event-id"],
            "e1");
}

TEST(http_receiver, serves_concurrent_clients) {
  http_receiver rx;
  constexpr int clients = 8;
  constexpr int each = 5;
  std::vector<std::future<int>> done;
  for (int c = 0; c < clients; ++c)
    done.push_back(std::async(std::launch::async, [&rx, c] {
      int ok = 0;
      for (int i = 0; i < each; ++i)
        ok += post_event(rx.url("/hook/" + std::to_string(c)),
                         std::to_string(c) + "-" + std::to_string(i))
              == 200;
      return ok;
    }));
  for (auto& d : done)
    EXPECT_EQ(d.get(), each);
  ASSERT_TRUE(rx.wait_for_requests(clients * each));
  EXPECT_EQ(rx.accepted_ids("/hook").size(), size_t{clients * each});
  EXPECT_EQ(rx.accepted_ids("/hook/3").size(), size_t{each});
}
