// Input checks shared by the CLI, the FRONT DOOR and the actors where the
// data lands (AGENT, POOL).

#include "messages/error.hpp"
#include "messages/validate.hpp"

#include <gtest/gtest.h>

using namespace sb;

TEST(validate, names) {
  EXPECT_FALSE(validate_name("agent name", "a1"));
  EXPECT_FALSE(validate_name("agent name", "agent-\xC3\xA9t\xC3\xA9"));
  EXPECT_FALSE(validate_name("agent name", std::string(128, 'x')));
  EXPECT_TRUE(is(validate_name("agent name", ""), ec::invalid_name));
  EXPECT_TRUE(
    is(validate_name("agent name", std::string(129, 'x')), ec::invalid_name));
  EXPECT_TRUE(validate_name("agent name", "a\nb"));
  EXPECT_TRUE(validate_name("agent name", "a\x7f"));
  EXPECT_TRUE(validate_name("agent name", "\xC3"));     // truncated sequence
  EXPECT_TRUE(validate_name("agent name", "\xC0\xAF")); // overlong
  EXPECT_NE(render(validate_name("agent name", "")).find("agent name"),
            std::string::npos);
}

TEST(validate, tokens) {
  EXPECT_FALSE(validate_token("sk-ant-oat01-abc_DEF.123"));
  EXPECT_TRUE(validate_token(""));
  EXPECT_TRUE(validate_token("two words"));
  EXPECT_TRUE(validate_token(std::string(16385, 'x')));
  EXPECT_EQ(trim_token("  tok\r\n"), "tok");
  // An error about a token never contains the token.
  auto err = validate_token("sk-secret with-space");
  EXPECT_EQ(render(err).find("sk-secret"), std::string::npos);
}

TEST(validate, utf8_sanitizing_and_truncation) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xE2\x9C\x93"));
  EXPECT_FALSE(valid_utf8("\xFF"));
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80")); // surrogate
  auto clean = sanitize_utf8("ok\xFFok", 100);
  EXPECT_TRUE(valid_utf8(clean));
  EXPECT_EQ(clean, "ok\xEF\xBF\xBDok");
  // Truncation never cuts a character in half.
  std::string checks;
  for (int i = 0; i < 2000; ++i)
    checks += "\xE2\x9C\x93"; // 3 bytes each
  auto cut = sanitize_utf8(checks, 4096);
  EXPECT_LE(cut.size(), 4096u);
  EXPECT_EQ(cut.size() % 3, 0u);
  EXPECT_TRUE(valid_utf8(cut));
  std::string garbage;
  for (int i = 0; i < 10000; ++i)
    garbage.push_back(static_cast<char>(i * 7919 % 256));
  auto safe = sanitize_utf8(garbage, 4096);
  EXPECT_TRUE(valid_utf8(safe));
  EXPECT_LE(safe.size(), 4096u);
}

TEST(validate, terminal_output_escapes_controls_escapes_and_bidi) {
  EXPECT_EQ(escape_for_terminal("agent-1 ok"), "agent-1 ok");
  EXPECT_EQ(escape_for_terminal("Ünïcødé ✓"), "Ünïcødé ✓");
  // An ANSI sequence that would clear the screen, a bell, a line feed.
  EXPECT_EQ(escape_for_terminal("a\x1B[2Jb\x07\n"), "a\\x1B[2Jb\\x07\\x0A");
  // C1 control CSI (U+009B), RIGHT-TO-LEFT OVERRIDE (U+202E), FIRST STRONG
  // ISOLATE (U+2068).
  EXPECT_EQ(escape_for_terminal("x\xC2\x9By"), "x\\u009By");
  EXPECT_EQ(escape_for_terminal("evil\xE2\x80\xAEtxt.exe"),
            "evil\\u202Etxt.exe");
  EXPECT_EQ(escape_for_terminal("\xE2\x81\xA8"), "\\u2068");
  // Invalid UTF-8 bytes are shown, not passed on.
  EXPECT_EQ(escape_for_terminal("a\xFF"), "a\\xFF");
}

TEST(validate, names_refuse_c1_controls_and_bidi_overrides) {
  EXPECT_FALSE(validate_name("agent name", "agent-ü"));
  for (auto bad :
       {"a\x1B[31m", "a\xC2\x85", "a\xE2\x80\xAE", "a\xE2\x81\xA6"}) {
    auto err = validate_name("agent name", bad);
    ASSERT_TRUE(err) << bad;
    EXPECT_NE(render(err).find("control character or a bidi override"),
              std::string::npos);
  }
}

namespace {

failure_report good_report() {
  failure_report r;
  r.agent = "a1";
  r.status = 429;
  r.error = "rate limited";
  return r;
}

constexpr millis now_ms = 1'800'000'000'000;

} // namespace

TEST(validate, reports) {
  auto r = good_report();
  EXPECT_FALSE(check_report(r, now_ms));
  auto bad = [](auto change) {
    auto r = good_report();
    change(r);
    return check_report(r, now_ms);
  };
  EXPECT_TRUE(is(bad([](auto& r) { r.agent = "\xFF"; }), ec::invalid_name));
  EXPECT_NE(render(bad([](auto& r) { r.status = 42; })).find("got 42"),
            std::string::npos);
  EXPECT_TRUE(bad([](auto& r) { r.status = 0; }));
  EXPECT_FALSE(bad([](auto& r) {
    r.status = 0;
    r.kind = failure_kind::auth;
  }));
  EXPECT_TRUE(bad([](auto& r) { r.kind = failure_kind::ignored; }));
  EXPECT_TRUE(bad([](auto& r) { r.kind = static_cast<failure_kind>(42); }));
  EXPECT_TRUE(bad([](auto& r) { r.subscription = "a\nb"; }));
  EXPECT_TRUE(bad([](auto& r) { r.execution_id = std::string(257, 'x'); }));
  EXPECT_TRUE(bad([](auto& r) { r.source = "\xC3"; }));
  EXPECT_TRUE(bad([](auto& r) { r.retry_after_ms = -1; }));
  EXPECT_TRUE(bad([](auto& r) { r.retry_after_ms = 367 * day_ms; }));
  EXPECT_TRUE(bad([](auto& r) { r.reset_at = now_ms + 367 * day_ms; }));
  EXPECT_TRUE(bad([](auto& r) { r.headers.push_back({"bad name", "x"}); }));
  // The error text is never refused: made valid UTF-8 and bounded.
  r = good_report();
  r.error = "\xFF" + std::string(10000, 'x');
  EXPECT_FALSE(check_report(r, now_ms));
  EXPECT_TRUE(valid_utf8(r.error));
  EXPECT_LE(r.error.size(), max_error_bytes);
}

TEST(validate, observations_and_container_names) {
  observation o;
  o.agent = "a1";
  o.headers.push_back({"anthropic-ratelimit-unified-status", "allowed"});
  EXPECT_FALSE(check_observation(o));
  auto no_headers = o;
  no_headers.headers.clear();
  EXPECT_TRUE(check_observation(no_headers));
  auto bad_source = o;
  bad_source.source = "\xFF";
  EXPECT_TRUE(check_observation(bad_source));
  EXPECT_FALSE(check_container_name("agent-1.box_2"));
  EXPECT_TRUE(is(check_container_name("-x"), ec::invalid_name));
  EXPECT_TRUE(is(check_container_name("a/b"), ec::invalid_name));
  EXPECT_TRUE(is(check_container_name(""), ec::invalid_name));
}

TEST(validate, stored_text_holds_no_escape_sequence) {
  // ESC sequences (CSI colour, OSC title with BEL), a C1 CSI, a bidi
  // override, CR: written out visibly; tab and line feed stay.
  auto in = std::string{"a\x1B[31mred\x1B]0;t\x07 \xC2\x9B"
                        "2J \xE2\x80\xAE"
                        "x\r\nb\tc\rd"};
  auto out = sanitize_text(in, 1000);
  EXPECT_EQ(out, "a\\x1B[31mred\\x1B]0;t\\x07 \\u009B2J \\u202Ex\nb\tc\\x0Dd");
  EXPECT_EQ(out.find('\x1B'), std::string::npos);
  // Invalid bytes become U+FFFD; the cut never splits a character or an
  // escape.
  EXPECT_EQ(sanitize_text("\xFFok", 1000), "\xEF\xBF\xBDok");
  EXPECT_EQ(sanitize_text("ab\x1B", 5), "ab");
  EXPECT_EQ(sanitize_text("\xE2\x9C\x93\xE2\x9C\x93", 5), "\xE2\x9C\x93");
  auto r = good_report();
  r.error = "\x1B[2J";
  r.source = "cli\x1B";
  r.execution_id = "\xE2\x80\xAE";
  EXPECT_FALSE(check_report(r, now_ms));
  EXPECT_EQ(r.error, "\\x1B[2J");
  EXPECT_EQ(r.source, "cli\\x1B");
  EXPECT_EQ(r.execution_id, "\\u202E");
}
