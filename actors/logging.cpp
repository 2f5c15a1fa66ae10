#include "actors/logging.hpp"

#include "messages/time.hpp"
#include "messages/validate.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
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

namespace {

/// The fields of the line this thread is logging (log_fields_scope).
thread_local const log_fields* current_fields = nullptr;

/// The json line's fields beside at, level and message (which they never
/// replace).
void add_fields(nlohmann::json& line) {
  if (current_fields == nullptr)
    return;
  for (auto& f : *current_fields) {
    if (f.key == nullptr || line.contains(f.key))
      continue;
    if (f.is_number)
      line[f.key] = f.number;
    else
      line[f.key] = sanitize_utf8(f.text, f.text.size());
  }
}

} // namespace

log_fields_scope::log_fields_scope(log_fields fields)
    : fields_(std::move(fields)), previous_(current_fields) {
  current_fields = &fields_;
}

log_fields_scope::~log_fields_scope() {
  current_fields = previous_;
}

namespace {

/// One log line, written by Switchboard rather than by spdlog's pattern: a
/// message (an agent's name, a provider's error text) may carry control
/// characters, ANSI escapes or bidi overrides; they never reach a terminal
/// or a log file raw.
class line_formatter : public spdlog::formatter {
public:
  enum class shape { text, json, bare };

  explicit line_formatter(shape s) : shape_(s) {
    // nop
  }

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                msg.time.time_since_epoch())
                .count();
    std::string_view text{msg.payload.data(), msg.payload.size()};
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line;
    switch (shape_) {
    case shape::json: {
      nlohmann::json j{{"at", format_iso(ms)},
                       {"level", std::string{level.data(), level.size()}},
                       {"message", sanitize_utf8(text, text.size())}};
      add_fields(j);
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    }
    case shape::text:
      line = format_iso(ms) + " " + std::string{level.data(), level.size()}
             + " " + escape_for_terminal(text);
      break;
    case shape::bare:
      line = escape_for_terminal(text);
      break;
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(shape_);
  }

private:
  shape shape_;
};

/// True if stderr is the journal's stream (systemd sets JOURNAL_STREAM to
/// its device and inode).
bool stderr_is_journal() {
  auto* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr)
    return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2)
    return false;
  struct stat st {};
  return ::fstat(STDERR_FILENO, &st) == 0
         && static_cast<unsigned long long>(st.st_dev) == dev
         && static_cast<unsigned long long>(st.st_ino) == ino;
}

} // namespace

bool valid_log_format(const std::string& format) {
  return format == "auto" || format == "text" || format == "json"
         || format == "journal";
}

std::string setup_logging(const std::string& level, const std::string& file,
                          const std::string& format) {
  if (!valid_log_level(level))
    return "invalid log level '" + level
           + "' (use trace, debug, info, warn, error or off)";
  if (!valid_log_format(format))
    return "invalid log format '" + format
           + "' (use auto, text, json or journal)";
  auto journal
    = format == "journal" || (format == "auto" && stderr_is_journal());
  auto shape = format == "json" ? line_formatter::shape::json
                                : line_formatter::shape::text;
  std::vector<spdlog::sink_ptr> sinks;
  if (journal) {
    // Priorities from the levels; the journal adds time and unit itself.
    auto sink
      = std::make_shared<spdlog::sinks::systemd_sink_mt>("switchboardd", true);
    sink->set_formatter(
      std::make_unique<line_formatter>(line_formatter::shape::bare));
    sinks.push_back(sink);
  } else {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<line_formatter>(shape));
    sinks.push_back(sink);
  }
  if (!file.empty()) {
    if (auto err = prepare_log_file(file))
      return "cannot open log file '" + file + "': " + std::strerror(err);
    spdlog::file_event_handlers handlers;
    handlers.before_open
      = [](const spdlog::filename_t& name) { prepare_log_file(name); };
    try {
      auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        file, 10 * 1024 * 1024, 3, false, handlers);
      sink->set_formatter(std::make_unique<line_formatter>(shape));
      sinks.push_back(sink);
    } catch (const std::exception& e) {
      return "cannot open log file '" + file + "': " + e.what();
    }
  }
  auto logger = std::make_shared<spdlog::logger>("switchboard", sinks.begin(),
                                                 sinks.end());
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

} // namespace sb
