#pragma once

// The login documents an agent CLI keeps, read into a subscription_spec
// (`subscription add NAME --oauth-file FILE`, "oauth_document" over HTTP):
//
//   Claude Code's .credentials.json
//     {"claudeAiOauth": {"accessToken": "sk-ant-oat01-...",
//                        "refreshToken": "sk-ant-ort01-...",
//                        "expiresAt": 1767225600000,
//                        "scopes": ["user:inference", "user:profile"]}}
//   Codex's auth.json
//     {"tokens": {"access_token": "<JWT>", "refresh_token": "...",
//                 "id_token": "<JWT>", "account_id": "..."}, ...}
//     (the access token's expiry is its JWT's exp claim)
//
// No error message quotes a value of the document: they hold secrets.

#include "messages/types.hpp"

#include <caf/error.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace sb {

/// Fills `spec`'s token, terms (oauth, expiry, scopes), refresh token and,
/// for Codex, id token and account id from a login document; sets its
/// provider (anthropic or codex) from the document's shape. An error if
/// the document is neither, lacks a field, or names another provider than
/// `spec.provider`.
caf::error read_login_document(std::string_view text, subscription_spec& spec);

/// The `exp` claim of a JWT (ms since the epoch), when it has one.
std::optional<millis> jwt_expiry(std::string_view jwt);

} // namespace sb
