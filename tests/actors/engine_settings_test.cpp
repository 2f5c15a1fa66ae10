// Runtime settings: parsing, ranges, canonical text.

#include "actors/engine_settings.hpp"
#include "messages/error.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(engine_settings, defaults) {
  engine_settings s;
  auto m = to_settings_map(s);
  EXPECT_EQ(m.at("auto-switch"), "on");
  EXPECT_EQ(m.at("exclusion-window"), "2h");
  EXPECT_EQ(m.at("switch-budget"), "6");
  EXPECT_EQ(m.size(), setting_table().size());
}

TEST(engine_settings, durations) {
  EXPECT_EQ(parse_duration("90m"), 90 * minute_ms);
  EXPECT_EQ(parse_duration("2h"), 2 * hour_ms);
  EXPECT_EQ(parse_duration("1500ms"), 1500);
  EXPECT_EQ(parse_duration("1d"), day_ms);
  EXPECT_FALSE(parse_duration("2 h"));
  EXPECT_FALSE(parse_duration("h"));
  EXPECT_FALSE(parse_duration("-5m"));
  EXPECT_EQ(format_duration(120 * minute_ms), "2h");
  EXPECT_EQ(format_duration(90 * minute_ms), "90m");
  EXPECT_EQ(normalize_setting("exclusion-window", "120m"), std::string{"2h"});
}

TEST(engine_settings, bad_values_name_the_key) {
  engine_settings s;
  for (auto [key, value] :
       {std::pair{"auto-switch", "maybe"}, std::pair{"switch-budget", "-1"},
        std::pair{"rate-limit-threshold", "0"},
        std::pair{"exclusion-window", "31d"},
        std::pair{"events-retention-days", "lots"}}) {
    auto err = apply_setting(s, key, value);
    ASSERT_TRUE(err) << key;
    EXPECT_NE(render(err).find(key), std::string::npos) << render(err);
  }
  EXPECT_TRUE(is(apply_setting(s, "no-such-key", "1"), ec::invalid_argument));
  // Nothing above changed the settings.
  EXPECT_EQ(to_settings_map(s), to_settings_map(engine_settings{}));
}

TEST(engine_settings, switch_at_utilization_is_a_fraction_or_off) {
  engine_settings s;
  ASSERT_TRUE(s.switch_at_utilization);
  EXPECT_DOUBLE_EQ(*s.switch_at_utilization, 0.95);
  EXPECT_EQ(to_settings_map(s).at("switch-at-utilization"), "0.95");
  EXPECT_FALSE(apply_setting(s, "switch-at-utilization", "off"));
  EXPECT_FALSE(s.switch_at_utilization);
  EXPECT_EQ(to_settings_map(s).at("switch-at-utilization"), "off");
  EXPECT_FALSE(apply_setting(s, "switch-at-utilization", "1"));
  EXPECT_DOUBLE_EQ(*s.switch_at_utilization, 1.0);
  EXPECT_EQ(normalize_setting("switch-at-utilization", "0.900"),
            std::string{"0.9"});
  for (auto bad : {"95%", "0.05", "1.5", "-0.9", ".9", "0.9.1", "", "on"}) {
    auto err = apply_setting(s, "switch-at-utilization", bad);
    ASSERT_TRUE(err) << bad;
    EXPECT_NE(render(err).find("switch-at-utilization"), std::string::npos);
  }
  EXPECT_DOUBLE_EQ(*s.switch_at_utilization, 1.0); // unchanged by bad input
}
