#pragma once

// Project logging macros over spdlog. One line per decision, phrased for
// operators ("subject verb object"); tokens never appear in a log line.
// CAF's own logger is compiled out of Debian's libcaf, so this is the only one.

#include <spdlog/spdlog.h>

#include <string>

#define SB_TRACE(...)                                                          \
  SPDLOG_LOGGER_TRACE(spdlog::default_logger_raw(), __VA_ARGS__)
#define SB_DEBUG(...)                                                          \
  SPDLOG_LOGGER_DEBUG(spdlog::default_logger_raw(), __VA_ARGS__)
#define SB_INFO(...)                                                           \
  SPDLOG_LOGGER_INFO(spdlog::default_logger_raw(), __VA_ARGS__)
#define SB_WARN(...)                                                           \
  SPDLOG_LOGGER_WARN(spdlog::default_logger_raw(), __VA_ARGS__)
#define SB_ERROR(...)                                                          \
  SPDLOG_LOGGER_ERROR(spdlog::default_logger_raw(), __VA_ARGS__)

namespace sb {

/// Sets up the default logger: stderr (or systemd's journal), plus a
/// rotating file if `file` is not empty (10 MiB per file, 3 files).
/// `format`: text (one line: time, level, message with control characters
/// escaped), json (one object per line: at, level, message), journal (the
/// journal with priorities), or auto (journal when stderr is the journal's
/// stream, JOURNAL_STREAM; else text). Returns an error text, or "".
std::string setup_logging(const std::string& level, const std::string& file,
                          const std::string& format = "auto");

/// True if `format` is auto, text, json or journal.
bool valid_log_format(const std::string& format);

/// True if `level` is one of trace, debug, info, warn, error, off.
bool valid_log_level(const std::string& level);

} // namespace sb
