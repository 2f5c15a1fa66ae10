#pragma once

// Project logging macros over spdlog. One line per decision, phrased for
// operators ("subject verb object"); tokens never appear in a log line.
// CAF's own logger is compiled out of Debian's libcaf, so this is the only one.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

/// A log line with fields (sb::log_fields): in the json format they are
/// top-level members of the line's object beside at, level and message; the
/// text and journal formats show only the message (which names them too).
/// `fields` is one expression, e.g. sb::log_kv("agent", name, "generation",
/// 7) (a braced list would be split at its commas by the preprocessor).
#define SB_LOG_WITH(level_macro, fields, ...)                                  \
  do {                                                                         \
    ::sb::log_fields_scope sb_log_fields_scope_{fields};                       \
    level_macro(__VA_ARGS__);                                                  \
  } while (false)
#define SB_INFO_WITH(fields, ...) SB_LOG_WITH(SB_INFO, fields, __VA_ARGS__)
#define SB_WARN_WITH(fields, ...) SB_LOG_WITH(SB_WARN, fields, __VA_ARGS__)
#define SB_ERROR_WITH(fields, ...) SB_LOG_WITH(SB_ERROR, fields, __VA_ARGS__)

namespace sb {

/// One field of a structured log line: a text or a number.
struct log_field {
  log_field(const char* k, std::string v) : key(k), text(std::move(v)) {
    // nop
  }
  log_field(const char* k, uint64_t v) : key(k), number(v), is_number(true) {
    // nop
  }
  const char* key;
  std::string text;
  uint64_t number = 0;
  bool is_number = false;
};

using log_fields = std::vector<log_field>;

/// Builds log_fields from key, value pairs: log_kv("agent", a, "n", 3).
template<class... Ts>
log_fields log_kv(Ts&&... xs) {
  static_assert(sizeof...(Ts) % 2 == 0, "log_kv takes key, value pairs");
  log_fields out;
  out.reserve(sizeof...(Ts) / 2);
  const char* key = nullptr;
  auto add = [&](auto&& x) {
    using T = std::decay_t<decltype(x)>;
    if (key == nullptr) {
      if constexpr (std::is_convertible_v<T, const char*>)
        key = x;
    } else {
      if constexpr (std::is_integral_v<T>)
        out.emplace_back(key, static_cast<uint64_t>(x));
      else
        out.emplace_back(key, std::string(x));
      key = nullptr;
    }
  };
  (add(std::forward<Ts>(xs)), ...);
  return out;
}

/// While it lives, the lines this thread logs carry `fields` (the loggers
/// are synchronous: a line is formatted on the thread that logs it). Scopes
/// nest, the innermost wins.
class log_fields_scope {
public:
  explicit log_fields_scope(log_fields fields);
  ~log_fields_scope();
  log_fields_scope(const log_fields_scope&) = delete;
  log_fields_scope& operator=(const log_fields_scope&) = delete;

private:
  log_fields fields_;
  const log_fields* previous_;
};

/// Sets up the default logger: stderr (or systemd's journal), plus a
/// rotating file if `file` is not empty (10 MiB per file, 3 files).
/// `format`: text (one line: time, level, message with control characters
/// escaped), json (one object per line: at, level, message, and the
/// fields of SB_INFO_WITH and its siblings), journal (the
/// journal with priorities), or auto (journal when stderr is the journal's
/// stream, JOURNAL_STREAM; else text). Returns an error text, or "".
std::string setup_logging(const std::string& level, const std::string& file,
                          const std::string& format = "auto");

/// True if `format` is auto, text, json or journal.
bool valid_log_format(const std::string& format);

/// True if `level` is one of trace, debug, info, warn, error, off.
bool valid_log_level(const std::string& level);

} // namespace sb
