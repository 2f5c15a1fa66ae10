// Timestamps: one ISO-8601 UTC format that sorts like the instants it names,
// including across day, month and year boundaries (the seed system's windows
// broke by comparing two formats).

#include "messages/time.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(iso_time, formats_fixed_width_utc_with_milliseconds) {
  EXPECT_EQ(format_iso(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso(1'800'000'000'007), "2027-01-15T08:00:00.007Z");
  EXPECT_EQ(format_iso(1'800'000'000'007).size(), 24u);
}

TEST(iso_time, parses_what_it_formats) {
  for (millis t : {millis{0}, millis{1'800'000'000'007},
                   millis{1'798'761'599'999}, millis{951'782'400'000}})
    EXPECT_EQ(parse_iso(format_iso(t)), t) << format_iso(t);
  EXPECT_EQ(parse_iso("2027-01-15T08:00:00Z"), 1'800'000'000'000);
  for (auto bad :
       {"", "2027-01-15 08:00:00.000Z", "2027-01-15T08:00:00.000",
        "2027-13-15T08:00:00.000Z", "2027-01-15T08:00:00.000Z!", "yesterday"})
    EXPECT_FALSE(parse_iso(bad).has_value()) << bad;
}

TEST(iso_time, text_order_is_time_order_across_boundaries) {
  // 23:59:59.999 on 2026-12-31 and the first millisecond of 2027.
  millis last_of_year = 1'798'761'599'999;
  auto a = format_iso(last_of_year);
  auto b = format_iso(last_of_year + 1);
  EXPECT_EQ(a, "2026-12-31T23:59:59.999Z");
  EXPECT_EQ(b, "2027-01-01T00:00:00.000Z");
  EXPECT_LT(a, b);
  // A 2 h window cut across midnight: the cutoff computed in the same format
  // puts an event at 23:30 inside and one at 21:59 outside.
  millis now = last_of_year + 1 + 30 * minute_ms; // 00:30 next day
  auto cutoff = format_iso(now - 2 * hour_ms);    // 22:30 the day before
  EXPECT_GT(format_iso(now - 60 * minute_ms), cutoff);
  EXPECT_LT(format_iso(now - 151 * minute_ms), cutoff);
  // Every pair of instants over a long span compares the same as text.
  for (millis t = 1'700'000'000'000; t < 1'700'000'000'000 + 40 * day_ms;
       t += 7 * hour_ms + 13)
    EXPECT_LT(format_iso(t), format_iso(t + 999));
}
