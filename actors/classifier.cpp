#include "actors/classifier.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace sb {

namespace {

// The process was killed: not the subscription's fault.
constexpr std::array<std::string_view, 16> kill_markers = {
  "sigkill",       "sigterm",       "sigint",       "exit code 137",
  "exit code 143", "exit code 130", "exit code -9", "exit code -15",
  "exit code -2",  "terminated by", "killed by",    "out of memory",
  "oom",           "memory cgroup", "signal 9",     "signal 15",
};

// The model was rejected: switching the credential cannot help.
constexpr std::array<std::string_view, 4> model_markers = {
  "unrecognized model",
  "unrecognized_model",
  "does not support this model",
  "model unsupported",
};

// The agent runtime is missing from the container.
constexpr std::array<std::string_view, 3> container_markers = {
  "is not available in this container",
  "permission bypass failed",
  "agent runtime is missing",
};

// Auth-class indicators for statuses that are not auth by themselves.
constexpr std::array<std::string_view, 10> auth_markers = {
  "credit balance",
  "unauthorized",
  "authentication",
  "credentials",
  "forbidden",
  "401",
  "403",
  "oauth",
  "token expired",
  "not authenticated",
};

std::string lower(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

template<size_t N>
bool contains_any(const std::string& haystack,
                  const std::array<std::string_view, N>& needles) {
  return std::any_of(needles.begin(), needles.end(), [&](std::string_view n) {
    return haystack.find(n) != std::string::npos;
  });
}

/// "oom" must be a word of its own ("room" is not an OOM kill).
bool mentions_oom(const std::string& text) {
  for (size_t pos = text.find("oom"); pos != std::string::npos;
       pos = text.find("oom", pos + 1)) {
    bool left
      = pos == 0 || !std::isalpha(static_cast<unsigned char>(text[pos - 1]));
    bool right = pos + 3 >= text.size()
                 || !std::isalpha(static_cast<unsigned char>(text[pos + 3]));
    if (left && right)
      return true;
  }
  return false;
}

bool is_killed(const std::string& text) {
  for (auto m : kill_markers) {
    if (m == "oom")
      continue;
    if (text.find(m) != std::string::npos)
      return true;
  }
  return mentions_oom(text);
}

} // namespace

classification classify(int32_t status, std::string_view raw_text,
                        failure_kind explicit_kind) {
  auto text = lower(raw_text);
  if (is_killed(text))
    return {failure_kind::ignored, "killed"};
  if (contains_any(text, model_markers))
    return {failure_kind::ignored, "model_rejection"};
  if (contains_any(text, container_markers))
    return {failure_kind::ignored, "container_fault"};
  if (explicit_kind == failure_kind::rate_limit
      || explicit_kind == failure_kind::auth
      || explicit_kind == failure_kind::concurrency)
    return {explicit_kind, {}};
  // A cap of concurrent requests is no exhausted quota (CRS PRs
  // #773/#796/#800: "429 Too many concurrent requests. Limit: 1").
  if (status == 429 && text.find("concurrent") != std::string::npos)
    return {failure_kind::concurrency, {}};
  if (status == 429)
    return {failure_kind::rate_limit, {}};
  if (status == 401 || status == 402 || status == 403 || status == 503)
    return {failure_kind::auth, {}};
  if (status >= 400 && contains_any(text, auth_markers))
    return {failure_kind::auth, {}};
  return {failure_kind::ignored, "not_a_switch_failure"};
}

} // namespace sb
