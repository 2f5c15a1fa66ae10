// The helpers that turn values into SQL parameters (persistence/sql.hpp).
// This file includes messages/json.hpp too, on purpose: a helper of the
// same name and parameters as one of the JSON helpers would be one symbol
// to the linker, and a Debug build called the wrong one (a crash in
// save_evidence). In one translation unit such a clash does not compile.

#include "messages/json.hpp"
#include "persistence/sql.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(sql_params, instants_are_iso_text_or_null) {
  EXPECT_FALSE(iso_text_or_null(0).has_value());
  auto t = iso_text_or_null(1'800'000'000'000);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, format_iso(1'800'000'000'000));
  sql_value v{t};
  EXPECT_EQ(v.kind, sql_value::text);
  EXPECT_EQ(v.s, *t);
  EXPECT_EQ(sql_value{iso_text_or_null(0)}.kind, sql_value::null);
  // The JSON helper of the same idea, beside it.
  EXPECT_TRUE(iso_or_null(0).is_null());
}

TEST(sql_params, empty_text_and_zero_ids_are_null) {
  std::string empty, name = "sub-a";
  EXPECT_EQ(text_or_null(empty).kind, sql_value::null);
  EXPECT_EQ(text_or_null(name).s, "sub-a");
  EXPECT_EQ(id_or_null(0).kind, sql_value::null);
  EXPECT_EQ(id_or_null(7).i, 7);
}
