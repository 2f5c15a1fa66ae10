#include "client/suggest.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>

namespace sb::client {

size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rows of the optimal-string-alignment table: two back for swaps.
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1),
    cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    before.swap(prev);
    prev.swap(cur);
  }
  return prev[b.size()];
}

std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  if (word.empty())
    return std::nullopt;
  if (std::find(candidates.begin(), candidates.end(), word) != candidates.end())
    return std::string{word};
  std::vector<const std::string*> starts;
  for (auto& c : candidates)
    if (c.size() > word.size() && c.compare(0, word.size(), word) == 0)
      starts.push_back(&c);
  if (starts.size() == 1)
    return *starts.front();
  const std::string* best = nullptr;
  size_t best_distance = 3;
  for (auto& c : candidates) {
    auto d = edit_distance(word, c);
    if (d < best_distance && d < word.size()) {
      best = &c;
      best_distance = d;
    }
  }
  if (best == nullptr)
    return std::nullopt;
  return *best;
}

namespace {

std::vector<const CLI::App*> subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App*) { return true; });
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (auto* sub : subcommands(app))
    names.push_back(sub->get_name());
  return names;
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (auto* sub : subcommands(app))
    if (sub->get_name() == name)
      return sub;
  return nullptr;
}

/// Whether the option named by `arg` (without "=value") takes the next
/// argument as its value.
bool takes_value(const CLI::App& app, const std::string& arg) {
  if (arg.find('=') != std::string::npos)
    return false;
  for (auto* level = &app; level != nullptr; level = level->get_parent()) {
    auto* opt = level->get_option_no_throw(arg);
    if (opt != nullptr)
      return opt->get_expected_min() > 0;
  }
  return false;
}

} // namespace

std::optional<command_guess> suggest_command(const CLI::App& app, int argc,
                                             const char* const* argv) {
  const CLI::App* level = &app;
  std::string path;
  auto append = [&path](const std::string& word) {
    path += path.empty() ? word : " " + word;
  };
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-') {
      if (takes_value(*level, arg))
        ++i;
      continue;
    }
    auto names = subcommand_names(*level);
    if (names.empty())
      return std::nullopt; // a positional argument of a known command
    if (auto* sub = find_subcommand(*level, arg)) {
      append(sub->get_name());
      level = sub;
      continue;
    }
    auto guess = nearest(arg, names);
    if (!guess)
      return command_guess{arg, {}};
    append(*guess);
    level = find_subcommand(*level, *guess);
    // "agnet list": the next word too when it is (or is near) a
    // subcommand of the guess.
    if (i + 1 < argc && level != nullptr) {
      auto next_names = subcommand_names(*level);
      if (auto next = nearest(argv[i + 1], next_names))
        append(*next);
    }
    return command_guess{arg, path};
  }
  return std::nullopt;
}

} // namespace sb::client
