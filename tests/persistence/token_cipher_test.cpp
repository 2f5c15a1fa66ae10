// Tokens at rest: the sealed form, the key file (mode 0600, exact format,
// never replaced) and the errors, which never carry the key.

#include "fixtures/temp_dir.hpp"
#include "messages/error.hpp"
#include "persistence/token_cipher.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

using namespace sb;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

} // namespace

TEST(token_cipher, seals_and_opens_with_a_fresh_nonce_each_time) {
  auto key = token_cipher::random_key();
  auto a = key.seal("sk-ant-oat01-very-secret");
  auto b = key.seal("sk-ant-oat01-very-secret");
  EXPECT_NE(a, b); // a new nonce per seal
  for (auto& sealed : {a, b}) {
    EXPECT_TRUE(token_cipher::is_sealed(sealed));
    EXPECT_EQ(sealed.find("very-secret"), std::string::npos);
    EXPECT_EQ(key.open(sealed),
              std::optional<std::string>{"sk-ant-oat01-very-secret"});
  }
  EXPECT_FALSE(token_cipher::is_sealed("sk-plain"));
}

TEST(token_cipher, another_key_or_a_damaged_text_opens_nothing) {
  auto key = token_cipher::random_key();
  auto other = token_cipher::random_key();
  auto sealed = key.seal("tok");
  EXPECT_FALSE(other.open(sealed));
  auto flipped = sealed;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(key.open(flipped));
  EXPECT_FALSE(key.open("sb1:"));
  EXPECT_FALSE(key.open("sb1:!!!not base64"));
  EXPECT_FALSE(key.open("plain"));
}

TEST(token_cipher, the_key_file_is_0600_hex_and_never_replaced) {
  test::temp_dir dir;
  auto path = dir.file("switchboard.key");
  auto created = token_cipher::create(path);
  ASSERT_TRUE(created) << render(created.error());
  EXPECT_EQ(mode_of(path), 0600u);
  auto text = slurp(path);
  ASSERT_EQ(text.size(), 65u);
  EXPECT_EQ(text.find_first_not_of("0123456789abcdef"), 64u);
  EXPECT_EQ(text.back(), '\n');
  // Read back, it is the same key.
  auto read = token_cipher::read(path);
  ASSERT_TRUE(read) << render(read.error());
  EXPECT_EQ(read->open(created->seal("tok")),
            std::optional<std::string>{"tok"});
  // A second create fails and leaves the first key alone.
  auto again = token_cipher::create(path);
  ASSERT_FALSE(again);
  EXPECT_NE(render(again.error()).find(path), std::string::npos);
  EXPECT_EQ(slurp(path), text);
  // No temporary file is left behind.
  size_t files = 0;
  for (auto& entry : std::filesystem::directory_iterator{dir.path()}) {
    static_cast<void>(entry);
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST(token_cipher, a_readable_key_file_is_tightened) {
  test::temp_dir dir;
  auto path = dir.file("k");
  ASSERT_TRUE(token_cipher::create(path));
  ::chmod(path.c_str(), 0644);
  ASSERT_TRUE(token_cipher::read(path));
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(token_cipher, bad_key_files_are_clear_errors_without_their_content) {
  test::temp_dir dir;
  auto missing = token_cipher::read(dir.file("missing.key"));
  ASSERT_FALSE(missing);
  EXPECT_NE(render(missing.error()).find("does not exist"), std::string::npos);
  std::string secretish(64, 'z'); // not hex
  for (auto& content :
       {std::string{"abc\n"}, secretish, std::string(66, 'a'), std::string{}}) {
    auto path = dir.file("bad.key");
    std::ofstream{path, std::ios::trunc} << content;
    auto res = token_cipher::read(path);
    ASSERT_FALSE(res) << content;
    auto msg = render(res.error());
    EXPECT_NE(msg.find("is not a Switchboard key"), std::string::npos) << msg;
    if (!content.empty()) {
      EXPECT_EQ(msg.find(content), std::string::npos) << msg;
    }
  }
  auto folder = token_cipher::read(dir.path().string());
  ASSERT_FALSE(folder);
  EXPECT_NE(render(folder.error()).find("cannot read key file"),
            std::string::npos)
    << render(folder.error());
}

TEST(token_cipher, the_default_key_file_is_next_to_the_database) {
  EXPECT_EQ(key_file_for("data/switchboard.db", ""), "data/switchboard.key");
  EXPECT_EQ(key_file_for("/var/lib/sb/state.db", ""),
            "/var/lib/sb/switchboard.key");
  EXPECT_EQ(key_file_for("state.db", ""), "switchboard.key");
  EXPECT_EQ(key_file_for("data/x.db", "/etc/sb.key"), "/etc/sb.key");
}
