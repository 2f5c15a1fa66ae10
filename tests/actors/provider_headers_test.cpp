// Provider evidence in: a pure reader of rate-limit headers and usage-limit
// texts (actors/provider_headers.hpp). Every expected instant is computed
// from a known date, in seconds, times 1000.

#include "actors/provider_headers.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iterator>
#include <random>
#include <sstream>
#include <string>

using namespace sb;

namespace {

/// Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
constexpr millis rfc_example = 784111777 * millis{1000};

/// The arrival of most responses here: Sun, 29 Nov 2026 12:00:00 GMT.
constexpr millis t0 = 1795953600 * millis{1000};

/// 2026-11-29 16:00:00 UTC, four hours after t0.
constexpr millis four_pm = 1795968000 * millis{1000};

constexpr auto five_h = "anthropic-ratelimit-unified-5h-";
constexpr auto seven_d = "anthropic-ratelimit-unified-7d-";

std::string h5(const char* suffix) {
  return std::string{five_h} + suffix;
}

std::string h7(const char* suffix) {
  return std::string{seven_d} + suffix;
}

provider_evidence parse(std::vector<http_header> headers,
                        std::string_view text = "", millis arrived = t0) {
  return parse_evidence(headers, text, arrived);
}

/// Sends every log line, debug ones included, to `out` while in scope, so
/// that a test sees what an operator would (and every log argument is
/// formatted).
class capture_log {
public:
  explicit capture_log(std::ostringstream& out)
      : saved_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }

  ~capture_log() { spdlog::set_default_logger(saved_); }

private:
  std::shared_ptr<spdlog::logger> saved_;
};

/// The evidence of one header.
provider_evidence parse1(std::string name, std::string value) {
  return parse({{std::move(name), std::move(value)}});
}

} // namespace

// -- HTTP dates --------------------------------------------------------------

TEST(provider_headers, http_date_in_all_three_forms) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", t0), rfc_example);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", t0), rfc_example);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994", t0), rfc_example);
  // Tolerated: a one-digit day (RFC 1123), a single space in asctime, case.
  EXPECT_EQ(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT", t0), rfc_example);
  EXPECT_EQ(parse_http_date("Sun Nov 6 08:49:37 1994", t0), rfc_example);
  EXPECT_EQ(parse_http_date("sun, 06 NOV 1994 08:49:37 gmt", t0), rfc_example);
  // A leap day, and a leap second (the next minute's first second).
  EXPECT_EQ(parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT", t0),
            1709251199 * millis{1000});
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", t0),
            1483228800 * millis{1000});
  EXPECT_EQ(parse_http_date("Sun, 29 Nov 2026 12:00:00 GMT", t0), t0);
}

TEST(provider_headers, rfc850_two_digit_year_is_within_50_years_of_now) {
  // Now is 2026: 76 is 2076 (50 years ahead), 77 is 1977 (51 ahead: past).
  EXPECT_EQ(parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", t0),
            3345062400 * millis{1000});
  EXPECT_EQ(parse_http_date("Saturday, 01-Jan-77 00:00:00 GMT", t0),
            220924800 * millis{1000});
  EXPECT_EQ(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", t0),
            946684800 * millis{1000});
  EXPECT_EQ(parse_http_date("Sunday, 29-Nov-26 12:00:00 GMT", t0), t0);
  // Now is 2080: 29 is 2129 (49 ahead), not 2029 (51 behind).
  EXPECT_EQ(parse_http_date("Monday, 01-Jan-29 00:00:00 GMT",
                            3471292800 * millis{1000}),
            5017593600 * millis{1000});
}

TEST(provider_headers, malformed_http_dates_are_not_read) {
  for (auto text : {
         "",
         "Sun, 06 Nov 1994 08:49:37",        // no zone
         "Sun, 06 Nov 1994 08:49:37 UTC",    // not GMT
         "Sun, 06 Foo 1994 08:49:37 GMT",    // month
         "Xyz, 06 Nov 1994 08:49:37 GMT",    // weekday
         "Sunday, 06 Nov 1994 08:49:37 GMT", // long weekday in IMF
         "Sun, 00 Nov 1994 08:49:37 GMT",    // day 0
         "Sun, 32 Dec 1994 08:49:37 GMT",    // day 32
         "Sun, 31 Nov 1994 08:49:37 GMT",    // November has 30
         "Wed, 29 Feb 2023 08:49:37 GMT",    // not a leap year
         "Sun, 06 Nov 1994 24:00:00 GMT",    // hour
         "Sun, 06 Nov 1994 08:60:00 GMT",    // minute
         "Sun, 06 Nov 1994 08:49:61 GMT",    // second
         "Sun, 06 Nov 1994 8:49:37 GMT",     // one-digit hour
         "Sun, 06 Nov 94 08:49:37 GMT",      // two-digit year in IMF
         "Sun, 06 Nov 1994 08:49:37 GMT x",  // trailing text
         "Sun, 06 Nov 1994 08:49:37 GMT ",   // trailing space (not trimmed)
         "Sunday, 06-Nov-1994 08:49:37 GMT", // four-digit year in RFC 850
         "Sun, 06-Nov-94 08:49:37 GMT",      // short weekday in RFC 850
         "Sun Nov  6 08:49:37 94",           // two-digit year in asctime
         "Sun Nov 36 08:49:37 1994",         // asctime day
         "1994-11-06T08:49:37Z",             // ISO is no HTTP date
         "784111777",
       })
    EXPECT_EQ(parse_http_date(text, t0), std::nullopt) << text;
}

// -- retry-after -------------------------------------------------------------

TEST(provider_headers, retry_after_in_seconds) {
  EXPECT_EQ(parse_retry_after("120", t0), t0 + 120'000);
  EXPECT_EQ(parse_retry_after("1.5", t0), t0 + 1'500);
  EXPECT_EQ(parse_retry_after("0.0019", t0), t0 + 1); // truncated to ms
  EXPECT_EQ(parse_retry_after("007", t0), t0 + 7'000);
  EXPECT_EQ(parse_retry_after("0", t0), t0);
  EXPECT_EQ(parse_retry_after("999999999999999", t0),
            t0 + 999999999999999 * millis{1000}); // 15 digits: still read
}

TEST(provider_headers, retry_after_as_an_http_date) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", t0),
            rfc_example);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", t0),
            rfc_example);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", t0), rfc_example);
}

TEST(provider_headers, malformed_retry_after_is_not_read) {
  for (auto text : {"",
                    " ",
                    "-1",
                    "-0",
                    "+5",
                    "1e3",
                    "nan",
                    "NaN",
                    "inf",
                    "infinity",
                    "0x10",
                    "1,5",
                    "1.",
                    ".5",
                    "1..5",
                    "12abc",
                    "12 s",
                    "1.2.3",
                    "1234567890123456",
                    "soon"})
    EXPECT_EQ(parse_retry_after(text, t0), std::nullopt) << text;
  EXPECT_EQ(parse_retry_after(std::string(100, '9'), t0), std::nullopt);
  EXPECT_EQ(parse_retry_after("1." + std::string(21, '5'), t0), std::nullopt);
}

// -- epoch seconds and bounds ------------------------------------------------

TEST(provider_headers, epoch_seconds_with_a_fraction_or_in_milliseconds) {
  EXPECT_EQ(parse_epoch_seconds("1764457200"), 1764457200000);
  EXPECT_EQ(parse_epoch_seconds("1764457200.5"), 1764457200500);
  EXPECT_EQ(parse_epoch_seconds("1764457200.123456"), 1764457200123);
  // Above 1e11 seconds (the year 5138) it is milliseconds.
  EXPECT_EQ(parse_epoch_seconds("1764457200123"), 1764457200123);
  EXPECT_EQ(parse_epoch_seconds("100000000000"), 100000000000000);
  EXPECT_EQ(parse_epoch_seconds("100000000001"), 100000000001);
  for (auto text : {"", "-1764457200", "1764457200s", "1.2.3", "abc",
                    "1764457200 ", "1234567890123456", "2026-11-29"})
    EXPECT_EQ(parse_epoch_seconds(text), std::nullopt) << text;
}

TEST(provider_headers, bound_reset_drops_the_past_and_clamps_the_far_future) {
  EXPECT_EQ(bound_reset(t0 - 1, t0), std::nullopt);
  EXPECT_EQ(bound_reset(t0, t0), std::nullopt);
  EXPECT_EQ(bound_reset(t0 + 1, t0), t0 + 1);
  EXPECT_EQ(bound_reset(t0 + 8 * day_ms, t0), t0 + 8 * day_ms);
  EXPECT_EQ(bound_reset(t0 + 8 * day_ms + 1, t0), t0 + 8 * day_ms);
  EXPECT_EQ(bound_reset(t0 + 365 * day_ms, t0), t0 + max_reset_ahead);
}

// -- usage-limit texts -------------------------------------------------------

TEST(provider_headers, usage_text_limit_reached_with_epoch) {
  EXPECT_EQ(parse_usage_text("Claude AI usage limit reached|1764457200", t0),
            1764457200000);
  EXPECT_EQ(parse_usage_text("Error: claude ai USAGE LIMIT REACHED|1764457200"
                             " (try later)",
                             t0),
            1764457200000);
  EXPECT_EQ(
    parse_usage_text("Claude AI usage limit reached | 1764457200.5", t0),
    1764457200500);
  // The epoch form wins over a time of day in the same text.
  EXPECT_EQ(parse_usage_text(
              "Claude AI usage limit reached|1764457200, resets 4pm", t0),
            1764457200000);
  for (auto text :
       {"Claude AI usage limit reached", "Claude AI usage limit reached|",
        "Claude AI usage limit "
        "reached|soon",
        "Claude AI usage limit reached|-1764457200",
        "usage limit reached|1764457200"})
    EXPECT_EQ(parse_usage_text(text, t0), std::nullopt) << text;
}

TEST(provider_headers, usage_text_resets_at_an_iso_instant) {
  EXPECT_EQ(parse_usage_text("resets at 2026-11-29T16:00:00Z", t0), four_pm);
  EXPECT_EQ(parse_usage_text("Limit hit, resets 2026-11-29T16:00:00.5Z.", t0),
            four_pm + 500);
  EXPECT_EQ(parse_usage_text("resets at 2026-11-29T18:00:00+02:00", t0),
            four_pm);
  EXPECT_EQ(parse_usage_text("resets at 2026-11-29T10:30:00-0530", t0),
            four_pm);
  // An instant without a zone is local somewhere: not read.
  EXPECT_EQ(parse_usage_text("resets at 2026-11-29T16:00:00", t0),
            std::nullopt);
}

TEST(provider_headers, usage_text_resets_at_a_time_of_day_in_utc) {
  // t0 is 12:00 UTC; the next such wall time strictly after it.
  EXPECT_EQ(parse_usage_text("resets at 4pm", t0), four_pm);
  EXPECT_EQ(parse_usage_text("resets 4pm", t0), four_pm);
  EXPECT_EQ(parse_usage_text("RESETS AT 4 PM", t0), four_pm);
  EXPECT_EQ(parse_usage_text("resets at 4:30 pm", t0),
            1795969800 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets at 4:30pm", t0),
            1795969800 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets 16:00", t0), four_pm);
  EXPECT_EQ(
    parse_usage_text("You've hit your session limit \xC2\xB7 resets 4pm", t0),
    four_pm);
  // Earlier in the day, or exactly now: tomorrow.
  EXPECT_EQ(parse_usage_text("resets 10am", t0), 1796032800 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets 12pm", t0), 1796040000 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets 12:00", t0), 1796040000 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets 12pm", t0 - 1), t0);
  // 12am is midnight.
  EXPECT_EQ(parse_usage_text("resets 12am", t0), 1795996800 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets 0:00", t0), 1795996800 * millis{1000});
}

TEST(provider_headers, usage_text_time_of_day_with_a_zone) {
  for (auto text : {"resets 4pm (UTC)", "resets 4pm UTC", "resets 4pm (GMT)",
                    "resets 4pm gmt.", "resets 16:00 (+00:00)",
                    "resets 4pm (Z)", "resets 4pm."})
    EXPECT_EQ(parse_usage_text(text, t0), four_pm) << text;
  // 4pm at +02:00 is 14:00 UTC; 4pm at -05:30 is 21:30 UTC.
  EXPECT_EQ(parse_usage_text("resets 4pm (+02:00)", t0),
            1795960800 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets 4pm +0200", t0),
            1795960800 * millis{1000});
  EXPECT_EQ(parse_usage_text("resets at 4pm (-0530)", t0),
            1795987800 * millis{1000});
  // t0 is 14:00 at +02:00, so 1pm there is tomorrow: 11:00 UTC.
  EXPECT_EQ(parse_usage_text("resets 1pm (+02:00)", t0),
            1796036400 * millis{1000});
}

TEST(provider_headers, usage_text_with_an_unknown_zone_is_not_read) {
  for (auto text : {"resets 4pm (Europe/Berlin)", "resets 4pm Europe/Berlin",
                    "resets 4pm (CET)", "resets 4pm PST", "resets 4pm (+25:00)",
                    "resets 4pm (+02:60)", "resets 4pm ()"})
    EXPECT_EQ(parse_usage_text(text, t0), std::nullopt) << text;
}

TEST(provider_headers, usage_text_without_a_readable_time_is_not_read) {
  for (auto text :
       {"", "Rate limit reached", "resets", "resets at", "resets 13pm",
        "resets 0am", "resets 24:00", "resets 16:60", "resets 4", "resets 1600",
        "resets in 5 minutes", "resets at noon", "presets 4pm", "resetsat 4pm",
        "resets 4:3pm", "resets at 2026-13-01T00:00:00Z"})
    EXPECT_EQ(parse_usage_text(text, t0), std::nullopt) << text;
  // A "resets" that does not read does not hide a later one that does.
  EXPECT_EQ(parse_usage_text("resets soon; resets 4pm", t0), four_pm);
}

// -- parse_evidence: the headers ---------------------------------------------

TEST(provider_headers, empty_input_is_empty_evidence_at_the_arrival) {
  auto ev = parse({});
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(ev.at, t0);
  EXPECT_EQ(ev.status, provider_status::unknown);
  EXPECT_EQ(ev.retry_at, 0);
  EXPECT_EQ(ev.text_reset_at, 0);
  // Unknown headers, and a Date alone, say nothing the daemon reads.
  ev = parse({{"content-type", "application/json"},
              {"x-ratelimit-reset", "1795968000"},
              {"anthropic-ratelimit-unified-1h-utilization", "0.5"},
              {"date", "Sun, 29 Nov 2026 11:59:30 GMT"}});
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(ev.at, t0 - 30'000);
}

TEST(provider_headers, retry_after_header) {
  auto ev = parse1("retry-after", "120");
  EXPECT_EQ(ev.retry_at, t0 + 120'000);
  EXPECT_FALSE(ev.empty());
  EXPECT_EQ(parse1("retry-after", "1.5").retry_at, t0 + 1'500);
  // Zero seconds is now, not after now.
  ev = parse1("retry-after", "0");
  EXPECT_EQ(ev.retry_at, 0);
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(parse1("retry-after", "Sun, 29 Nov 2026 16:00:00 GMT").retry_at,
            four_pm);
  EXPECT_EQ(parse1("retry-after", "Sunday, 29-Nov-26 16:00:00 GMT").retry_at,
            four_pm);
  EXPECT_EQ(parse1("retry-after", "Sun Nov 29 16:00:00 2026").retry_at,
            four_pm);
  // A date in the past is ignored; a far one is clamped.
  EXPECT_EQ(parse1("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT").retry_at, 0);
  EXPECT_EQ(parse1("retry-after", "864000").retry_at, t0 + 8 * day_ms);
  for (auto text : {"-1", "abc", "1e3", "", "1234567890123456"})
    EXPECT_TRUE(parse1("retry-after", text).empty()) << text;
}

TEST(provider_headers, unified_status_header) {
  auto status = [](const char* value) {
    return parse1("anthropic-ratelimit-unified-status", value).status;
  };
  EXPECT_EQ(status("allowed"), provider_status::allowed);
  EXPECT_EQ(status("allowed_warning"), provider_status::allowed_warning);
  EXPECT_EQ(status("rejected"), provider_status::rejected);
  EXPECT_EQ(status("ALLOWED_Warning"), provider_status::allowed_warning);
  EXPECT_EQ(status("Rejected"), provider_status::rejected);
  EXPECT_FALSE(parse1("anthropic-ratelimit-unified-status", "allowed").empty());
  for (auto text : {"unknown", "allowed-warning", "ok", "", "rejected!",
                    "rejectedrejectedrejectedrejectedrejected"})
    EXPECT_EQ(status(text), provider_status::unknown) << text;
}

TEST(provider_headers, reset_headers_in_epoch_seconds_or_iso) {
  auto unified = "anthropic-ratelimit-unified-reset";
  EXPECT_EQ(parse1(unified, "1795968000").reset_at, four_pm);
  EXPECT_EQ(parse1(unified, "1795968000.25").reset_at, four_pm + 250);
  EXPECT_EQ(parse1(unified, "1795968000000").reset_at, four_pm); // ms
  EXPECT_EQ(parse1(unified, "2026-11-29T16:00:00Z").reset_at, four_pm);
  EXPECT_EQ(parse1(unified, "2026-11-29T16:00:00.123Z").reset_at,
            four_pm + 123);
  EXPECT_EQ(parse1(unified, "2026-11-29T18:00:00+02:00").reset_at, four_pm);
  EXPECT_EQ(parse1(h5("reset"), "1795968000").five_hour.reset_at, four_pm);
  EXPECT_EQ(parse1(h7("reset"), "1795968000").seven_day.reset_at, four_pm);
  EXPECT_FALSE(parse1(h7("reset"), "1795968000").empty());
  // The past is ignored, the far future clamped to 8 days.
  EXPECT_EQ(parse1(unified, "1764457200").reset_at, 0);
  EXPECT_EQ(parse1(unified, "1795953600").reset_at, 0); // t0 itself
  EXPECT_EQ(parse1(h7("reset"), "1798545600").seven_day.reset_at,
            t0 + 8 * day_ms); // 30 days ahead
  for (auto text :
       {"-1795968000", "tomorrow", "", "1795968000Z", "2026-11-29T16:00:00",
        "2026-11-29T16:00:00Z trailing", "Sun, 29 Nov 2026 16:00:00 GMT"})
    EXPECT_TRUE(parse1(unified, text).empty()) << text;
}

TEST(provider_headers, utilization_headers) {
  auto util5 = [](const char* value) {
    return parse1(h5("utilization"), value).five_hour.utilization;
  };
  EXPECT_EQ(util5("0.42"), 0.42);
  EXPECT_EQ(util5("0"), 0.0);
  EXPECT_EQ(util5("1"), 1.0);
  EXPECT_DOUBLE_EQ(*util5("0.30000000000000004"), 0.30000000000000004);
  // Over the limit is at the limit, up to the plausible maximum.
  EXPECT_EQ(util5("1.2"), 1.0);
  EXPECT_EQ(util5("1.5"), 1.0);
  for (auto text : {"1.51", "42", "150", "-0.1", "-0", "nan", "inf", "abc", "",
                    "0.5%", "5e-1", "0,5"})
    EXPECT_FALSE(util5(text)) << text;
  auto ev = parse1(h7("utilization"), "0.25");
  EXPECT_EQ(ev.seven_day.utilization, 0.25);
  EXPECT_FALSE(ev.five_hour.utilization);
  EXPECT_FALSE(ev.empty());
}

TEST(provider_headers, window_status_rejected_fills_the_window) {
  auto ev = parse1(h5("status"), "rejected");
  EXPECT_EQ(ev.five_hour.utilization, 1.0);
  EXPECT_FALSE(ev.seven_day.utilization);
  EXPECT_EQ(parse1(h7("status"), "REJECTED").seven_day.utilization, 1.0);
  // Whatever the utilization says, before or after it.
  ev = parse({{h5("status"), "rejected"}, {h5("utilization"), "0.3"}});
  EXPECT_EQ(ev.five_hour.utilization, 1.0);
  ev = parse({{h7("utilization"), "0.3"}, {h7("status"), "rejected"}});
  EXPECT_EQ(ev.seven_day.utilization, 1.0);
  // Allowed says nothing; garbage is ignored.
  EXPECT_TRUE(parse1(h5("status"), "allowed").empty());
  EXPECT_TRUE(parse1(h5("status"), "allowed_warning").empty());
  EXPECT_TRUE(parse1(h5("status"), "full").empty());
  ev = parse({{h5("utilization"), "0.3"}, {h5("status"), "allowed"}});
  EXPECT_EQ(ev.five_hour.utilization, 0.3);
}

TEST(provider_headers, names_case_insensitive_values_trimmed) {
  auto ev = parse({{"Retry-After", " \t120\t "},
                   {"ANTHROPIC-RATELIMIT-UNIFIED-STATUS", "  rejected"},
                   {"Anthropic-RateLimit-Unified-5h-Utilization", "0.5 "},
                   {"DATE", " Sun, 29 Nov 2026 11:59:30 GMT "}});
  EXPECT_EQ(ev.at, t0 - 30'000);
  EXPECT_EQ(ev.retry_at, t0 - 30'000 + 120'000);
  EXPECT_EQ(ev.status, provider_status::rejected);
  EXPECT_EQ(ev.five_hour.utilization, 0.5);
}

TEST(provider_headers, a_repeated_header_counts_its_last_value) {
  auto ev = parse({{"retry-after", "120"},
                   {"anthropic-ratelimit-unified-status", "rejected"},
                   {"Retry-After", "60"},
                   {"anthropic-ratelimit-unified-status", "allowed"}});
  EXPECT_EQ(ev.retry_at, t0 + 60'000);
  EXPECT_EQ(ev.status, provider_status::allowed);
  // The last one counts even when it is malformed (then nothing is read).
  ev = parse({{"retry-after", "120"}, {"retry-after", "later"}});
  EXPECT_EQ(ev.retry_at, 0);
  ev = parse({{h5("status"), "rejected"}, {h5("status"), "allowed"}});
  EXPECT_FALSE(ev.five_hour.utilization);
}

TEST(provider_headers, a_full_rejection) {
  auto ev = parse({
    {"date", "Sun, 29 Nov 2026 12:00:00 GMT"},
    {"retry-after", "14400"},
    {"anthropic-ratelimit-unified-status", "rejected"},
    {"anthropic-ratelimit-unified-reset", "1795968000"},
    {h5("utilization"), "1.02"},
    {h5("reset"), "1795968000"},
    {h5("status"), "rejected"},
    {h7("utilization"), "0.61"},
    {h7("reset"), "1796126400"},
    {h7("status"), "allowed"},
  });
  EXPECT_EQ(ev.at, t0);
  EXPECT_EQ(ev.retry_at, four_pm);
  EXPECT_EQ(ev.status, provider_status::rejected);
  EXPECT_EQ(ev.reset_at, four_pm);
  EXPECT_EQ(ev.five_hour.utilization, 1.0);
  EXPECT_EQ(ev.five_hour.reset_at, four_pm);
  EXPECT_EQ(ev.seven_day.utilization, 0.61);
  EXPECT_EQ(ev.seven_day.reset_at, t0 + 2 * day_ms);
  EXPECT_EQ(ev.text_reset_at, 0);
}

// -- parse_evidence: the Date header -----------------------------------------

TEST(provider_headers, date_header_sets_the_time_relative_values_count_from) {
  // 30 s before the arrival: believed.
  auto ev = parse(
    {{"retry-after", "120"}, {"date", "Sun, 29 Nov 2026 11:59:30 GMT"}});
  EXPECT_EQ(ev.at, t0 - 30'000);
  EXPECT_EQ(ev.retry_at, t0 + 90'000);
  // RFC 850 and asctime dates too; 23 hours before is still believed.
  EXPECT_EQ(parse1("date", "Sunday, 29-Nov-26 11:59:30 GMT").at, t0 - 30'000);
  EXPECT_EQ(parse1("date", "Sun Nov 29 11:59:30 2026").at, t0 - 30'000);
  EXPECT_EQ(parse1("date", "Sat, 28 Nov 2026 13:00:00 GMT").at,
            t0 - 23 * hour_ms);
  EXPECT_EQ(parse1("date", "Sat, 28 Nov 2026 12:00:00 GMT").at,
            t0 - max_date_age); // exactly a day: the boundary is in
  // A past reset is judged against the Date, not the arrival.
  ev = parse({{"date", "Sun, 29 Nov 2026 11:59:30 GMT"},
              {"anthropic-ratelimit-unified-reset", "1795953590"}});
  EXPECT_EQ(ev.reset_at, t0 - 10'000);
}

TEST(provider_headers, date_header_ahead_is_capped_too_old_or_bad_ignored) {
  // Ahead of the arrival (clock skew): the arrival.
  auto ev
    = parse({{"date", "Sun, 29 Nov 2026 12:05:00 GMT"}, {"retry-after", "60"}});
  EXPECT_EQ(ev.at, t0);
  EXPECT_EQ(ev.retry_at, t0 + 60'000);
  // More than a day before the arrival: the arrival.
  ev
    = parse({{"date", "Sat, 28 Nov 2026 11:00:00 GMT"}, {"retry-after", "60"}});
  EXPECT_EQ(ev.at, t0);
  EXPECT_EQ(ev.retry_at, t0 + 60'000);
  EXPECT_EQ(parse1("date", "Sun, 06 Nov 1994 08:49:37 GMT").at, t0);
  // Unreadable: the arrival.
  for (auto text : {"yesterday", "", "1795953570", "2026-11-29T11:59:30Z",
                    "Sun, 29 Nov 2026 11:59:30 CET"})
    EXPECT_EQ(parse1("date", text).at, t0) << text;
}

// -- parse_evidence: the error text ------------------------------------------

TEST(provider_headers, error_text_reset_is_bounded_and_relative_to_the_date) {
  EXPECT_EQ(parse({}, "You've hit your session limit \xC2\xB7 resets 4pm")
              .text_reset_at,
            four_pm);
  // "4pm" counts from the Date: at 16:00:30 on the 28th it is the 29th's.
  auto ev = parse({{"date", "Sat, 28 Nov 2026 16:00:30 GMT"}}, "resets 4pm");
  EXPECT_EQ(ev.at, t0 - 20 * hour_ms + 30'000);
  EXPECT_EQ(ev.text_reset_at, four_pm);
  // An epoch in the past is ignored; one far ahead is clamped.
  ev = parse({}, "Claude AI usage limit reached|1764457200");
  EXPECT_EQ(ev.text_reset_at, 0);
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(parse({}, "Claude AI usage limit reached|1798545600").text_reset_at,
            t0 + 8 * day_ms);
  EXPECT_EQ(parse({}, "Claude AI usage limit reached|1795968000").text_reset_at,
            four_pm);
  EXPECT_FALSE(parse({}, "resets at 4pm (UTC)").empty());
  EXPECT_TRUE(parse({}, "resets at 4pm (Europe/Berlin)").empty());
}

// -- logging -----------------------------------------------------------------

TEST(provider_headers, malformed_values_are_logged_short_and_printable) {
  std::ostringstream out;
  {
    capture_log capture{out};
    parse({{"Retry-After", "\x01\n" + std::string(200, 'x')},
           {"anthropic-ratelimit-unified-5h-utilization", "150"}},
          "resets 4pm (Europe/Berlin)");
  }
  auto log = out.str();
  EXPECT_NE(log.find("provider header retry-after ignored: neither seconds "
                     "nor an HTTP date ('??"
                     + std::string(62, 'x') + "...')\n"),
            std::string::npos)
    << log;
  EXPECT_EQ(log.find(std::string(63, 'x')), std::string::npos) << log;
  EXPECT_NE(log.find("anthropic-ratelimit-unified-5h-utilization ignored: "
                     "above the plausible maximum ('150')"),
            std::string::npos)
    << log;
  EXPECT_NE(log.find("unknown time zone 'Europe/Berlin'"), std::string::npos)
    << log;
}

// -- never fails -------------------------------------------------------------

namespace {

/// Random bytes (NUL and high bytes included) up to 200 of them, salted with
/// pieces of the real syntax so that the deeper paths of every reader run.
std::string random_text(std::mt19937& rng) {
  static constexpr const char* pieces[] = {"resets",
                                           " at ",
                                           "4",
                                           "pm",
                                           ":30",
                                           "(",
                                           ")",
                                           "+02:00",
                                           "UTC",
                                           "Sun, ",
                                           "06 ",
                                           "Nov ",
                                           "1994",
                                           " 08:49:37",
                                           " GMT",
                                           "-",
                                           "T",
                                           "Z",
                                           "Claude AI usage limit reached|",
                                           "1795968000",
                                           ".",
                                           "2026-11-29",
                                           "\xC2\xB7",
                                           "Sunday, ",
                                           "06-Nov-94",
                                           "  ",
                                           "\t",
                                           "12",
                                           "am"};
  std::string s;
  auto len = rng() % 201;
  while (s.size() < len) {
    if (rng() % 3 == 0)
      s += pieces[rng() % std::size(pieces)];
    else
      s += static_cast<char>(rng() % 256);
  }
  s.resize(len);
  return s;
}

std::vector<http_header> random_headers(std::mt19937& rng) {
  static constexpr const char* names[]
    = {"date",
       "retry-after",
       "anthropic-ratelimit-unified-status",
       "anthropic-ratelimit-unified-reset",
       "anthropic-ratelimit-unified-5h-utilization",
       "anthropic-ratelimit-unified-7d-utilization",
       "anthropic-ratelimit-unified-5h-reset",
       "anthropic-ratelimit-unified-7d-reset",
       "anthropic-ratelimit-unified-5h-status",
       "anthropic-ratelimit-unified-7d-status",
       "x-random"};
  std::vector<http_header> headers;
  for (auto n = rng() % 4; n > 0; --n)
    headers.push_back({names[rng() % std::size(names)], random_text(rng)});
  return headers;
}

/// The header's promises: the time within a day before the arrival, every
/// reset after it and at most 8 days ahead, every utilization in 0..1.
testing::AssertionResult in_bounds(const provider_evidence& ev,
                                   millis arrived) {
  if (ev.at < arrived - max_date_age || ev.at > arrived)
    return testing::AssertionFailure() << "at " << ev.at;
  for (auto t : {ev.reset_at, ev.five_hour.reset_at, ev.seven_day.reset_at,
                 ev.retry_at, ev.text_reset_at})
    if (t != 0 && (t <= ev.at || t > ev.at + max_reset_ahead))
      return testing::AssertionFailure() << "reset " << t;
  for (auto& u : {ev.five_hour.utilization, ev.seven_day.utilization})
    if (u && (*u < 0.0 || *u > 1.0))
      return testing::AssertionFailure() << "utilization " << *u;
  return testing::AssertionSuccess();
}

} // namespace

TEST(provider_headers, random_input_never_throws_and_stays_in_bounds) {
  // Into a string that is dropped: every debug line is formatted too.
  std::ostringstream log;
  capture_log capture{log};
  std::mt19937 rng{20261129};
  auto start = std::chrono::steady_clock::now();
  int read = 0;
  for (int i = 0; i < 20000; ++i) {
    if (log.tellp() > (1 << 20))
      log.str({});
    auto headers = random_headers(rng);
    auto text = random_text(rng);
    provider_evidence ev;
    ASSERT_NO_THROW(ev = parse_evidence(headers, text, t0)) << i;
    ASSERT_TRUE(in_bounds(ev, t0)) << i;
    read += !ev.empty();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds{1});
  // The salt works: the readers got past the first byte now and then.
  EXPECT_GT(read, 0);
}
