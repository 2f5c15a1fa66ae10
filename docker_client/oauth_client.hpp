#pragma once

// The call of a provider's OAuth token endpoint that renews an access token
// (docs/credentials.md). Blocking: the REFRESHER runs it in a detached
// worker. Nothing here logs a body or a token; `refresh_outcome::detail`
// says what happened in words ("HTTP 429", "invalid_grant").

#include "messages/records.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace sb::docker {

class http_client;

struct oauth_call {
  std::string url;
  std::string client_id;
  std::string user_agent;
  secret refresh_token;
  std::chrono::milliseconds timeout{30000};
};

/// POSTs `{"grant_type":"refresh_token","refresh_token":...,"client_id":...}`
/// as JSON to `call.url` and reads the answer (read_token_answer); a
/// transport failure is transient.
refresh_outcome refresh_access_token(http_client& http, const oauth_call& call,
                                     millis now);

/// Reads a token endpoint's answer: 2xx with an access_token is granted
/// (its expiry from expires_in, else the JWT's exp claim, else one hour);
/// invalid_grant and refresh_token_reused / _expired / _invalidated are
/// rejected; anything else is transient, with Retry-After (seconds or an
/// HTTP date) as `retry_after`.
refresh_outcome
read_token_answer(long status, const std::string& body,
                  const std::map<std::string, std::string>& headers,
                  millis now);

} // namespace sb::docker
