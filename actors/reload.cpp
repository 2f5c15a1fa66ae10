// SIGHUP reload (actors/reload.hpp).

#include "actors/reload.hpp"

#include "actors/logging.hpp"
#include "actors/notifier.hpp"
#include "actors/option_table_impl.hpp"
#include "messages/error.hpp"

#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

namespace sb {

namespace {

/// The [settings] values that changed, and their new text.
std::vector<std::pair<std::string, std::string>>
changed_settings(const settings_map& running, const settings_map& fresh) {
  std::vector<std::pair<std::string, std::string>> result;
  for (auto& [key, value] : fresh) {
    auto i = running.find(key);
    if (i == running.end() || i->second != value)
      result.emplace_back(key, value);
  }
  return result;
}

void apply_settings(caf::actor_system& sys, const front_door_actor& door,
                    daemon_options& running, const daemon_options& fresh,
                    reload_report& out) {
  caf::scoped_actor self{sys};
  for (auto& [key, value] :
       changed_settings(running.settings, fresh.settings)) {
    auto name = "settings." + key;
    self
      ->request(door, std::chrono::seconds(10), setting_atom::value, key, value)
      .receive(
        [&](settings_map&) {
          running.settings[key] = value;
          out.applied.push_back(name);
        },
        [&](caf::error& err) {
          out.failed.push_back(name + ": " + render(err));
        });
  }
  // A key removed from the file keeps its running value (the default is
  // not re-applied over what was set at run time).
}

} // namespace

reload_report apply_reload(caf::actor_system& sys, const front_door_actor& door,
                           published<live_options>& live,
                           daemon_options& running,
                           const daemon_options& fresh) {
  reload_report out;
  bool live_changed = false;
  for (auto& row : daemon_option_table()) {
    auto before = option_text(row, running);
    auto after = option_text(row, fresh);
    if (before == after)
      continue;
    auto name = "switchboard." + std::string{row.key};
    if (row.key == "log-level") {
      spdlog::default_logger()->set_level(spdlog::level::from_str(after));
      running.log_level = fresh.log_level;
      out.applied.push_back(name);
    } else if (live_options::is_live(row.key)) {
      if (auto err = set_option(row, running, after, "switchboard.")) {
        out.failed.push_back(name + ": " + render(err));
        continue;
      }
      live_changed = true;
      out.applied.push_back(name);
    } else {
      out.need_restart.push_back(name);
    }
  }
  if (live_changed) {
    live.publish(live_options::of(running));
    // The notifier rests while it has nothing to do (or parks without a
    // command): a round now applies what changed.
    wake_notifier(sys);
  }
  apply_settings(sys, door, running, fresh, out);
  return out;
}

} // namespace sb
