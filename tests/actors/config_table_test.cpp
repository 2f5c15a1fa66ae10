// Options declared once: the key tables of docs/configuration.md and conf/switchboard.ini
// list exactly the keys of the tables in the code, with the same defaults,
// and every default passes its own check.

#include "actors/config.hpp"
#include "actors/engine_settings.hpp"
#include "actors/option_table_impl.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace sb;

namespace {

std::string read(const std::string& path) {
  std::ifstream in{std::string{SB_SOURCE_DIR} + "/" + path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// KEY -> DEFAULT from the docs/configuration.md table under the header line `header`:
/// rows "| `PREFIXKEY` | `DEFAULT` | ..." up to the end of the table.
std::map<std::string, std::string> readme_rows(const std::string& header,
                                               const std::string& prefix) {
  std::map<std::string, std::string> rows;
  std::regex row{"^\\| `" + prefix + "([a-z0-9-]+)` \\| `([^`]*)` \\|"};
  std::istringstream in{read("docs/configuration.md")};
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line == header) {
      inside = true;
      continue;
    }
    if (!inside)
      continue;
    if (line.empty() || line[0] != '|')
      break;
    std::smatch m;
    if (std::regex_search(line, m, row))
      rows[m[1]] = m[2] == "\"\"" ? std::string{} : std::string{m[2]};
  }
  return rows;
}

/// KEY -> value of a section of conf/switchboard.ini (quotes removed).
std::map<std::string, std::string> ini_section(const std::string& section) {
  std::map<std::string, std::string> values;
  std::istringstream in{read("conf/switchboard.ini")};
  std::string current;
  std::regex entry{"^([a-z0-9-]+)=\"?([^\"]*)\"?$"};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '[') {
      current = line.substr(1, line.find(']') - 1);
      continue;
    }
    std::smatch m;
    if (current == section && std::regex_match(line, m, entry))
      values[m[1]] = m[2];
  }
  return values;
}

template<class Options>
std::map<std::string, std::string> defaults(const option_table<Options>& t) {
  std::map<std::string, std::string> result;
  for (auto& row : t)
    result[std::string{row.key}] = std::string{row.default_value};
  return result;
}

} // namespace

TEST(config_table, every_default_passes_its_own_check) {
  daemon_options o;
  for (auto& row : daemon_option_table())
    EXPECT_FALSE(set_option(row, o, row.default_value, "")) << row.key;
  engine_settings s;
  for (auto& row : setting_table())
    EXPECT_FALSE(set_option(row, s, row.default_value, "")) << row.key;
}

TEST(config_table, the_readme_lists_every_key_with_its_default) {
  EXPECT_EQ(readme_rows("| key | default | what |", "switchboard\\."),
            defaults(daemon_option_table()));
  EXPECT_EQ(readme_rows("| setting | default | what |", ""),
            defaults(setting_table()));
}

TEST(config_table, the_example_config_file_lists_every_key_with_its_default) {
  EXPECT_EQ(ini_section("switchboard"), defaults(daemon_option_table()));
  EXPECT_EQ(ini_section("settings"), defaults(setting_table()));
}

TEST(config_table, help_lists_every_key) {
  auto help = daemon_help();
  for (auto& row : daemon_option_table())
    EXPECT_NE(help.find("--switchboard." + std::string{row.key} + "="),
              std::string::npos)
      << row.key;
  for (auto& row : setting_table())
    EXPECT_NE(help.find("--settings." + std::string{row.key} + "="),
              std::string::npos)
      << row.key;
}
