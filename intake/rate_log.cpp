#include "intake/rate_log.hpp"

#include <spdlog/spdlog.h>

namespace sb::intake {

namespace {

constexpr auto window = std::chrono::seconds(1);

} // namespace

std::string_view describe(log_kind kind) noexcept {
  switch (kind) {
  case log_kind::bad_header:
    return "connections closed for a bad BASP header";
  case log_kind::oversize:
    return "connections closed for an oversize frame";
  case log_kind::over_capacity:
    return "connections refused over capacity";
  case log_kind::no_descriptors:
    return "connections refused for lack of file descriptors";
  case log_kind::slow_reader:
    return "connections dropped for not reading their answers";
  case log_kind::backend_unreachable:
    return "connections closed because the daemon did not take them";
  case log_kind::tls_failed:
    return "TLS handshakes failed";
  case log_kind::handshake_timeout:
    return "connections closed for not completing the handshake in time";
  case log_kind::refused_auth:
    return "connections refused for a missing or wrong credential";
  case log_kind::forbidden:
    return "connections closed for a frame a client may not send";
  case log_kind::message_timeout:
    return "connections closed for not completing a message in time";
  case log_kind::evicted:
    return "unauthenticated connections closed to make room";
  case log_kind::count_:
    break;
  }
  return "events";
}

bool rate_log::admit(log_kind kind, clock::time_point now,
                     uint64_t& suppressed) {
  auto& s = slots_[static_cast<size_t>(kind)];
  if (s.used && now - s.last < window) {
    if (s.suppressed++ == 0)
      ++pending_;
    return false;
  }
  suppressed = s.suppressed;
  if (s.suppressed > 0)
    --pending_;
  s.suppressed = 0;
  s.last = now;
  s.used = true;
  return true;
}

void rate_log::flush(clock::time_point now) {
  if (pending_ == 0)
    return;
  for (size_t i = 0; i < slots_.size(); ++i) {
    auto& s = slots_[i];
    if (s.suppressed == 0 || now < s.last + window)
      continue;
    spdlog::warn("intake: {} more {} since the previous line", s.suppressed,
                 describe(static_cast<log_kind>(i)));
    s.suppressed = 0;
    s.last = now == clock::time_point::max() ? clock::now() : now;
    --pending_;
  }
}

} // namespace sb::intake
