#pragma once

// The fingerprints of every token version of every subscription, rotated ones
// included: which subscription a token (or a prefix of its SHA-256) belongs
// to, and which fingerprint is current. A plain value: the POOL keeps its
// own and publishes a copy after each change (at boot, on add, rotation and
// removal, and what other nodes registered; see actors/context.hpp); the
// FRONT DOOR and the AGENTs read the published one to attribute a report to
// the credential it names, without a message.

#include "messages/kinds.hpp"

#include <caf/expected.hpp>

#include <map>
#include <string>
#include <unordered_map>

namespace sb {

class token_index {
public:
  struct match {
    std::string subscription;
    /// The full fingerprint.
    std::string sha256;
    /// It is the subscription's current token.
    bool current = false;
  };

  /// Records a token version of `sub`; the latest one added is current.
  void add(const std::string& sub, const std::string& sha256);

  /// Forgets every version of `sub`.
  void remove(const std::string& sub);

  /// The version whose fingerprint starts with `prefix` (lowercase hex, 12+
  /// digits); an error if none or more than one does.
  caf::expected<match> resolve(const std::string& prefix) const;

  /// The fingerprint of the current token of `sub` ("" if unknown).
  std::string current(const std::string& sub) const;

  /// Whose credential `sub` is: its failures and observations are read
  /// with that provider's signals.
  void set_provider(const std::string& sub, provider_kind p);

  /// The provider of `sub` (anthropic if unknown).
  provider_kind provider(const std::string& sub) const;

  /// Whether `sub` is an oauth credential the daemon can refresh now: a
  /// 401 "OAuth token has expired" on it asks for a refresh instead of a
  /// switch. Not while its access token has lapsed and its refresh fails.
  void set_refreshable(const std::string& sub, bool yes);
  bool refreshable(const std::string& sub) const;

private:
  /// fingerprint -> subscription
  std::map<std::string, std::string> owners_;
  /// subscription -> fingerprint of its current token
  std::unordered_map<std::string, std::string> current_;
  /// subscription -> provider (anthropic is not stored)
  std::unordered_map<std::string, provider_kind> providers_;
  /// oauth subscriptions
  std::unordered_map<std::string, bool> refreshable_;
};

/// The identity a report or an observation names: a named subscription
/// must exist; a fingerprint (or prefix) must be one of `tokens` and
/// becomes its full form, with its subscription (which must match a named
/// one). The FRONT DOOR's rule, so an AGENT can hold a message to it too;
/// an identity already resolved resolves to itself.
caf::error resolve_identity(const token_index& tokens,
                            std::string& subscription,
                            std::string& token_sha256);

} // namespace sb
