#include "actors/logging.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <vector>

namespace sb {

bool valid_log_level(const std::string& level) {
  for (auto x : {"trace", "debug", "info", "warn", "error", "off"})
    if (level == x)
      return true;
  return false;
}

std::string setup_logging(const std::string& level, const std::string& file) {
  if (!valid_log_level(level))
    return "invalid log level '" + level
           + "' (use trace, debug, info, warn, error or off)";
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!file.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        file, 10 * 1024 * 1024, 3));
    } catch (const std::exception& e) {
      return "cannot open log file '" + file + "': " + e.what();
    }
  }
  auto logger = std::make_shared<spdlog::logger>("switchboard", sinks.begin(),
                                                 sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

} // namespace sb
