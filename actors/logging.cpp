#include "actors/logging.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sb {

namespace {

/// Log lines name agents, subscriptions and errors: the file (and every
/// file the rotation starts) is created with mode 0600 before spdlog opens
/// it, and an existing file readable by others is tightened. Returns errno.
int prepare_log_file(const std::string& file) {
  int fd
    = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
    ::fchmod(fd, 0600);
  ::close(fd);
  return 0;
}

} // namespace

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
    if (auto err = prepare_log_file(file))
      return "cannot open log file '" + file + "': " + std::strerror(err);
    spdlog::file_event_handlers handlers;
    handlers.before_open
      = [](const spdlog::filename_t& name) { prepare_log_file(name); };
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        file, 10 * 1024 * 1024, 3, false, handlers));
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
